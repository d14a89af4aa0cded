"""What every operation is handed: one environment's clients, reader, driver, settings and the two
interfaces to the person at the terminal (``Reporter`` to tell, ``Prompter`` to ask).

The library never prints or prompts itself; the CLI implements both interfaces, tests script them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bgctl.aws import Clients
from bgctl.hooks import Poster, post
from bgctl.settings import Settings

if TYPE_CHECKING:
    from bgctl.plan import Plan
    from bgctl.plansummary import ColorHealth
    from bgctl.state import StateReader
    from bgctl.switching import TrafficDriver
    from bgctl.traffic import TrafficSplit


class Reporter(Protocol):
    def step(self, name: str, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def progress(self, message: str) -> None: ...


class Prompter(Protocol):
    def confirm(self, message: str) -> bool: ...
    def choose(self, message: str, options: int) -> int: ...
    def typed(self, message: str, expected: str) -> bool: ...


class NoPrompter:
    """Non-interactive (--skip-confirmation / --yes): every question is answered "no"."""

    def confirm(self, message: str) -> bool:
        return False

    def choose(self, message: str, options: int) -> int:
        return options

    def typed(self, message: str, expected: str) -> bool:
        return False


@dataclass
class Context:
    env: str
    clients: Clients
    reader: StateReader
    driver: TrafficDriver
    reporter: Reporter
    prompter: Prompter
    settings: Settings
    assume_yes: bool = False  # --yes: protected environments need no typed confirmation (CI)
    poster: Poster = post  # how release hooks POST (tests hand in a loopback double)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    region: str | None = None  # the AWS region acted in (None: whatever the clients were made for)
    region_flag: str = ""  # " --region R" outside the environment's home region, for hints
    wave: str = ""  # a multi-region deploy's wave ID, recorded in each region's history record

    @property
    def envs_dir(self) -> Any:
        return self.settings.envs_dir

    @property
    def cli(self) -> str:
        """How hints name this environment's (and region's) commands."""
        return f"bluegreen --env {self.env}{self.region_flag}"


@dataclass
class Outcome:
    """What an operation did (or, for a dry run, would do), for the CLI to print or serialise."""

    env: str
    operation: str
    from_split: TrafficSplit | None = None
    to_split: TrafficSplit | None = None
    version: str | None = None
    plan: Plan | None = None
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    health: ColorHealth | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def from_color(self) -> str | None:
        return self.from_split.describe() if self.from_split else None

    @property
    def to_color(self) -> str | None:
        return self.to_split.describe() if self.to_split else None
