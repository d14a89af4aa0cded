"""The README is the manual: every flag a command's --help shows and every BLUEGREEN_* variable the
code reads must be in it (issue 14)."""

from __future__ import annotations

import re

import click

from bgctl import REPO_ROOT
from bgctl.cli.app import cli

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            found += _commands(sub, (*path, name))
    return found


def test_every_flag_is_documented():
    from bgctl.cli import commands, sandbox  # noqa: F401 (registers the commands)

    missing = [
        f"{' '.join(path) or 'bluegreen'} {opt}"
        for path, cmd in _commands(cli)
        for param in cmd.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in param.opts
        if opt.startswith("--") and opt not in README
    ]
    assert not missing, f"flags --help shows that README.md does not mention: {missing}"


def test_every_command_is_documented():
    from bgctl.cli import commands, sandbox  # noqa: F401

    missing = [" ".join(path) for path, _ in _commands(cli) if path and f"{path[-1]}" not in README]
    assert not missing, missing


def test_every_variable_the_code_reads_is_documented():
    sources = [
        *(REPO_ROOT / "scripts").rglob("*.py"),
        REPO_ROOT / "Makefile",
        *(REPO_ROOT / "scripts").glob("*-*"),
    ]
    names = {
        m
        for path in sources
        if path.is_file()
        for m in re.findall(r"BLUEGREEN_[A-Z_]+", path.read_text(errors="replace"))
    }
    names.discard(
        "BLUEGREEN_COMPLETE"
    )  # click's completion variable is _BLUEGREEN_COMPLETE, documented as such
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"variables the code reads that README.md does not mention: {missing}"
