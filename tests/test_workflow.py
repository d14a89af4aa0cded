"""The pull-request plan workflow: valid YAML, pinned actions, triggers, and the shared renderer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bgctl import REPO_ROOT
from bgctl.planguard import load_plan
from bgctl.plansummary import COMMENT_LIMIT, ColorHealth, render_pr_comment, summary_from_plan
from bgctl.prcomment import HEALTH_NOT_CHECKED, affected_envs, comment_body, main

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "terraform.yml"
PLANS = Path(__file__).parent / "fixtures" / "plans"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def wf() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(wf: dict):
    for job in wf["jobs"].values():
        yield from job.get("steps", [])


def _runs(wf: dict, job: str) -> str:
    return "\n".join(step.get("run", "") for step in wf["jobs"][job]["steps"])


def test_every_action_is_pinned_to_a_commit_with_a_version_comment(wf):
    uses = [step["uses"] for step in _steps(wf) if "uses" in step]
    assert uses
    assert all(PINNED.match(u) for u in uses), uses
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"# v\d", line), line


def test_triggers(wf):
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "terraform/**" in on["pull_request"]["paths"]
    assert on["push"]["branches"] == ["main"]


def test_permissions_are_minimal(wf):
    assert wf["permissions"] == {"contents": "read"}
    assert wf["jobs"]["plan"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    assert wf["jobs"]["apply"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_apply_runs_one_at_a_time_per_environment_through_the_cli(wf):
    apply = wf["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "apply-${{ matrix.env }}", "cancel-in-progress": False}
    assert "github.event_name == 'push'" in apply["if"]
    assert set(apply["needs"]) == {"changes", "test"}
    assert 'make apply ENV="$APPLY_ENV"' in _runs(wf, "apply")
    assert "terraform apply" not in _runs(wf, "apply")


def test_plan_job_renders_with_bgctl_prcomment_and_updates_one_comment(wf):
    plan = wf["jobs"]["plan"]
    assert plan["strategy"]["matrix"]["env"] == "${{ fromJSON(needs.changes.outputs.envs) }}"
    runs = _runs(wf, "plan")
    assert "make setup" in runs
    assert "-m bgctl.prcomment --env" in runs
    assert "terraform plan" in runs and "-out=tfplan" in runs
    scripts = [s["with"]["script"] for s in plan["steps"] if "github-script" in s.get("uses", "")]
    assert len(scripts) == 1
    assert "<!-- bluegreen-plan:${process.env.PLAN_ENV} -->" in scripts[0]
    assert "updateComment" in scripts[0] and "createComment" in scripts[0]
    assert any("configure-aws-credentials" in s.get("uses", "") for s in plan["steps"])
    assert any("upload-artifact" in s.get("uses", "") for s in plan["steps"])


def test_make_test_runs(wf):
    assert "make setup && make test" in _runs(wf, "test")


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
