"""The git work tree a command runs in, and the facts bluegreen reads from it.

- ``Git``: one work tree; every command runs as ``git -C <top> ...`` with argument lists, no prompts, C
  messages and no ``GIT_DIR``-style variables leaking in from the caller.
- ``find_repo`` / ``repo_path``: the work tree holding a path, and that path in git's spelling.
- ``default_remote`` / ``default_branch`` / ``default_ref``: where the truth lives (``origin/<default>``
  when there is a remote-tracking ref, else the local branch); ``current_branch``; ``missing_base``:
  why a push's base SHA cannot be compared with.
- ``read_blobs``: many ``<rev>:<path>`` files in one process.
- ``dirty_paths`` / ``operation_in_progress``: whether a commit of one file would take anything else.

The functions here only read (no fetch, no network); callers run what writes through ``Git.run``.
Standard library only at import time (the workflow runs ``python -m bgctl.gitops`` before ``make setup``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bgctl.errors import BlueGreenError

FALLBACK_BRANCH = "main"
DEFAULT_BRANCH_ENV = "BLUEGREEN_DEFAULT_BRANCH"  # CI: github.event.repository.default_branch
DEFAULT_BRANCH_CONFIG = "bluegreen.defaultBranch"  # git config, per checkout
PREFERRED_REMOTE = "origin"
GIT_TIMEOUT = 120.0
# Variables that would point git at another repository than the one we name with -C.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)


class GitError(BlueGreenError):
    """A git command failed (carries the tail of its stderr)."""


# --------------------------------------------------------------------------------------------------
# Running git
# --------------------------------------------------------------------------------------------------
def git_binary() -> str:
    """git's absolute path (PATH lookup once per call: tests and CI may put another git first)."""
    return shutil.which("git") or "git"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password
    env["LC_ALL"] = "C"  # messages we match are English
    return env


@dataclass(frozen=True)
class Git:
    """One work tree; every command runs as ``git -C <top> ...``."""

    top: Path

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [git_binary(), "-C", str(self.top), *args]
        try:
            proc = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                env=_git_env(),
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"cannot run git {' '.join(args[:2])}: {exc}") from exc
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise GitError(f"git {' '.join(args)} failed (exit {proc.returncode}): {tail}")
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0

    def maybe(self, *args: str) -> str | None:
        proc = self.run(*args, check=False)
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None

    def cmd(self, *args: str) -> str:
        """The shell command line a person would type for ``git -C <top> args``."""
        return shlex.join(["git", "-C", str(self.top), *args])


def find_repo(path: Path) -> Git | None:
    """The work tree containing ``path`` (or its nearest existing parent); None outside git."""
    probe = Path(path).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_file():
        probe = probe.parent
    try:
        proc = Git(probe).run("rev-parse", "--show-toplevel", check=False)
    except GitError:  # git missing or hung
        return None
    top = proc.stdout.strip()
    return Git(Path(top).resolve()) if proc.returncode == 0 and top else None


def repo_path(git: Git, path: Path) -> str:
    """``path`` relative to the work tree, in git's spelling (posix)."""
    return PurePosixPath(Path(path).resolve().relative_to(git.top)).as_posix()


# --------------------------------------------------------------------------------------------------
# The default branch and its ref
# --------------------------------------------------------------------------------------------------
def default_remote(git: Git) -> str | None:
    """``origin`` when it exists, else the only remote, else None."""
    remotes = git.out("remote").split()
    if PREFERRED_REMOTE in remotes:
        return PREFERRED_REMOTE
    return remotes[0] if len(remotes) == 1 else None


