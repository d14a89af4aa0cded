"""The merge-time rule: an apply on the default branch may move traffic only when the push asked for it.

A push asks by changing what an environment's color file records (its color, or a canary weight).
``may_move_traffic`` answers for the push ``base..head``; ``check_merge_plan`` refuses
(``UnrequestedSwitchError``) a plan that would move traffic without that permission: such a plan is
drift (a switch outside git, or one never pushed) being undone, not a request. ``planning.apply_root``
applies the rule; ``python -m bgctl.gitops may-move-traffic`` prints it for a workflow step.

Standard library only at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl import COLORS
from bgctl.colorfile import COLOR_FILE
from bgctl.envspec import ENVS_DIR
from bgctl.errors import RefusedError
from bgctl.ghactions import github_command
from bgctl.gitcolor import split_at
from bgctl.gitrepo import FALLBACK_BRANCH, GitError, find_repo, missing_base, repo_path
from bgctl.traffic import TrafficSplit

if TYPE_CHECKING:
    from bgctl.planguard import PlanReport


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

    unusable = missing_base(git, base_sha)
    if unusable or not base_sha:  # the second test only tells mypy what the first implies
        return permission(False, f"{unusable}: {path} counts as unchanged")
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
