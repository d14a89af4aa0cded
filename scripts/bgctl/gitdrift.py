"""Git drift: where the load balancer sends traffic against what the default branch records.

``classify_drift`` compares the live split with an environment's ``ColorRecord`` and names the case as a
``DriftKind`` (``uncommitted``, ``unpushed``, ``unmerged``, ``committed-differs``, ``stale-checkout``)
with the exact commands that fix it. ``git_drifts`` does it for several environments with one set of git
processes (``status --all``); ``drift_for_state`` is the call ``status`` and ``validate`` make.

Reads only. Standard library only at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl import COLORS, other_color
from bgctl.gitcolor import ColorRecord, color_records, commit_commands
from bgctl.gitrecord import record_message
from bgctl.gitrepo import Git
from bgctl.traffic import TrafficSplit

if TYPE_CHECKING:
    from bgctl.state import EnvState


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
