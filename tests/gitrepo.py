"""Throw-away git repositories for the gitops tests: a work tree shaped like this project (the color
files of a few environments, a module) with a bare ``origin`` next to it.

Nothing here reads the user's or the system's git configuration: ``isolated_git`` points
``GIT_CONFIG_GLOBAL`` at an empty file and sets ``GIT_CONFIG_NOSYSTEM``; each repository carries its own
``user.name`` / ``user.email``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ENVS = ("beta", "prod")
COLOR_FILE = "active_color.auto.tfvars.json"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "BLUEGREEN_DEFAULT_BRANCH",
        "GITHUB_ACTIONS",
        "GITHUB_ACTOR",
        "GITHUB_RUN_ID",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)


def configure(work: Path, name: str = "Ops Person") -> None:
    git(work, "config", "user.name", name)
    git(work, "config", "user.email", f"{name.split(maxsplit=1)[0].lower()}@example.invalid")
    git(work, "config", "commit.gpgsign", "false")


@dataclass
class Repo:
    """A work tree on ``main`` and (unless made without one) its bare ``origin``."""

    work: Path
    remote: Path | None

    @property
    def envs_dir(self) -> Path:
        return self.work / "terraform" / "envs"

    def color_path(self, env: str) -> Path:
        return self.envs_dir / env / COLOR_FILE

    def write_color(self, env: str, color: str) -> None:
        self.color_path(env).write_text(json.dumps({"active_color": color}, indent=2) + "\n")

    def commit_color(self, env: str, color: str, message: str | None = None) -> str:
        self.write_color(env, color)
        git(self.work, "add", "--", str(self.color_path(env)))
        git(self.work, "commit", "-q", "-m", message or f"{env}: {color}")
        return self.head()

    def commit_file(self, rel: str, text: str, message: str = "change") -> str:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(self.work, "add", "--", rel)
        git(self.work, "commit", "-q", "-m", message)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return git(self.work, "rev-parse", rev)

    def push(self) -> None:
        git(self.work, "push", "-q", "origin", "main")

    def log(self, rev: str = "HEAD", n: int = 1) -> str:
        return git(self.work, "log", f"-{n}", "--format=%B", rev)

    def clone(self, where: Path, name: str = "Other Person") -> Repo:
        assert self.remote is not None
        subprocess.run(["git", "clone", "-q", str(self.remote), str(where)], check=True)
        configure(where, name)
        return Repo(where, self.remote)


def make_repo(tmp_path: Path, *, with_remote: bool = True, color: str = "blue") -> Repo:
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    configure(work)
    repo = Repo(work, None)
    for env in ENVS:
        repo.color_path(env).parent.mkdir(parents=True)
        repo.write_color(env, color)
        (repo.envs_dir / env / "main.tf").write_text(f"# {env}\n")
    (work / "terraform" / "modules" / "blue_green").mkdir(parents=True)
    (work / "terraform" / "modules" / "blue_green" / "main.tf").write_text("# module\n")
    (work / ".gitignore").write_text(".sandbox/\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "initial")
    if with_remote:
        remote = tmp_path / "origin.git"
        git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
        git(work, "remote", "add", "origin", str(remote))
        git(work, "push", "-q", "-u", "origin", "main")
        git(work, "remote", "set-head", "origin", "main")
        repo.remote = remote
    return repo
