"""After a traffic move: commit the color file on the default branch, or say exactly how.

A switch, rollback, deploy or recover moves the load balancer first; the color file on the default
branch must then say the same, or the next apply there moves traffic back. ``record_traffic_move``
commits the file when the checkout is on the default branch and otherwise clean (message: env, from ->
to, version, who), and in every other case returns the exact git commands instead; ``commit=False`` is
the ``--no-commit`` opt-out. ``record_outcome`` is the call the CLI makes after every operation;
``push_default`` is the push CI makes, rebasing when a merge raced it.

Standard library only at import time.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl.gitcolor import color_records, commit_commands
from bgctl.gitrepo import (
    Git,
    GitError,
    current_branch,
    default_ref,
    default_remote,
    dirty_paths,
    operation_in_progress,
)
from bgctl.traffic import TrafficSplit

if TYPE_CHECKING:
    from bgctl.context import Outcome


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

    @classmethod
    def made_here(
        cls,
        env: str,
        from_split: TrafficSplit | None,
        to_split: TrafficSplit,
        operation: str,
        version: str | None = None,
    ) -> TrafficMove:
        """A move this process made, signed with ``operator_identity()`` and ``run_url()``."""
        return cls(env, from_split, to_split, operation, version, operator_identity(), run_url())

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


def record_message(env: str, split: TrafficSplit, why: str) -> str:
    """Commit message for recording an existing live split (a drift fix, not a traffic move)."""
    live = split.describe()
    return (
        f"{env}: record live traffic on {live}\n\n"
        f"The load balancer already routes {env} to {live}; {why}. Recording it keeps the next apply\n"
        "on the default branch from moving traffic back.\n\n"
        f"Environment: {env}\nTraffic: {live} (no change)\nBy: {operator_identity()}"
    )


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
    move = TrafficMove.made_here(outcome.env, before, after, outcome.operation, version)
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

    def not_committed(text: str, *, in_place: bool | None = None) -> RecordResult:
        fix = commit_commands(git, rec, move.to_split, message, in_place=in_place)
        return RecordResult(RecordStatus.COMMANDS, text, tuple(fix))

    if rec.worktree != move.to_split:
        now = rec.worktree.describe() if rec.worktree else "nothing valid"
        return not_committed(
            f"⚠️  {rec.path} says {now} but {move.env}'s traffic moved to {to}: not committing. Put {to} "
            f"on {where.branch} with:",
            in_place=False,
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
        return not_committed(f"{head}; not committed (--no-commit). Record it with:")
    if not rec.on_default_branch:
        return not_committed(
            f"{head}; this checkout is on {rec.branch or 'a detached HEAD'}, not {where.branch}, so "
            "nothing was committed. Record it on the default branch with:"
        )
    busy = operation_in_progress(git)
    others = sorted(set(dirty_paths(git)) - {rec.path})
    if busy or others:
        why = busy + " is in progress" if busy else f"other uncommitted changes ({', '.join(others[:5])})"
        return not_committed(f"{head}; {why}, so nothing was committed. Commit the color file alone with:")
    subject, _, body = message.partition("\n\n")
    try:
        git.run("add", "--", rec.path)
        git.run("commit", "--quiet", "-m", subject, "-m", body, "--", rec.path)
    except GitError as exc:
        return not_committed(f"{head}; git commit failed ({exc.message}). Commit it with:")
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
