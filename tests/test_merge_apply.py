"""Merge time end to end: CI never reverts a live switch.

Two set-ups, each inside a throw-away git repository with a bare origin:

- a real Terraform root (the null provider fixture, where ``active_color`` is an output standing in for
  the traffic action and ``null_resource.asg`` for the infrastructure): an apply after a module-only
  push refuses the plan that would switch back and touches nothing; once the live color is recorded
  the same push applies;
- the moto sandbox with the real environment roots: a deploy outside CI commits its color file; a push
  that changes the color file runs the gated switch (health gates, verify-switch); a push that does not
  is refused and the load balancer keeps routing where it did.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bgctl import REPO_ROOT
from bgctl.envspec import ENVS_DIR
from bgctl.errors import RefusedError
from bgctl.gitops import (
    DriftKind,
    RecordStatus,
    TrafficMove,
    UnrequestedSwitchError,
    drift_for_state,
    may_move_traffic,
    record_outcome,
    record_traffic_move,
)
from bgctl.planning import apply_root
from bgctl.settings import Settings
from bgctl.terraform import PlanFile, TerraformRoot, default_binary
from bgctl.traffic import TrafficSplit
from bgtest import RecordingReporter, make_context, ops, rule_target
from gitrepo import Repo, git, isolated_git, make_repo

FIXTURE_ROOT = Path(__file__).parent / "fixtures" / "tfroot_null"
PLANS = Path(__file__).parent / "fixtures" / "plans"
PLUGIN_DIR = Path(os.environ.get("BLUEGREEN_TF_PLUGIN_DIR") or REPO_ROOT / ".tools" / "plugins")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolated_git(monkeypatch, tmp_path)


# -- a real Terraform root ------------------------------------------------------------------------------
@pytest.fixture
def tf_repo(tmp_path: Path) -> tuple[Repo, TerraformRoot]:
    binary = default_binary()
    if not binary or not (shutil.which(binary) or Path(binary).is_file()):
        pytest.skip("no Terraform binary: run `make setup`")
    if not (PLUGIN_DIR / "registry.terraform.io/hashicorp/null/2.1.2").is_dir():
        pytest.skip(f"null provider not in {PLUGIN_DIR}: run `make setup`")
    repo = make_repo(tmp_path)
    beta = repo.envs_dir / "beta"
    shutil.copy(FIXTURE_ROOT / "main.tf", beta / "main.tf")
    (repo.work / ".gitignore").write_text(
        ".sandbox/\n.terraform/\n*.tfstate\n*.tfstate.*\n.terraform.lock.hcl\n"
    )
    git(repo.work, "add", "-A")
    git(repo.work, "commit", "-q", "-m", "beta: the null root")
    repo.push()
    root = TerraformRoot(beta, binary, plugin_dir=PLUGIN_DIR)
    root.init(backend=True)
    root.apply_plan(root.plan_to_file(tmp_path / "bootstrap.tfplan"))
    return repo, root


def _asg_id(root: TerraformRoot) -> str:
    state = json.loads((root.working_dir / "terraform.tfstate").read_text())
    (res,) = [r for r in state["resources"] if r["type"] == "null_resource"]
    return str(res["instances"][0]["attributes"]["id"])


def _switch_outside_git(root: TerraformRoot, tmp_path: Path, color: str) -> None:
    """A switch whose color file change never reached git: the live color moves, the file does not."""
    root.apply_plan(root.plan_to_file(tmp_path / "laptop.tfplan", {"active_color": color}))
    assert root.outputs() == {"active_color": color}


class _NoAws:
    """The merge-time refusal happens before any AWS call; this proves it."""

    env = "beta"
    settings = Settings()

    @property
    def clients(self) -> Any:
        raise AssertionError("apply touched AWS before refusing")


@pytest.mark.terraform
def test_module_only_push_refuses_to_switch_back_and_touches_nothing(tf_repo, tmp_path):
    repo, root = tf_repo
    _switch_outside_git(root, tmp_path, "green")  # live green; origin/main says blue
    asg_before = _asg_id(root)
    base = repo.head()
    head = repo.commit_file("terraform/modules/blue_green/main.tf", "# a module change\n", "module change")
    permission = may_move_traffic("beta", base, head, envs_dir=repo.envs_dir)
    assert not permission
    with pytest.raises(UnrequestedSwitchError) as caught:
        apply_root(_NoAws(), root, permission=permission)  # type: ignore[arg-type]
    assert (caught.value.live, caught.value.committed) == ("green", "blue")
    assert root.outputs() == {"active_color": "green"}
    # A module change that also replaces infrastructure is refused the same way, even with
    # --allow-destroy: the infrastructure part is not applied either.
    main_tf = repo.envs_dir / "beta" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('default     = "1"', 'default     = "2"'))
    with pytest.raises(UnrequestedSwitchError):
        apply_root(_NoAws(), root, permission=permission, allow_destroy=True)  # type: ignore[arg-type]
    assert root.outputs() == {"active_color": "green"}
    assert _asg_id(root) == asg_before


@pytest.mark.terraform
def test_after_the_live_color_is_recorded_a_module_change_applies_without_moving_traffic(
    tf_repo, tmp_path, sandbox, monkeypatch
):
    repo, root = tf_repo
    _switch_outside_git(root, tmp_path, "green")
    repo.write_color("beta", "green")
    move = TrafficMove("beta", TrafficSplit.to("blue"), TrafficSplit.to("green"), "switch")
    recorded = record_traffic_move(repo.envs_dir, move)
    assert recorded.status is RecordStatus.COMMITTED
    base = repo.head()
    main_tf = repo.envs_dir / "beta" / "main.tf"
    head = repo.commit_file(
        "terraform/envs/beta/main.tf", main_tf.read_text().replace('default     = "1"', 'default     = "2"')
    )
    permission = may_move_traffic("beta", base, head, envs_dir=repo.envs_dir)
    assert not permission
    ctx = make_context(sandbox, repo.envs_dir)
    # clients keep the sandbox; Terraform runs the null root (no local endpoint for it)
    ctx.settings = replace(ctx.settings, endpoint_url=None)
    asg_before = _asg_id(root)
    with pytest.raises(RefusedError, match="destroys or replaces"):
        apply_root(ctx, root, permission=permission)
    outcome = apply_root(ctx, root, permission=permission, allow_destroy=True)
    assert outcome.notes == [permission.reason, "1 infrastructure change(s); traffic untouched"]
    assert _asg_id(root) != asg_before
    assert root.outputs() == {"active_color": "green"}
    assert not ctx.clients.ssm.get_parameters(Names=["/compiler-explorer/beta/lock"])["Parameters"]


@pytest.mark.terraform
def test_shared_apply_applies_what_leaves_traffic_alone_and_refuses_replacing(tmp_path, monkeypatch, capsys):
    """`make shared-apply` on a real root (the null fixture stands in for terraform/shared)."""
    from bgctl.gitops_cli import main

    binary = default_binary()
    if not (PLUGIN_DIR / "registry.terraform.io/hashicorp/null/2.1.2").is_dir():
        pytest.skip(f"null provider not in {PLUGIN_DIR}: run `make setup`")
    root = tmp_path / "shared"
    shutil.copytree(FIXTURE_ROOT, root)
    monkeypatch.setenv("BLUEGREEN_TERRAFORM", binary)
    monkeypatch.setenv("BLUEGREEN_TF_PLUGIN_DIR", str(PLUGIN_DIR))
    assert main(["shared-apply", "--root", str(root)]) == 0
    assert "applied" in capsys.readouterr().out
    assert main(["shared-apply", "--root", str(root)]) == 0
    assert "no changes" in capsys.readouterr().out
    main_tf = root / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('default     = "1"', 'default     = "2"'))
    assert main(["shared-apply", "--root", str(root)]) == 1
    assert "destroys or replaces 1 resource(s): null_resource.asg" in capsys.readouterr().err


# -- the sandbox: real roots, real health gates ------------------------------------------------------
class FakeRoot:
    """A TerraformRoot whose plan is a fixed JSON document (the sandbox has no Terraform provider):
    enough for apply_root to decide; never applied here."""

    def __init__(self, working_dir: Path, plan: dict[str, Any]) -> None:
        self.working_dir = working_dir
        self.plan = plan
        self.applied: list[Path] = []

    def init(self, *, backend: bool = True) -> None:
        return None

    def plan_to_file(self, path: Path, var_overrides: Any = None) -> PlanFile:
        Path(path).write_text("plan")
        return PlanFile(Path(path), has_changes=True)

    def show_json(self, planfile: Any) -> dict[str, Any]:
        return self.plan

    def apply_plan(self, planfile: Any) -> None:
        self.applied.append(Path(getattr(planfile, "path", planfile)))


def _switch_plan(to_color: str) -> dict[str, Any]:
    """The beta path-rule switch fixture (blue -> green), turned round when ``to_color`` is blue."""
    doc: dict[str, Any] = json.loads((PLANS / "switch_beta_path.json").read_text())
    if to_color == "blue":
        for rc in doc["resource_changes"]:
            ch = rc["change"]
            ch["before"], ch["after"] = ch["after"], ch["before"]
        for out in doc.get("output_changes", {}).values():
            out["before"], out["after"] = out["after"], out["before"]
    return doc


@pytest.fixture
def sandbox_repo(tmp_path: Path) -> Repo:
    repo = make_repo(tmp_path)
    shutil.rmtree(repo.envs_dir)
    shutil.copytree(ENVS_DIR, repo.envs_dir, ignore=shutil.ignore_patterns(".terraform*"))
    git(repo.work, "add", "-A")
    git(repo.work, "commit", "-q", "-m", "the nine environment roots")
    repo.push()
    return repo


def test_a_deploy_outside_ci_commits_and_a_color_change_on_main_runs_the_gated_switch(
    sandbox, sandbox_repo, monkeypatch
):
    repo = sandbox_repo
    monkeypatch.setattr("bgctl.planning.try_init", lambda root, **kw: (True, ""))
    reporter = RecordingReporter()
    ctx = make_context(sandbox, repo.envs_dir, reporter=reporter)
    wiring = ctx.reader.read_one("beta").wiring
    assert wiring is not None
    tg = wiring.target_group_arns

    # An operator deploys from a checkout: the file changes, then the tool commits it.
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    result = record_outcome(repo.envs_dir, outcome)  # the call the CLI makes after deploy
    assert result is not None and result.status is RecordStatus.COMMITTED
    assert repo.log().startswith("beta: traffic blue → green (deploy gh-105)")
    st = ctx.reader.read_one("beta")
    assert drift_for_state(repo.envs_dir, st).kind is DriftKind.UNPUSHED  # type: ignore[union-attr]
    repo.push()
    assert drift_for_state(repo.envs_dir, st).kind is DriftKind.IN_SYNC  # type: ignore[union-attr]

    # A module-only push after it: the plan still matches live, nothing to refuse or move.
    base = repo.head()
    head = repo.commit_file("terraform/modules/blue_green/README.md", "docs\n")
    permission = may_move_traffic("beta", base, head, envs_dir=repo.envs_dir)
    root = FakeRoot(repo.envs_dir / "beta", json.loads((PLANS / "no_change.json").read_text()))
    assert apply_root(ctx, root, permission=permission).notes[-1] == "no changes"

    # A reviewed pull request moves beta back to blue: the push changed the color file, so the apply
    # runs the gated switch (the pre-switch gate, then switch and verify-switch).
    base = repo.head()
    head = repo.commit_color("beta", "blue", "beta: back to blue")
    permission = may_move_traffic("beta", base, head, envs_dir=repo.envs_dir)
    assert permission
    reporter.events.clear()
    outcome = apply_root(ctx, FakeRoot(repo.envs_dir / "beta", _switch_plan("blue")), permission=permission)
    assert outcome.operation == "switch" and (outcome.from_color, outcome.to_color) == ("green", "blue")
    assert reporter.steps[:3] == ["smoke-test", "switch", "verify-switch"]
    assert all(rule_target(ctx.clients, arn) == tg["blue"] for arn in wiring.rule_arns.values())


def test_a_push_that_did_not_change_the_color_file_never_moves_traffic(sandbox, sandbox_repo, monkeypatch):
    repo = sandbox_repo
    monkeypatch.setattr("bgctl.planning.try_init", lambda root, **kw: (True, ""))
    ctx = make_context(sandbox, repo.envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)  # live green, never committed
    git(repo.work, "checkout", "--", "terraform/envs/beta/active_color.auto.tfvars.json")
    wiring = ctx.reader.read_one("beta").wiring
    assert wiring is not None
    base = repo.head()
    head = repo.commit_file("terraform/modules/blue_green/README.md", "docs\n")
    permission = may_move_traffic("beta", base, head, envs_dir=repo.envs_dir)
    root = FakeRoot(repo.envs_dir / "beta", _switch_plan("blue"))  # main says blue: a plan back
    with pytest.raises(UnrequestedSwitchError) as caught:
        apply_root(ctx, root, permission=permission)
    assert "live color green" in caught.value.annotation().replace("%3A", ":")
    assert root.applied == []
    assert all(
        rule_target(ctx.clients, arn) == wiring.target_group_arns["green"]
        for arn in wiring.rule_arns.values()
    )
    assert not ctx.clients.ssm.get_parameters(Names=["/compiler-explorer/beta/lock"])["Parameters"]


def test_the_cli_commits_a_switch_and_status_reports_it_unpushed(sandbox, sandbox_repo, capsys):
    """The wiring end to end: `deploy` from a clean checkout on main commits the color file; until it is
    pushed, status and validate report the switch as git drift with the command that fixes it."""
    from bgctl.cli import main
    from bgctl.settings import Settings

    repo = sandbox_repo
    settings = Settings.from_environ({**sandbox.environ(), "BLUEGREEN_ENVS_DIR": str(repo.envs_dir)})
    assert main(["--env", "beta", "deploy", "gh-105", "--skip-confirmation"], settings=settings) == 0
    out = capsys.readouterr().out
    assert "✅ beta: deploy done (blue -> green, version gh-105)" in out
    assert "committed" in out and "push origin main" in out
    assert "beta: traffic blue → green (deploy gh-105)" in repo.log()
    assert main(["--env", "beta", "status"], settings=settings) == 1  # git drift needs attention
    status = capsys.readouterr().out
    assert "DRIFT (git, unpushed)" in status and "push origin main" in status
    assert main(["--env", "beta", "validate"], settings=settings) == 1
    assert "unpushed:" in capsys.readouterr().out
    repo.push()
    assert main(["--env", "beta", "validate"], settings=settings) == 0
    # --no-commit: the tool changes the file and prints the commands instead of committing
    assert main(["--env", "beta", "rollback", "--no-commit"], settings=settings) == 0
    out = capsys.readouterr().out
    assert "git" in out and "commit" in out
    assert "beta: traffic green → blue" not in repo.log()
