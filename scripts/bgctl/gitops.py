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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl import COLORS, REPO_ROOT
from bgctl.colorfile import COLOR_FILE
from bgctl.errors import RefusedError
from bgctl.gitcolor import color_file_printf, color_records, split_at
from bgctl.gitdrift import DriftKind, GitDrift, drift_for_state, git_drift, git_drifts, live_split
from bgctl.gitrecord import (
    RecordStatus,
    TrafficMove,
    operator_identity,
    push_default,
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
