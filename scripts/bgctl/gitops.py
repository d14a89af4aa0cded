"""The color file on the default branch is the one source of truth for where traffic goes.

Terraform applies ``terraform/envs/<env>/active_color.auto.tfvars.json`` as committed on the default
branch, so a traffic move that only rewrote a checkout's copy is undone by the next apply on main. This
module keeps git and the load balancer in step:

- ``default_ref`` / ``color_records``: the split (``TrafficSplit``: the active color and any canary
  weight) each environment's color file records in the working tree,
  at ``HEAD``, on the local default branch and on the default branch itself (its remote-tracking ref
  ``origin/<default>`` when there is a remote, else the local branch). Reads only: no fetch, no network.
- ``classify_drift``: the live split against those records, as one of ``DriftKind`` with the exact
  commands that fix it (``uncommitted``, ``unpushed``, ``unmerged``, ``committed-differs``,
  ``stale-checkout``).
- ``record_traffic_move``: after a switch, rollback or deploy, commit the color file when the checkout
  is on the default branch and otherwise clean (message: env, from -> to, version, who); in any other
  case return the exact git commands instead. ``commit=False`` is the ``--no-commit`` opt-out.
- ``may_move_traffic``: the merge-time rule. An apply on main may move traffic only when that push
  changed what the environment's color file records; ``check_merge_plan`` refuses any other plan that
  would, and
  ``merge_apply`` is the guarded apply the workflow runs.

Git runs as a subprocess with argument lists. Everything this module needs at import time is in the
standard library, so the workflow can call ``python -m bgctl.gitops`` before ``make setup``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl import COLORS, REPO_ROOT, other_color
from bgctl.colorfile import COLOR_FILE
from bgctl.errors import RefusedError
from bgctl.gitcolor import ColorRecord, color_file_printf, color_records, commit_commands, split_at
from bgctl.gitrecord import (
    RecordStatus,
    TrafficMove,
    operator_identity,
    push_default,
    record_message,
    record_outcome,
    record_traffic_move,
    run_url,
)
from bgctl.gitrepo import (
    FALLBACK_BRANCH,
    DefaultRef,
    Git,
    GitError,
    default_ref,
    find_repo,
    read_blobs,
    repo_path,
)
from bgctl.traffic import TrafficSplit

if TYPE_CHECKING:
    from bgctl.planguard import PlanReport
    from bgctl.state import EnvState

ENVS_DIR = REPO_ROOT / "terraform" / "envs"

# The names other modules and the tests import from here.
__all__ = [
    "ENVS_DIR",
    "DefaultRef",
    "DriftKind",
    "Git",
    "GitDrift",
    "GitError",
    "RecordStatus",
    "TrafficMove",
    "TrafficPermission",
    "UnrequestedSwitchError",
    "check_merge_plan",
    "color_file_printf",
    "color_records",
    "default_ref",
    "drift_for_state",
    "find_repo",
    "git_drift",
    "git_drifts",
    "github_command",
    "live_split",
    "main",
    "may_move_traffic",
    "operator_identity",
    "push_default",
    "read_blobs",
    "record_outcome",
    "record_traffic_move",
    "run_url",
    "split_at",
]


# --------------------------------------------------------------------------------------------------
# Drift between the live color and git
# --------------------------------------------------------------------------------------------------
class DriftKind(StrEnum):
    IN_SYNC = "in-sync"
    UNCOMMITTED = "uncommitted"  # only this checkout's file records the live color
    UNPUSHED = "unpushed"  # committed on the local default branch, not on the remote's
    UNMERGED = "unmerged"  # committed on another branch only
    COMMITTED_DIFFERS = "committed-differs"  # nothing here records the live color
    STALE_CHECKOUT = "stale-checkout"  # the default branch agrees with live; this checkout does not


@dataclass(frozen=True)
class GitDrift:
    env: str
    kind: DriftKind
    live: TrafficSplit
    committed: TrafficSplit | None  # on the default ref
    where: str  # the default ref's name, e.g. origin/main
    message: str
    fix: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        """True when the next apply on the default branch would try to move traffic."""
        return self.kind not in (DriftKind.IN_SYNC, DriftKind.STALE_CHECKOUT)

    @property
    def fix_text(self) -> str:
        return "\n".join(self.fix)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "live": self.live.describe(),
            "committed": self.committed.describe() if self.committed else None,
            "default_ref": self.where,
            "message": self.message,
            "fix": list(self.fix),
        }


def classify_drift(git: Git, record: ColorRecord, live: TrafficSplit, cli: str = "bluegreen") -> GitDrift:
    """The live split (where the load balancer sends traffic) against the color file on the default
    branch."""
    env, truth, where = record.env, record.default, record.default_ref.name
    remote, branch = record.default_ref.remote, record.default_ref.branch
    now = live.describe()

    def drift(kind: DriftKind, message: str, fix: Iterable[str] = ()) -> GitDrift:
        return GitDrift(env, kind, live, truth, where, message, tuple(fix))

    def record_live(why: str, *, in_place: bool | None = None) -> list[str]:
        return commit_commands(git, record, live, record_message(env, live, why), in_place=in_place)

    if truth == live:
        if record.worktree is None or record.worktree == live:
            return drift(DriftKind.IN_SYNC, f"{where} says {now}, as the load balancer does")
        if record.head == live:
            restore = git.cmd("restore", "--", record.path)
        elif record.on_default_branch:
            restore = git.cmd("pull", "--ff-only")
        else:
            restore = git.cmd("switch", branch)
        return drift(
            DriftKind.STALE_CHECKOUT,
            f"{where} says {now}, as the load balancer does, but this checkout's {record.path} says "
            f"{record.worktree.describe()} (a stale checkout or a pending edit, not live drift)",
            [restore],
        )
    said = f"{where} says {truth.describe()}" if truth else f"{where} has no valid {record.path}"
    consequence = (
        f"the next apply on {branch} is refused as drift (it would move {env} back to {truth.describe()})"
        if truth
        else "the next apply cannot plan this environment"
    )
    if record.worktree == live and record.head != live:
        return drift(
            DriftKind.UNCOMMITTED,
            f"the load balancer routes {env} to {now} and this checkout's color file says so, but it is "
            f"not committed: {said}; {consequence}",
            record_live("the switch was never committed"),
        )
    if record.local_default == live and remote:
        return drift(
            DriftKind.UNPUSHED,
            f"the load balancer routes {env} to {now} and the local {branch} has that commit, but it is "
            f"not pushed: {said} (as of the last fetch); {consequence}",
            [git.cmd("pull", "--rebase", "--autostash", remote, branch), git.cmd("push", remote, branch)]
            if record.on_default_branch
            else record_live(f"the local {branch} was never pushed"),
        )
    if record.head == live:
        return drift(
            DriftKind.UNMERGED,
            f"the load balancer routes {env} to {now}, committed only on "
            f"{record.branch or 'a detached HEAD'}, not on {branch}: {said}; {consequence}",
            record_live("the switch was committed on another branch only", in_place=False),
        )
    target = truth.active if truth else other_color(live.active)
    return drift(
        DriftKind.COMMITTED_DIFFERS,
        f"the load balancer routes {env} to {now} but {said} and nothing in this checkout records {now} "
        f"(switched from another machine, or a merge not applied yet); {consequence}",
        [
            f"# if {now} is right (the move was deliberate): record it on {branch}",
            *record_live("it was switched outside git", in_place=False),
            f"# if {truth.describe() if truth else target} is right: move traffic through the health gates",
            f"{cli} --env {env} switch {target}",
        ],
    )


def git_drift(
    envs_dir: Path, env: str, live: TrafficSplit | None, environ: Mapping[str, str] | None = None
) -> GitDrift | None:
    """``classify_drift`` for one environment; None when there is nothing to compare (the live split is
    unknown, ``envs_dir`` is not in git, or git ignores the color file, as in the sandbox)."""
    return git_drifts(envs_dir, {env: live}, environ).get(env)


def git_drifts(
    envs_dir: Path, live: Mapping[str, TrafficSplit | None], environ: Mapping[str, str] | None = None
) -> dict[str, GitDrift]:
    """``classify_drift`` for several environments with one set of git processes (``status --all``)."""
    found = color_records(envs_dir, live, environ)
    if found is None:
        return {}
    git, records = found
    return {
        env: classify_drift(git, rec, split)
        for env, rec in records.items()
        if rec.tracked and (split := live.get(env)) is not None
    }


def live_split(st: EnvState) -> TrafficSplit | None:
    """Where traffic goes: the load balancer's split (every carrier agreeing), else SSM's color."""
    if st.routing.split is not None:
        return st.routing.split
    return TrafficSplit.to(st.ssm_color) if st.ssm_color in COLORS else None


def drift_for_state(envs_dir: Path, st: EnvState) -> GitDrift | None:
    """``git_drift`` for a state read: the call ``status`` and ``validate`` make; None when there is
    nothing to compare."""
    return git_drift(envs_dir, st.env, live_split(st))


# --------------------------------------------------------------------------------------------------
# Merge time: only a push that changed the color file may move traffic
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrafficPermission:
    env: str
    allowed: bool
    reason: str
    base_split: TrafficSplit | None = None
    head_split: TrafficSplit | None = None
    path: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def may_move_traffic(
    env: str,
    base_sha: str | None,
    head_sha: str,
    *,
    envs_dir: Path = ENVS_DIR,
) -> TrafficPermission:
    """Whether the push ``base_sha..head_sha`` may move ``env``'s traffic: only when it changed the split
    the environment's color file records (its color, or a canary weight). No base (a new branch, a force
    push git cannot follow) means no."""
    git = find_repo(envs_dir)
    if git is None:
        raise GitError(f"{envs_dir} is not in a git checkout")
    path = repo_path(git, Path(envs_dir) / env / COLOR_FILE)
    head = split_at(git, head_sha, path)
    now = head.describe() if head else "(none)"

    def permission(allowed: bool, reason: str, base: TrafficSplit | None = None) -> TrafficPermission:
        return TrafficPermission(env, allowed, reason, base, head, path)

    if not base_sha or base_sha.strip("0") == "":
        return permission(False, f"no previous commit to compare with: {path} counts as unchanged")
    if not git.ok("cat-file", "-e", f"{base_sha}^{{commit}}"):
        return permission(
            False,
            f"the push's base {base_sha[:12]} is not in this clone (force push?): {path} counts as unchanged",
        )
    base = split_at(git, base_sha, path)
    if head is not None and base != head:
        was = base.describe() if base else "(none)"
        return permission(True, f"this push changed {path}: {was} -> {now}", base)
    return permission(False, f"this push did not change {path} ({now})", base)


def plan_moves_traffic(report: PlanReport) -> tuple[bool, str | None, str | None]:
    """(moves, from, to): a plan moves traffic when it changes a traffic action (a switch or a canary
    weight) or the active color (the SSM parameter, or an ``active_color`` output)."""
    before, after = report.colors()
    moves = bool(report.traffic_changes) or (before is not None and after is not None and before != after)
    return moves, before, after


class UnrequestedSwitchError(RefusedError):
    """An apply on the default branch would move traffic although the push did not ask for it."""

    def __init__(self, env: str, live: str | None, committed: str | None, path: str, branch: str) -> None:
        self.env, self.live, self.committed, self.path = env, live, committed, path
        live_text = live or "another split"
        super().__init__(
            f"{env}: refusing to apply: the plan would move traffic {live_text} -> {committed} but this "
            f"push did not change {path}. The load balancer serves {live_text}; {branch} says {committed}. "
            "That is drift (a switch outside git, or one never pushed), not a request: nothing was "
            "changed.",
            hint=(
                f"if {live_text} is right, "
                + (f'set active_color to "{live}"' if live in COLORS else "record it")
                + f" in {path} on {branch} (bluegreen --env {env} validate prints the commands); "
                f"if {committed} is right, move "
                f"traffic through the gates: bluegreen --env {env} switch {(committed or '').split(' ')[0]}"
            ),
        )

    def annotation(self) -> str:
        return github_command(
            "error",
            f"{self.message}\nFix: {self.hint}",
            title=f"{self.env}: apply refused: live color {self.live}, committed {self.committed}",
        )


def check_merge_plan(
    report: PlanReport, permission: TrafficPermission, *, branch: str = FALLBACK_BRANCH
) -> None:
    """Refuse (UnrequestedSwitchError) a plan that moves traffic when the push did not change the color
    file; anything else passes (decide_apply still judges the rest)."""
    moves, before, after = plan_moves_traffic(report)
    if moves and not permission.allowed:
        committed = permission.head_split.describe() if permission.head_split else after
        raise UnrequestedSwitchError(permission.env, before, committed, permission.path, branch)


# --------------------------------------------------------------------------------------------------
# GitHub workflow commands
# --------------------------------------------------------------------------------------------------
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(kind: str, message: str, **properties: str) -> str:
    """``::error title=...::message`` with GitHub's escaping (a workflow command on one line)."""
    props = ",".join(f"{k}={_escape_property(v)}" for k, v in properties.items() if v)
    return f"::{kind}{' ' + props if props else ''}::{_escape_data(message)}"


def main(argv: Sequence[str] | None = None) -> int:
    from bgctl.gitops_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