def default_branch(git: Git, remote: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The default branch: ``$BLUEGREEN_DEFAULT_BRANCH``, ``git config bluegreen.defaultBranch``, the
    remote's HEAD (``origin/HEAD``), ``init.defaultBranch``, else ``main``."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(DEFAULT_BRANCH_ENV, "").strip()
    if explicit:
        return explicit
    configured = git.maybe("config", "--get", DEFAULT_BRANCH_CONFIG)
    if configured:
        return configured
    remote = remote if remote is not None else default_remote(git)
    if remote:
        head = git.maybe("symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD")
        prefix = f"refs/remotes/{remote}/"
        if head and head.startswith(prefix):
            return head.removeprefix(prefix)
    return git.maybe("config", "--get", "init.defaultBranch") or FALLBACK_BRANCH


@dataclass(frozen=True)
class DefaultRef:
    """Where the truth lives: ``remote``/``branch`` when a remote-tracking ref exists, else the branch."""

    branch: str
    remote: str | None

    @property
    def ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}" if self.remote else f"refs/heads/{self.branch}"

    @property
    def name(self) -> str:
        return f"{self.remote}/{self.branch}" if self.remote else self.branch


def default_ref(git: Git, environ: Mapping[str, str] | None = None) -> DefaultRef:
    remote = default_remote(git)
    branch = default_branch(git, remote, environ)
    if remote and git.ok("rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}/{branch}^{{commit}}"):
        return DefaultRef(branch, remote)
    return DefaultRef(branch, None)


def current_branch(git: Git) -> str | None:
    """The checked-out branch; None on a detached HEAD."""
    return git.maybe("symbolic-ref", "--quiet", "--short", "HEAD")


def missing_base(git: Git, base: str | None) -> str | None:
    """Why a push's ``base`` cannot be compared with (None when it is a commit in this clone): there is
    none, or all zeros (a new branch), or it is not here (a force push this clone cannot follow)."""
    if not base or base.strip("0") == "":
        return "no previous commit to compare with"
    if not git.ok("cat-file", "-e", f"{base}^{{commit}}"):
        return f"the push's base {base[:12]} is not in this clone (force push?)"
    return None


# --------------------------------------------------------------------------------------------------
# Reading files out of git
# --------------------------------------------------------------------------------------------------
def read_blobs(git: Git, specs: Sequence[str]) -> dict[str, str | None]:
    """``<rev>:<path>`` -> file text (None when the rev or the path does not exist), in one process."""
    if not specs:
        return {}
    proc = subprocess.run(
        [git_binary(), "-C", str(git.top), "cat-file", "--batch"],
        input=("\n".join(specs) + "\n").encode(),
        capture_output=True,
        env=_git_env(),
        timeout=GIT_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(f"git cat-file --batch failed: {proc.stderr.decode(errors='replace').strip()}")
    data, pos = proc.stdout, 0
    found: dict[str, str | None] = {}
    for spec in specs:
        end = data.index(b"\n", pos)
        header = data[pos:end].decode(errors="replace").split()
        pos = end + 1
        if len(header) == 3 and header[1] == "blob":
            size = int(header[2])
            found[spec] = data[pos : pos + size].decode("utf-8", errors="replace")
            pos += size + 1  # the content is followed by a newline
        else:  # "<spec> missing", or a tree/commit where a blob was expected
            if len(header) == 3:
                pos += int(header[2]) + 1
            found[spec] = None
    return found


# --------------------------------------------------------------------------------------------------
# The work tree's state
# --------------------------------------------------------------------------------------------------
def dirty_paths(git: Git) -> list[str]:
    """Tracked paths with staged or unstaged changes (untracked files do not count)."""
    out = git.run("status", "--porcelain=v1", "-z", "--untracked-files=no").stdout
    entries = out.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy is followed by its source path
            paths.append(entries[i])
            i += 1
    return paths


def operation_in_progress(git: Git) -> str | None:
    """A merge, rebase, cherry-pick or revert stopped half-way in this work tree, if any."""
    git_dir = Path(git.out("rev-parse", "--absolute-git-dir"))
    for marker, what in (
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
    ):
        if (git_dir / marker).exists():
            return what
    return None
