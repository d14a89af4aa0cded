"""The workflows: valid YAML, pinned actions, triggers, permissions, concurrency, the order of applies,
what is uploaded, the deploy workflow, and the shared renderer behind the plan comments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bgctl import REPO_ROOT
from bgctl.envspec import environment_names
from bgctl.planguard import load_plan
from bgctl.plansummary import COMMENT_LIMIT, ColorHealth, render_pr_comment, summary_from_plan
from bgctl.prcomment import (
    HEALTH_NOT_CHECKED,
    SENSITIVE,
    UNKNOWN,
    Provenance,
    affected_envs,
    comment_body,
    main,
    redacted_summary,
)

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "terraform.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
PLANS = Path(__file__).parent / "fixtures" / "plans"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def wf() -> dict:
    return _load(WORKFLOW)


@pytest.fixture(scope="module")
def deploy_wf() -> dict:
    return _load(DEPLOY)


def _on(doc: dict) -> dict:
    return doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true


def _steps(doc: dict, job: str | None = None):
    for name, body in doc["jobs"].items():
        if job is None or name == job:
            yield from body.get("steps", [])


def _runs(doc: dict, job: str) -> str:
    return "\n".join(step.get("run", "") for step in doc["jobs"][job]["steps"])


@pytest.mark.parametrize("path", [WORKFLOW, DEPLOY], ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_a_version_comment(path):
    doc = _load(path)
    uses = [step["uses"] for step in _steps(doc) if "uses" in step]
    assert uses
    assert all(PINNED.match(u) for u in uses), uses
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"# v\d", line), line
    for step in _steps(doc):
        if "checkout" in step.get("uses", ""):
            assert step["with"]["persist-credentials"] is False


def test_tests_run_on_every_pull_request_and_push_whatever_they_touch(wf):
    on = _on(wf)
    assert on["pull_request"] is None  # no paths filter: scripts-only changes are tested too
    assert on["push"] == {"branches": ["main"]}
    assert "make setup && make test" in _runs(wf, "test")
    assert "if" not in wf["jobs"]["test"]


def test_permissions_are_minimal(wf, deploy_wf):
    assert wf["permissions"] == {"contents": "read"}
    assert wf["jobs"]["plan"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    for job in ("apply", "apply-shared"):
        assert wf["jobs"][job]["permissions"] == {"contents": "read", "id-token": "write"}
    assert deploy_wf["permissions"] == {"contents": "read"}
    assert "permissions" not in deploy_wf["jobs"]["request"]
    assert deploy_wf["jobs"]["deploy"]["permissions"] == {"contents": "write", "id-token": "write"}


def test_terraform_installs_exactly_the_locked_providers(wf, deploy_wf):
    assert wf["env"]["TF_CLI_ARGS_init"] == "-lockfile=readonly"
    assert deploy_wf["jobs"]["deploy"]["env"]["TF_CLI_ARGS_init"] == "-lockfile=readonly"


def test_affected_roots_come_from_bgctl(wf):
    runs = _runs(wf, "changes")
    assert "python3 -m bgctl.gitops affected" in runs
    assert set(wf["jobs"]["changes"]["outputs"]) == {"shared", "shared_roots", "envs", "roots"}


def test_the_workflow_reads_what_affected_writes(wf, tmp_path, monkeypatch):
    """Every `needs.changes.outputs.X` the jobs read is an output `affected` writes, and every
    `matrix.root.KEY` is a key of the roots it lists (name, dir, env, region)."""
    from bgctl.ghactions import discover_roots
    from bgctl.gitops_cli import main as gitops

    text = WORKFLOW.read_text()
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert gitops(["affected", "--base", ""]) == 0  # no base: every root of this repository
    written = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert set(re.findall(r"needs\.changes\.outputs\.(\w+)", text)) <= set(written)
    assert set(wf["jobs"]["changes"]["outputs"]) == set(written)
    roots = json.loads(written["roots"])
    keys = set(re.findall(r"matrix\.root\.(\w+)", text))
    assert keys and all(keys <= set(r) for r in roots)
    assert "matrix.root }}" not in text  # a root is an object: name it by a key
    # Every root of the tree, regional ones included, with its directory.
    assert {r["dir"] for r in roots} == {r.dir for r in discover_roots(REPO_ROOT / "terraform")}
    assert {"terraform/envs-eu-west-1/beta", "terraform/shared-eu-west-1"} <= {r["dir"] for r in roots}
    assert all((REPO_ROOT / r["dir"] / "main.tf").is_file() for r in roots)


def test_plans_cover_terraform_shared_one_run_per_pull_request_and_root(wf):
    plan = wf["jobs"]["plan"]
    assert plan["strategy"]["matrix"]["root"] == "${{ fromJSON(needs.changes.outputs.roots) }}"
    assert plan["concurrency"] == {
        "group": "plan-${{ github.event.pull_request.number }}-${{ matrix.root.name }}",
        "cancel-in-progress": True,
    }
    assert plan["env"] == {"PLAN_ROOT": "${{ matrix.root.name }}", "ROOT_DIR": "${{ matrix.root.dir }}"}
    runs = _runs(wf, "plan")
    assert "make setup" in runs
    assert "terraform plan" in runs and "-out=tfplan" in runs
    assert "-m bgctl.prcomment --env" in runs
    assert '--commit-sha "$COMMIT_SHA"' in runs and '--run-url "$RUN_URL"' in runs
    render = next(s for s in plan["steps"] if "--commit-sha" in s.get("run", ""))
    assert render["env"]["COMMIT_SHA"] == "${{ github.sha }}"
    assert render["env"]["HEAD_SHA"] == "${{ github.event.pull_request.head.sha }}"
    assert "actions/runs/${{ github.run_id }}" in render["env"]["RUN_URL"]
    scripts = [s["with"]["script"] for s in plan["steps"] if "github-script" in s.get("uses", "")]
    assert len(scripts) == 1
    assert "<!-- bluegreen-plan:${process.env.PLAN_ROOT} -->" in scripts[0]
    assert "updateComment" in scripts[0] and "createComment" in scripts[0]
    assert any("configure-aws-credentials" in s.get("uses", "") for s in plan["steps"])


def test_the_plan_artifact_holds_the_text_plan_and_the_redacted_summary_only(wf):
    plan = wf["jobs"]["plan"]
    (upload,) = [s for s in plan["steps"] if "upload-artifact" in s.get("uses", "")]
    paths = [p.strip() for p in upload["with"]["path"].splitlines() if p.strip()]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["plan.txt", "plan-summary.json"]
    assert "redact --plan-json plan.json > plan-summary.json" in _runs(wf, "plan")
    cleanup = plan["steps"][-1]
    assert cleanup["if"] == "always()" and "tfplan" in cleanup["run"] and "plan.json" in cleanup["run"]


def test_terraform_shared_is_applied_before_any_environment(wf):
    shared, apply = wf["jobs"]["apply-shared"], wf["jobs"]["apply"]
    assert "needs.changes.outputs.shared == 'true'" in shared["if"]
    assert 'make shared-apply REGION="$SHARED_REGION"' in _runs(wf, "apply-shared")
    assert shared["strategy"]["matrix"]["root"] == "${{ fromJSON(needs.changes.outputs.shared_roots) }}"
    step = next(s for s in shared["steps"] if "make shared-apply" in s.get("run", ""))
    assert step["env"]["SHARED_REGION"] == "${{ matrix.root.region }}"
    # terraform/shared's group stays apply-shared (its name is "shared").
    assert shared["concurrency"] == {"group": "apply-${{ matrix.root.name }}", "cancel-in-progress": False}
    assert set(apply["needs"]) == {"changes", "test", "apply-shared"}
    for condition in (
        "!cancelled()",
        "needs.test.result == 'success'",
        "needs.apply-shared.result == 'success' || needs.apply-shared.result == 'skipped'",
    ):
        assert condition in apply["if"]


def test_apply_never_reverts_a_live_switch(wf):
    apply = wf["jobs"]["apply"]
    # A home root's name is its environment: apply-<env>, the deploy workflow's group.
    assert apply["concurrency"] == {"group": "apply-${{ matrix.root.name }}", "cancel-in-progress": False}
    assert apply["strategy"]["matrix"]["root"] == "${{ fromJSON(needs.changes.outputs.envs) }}"
    assert "github.event_name == 'push'" in apply["if"]
    runs = _runs(wf, "apply")
    assert (
        'make apply ENV="$APPLY_ENV" REGION="$APPLY_REGION" BASE_SHA="$BASE_SHA" HEAD_SHA="$HEAD_SHA"' in runs
    )
    assert "terraform apply" not in runs
    step = next(s for s in apply["steps"] if "make apply" in s.get("run", ""))
    assert step["env"]["BASE_SHA"] == "${{ github.event.before }}"
    assert step["env"]["APPLY_ENV"] == "${{ matrix.root.env }}"
    assert step["env"]["APPLY_REGION"] == "${{ matrix.root.region }}"
    checkout = next(s for s in apply["steps"] if "checkout" in s.get("uses", ""))
    assert checkout["with"]["fetch-depth"] == 0
    assert apply["env"]["BLUEGREEN_DEFAULT_BRANCH"] == "${{ github.event.repository.default_branch }}"


# -- the deploy workflow ----------------------------------------------------------------------------------
def test_deploy_is_dispatched_with_environment_version_and_capacity(deploy_wf):
    inputs = _on(deploy_wf)["workflow_dispatch"]["inputs"]
    assert sorted(inputs["environment"]["options"]) == sorted(environment_names())
    assert inputs["version"]["required"] is True
    assert inputs["capacity"]["required"] is False
    request = deploy_wf["jobs"]["request"]
    assert request["if"] == "github.ref_name == github.event.repository.default_branch"
    assert "python3 -m bgctl.gitops deploy-request" in _runs(deploy_wf, "request")
    step = next(s for s in request["steps"] if s.get("id") == "request")
    assert step["env"]["BLUEGREEN_HEALTH_URL"] == "${{ vars.BLUEGREEN_HEALTH_URL }}"


def test_deploy_shares_the_apply_concurrency_group_and_production_protection(deploy_wf, wf):
    deploy = deploy_wf["jobs"]["deploy"]
    assert deploy["concurrency"] == {
        "group": "apply-${{ needs.request.outputs.env }}",
        "cancel-in-progress": False,
    }
    assert wf["jobs"]["apply"]["concurrency"]["group"].startswith("apply-")
    assert deploy["environment"] == "${{ needs.request.outputs.github_environment }}"
    assert deploy["env"]["BLUEGREEN_HEALTH_URL"] == "${{ vars.BLUEGREEN_HEALTH_URL }}"


def test_deploy_runs_make_deploy_then_records_and_summarises_whatever_happened(deploy_wf):
    steps = deploy_wf["jobs"]["deploy"]["steps"]

    def find(fragment: str) -> int:
        return next(i for i, s in enumerate(steps) if fragment in s.get("run", ""))

    deploy, record, summary = find("make deploy"), find("bgctl.gitops record"), find("bgctl.gitops summary")
    assert deploy < record < summary
    assert 'ARGS="--skip-confirmation $wave"' in steps[deploy]["run"]
    assert "bgctl.gitops run --log" in steps[deploy]["run"]
    assert "--push" in steps[record]["run"] and "--status-json" in steps[record]["run"]
    for i in (record, summary):
        assert steps[i]["if"] == "always() && steps.deploy.outcome != 'skipped'"
    assert "--write" in steps[summary]["run"]
    assert steps[-1]["if"] == "steps.deploy.outputs.code != '0'" and "exit 1" in steps[-1]["run"]
    assert "make validate" in _runs(deploy_wf, "deploy")
    assert "GITHUB_TOKEN" not in str(deploy_wf["jobs"]["deploy"]["env"])  # the token only in the push step
    assert steps[record]["env"] == {"TOKEN": "${{ github.token }}"}


def test_affected_envs():
    envs = ["beta", "prod", "staging"]
    assert affected_envs(["terraform/envs/prod/main.tf", "README.md"], envs) == ["prod"]
    assert affected_envs(["terraform/envs/beta/active_color.auto.tfvars.json"], envs) == ["beta"]
    assert affected_envs(["terraform/modules/blue_green/main.tf"], envs) == envs
    assert affected_envs(["terraform/envs/README.md", "scripts/x.py"], envs) == []


def _write_plan(tmp_path: Path, text: str) -> tuple[Path, Path]:
    plan_json = PLANS / "switch_prod_listeners.json"
    plan_text = tmp_path / "plan.txt"
    plan_text.write_text(text)
    return plan_json, plan_text


@pytest.mark.parametrize("size", [10, 40_000])
def test_prcomment_prints_exactly_the_shared_renderer_output(tmp_path, capsys, size):
    text = "\n".join(f"  ~ line {i} " + "x" * 60 for i in range(size))
    plan_json, plan_text = _write_plan(tmp_path, text)
    url = "https://github.example/o/r/actions/runs/1/artifacts/2"
    code = main(["--env", "prod", "--plan-json", str(plan_json), "--plan-text", str(plan_text),
                 "--artifact-url", url])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    expected = render_pr_comment(
        summary_from_plan(
            "prod", load_plan(plan_json), text, health=ColorHealth.unknown("blue", HEALTH_NOT_CHECKED)
        ),
        artifact_url=url,
        artifact_name="the plan artifact",
    )
    assert out == expected == comment_body("prod", plan_json, plan_text, url)
    assert len(out) < COMMENT_LIMIT
    assert out.startswith("<!-- bluegreen-plan:prod -->\n")
    assert ("truncated" in out) == (size > 1000)


def test_prcomment_reports_a_bad_plan(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code = main(["--env", "prod", "--plan-json", str(bad), "--plan-text", str(bad), "--artifact-url", "u"])
    assert code == 1
    assert "format_version" in capsys.readouterr().err


# -- provenance, annotations and the redacted summary ------------------------------------------------------
def test_the_comment_names_the_commit_and_the_run(tmp_path):
    plan_json, plan_text = _write_plan(tmp_path, "\n".join("  ~ " + "x" * 80 for _ in range(40_000)))
    url = "https://github.example/o/r/actions/runs/9"
    prov = Provenance("a" * 40, "b" * 40, url)
    body = comment_body("prod", plan_json, plan_text, "artifact", provenance=prov)
    lines = body.splitlines()
    assert lines[0] == "<!-- bluegreen-plan:prod -->"
    assert (
        lines[1]
        == f"Plan of `{'a' * 12}` (head `{'b' * 12}` merged onto the base branch) · [workflow run]({url})"
    )
    assert lines[3].startswith("### prod: traffic")
    assert len(body) < COMMENT_LIMIT
    assert Provenance("c" * 40).line() == f"Plan of `{'c' * 12}`"


def test_prcomment_writes_the_body_and_flags_destroys(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    text = tmp_path / "plan.txt"
    text.write_text("  - destroy\n")
    out = tmp_path / "comment.md"
    argv = [
        "--env",
        "shared",
        "--plan-json",
        str(PLANS / "deletes_scaling_policy.json"),
        "--plan-text",
        str(text),
    ]
    code = main(
        [*argv, "--artifact-url", "u", "--commit-sha", "d" * 40, "--run-url", "r", "--output", str(out)]
    )
    assert code == 0
    body = out.read_text()
    assert body.startswith("<!-- bluegreen-plan:shared -->\nPlan of `dddddddddddd` · [workflow run](r)\n")
    assert "[!CAUTION]" in body
    annotation = capsys.readouterr().out
    assert annotation.startswith("::warning title=shared plan destroys or replaces resources::")
    assert "destroys or replaces 1 resource(s)" in annotation


def test_the_redacted_summary_keeps_what_review_needs_and_masks_sensitive_values(tmp_path, capsys):
    doc = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "variables": {"db_password": {"value": "hunter2"}},
        "prior_state": {"values": {"secret": "hunter2"}},
        "resource_changes": [
            {
                "address": "aws_ssm_parameter.token",
                "change": {
                    "actions": ["update"],
                    "before": {"name": "/x/token", "value": "old-secret", "tags": {"a": "1"}},
                    "after": {"name": "/x/token", "value": "new-secret", "tags": {"a": "2"}},
                    "before_sensitive": {"value": True},
                    "after_sensitive": {"value": True},
                    "after_unknown": {"version": True},
                },
            },
            {
                "address": "aws_lb.this",
                "change": {"actions": ["no-op"], "before": {"name": "x"}, "after": {"name": "x"}},
            },
            {
                "address": 'aws_iam_role.env["prod"]',
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"name": "r", "inline": [{"key": "k", "secret": "s"}]},
                    "after_sensitive": {"inline": [{"secret": True}]},
                    "after_unknown": {"arn": True},
                },
            },
        ],
        "output_changes": {
            "password": {"actions": ["create"], "before": None, "after": "pw", "after_sensitive": True},
            "same": {"actions": ["no-op"], "before": "x", "after": "x"},
        },
    }
    summary = redacted_summary(doc)
    text = json.dumps(summary)
    for secret in ("hunter2", "old-secret", "new-secret", '"s"', '"pw"'):
        assert secret not in text
    assert [r["address"] for r in summary["resource_changes"]] == [
        "aws_ssm_parameter.token",
        'aws_iam_role.env["prod"]',
    ]
    token = summary["resource_changes"][0]
    assert token["changed"] == {
        "value": {"before": SENSITIVE, "after": SENSITIVE},
        "tags": {"before": {"a": "1"}, "after": {"a": "2"}},
        "version": {"before": None, "after": UNKNOWN},
    }
    role = summary["resource_changes"][1]["changed"]
    assert role["inline"]["after"] == [{"key": "k", "secret": SENSITIVE}]
    assert role["arn"]["after"] == UNKNOWN
    assert summary["output_changes"] == {
        "password": {"actions": ["create"], "before": None, "after": SENSITIVE}
    }
    # Through the CLI, on a real fixture.
    assert main(["redact", "--plan-json", str(PLANS / "switch_prod_listeners.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "variables" not in printed and "configuration" not in printed and "planned_values" not in printed
    assert {r["address"] for r in printed["resource_changes"]} == {
        "module.blue_green.aws_lb_listener.http[0]",
        "module.blue_green.aws_lb_listener.https[0]",
        "module.blue_green.aws_ssm_parameter.active_color",
        "module.blue_green.aws_ssm_parameter.active_target_group_arn",
    }


def test_deploy_waves_are_sequential_jobs_one_per_region(deploy_wf):
    inputs = _on(deploy_wf)["workflow_dispatch"]["inputs"]
    assert inputs["regions"]["required"] is False and inputs["regions"]["default"] == ""
    assert '--regions "$REGIONS_INPUT"' in _runs(deploy_wf, "request")
    deploy = deploy_wf["jobs"]["deploy"]
    assert deploy["strategy"] == {
        "max-parallel": 1,
        "fail-fast": True,
        "matrix": {"region": "${{ fromJSON(needs.request.outputs.regions) }}"},
    }
    assert deploy["env"]["DEPLOY_REGION"] == "${{ matrix.region }}"
    runs = _runs(deploy_wf, "deploy")
    assert "--regions $DEPLOY_REGION --resume --wave-id gh-$GITHUB_RUN_ID" in runs
    assert '--region "$DEPLOY_REGION"' in runs  # status, record and validate look at the same region


def test_the_test_job_installs_the_pinned_terraform(wf):
    """Without it, tf-validate and the Terraform e2e would only skip on GitHub."""
    steps = wf["jobs"]["test"]["steps"]
    setup = [s for s in steps if str(s.get("uses", "")).startswith("hashicorp/setup-terraform@")]
    assert len(setup) == 1, "the test job must install Terraform"
    assert setup[0]["with"]["terraform_version"] == "${{ steps.tfv.outputs.version }}"
    assert any(".terraform-version" in str(s.get("run", "")) for s in steps)
    assert steps.index(setup[0]) < next(
        i for i, s in enumerate(steps) if "make test" in str(s.get("run", ""))
    )
