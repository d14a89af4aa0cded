"""The terminal side of the library's two interfaces: ``Reporter`` (steps, progress, warnings) and
``Prompter`` (questions), plus choice types that suggest what the operator probably meant.

Progress is a live status line (rich) on a terminal and plain lines (only when something changed)
otherwise; with ``--json`` everything human goes to stderr so stdout stays one JSON document.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.status import Status


class ClickReporter:
    def __init__(self, *, to_stderr: bool = False, live: bool | None = None) -> None:
        self.to_stderr = to_stderr
        stream = sys.stderr if to_stderr else sys.stdout
        self.live = stream.isatty() if live is None else live
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.steps = 0
        self.last_progress = ""
        self._status: Status | None = None

    def _stop_live(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _echo(self, text: str, *, err: bool = False) -> None:
        self._stop_live()
        click.echo(text, err=err or self.to_stderr)

    def step(self, name: str, message: str) -> None:
        self.steps += 1
        self.last_progress = ""
        self._echo(f"▶ [{name}] {message}")

    def info(self, message: str) -> None:
        self._echo(f"  {message}")

    def warn(self, message: str) -> None:
        self._echo(message, err=True)

    def progress(self, message: str) -> None:
        if message == self.last_progress:
            return
        self.last_progress = message
        if not self.live:
            click.echo(f"  … {message}", err=self.to_stderr)
            return
        if self._status is None:
            self._status = self.console.status(message, spinner="dots")
            self._status.start()
        else:
            self._status.update(message)

    def close(self) -> None:
        self._stop_live()


class ClickPrompter:
    """Questions at the terminal. Ctrl-C or end of input at a prompt is an interrupt (exit 130), not a
    "no": the operator stopped the command, nothing was changed yet."""

    def confirm(self, message: str) -> bool:
        try:
            return bool(click.confirm(message, default=False))
        except click.Abort:
            raise KeyboardInterrupt("at a prompt") from None

    def choose(self, message: str, options: int) -> int:
        click.echo(message)
        try:
            return int(click.prompt(f"Choose option (1-{options})", type=click.IntRange(1, options)))
        except click.Abort:
            raise KeyboardInterrupt("at a prompt") from None

    def typed(self, message: str, expected: str) -> bool:
        try:
            answer = click.prompt(message, default="", show_default=False)
        except click.Abort:
            raise KeyboardInterrupt("at a prompt") from None
        return str(answer).strip() == expected


class SuggestingChoice(click.Choice[str]):
    """A choice that says "did you mean 'beta'?" for a near miss."""

    def __init__(self, choices: Sequence[str], noun: str) -> None:
        super().__init__(list(choices))
        self.noun = noun

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value not in self.choices:
            close = difflib.get_close_matches(value, [str(c) for c in self.choices], n=1, cutoff=0.5)
            hint = f": did you mean {close[0]!r}?" if close else ""
            self.fail(
                f"unknown {self.noun} {value!r}{hint} (one of: {', '.join(map(str, self.choices))})",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)
