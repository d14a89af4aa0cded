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

import getpass
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl import COLORS, REPO_ROOT, other_color
from bgctl.colorfile import COLOR_FILE
from bgctl.errors import RefusedError
from bgctl.gitcolor import ColorRecord, color_file_printf, color_records, commit_commands, split_at
from bgctl.gitrepo import (
    FALLBACK_BRANCH,
    DefaultRef,
    Git,
    GitError,
    current_branch,
    default_ref,
    default_remote,
    dirty_paths,
    find_repo,
    operation_in_progress,
    read_blobs,
    repo_path,
)
from bgctl.traffic import TrafficSplit

if TYPE_CHECKING:
    from bgctl.context import Outcome
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


def record_message(env: str, split: TrafficSplit, why: str) -> str:
    """Commit message for recording an existing live split (a drift fix, not a traffic move)."""
    live = split.describe()
    return (
        f"{env}: record live traffic on {live}\n\n"
        f"The load balancer already routes {env} to {live}; {why}. Recording it keeps the next apply\n"
        "on the default branch from moving traffic back.\n\n"
        f"Environment: {env}\nTraffic: {live} (no change)\nBy: {operator_identity()}"
    )


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
# After a traffic move: commit the color file, or say exactly how
# --------------------------------------------------------------------------------------------------
def operator_identity(environ: Mapping[str, str] | None = None) -> str:
    """Who moved traffic: the GitHub actor and run in Actions, else user@host."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTIONS") == "true":
        actor = environ.get("GITHUB_ACTOR", "unknown")
        return f"{actor} via GitHub Actions run {environ.get('GITHUB_RUN_ID', '?')}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def run_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The GitHub Actions run this process belongs to, if any."""
    environ = os.environ if environ is None else environ
    server, repo, run = (environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


@dataclass(frozen=True)
class TrafficMove:
    """One traffic move of one environment, as the commit that records it describes it."""

    env: str
    from_split: TrafficSplit | None
    to_split: TrafficSplit
    operation: str  # deploy | switch | rollback | recover | a canary step
    version: str | None = None
    who: str = ""
    run: str | None = None

    @property
    def traffic(self) -> tuple[str, str]:
        return (self.from_split.describe() if self.from_split else "?", self.to_split.describe())

    @property
    def subject(self) -> str:
        what = f"{self.operation} {self.version}" if self.version else self.operation
        before, after = self.traffic
        return f"{self.env}: traffic {before} → {after} ({what})"

    def message(self) -> str:
        before, after = self.traffic
        lines = [
            self.subject,
            "",
            f"Recorded by bluegreen after the {self.operation} moved {self.env}'s traffic: the load balancer",
            f"already routes to {after}. The color file on the default branch is the source of",
            "truth; without this commit the next apply on it would be refused as drift.",
            "",
            f"Environment: {self.env}",
            f"Traffic: {before} -> {after}",
            f"Version: {self.version or 'unchanged'}",
            f"Operation: {self.operation}",
            f"By: {self.who or operator_identity()}",
        ]
        if self.run:
            lines.append(f"Run: {self.run}")
        return "\n".join(lines)


class RecordStatus(StrEnum):
    COMMITTED = "committed"  # a new commit on the default branch (push pending when there is a remote)
    RECORDED = "recorded"  # the default branch already says so: nothing to do
    COMMANDS = "commands"  # not committed: run the commands
    UNTRACKED = "untracked"  # the color file is not in git (the sandbox, a copied tree)


@dataclass(frozen=True)
class RecordResult:
    status: RecordStatus
    message: str
    commands: tuple[str, ...] = ()
    sha: str | None = None

    def text(self) -> str:
        if not self.commands:
            return self.message
        return "\n".join([self.message, *(f"    {c}" for c in self.commands)])


def record_outcome(envs_dir: Path, outcome: Outcome, *, commit: bool = True) -> RecordResult | None:
    """``record_traffic_move`` for an operation's outcome; None when it moved no traffic (a dry run,
    cleanup, shutdown, a switch to the split already live, a recover that undid its operation). The
    call the CLI makes after every operation."""
    before, after = outcome.from_split, outcome.to_split
    if outcome.dry_run or after is None or after == before:
        return None
    version = outcome.version if outcome.operation == "deploy" else None
    move = TrafficMove(outcome.env, before, after, outcome.operation, version, operator_identity(), run_url())
    return record_traffic_move(envs_dir, move, commit=commit)


def record_traffic_move(  # noqa: PLR0911 (one return per outcome)
    envs_dir: Path, move: TrafficMove, *, commit: bool = True
) -> RecordResult:
    """Keep the default branch true after ``move``: commit the color file, or return the exact commands.

    Commits only when the checkout is on the default branch, nothing but the color file differs from
    HEAD (untracked files aside), no merge or rebase is in progress, and the file says ``move.to_split``.
    It never pushes: with a remote the result names the push (``push_default`` does it in CI).
    """
    envs_dir = Path(envs_dir)
    found = color_records(envs_dir, [move.env])
    if found is None:
        return RecordResult(
            RecordStatus.UNTRACKED, f"{envs_dir} is not in a git checkout: no color file to commit"
        )
    git, records = found
    rec = records[move.env]
    if not rec.tracked:
        return RecordResult(
            RecordStatus.UNTRACKED, f"{rec.path} is ignored by git (a sandbox copy): nothing to commit"
        )
    message = move.message()
    where = rec.default_ref
    to = move.to_split.describe()
    said = rec.default.describe() if rec.default else "nothing valid"
    if rec.worktree != move.to_split:
        now = rec.worktree.describe() if rec.worktree else "nothing valid"
        return RecordResult(
            RecordStatus.COMMANDS,
            f"⚠️  {rec.path} says {now} but {move.env}'s traffic moved to {to}: not committing. Put {to} "
            f"on {where.branch} with:",
            tuple(commit_commands(git, rec, move.to_split, message, in_place=False)),
        )
    if rec.default == move.to_split:
        return RecordResult(RecordStatus.RECORDED, f"{where.name} already says {to}: nothing to commit")
    push = (git.cmd("push", where.remote, where.branch),) if where.remote else ()
    if rec.head == move.to_split and rec.on_default_branch:
        return RecordResult(
            RecordStatus.COMMANDS,
            f"{to} is committed on {where.branch} but not on {where.name}: push it",
            push,
        )
    head = f"⚠️  {move.env} now serves {to}, but {where.name} says {said}"
    if not commit:
        return RecordResult(
            RecordStatus.COMMANDS,
            f"{head}; not committed (--no-commit). Record it with:",
            tuple(commit_commands(git, rec, move.to_split, message)),
        )
    if not rec.on_default_branch:
        return RecordResult(
            RecordStatus.COMMANDS,
            f"{head}; this checkout is on {rec.branch or 'a detached HEAD'}, not {where.branch}, so "
            "nothing was committed. Record it on the default branch with:",
            tuple(commit_commands(git, rec, move.to_split, message)),
        )
    busy = operation_in_progress(git)
    others = sorted(set(dirty_paths(git)) - {rec.path})
    if busy or others:
        why = busy + " is in progress" if busy else f"other uncommitted changes ({', '.join(others[:5])})"
        return RecordResult(
            RecordStatus.COMMANDS,
            f"{head}; {why}, so nothing was committed. Commit the color file alone with:",
            tuple(commit_commands(git, rec, move.to_split, message)),
        )
    subject, _, body = message.partition("\n\n")
    try:
        git.run("add", "--", rec.path)
        git.run("commit", "--quiet", "-m", subject, "-m", body, "--", rec.path)
    except GitError as exc:
        return RecordResult(
            RecordStatus.COMMANDS,
            f"{head}; git commit failed ({exc.message}). Commit it with:",
            tuple(commit_commands(git, rec, move.to_split, message)),
        )
    sha = git.out("rev-parse", "HEAD")
    return RecordResult(
        RecordStatus.COMMITTED,
        f"committed {sha[:12]} on {where.branch}: {move.subject}" + ("; push it with:" if push else ""),
        push,
        sha=sha,
    )


def push_default(git: Git, *, attempts: int = 3) -> str:
    """Push the local default branch, rebasing onto the remote's when it moved meanwhile (CI commits
    race with merges). Returns the pushed SHA. Refuses (GitError) when the rebase conflicts: someone
    changed the same color file, which a person must look at."""
    dref = default_ref(git)
    remote = dref.remote or default_remote(git)
    if remote is None:
        raise GitError("no remote to push to")
    branch = dref.branch
    for attempt in range(1, attempts + 1):
        proc = git.run("push", "--porcelain", remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False)
        if proc.returncode == 0:
            return git.out("rev-parse", f"refs/heads/{branch}")
        if attempt == attempts:
            break
        git.run("fetch", remote, branch)
        if current_branch(git) != branch:
            raise GitError(f"{remote}/{branch} moved and this checkout is not on {branch}: cannot rebase")
        rebase = git.run("rebase", f"refs/remotes/{remote}/{branch}", check=False)
        if rebase.returncode != 0:
            git.run("rebase", "--abort", check=False)
            raise GitError(
                f"{remote}/{branch} changed the same lines meanwhile (rebase conflict): not pushing",
                hint=f"look at {remote}/{branch}, then record the live color again",
            )
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise GitError(f"git push {remote} {branch} failed after {attempts} attempt(s): {' '.join(tail)}")


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
