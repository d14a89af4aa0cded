"""The color file on the default branch as the one source of truth (bgctl.gitops), on throw-away git
repositories with a bare origin: default-branch detection, recording a traffic move, drift kinds and
the commands that fix them (run for real), and the merge-time rule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bgctl.gitops import (
    DefaultRef,
    DriftKind,
    RecordStatus,
    TrafficMove,
    UnrequestedSwitchError,
    check_merge_plan,
    default_ref,
    drift_for_state,
    find_repo,
    git_drift,
    git_drifts,
    github_command,
    may_move_traffic,
    read_blobs,
    record_outcome,
    record_traffic_move,
    split_at,
)
from bgctl.planguard import load_plan
from bgctl.traffic import TrafficSplit
from gitrepo import Repo, git, isolated_git, make_repo

PLANS = Path(__file__).parent / "fixtures" / "plans"
S = TrafficSplit.to
MOVE = TrafficMove("prod", S("blue"), S("green"), "deploy", "gh-124", who="alice@laptop")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolated_git(monkeypatch, tmp_path)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path)


def run_commands(commands: tuple[str, ...] | list[str]) -> None:
    """Run printed fix commands exactly as a person would paste them (comments skipped)."""
    for cmd in commands:
        if cmd.startswith("#"):
            continue
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr}"


def drift_kind(repo: Repo, env: str, live: str | TrafficSplit) -> DriftKind:
    found = git_drift(repo.envs_dir, env, S(live) if isinstance(live, str) else live)
    assert found is not None
    return found.kind


# -- the default branch -------------------------------------------------------------------------------
def test_default_ref_is_the_remote_tracking_branch_named_by_origin_head(repo: Repo):
    g = find_repo(repo.envs_dir)
    assert g is not None
    assert default_ref(g) == DefaultRef("main", "origin")
    assert default_ref(g).ref == "refs/remotes/origin/main"
    git(repo.work, "switch", "-q", "-c", "trunk")
    git(repo.work, "push", "-q", "origin", "trunk")
    git(repo.work, "remote", "set-head", "origin", "trunk")
    assert default_ref(g) == DefaultRef("trunk", "origin")
    assert default_ref(g, environ={"BLUEGREEN_DEFAULT_BRANCH": "main"}) == DefaultRef("main", "origin")
    git(repo.work, "config", "bluegreen.defaultBranch", "main")
    assert default_ref(g, environ={}) == DefaultRef("main", "origin")


def test_without_origin_head_config_then_main(repo: Repo):
    g = find_repo(repo.work)
    assert g is not None
    git(repo.work, "remote", "set-head", "origin", "--delete")
    assert default_ref(g, environ={}) == DefaultRef("main", "origin")
    git(repo.work, "config", "init.defaultBranch", "trunk")
    assert default_ref(g, environ={}).branch == "trunk"
    # origin/trunk does not exist: the local branch is the only place to look
    assert default_ref(g, environ={}).remote is None


def test_without_a_remote_the_local_branch_is_the_truth(tmp_path: Path):
    repo = make_repo(tmp_path, with_remote=False)
    g = find_repo(repo.envs_dir)
    assert g is not None
    assert default_ref(g, environ={}) == DefaultRef("main", None)
    assert default_ref(g, environ={}).ref == "refs/heads/main"


def test_reading_colors_out_of_git(repo: Repo):
    g = find_repo(repo.work)
    assert g is not None
    first = repo.head()
    repo.commit_color("prod", "green")
    path = "terraform/envs/prod/active_color.auto.tfvars.json"
    assert split_at(g, first, path) == S("blue")
    assert split_at(g, "HEAD", path) == S("green")
    assert split_at(g, "HEAD", "terraform/envs/nope/x.json") is None
    assert split_at(g, "0" * 40, path) is None
    blobs = read_blobs(g, [f"HEAD:{path}", "HEAD:missing", "HEAD:terraform", f"{first}:{path}"])
    assert json.loads(blobs[f"HEAD:{path}"] or "") == {"active_color": "green"}
    assert blobs["HEAD:missing"] is None
    assert blobs["HEAD:terraform"] is None  # a tree, not a file
    assert json.loads(blobs[f"{first}:{path}"] or "") == {"active_color": "blue"}
    assert find_repo(repo.work.parent / "elsewhere") is None


# -- a traffic move outside CI --------------------------------------------------------------------------
def test_a_switch_outside_ci_creates_the_commit(repo: Repo):
    before = repo.head()
    repo.write_color("prod", "green")  # what the switch driver leaves behind
    result = record_traffic_move(repo.envs_dir, MOVE)
    assert result.status is RecordStatus.COMMITTED
    assert result.sha == repo.head() != before
    assert git(repo.work, "rev-parse", "HEAD~1") == before
    message = repo.log()
    assert message.splitlines()[0] == "prod: traffic blue → green (deploy gh-124)"
    for line in ("Environment: prod", "Traffic: blue -> green", "Version: gh-124", "By: alice@laptop"):
        assert line in message
    changed = git(repo.work, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert changed == ["terraform/envs/prod/active_color.auto.tfvars.json"]
    assert git(repo.work, "status", "--porcelain") == ""
    # Not pushed: it says how, and until then the environment shows as unpushed drift.
    assert result.commands == (f"git -C {repo.work} push origin main",)
    assert drift_kind(repo, "prod", "green") is DriftKind.UNPUSHED
    run_commands(result.commands)
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC
    assert record_traffic_move(repo.envs_dir, MOVE).status is RecordStatus.RECORDED


def test_the_commit_leaves_untracked_files_alone(repo: Repo):
    (repo.work / "notes.txt").write_text("scratch\n")
    repo.write_color("prod", "green")
    assert record_traffic_move(repo.envs_dir, MOVE).status is RecordStatus.COMMITTED
    assert git(repo.work, "status", "--porcelain") == "?? notes.txt"


def test_no_commit_prints_the_commands_and_they_work(repo: Repo):
    before = repo.head()
    repo.write_color("prod", "green")
    result = record_traffic_move(repo.envs_dir, MOVE, commit=False)
    assert result.status is RecordStatus.COMMANDS
    assert "--no-commit" in result.message
    assert repo.head() == before
    assert result.commands[-1] == f"git -C {repo.work} push origin main"
    run_commands(result.commands)
    assert repo.log().startswith("prod: traffic blue → green (deploy gh-124)")
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_other_changes_mean_commands_that_commit_the_color_file_alone(repo: Repo):
    (repo.envs_dir / "prod" / "main.tf").write_text("# edited\n")
    git(repo.work, "add", "terraform/envs/prod/main.tf")
    repo.write_color("prod", "green")
    before = repo.head()
    result = record_traffic_move(repo.envs_dir, MOVE)
    assert result.status is RecordStatus.COMMANDS
    assert "other uncommitted changes (terraform/envs/prod/main.tf)" in result.message
    assert repo.head() == before
    run_commands(result.commands)
    changed = git(repo.work, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert changed == ["terraform/envs/prod/active_color.auto.tfvars.json"]
    assert git(repo.work, "status", "--porcelain") == "M  terraform/envs/prod/main.tf"  # still staged
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_on_another_branch_the_commands_use_a_scratch_work_tree(repo: Repo):
    git(repo.work, "switch", "-q", "-c", "feature")
    feature_head = repo.head()
    repo.write_color("prod", "green")
    result = record_traffic_move(repo.envs_dir, MOVE)
    assert result.status is RecordStatus.COMMANDS
    assert "on feature, not main" in result.message
    assert any("worktree add --detach" in c for c in result.commands)
    run_commands(result.commands)
    # origin/main now records green; the feature branch and its work tree are untouched.
    assert git(repo.work, "show", "origin/main:terraform/envs/prod/active_color.auto.tfvars.json").endswith(
        '"green"\n}'
    )
    assert repo.head() == feature_head
    assert git(repo.work, "status", "--porcelain").split() == [
        "M",
        "terraform/envs/prod/active_color.auto.tfvars.json",
    ]
    assert len(git(repo.work, "worktree", "list").splitlines()) == 1  # the scratch tree is gone
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_on_a_detached_head_without_a_remote_the_commands_move_the_local_branch(tmp_path: Path):
    repo = make_repo(tmp_path, with_remote=False)
    git(repo.work, "switch", "-q", "--detach", "HEAD")
    repo.write_color("prod", "green")
    result = record_traffic_move(repo.envs_dir, MOVE)
    assert result.status is RecordStatus.COMMANDS
    assert "a detached HEAD" in result.message
    run_commands(result.commands)
    assert git(repo.work, "show", "main:terraform/envs/prod/active_color.auto.tfvars.json").endswith(
        '"green"\n}'
    )
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_without_a_remote_the_commit_is_the_whole_job(tmp_path: Path):
    repo = make_repo(tmp_path, with_remote=False)
    repo.write_color("prod", "green")
    result = record_traffic_move(repo.envs_dir, MOVE)
    assert result.status is RecordStatus.COMMITTED
    assert result.commands == ()
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_a_failing_commit_hook_falls_back_to_commands(repo: Repo):
    hook = repo.work / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo.write_color("prod", "green")
    result = record_traffic_move(repo.envs_dir, MOVE)
    assert result.status is RecordStatus.COMMANDS
    assert "git commit failed" in result.message and "hook says no" in result.message


def test_a_file_that_disagrees_with_the_move_is_not_committed(repo: Repo):
    result = record_traffic_move(repo.envs_dir, MOVE)  # the file still says blue
    assert result.status is RecordStatus.COMMANDS
    assert "says blue but prod's traffic moved to green" in result.message
    run_commands(result.commands)
    assert drift_kind(repo, "prod", "green") is DriftKind.STALE_CHECKOUT  # origin has it; this file not


def test_ignored_and_untracked_trees_are_never_committed(repo: Repo, tmp_path: Path):
    sandbox = repo.work / ".sandbox" / "envs"
    (sandbox / "prod").mkdir(parents=True)
    (sandbox / "prod" / "active_color.auto.tfvars.json").write_text('{\n  "active_color": "green"\n}\n')
    before = repo.head()
    assert record_traffic_move(sandbox, MOVE).status is RecordStatus.UNTRACKED
    assert git_drift(sandbox, "prod", S("green")) is None
    outside = tmp_path / "copy" / "envs"
    (outside / "prod").mkdir(parents=True)
    assert record_traffic_move(outside, MOVE).status is RecordStatus.UNTRACKED
    assert repo.head() == before


def test_record_outcome_commits_only_real_traffic_moves(repo: Repo):
    from bgctl.context import Outcome

    before = repo.head()
    for outcome in (
        Outcome("prod", "deploy", S("blue"), S("green"), "gh-124", dry_run=True),
        Outcome("prod", "cleanup", S("blue")),
        Outcome("prod", "switch", S("blue"), S("blue")),
        Outcome("prod", "recover", S("blue"), S("blue")),  # undone: traffic stayed
    ):
        assert record_outcome(repo.envs_dir, outcome) is None
    assert repo.head() == before
    repo.write_color("prod", "green")
    result = record_outcome(
        repo.envs_dir, Outcome("prod", "rollback", S("blue"), S("green"), "gh-100"), commit=False
    )
    assert result is not None and result.status is RecordStatus.COMMANDS
    result = record_outcome(repo.envs_dir, Outcome("prod", "rollback", S("blue"), S("green"), "gh-100"))
    assert result is not None and result.status is RecordStatus.COMMITTED
    assert repo.log().splitlines()[0] == "prod: traffic blue → green (rollback)"  # a rollback deploys nothing


def test_drift_for_state_uses_the_load_balancer_else_ssm(repo: Repo):
    from types import SimpleNamespace

    repo.write_color("prod", "green")
    routed = SimpleNamespace(env="prod", routing=SimpleNamespace(split=S("green")), ssm_color="blue")
    assert drift_for_state(repo.envs_dir, routed).kind is DriftKind.UNCOMMITTED  # type: ignore[arg-type,union-attr]
    unrouted = SimpleNamespace(env="prod", routing=SimpleNamespace(split=None), ssm_color="blue")
    assert drift_for_state(repo.envs_dir, unrouted).kind is DriftKind.STALE_CHECKOUT  # type: ignore[arg-type,union-attr]
    unknown = SimpleNamespace(env="prod", routing=SimpleNamespace(split=None), ssm_color=None)
    assert drift_for_state(repo.envs_dir, unknown) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("split", [S("blue"), S("green"), TrafficSplit("blue", 10)], ids=str)
def test_the_printed_printf_writes_exactly_the_color_file(split: TrafficSplit):
    from bgctl.colorfile import render_color_file
    from bgctl.gitops import color_file_printf

    out = subprocess.run(color_file_printf(split), capture_output=True, text=True, check=True).stdout
    assert out == render_color_file(split)


def test_operator_identity_in_ci_names_the_actor_and_the_run():
    from bgctl.gitops import operator_identity, run_url

    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octo",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
    }
    assert operator_identity(environ) == "octo via GitHub Actions run 42"
    assert run_url(environ) == "https://github.com/o/r/actions/runs/42"
    assert run_url({}) is None


# -- drift: the live color against the default branch --------------------------------------------------
def test_an_uncommitted_switch_is_drift_with_the_commands_that_fix_it(repo: Repo):
    repo.write_color("prod", "green")
    found = git_drift(repo.envs_dir, "prod", S("green"))
    assert found is not None and found.drifted
    assert found.kind is DriftKind.UNCOMMITTED
    assert "origin/main says blue" in found.message
    assert "refused as drift" in found.message
    run_commands(found.fix)
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_an_unpushed_switch_shows_as_drift(repo: Repo):
    repo.commit_color("prod", "green")
    found = git_drift(repo.envs_dir, "prod", S("green"))
    assert found is not None
    assert found.kind is DriftKind.UNPUSHED
    assert found.committed == S("blue") and found.live == S("green") and found.where == "origin/main"
    assert found.fix[-1] == f"git -C {repo.work} push origin main"
    assert found.as_json()["kind"] == "unpushed"
    # Another operator merged meanwhile: the printed commands still get it there.
    other = repo.clone(repo.work.parent / "other")
    other.commit_file("README.md", "hello\n")
    other.push()
    run_commands(found.fix)
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_a_switch_committed_on_another_branch_is_unmerged(repo: Repo):
    git(repo.work, "switch", "-q", "-c", "feature")
    repo.commit_color("prod", "green")
    found = git_drift(repo.envs_dir, "prod", S("green"))
    assert found is not None
    assert found.kind is DriftKind.UNMERGED
    assert "committed only on feature" in found.message
    run_commands(found.fix)
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_a_switch_made_elsewhere_is_committed_differs_with_both_ways_out(repo: Repo):
    found = git_drift(repo.envs_dir, "prod", S("green"))
    assert found is not None
    assert found.kind is DriftKind.COMMITTED_DIFFERS
    assert "bluegreen --env prod switch blue" in found.fix
    run_commands(found.fix[:-1])  # the record-it-on-main branch of the fix
    git(repo.work, "pull", "-q", "--ff-only")
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_a_stale_checkout_is_not_live_drift(repo: Repo):
    other = repo.clone(repo.work.parent / "other")
    other.commit_color("prod", "green")
    other.push()
    git(repo.work, "fetch", "-q", "origin")
    found = git_drift(repo.envs_dir, "prod", S("green"))
    assert found is not None
    assert found.kind is DriftKind.STALE_CHECKOUT and not found.drifted
    assert found.fix == (f"git -C {repo.work} pull --ff-only",)
    run_commands(found.fix)
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC


def test_without_a_remote_a_commit_on_main_is_in_sync(tmp_path: Path):
    repo = make_repo(tmp_path, with_remote=False)
    repo.commit_color("prod", "green")
    assert drift_kind(repo, "prod", "green") is DriftKind.IN_SYNC
    assert drift_kind(repo, "prod", "blue") is DriftKind.COMMITTED_DIFFERS


def test_git_drifts_reads_many_environments_and_skips_unknown_live(repo: Repo):
    repo.write_color("beta", "green")
    found = git_drifts(repo.envs_dir, {"beta": S("green"), "prod": S("blue"), "nope": None})
    assert {env: d.kind for env, d in found.items()} == {
        "beta": DriftKind.UNCOMMITTED,
        "prod": DriftKind.IN_SYNC,
    }


# -- merge time: only a push that changed the color file moves traffic -------------------------------
def test_only_a_push_that_changes_the_color_file_may_move_traffic(repo: Repo):
    base = repo.head()
    module_only = repo.commit_file("terraform/modules/blue_green/main.tf", "# v2\n")
    denied = may_move_traffic("prod", base, module_only, envs_dir=repo.envs_dir)
    assert not denied
    assert (
        denied.reason == "this push did not change terraform/envs/prod/active_color.auto.tfvars.json (blue)"
    )
    switched = repo.commit_color("prod", "green")
    allowed = may_move_traffic("prod", module_only, switched, envs_dir=repo.envs_dir)
    assert allowed and (allowed.base_split, allowed.head_split) == (S("blue"), S("green"))
    assert "blue -> green" in allowed.reason
    assert may_move_traffic("prod", base, switched, envs_dir=repo.envs_dir)  # over several commits
    assert not may_move_traffic("beta", base, switched, envs_dir=repo.envs_dir)  # another env's file
    back = repo.commit_color("prod", "blue")
    assert not may_move_traffic("prod", base, back, envs_dir=repo.envs_dir)  # there and back: no change
    reformatted = repo.commit_file(
        "terraform/envs/prod/active_color.auto.tfvars.json", '{"active_color": "blue"}\n'
    )
    assert not may_move_traffic("prod", back, reformatted, envs_dir=repo.envs_dir)  # same color


def test_a_canary_step_is_a_traffic_move_too(repo: Repo):
    """The color file records a split: a canary weight change moves traffic although the color stays."""
    from bgctl.colorfile import write_split

    base = repo.head()
    write_split(repo.envs_dir / "prod", TrafficSplit("blue", 10))
    git(repo.work, "commit", "-qam", "prod: canary 10%")
    permission = may_move_traffic("prod", base, repo.head(), envs_dir=repo.envs_dir)
    assert permission and "blue -> blue 90% / green 10%" in permission.reason
    # Live at 10% with main still at blue: unpushed drift, and the printed push fixes it.
    found = git_drift(repo.envs_dir, "prod", TrafficSplit("blue", 10))
    assert found is not None and found.kind is DriftKind.UNPUSHED
    run_commands(found.fix)
    assert drift_kind(repo, "prod", TrafficSplit("blue", 10)) is DriftKind.IN_SYNC
    assert drift_kind(repo, "prod", "blue") is DriftKind.COMMITTED_DIFFERS
    # A canary move recorded after the fact: the message shows both splits.
    write_split(repo.envs_dir / "prod", TrafficSplit("blue", 50))
    move = TrafficMove("prod", TrafficSplit("blue", 10), TrafficSplit("blue", 50), "canary")
    assert record_traffic_move(repo.envs_dir, move).status is RecordStatus.COMMITTED
    assert repo.log().splitlines()[0] == "prod: traffic blue 90% / green 10% → blue 50% / green 50% (canary)"


@pytest.mark.parametrize("base", [None, "", "0" * 40, "1234567890abcdef1234567890abcdef12345678"])
def test_without_a_known_base_nothing_moves_traffic(repo: Repo, base):
    head = repo.commit_color("prod", "green")
    permission = may_move_traffic("prod", base, head, envs_dir=repo.envs_dir)
    assert not permission
    assert "counts as unchanged" in permission.reason


def test_a_plan_that_moves_traffic_without_a_color_change_is_refused_as_drift(repo: Repo):
    base = repo.head()
    head = repo.commit_file("terraform/modules/blue_green/main.tf", "# v2\n")
    permission = may_move_traffic("prod", base, head, envs_dir=repo.envs_dir)
    report = load_plan(PLANS / "switch_prod_listeners.json")  # live green, the file blue
    with pytest.raises(UnrequestedSwitchError) as caught:
        check_merge_plan(report, permission)
    err = caught.value
    assert (err.live, err.committed) == ("green", "blue")
    assert "the plan would move traffic green -> blue" in err.message
    assert "nothing was changed" in err.message
    assert err.hint is not None and 'set active_color to "green"' in err.hint
    annotation = err.annotation()
    assert annotation.startswith(
        "::error title=prod%3A apply refused%3A live color green%2C committed blue::"
    )
    assert "\n" not in annotation
    # A plan that leaves traffic alone passes, and so does a switch the push asked for.
    check_merge_plan(load_plan(PLANS / "no_change.json"), permission)
    check_merge_plan(load_plan(PLANS / "deletes_scaling_policy.json"), permission)
    green = repo.commit_color("prod", "green")
    asked = may_move_traffic("prod", green, repo.commit_color("prod", "blue"), envs_dir=repo.envs_dir)
    check_merge_plan(report, asked)


def test_github_command_escaping():
    assert github_command("error", "a\nb%", title="x: y, z") == "::error title=x%3A y%2C z::a%0Ab%25"
    assert github_command("notice", "plain") == "::notice::plain"
