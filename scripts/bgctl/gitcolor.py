"""What each ref of a checkout records in an environment's color file, and the commands that change it.

Terraform applies ``terraform/envs/<env>/active_color.auto.tfvars.json`` as committed on the default
branch. ``color_records`` reads the split (``TrafficSplit``: the active color and any canary weight) the
file records in the working tree, at ``HEAD``, on the local default branch and on the default ref
(``origin/<default>`` when there is a remote, else the local branch), with a constant number of git
processes. ``commit_commands`` spells out, as commands a person can paste, how to put a split on the
default branch without touching the current checkout's branch or changes.

Reads only: no fetch, no network, no commit. Standard library only at import time.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bgctl.colorfile import COLOR_FILE, ColorFileError, parse_split, read_split, render_color_file
from bgctl.gitrepo import DefaultRef, Git, current_branch, default_ref, find_repo, read_blobs, repo_path
from bgctl.traffic import TrafficSplit


# --------------------------------------------------------------------------------------------------
# Reading color files out of git
# --------------------------------------------------------------------------------------------------
def _parsed(text: str | None, where: str) -> TrafficSplit | None:
    try:
        return None if text is None else parse_split(text, where)
    except ColorFileError:
        return None


def split_at(git: Git, rev: str, path: str) -> TrafficSplit | None:
    """The split recorded in ``path`` at ``rev``; None when either is missing or the file is invalid."""
    return _parsed(read_blobs(git, [f"{rev}:{path}"])[f"{rev}:{path}"], f"{rev}:{path}")


@dataclass(frozen=True)
class ColorRecord:
    """Where one environment's split is recorded, from the most local to the truth."""

    env: str
    path: str  # the color file, relative to the work tree
    worktree: TrafficSplit | None  # this checkout's file
    head: TrafficSplit | None  # committed at HEAD
    local_default: TrafficSplit | None  # committed on the local default branch
    default: TrafficSplit | None  # on the default ref: THE source of truth
    default_ref: DefaultRef
    branch: str | None  # checked-out branch (None: detached HEAD)
    tracked: bool = True  # False when git ignores the file (the sandbox's copies)

    @property
    def on_default_branch(self) -> bool:
        return self.branch == self.default_ref.branch


def color_records(
    envs_dir: Path, envs: Iterable[str], environ: Mapping[str, str] | None = None
) -> tuple[Git, dict[str, ColorRecord]] | None:
    """The records of ``envs`` (a constant number of git processes, whatever their count); None when
    ``envs_dir`` is not inside a git work tree."""
    git = find_repo(envs_dir)
    if git is None:
        return None
    envs = list(envs)
    paths = {env: repo_path(git, Path(envs_dir) / env / COLOR_FILE) for env in envs}
    ignored = set(git.run("check-ignore", "--", *paths.values(), check=False).stdout.splitlines())
    dref = default_ref(git, environ)
    revs = {"head": "HEAD", "local_default": f"refs/heads/{dref.branch}", "default": dref.ref}
    blobs = read_blobs(git, [f"{rev}:{p}" for rev in revs.values() for p in paths.values()])
    branch = current_branch(git)

    def parsed(rev: str, path: str) -> TrafficSplit | None:
        return _parsed(blobs.get(f"{rev}:{path}"), f"{rev}:{path}")

    records: dict[str, ColorRecord] = {}
    for env, path in paths.items():
        try:
            worktree: TrafficSplit | None = read_split(Path(envs_dir) / env)
        except (OSError, ValueError):
            worktree = None
        records[env] = ColorRecord(
            env=env,
            path=path,
            worktree=worktree,
            head=parsed(revs["head"], path),
            local_default=parsed(revs["local_default"], path),
            default=parsed(revs["default"], path),
            default_ref=dref,
            branch=branch,
            tracked=path not in ignored,
        )
    return git, records


# --------------------------------------------------------------------------------------------------
# Commands that put a color on the default branch
# --------------------------------------------------------------------------------------------------
def color_file_printf(split: TrafficSplit) -> list[str]:
    """``printf`` arguments that write exactly ``render_color_file(split)``."""
    return ["printf", "%s\\n", *render_color_file(split).splitlines()]


def scratch_dir(env: str, split: TrafficSplit) -> Path:
    weight = f"-{split.canary_weight}" if split.canary_weight else ""
    return Path(tempfile.gettempdir()) / f"bluegreen-color-{env}-{split.active}{weight}"


def commit_commands(
    git: Git, record: ColorRecord, split: TrafficSplit, message: str, *, in_place: bool | None = None
) -> list[str]:
    """The exact commands that put ``split`` in ``record``'s file on the default branch.

    On the default branch (``in_place``) the file is committed where it is (``git commit -- <path>``
    commits that path only, whatever else is staged), then pushed. Anywhere else a scratch work tree of
    the default ref is used, so the current checkout, its branch and its changes stay untouched.
    """
    dref = record.default_ref
    subject, _, body = message.partition("\n\n")
    msg = ["-m", subject] + (["-m", body.strip()] if body.strip() else [])
    in_place = record.on_default_branch if in_place is None else in_place
    if in_place:
        cmds = []
        if record.worktree != split:
            cmds.append(f"{shlex.join(color_file_printf(split))} > {shlex.quote(str(git.top / record.path))}")
        cmds += [git.cmd("add", "--", record.path), git.cmd("commit", *msg, "--", record.path)]
        if dref.remote:
            cmds.append(git.cmd("push", dref.remote, dref.branch))
        return cmds
    tmp = scratch_dir(record.env, split)
    scratch = Git(tmp)
    cmds = []
    if dref.remote:
        cmds.append(git.cmd("fetch", dref.remote, dref.branch))
    cmds += [
        git.cmd("worktree", "add", "--detach", str(tmp), dref.ref),
        f"{shlex.join(color_file_printf(split))} > {shlex.quote(str(tmp / record.path))}",
        scratch.cmd("add", "--", record.path),
        scratch.cmd("commit", *msg, "--", record.path),
        # Without a remote, "." is this repository: a fast-forward of the local default branch.
        scratch.cmd("push", dref.remote or ".", f"HEAD:refs/heads/{dref.branch}"),
        git.cmd("worktree", "remove", str(tmp)),
    ]
    return cmds
