"""Simulated users loading the sandbox's load balancer front, and what they saw.

``TrafficLoad`` runs users as tasks of one event loop in a background thread. Each user is one session:
its own cookie jar (so an ``AWSALBTG`` stickiness cookie comes back; a user made with
``keeps_cookies=False`` drops every cookie, so each of its requests is a new visitor's) and its own
keep-alive connection, one request at a time at a steady rate (a request that runs late is followed at
once, never by a burst).
Every answer becomes a ``Sample``: when it started, in which *window*, status, latency, the version the
instance served (``X-Bluegreen-Version``).

Windows are what the caller marks with ``mark(label)`` before each operation (deploy, switch, rollback):
a request belongs to the window it started in. A **mixed-version session** is a user who, within one
window, got version B after version A and then A again: the inconsistency blue-green exists to prevent
(one traffic move per window, so a user's versions may change once, never flip back).

Everything is bounded: ``duration`` (the users stop by themselves), ``max_requests`` per user, a timeout
per request; ``stop()`` ends it early and joins the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bgctl.sandbox.front import TARGET_GROUP_HEADER
from bgctl.sandbox.health import VERSION_HEADER
from bgctl.sandbox.server import require_loopback_url

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True)
class UserSpec:
    """One simulated user: its name, the group it is reported under (an environment), and the URLs it
    requests in turn (one listener; or both, alternating, for a user who mixes http:// and https://)."""

    name: str
    group: str
    urls: tuple[str, ...]
    keeps_cookies: bool = True  # False: no cookie jar, every request arrives as a new visitor's


@dataclass(frozen=True)
class Sample:
    user: str
    group: str
    window: int
    started: float  # seconds since the load started
    latency: float  # seconds until the whole answer was read (or the error)
    status: int | None  # None: no HTTP answer (connection refused, reset, timeout)
    version: str | None = None
    target_group: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class MixedSession:
    """A user who saw a version again after another one, within one window."""

    user: str
    group: str
    window: int
    label: str
    versions: tuple[str, ...]  # what it saw, consecutive repeats collapsed

    def describe(self) -> str:
        return f"{self.user} during {self.label!r}: {' -> '.join(self.versions)}"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def collapse(versions: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for version in versions:
        if not out or out[-1] != version:
            out.append(version)
    return tuple(out)


def mixed_sessions(samples: Iterable[Sample], labels: Sequence[str]) -> list[MixedSession]:
    """Every (user, window) whose served versions flip back: A -> B -> A."""
    sessions: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        if sample.ok and sample.version:
            sessions.setdefault((sample.user, sample.window), []).append(sample)
    found = []
    for (user, window), seen in sorted(sessions.items()):
        versions = collapse(s.version or "" for s in sorted(seen, key=lambda s: s.started))
        if len(set(versions)) < len(versions):
            label = labels[window] if window < len(labels) else f"window {window}"
            found.append(MixedSession(user, seen[0].group, window, label, versions))
    return found


@dataclass
class LoadReport:
    samples: list[Sample]
    labels: list[str]
    duration: float
    users: int

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def non_2xx(self) -> int:
        return sum(1 for s in self.samples if s.status is not None and not s.ok)

    @property
    def connection_errors(self) -> int:
        return sum(1 for s in self.samples if s.status is None)

    @property
    def failed(self) -> int:
        return self.non_2xx + self.connection_errors

    def latencies(self) -> list[float]:
        return [s.latency for s in self.samples if s.status is not None]

    def p(self, pct: float) -> float:
        return percentile(self.latencies(), pct)

    def mixed(self) -> list[MixedSession]:
        return mixed_sessions(self.samples, self.labels)

    def statuses(self) -> Counter[str]:
        return Counter(str(s.status) if s.status is not None else (s.error or "error") for s in self.samples)

    def versions(self, group: str | None = None) -> Counter[str]:
        return Counter(s.version or "?" for s in self.samples if s.ok and (group is None or s.group == group))

    def failures(self, limit: int = 10) -> list[Sample]:
        return [s for s in self.samples if not s.ok][:limit]

    def rate(self) -> float:
        return self.requests / self.duration if self.duration > 0 else 0.0


class TrafficLoad:
    """Users requesting the front at ``rate`` requests per second each, for at most ``duration`` s."""

    def __init__(
        self,
        users: Sequence[UserSpec],
        *,
        rate: float = 10.0,
        duration: float = 120.0,
        request_timeout: float = 10.0,
        max_requests: int = 100_000,
        seed: int | None = None,
    ) -> None:
        if rate <= 0 or duration <= 0:
            raise ValueError("rate and duration must be positive")
        for user in users:
            for url in user.urls:
                require_loopback_url(url, "load URL")
        self.users = list(users)
        self.rate = rate
        self.duration = duration
        self.request_timeout = request_timeout
        self.max_requests = max_requests
        self._rng = random.Random(seed)  # noqa: S311 - spreading start times, not a secret
        self._lock = threading.Lock()
        self._labels: list[str] = ["warm-up"]
        self._window = 0
        self.samples: list[Sample] = []  # appended by the load's thread; read a prefix at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._t0 = 0.0
        self._t_end = 0.0

    # -- windows -----------------------------------------------------------------------------------

    def mark(self, label: str) -> int:
        """A new window starts now (call just before an operation); returns its number."""
        with self._lock:
            self._labels.append(label)
            self._window = len(self._labels) - 1
            return self._window

    def now(self) -> float:
        """Seconds since the load started: the clock ``Sample.started`` counts on."""
        return time.monotonic() - self._t0 if self._t0 else 0.0

    @property
    def labels(self) -> list[str]:
        with self._lock:
            return list(self._labels)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> TrafficLoad:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._run(started))
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="sandbox-traffic-load", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def stop(self, timeout: float | None = None) -> LoadReport:
        """Stop the users (each finishes the request it is in) and return what they saw."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            stop = self._stop
            if stop is not None:
                loop.call_soon_threadsafe(stop.set)
            thread.join(timeout if timeout is not None else self.request_timeout + 5)
        return self.report()

    def wait(self) -> LoadReport:
        """Let the users run their full ``duration``, then report."""
        if self._thread is not None:
            self._thread.join(self.duration + self.request_timeout + 5)
        return self.report()

    def report(self) -> LoadReport:
        end = self._t_end or time.monotonic()
        return LoadReport(
            list(self.samples), self.labels, max(0.0, end - self._t0) if self._t0 else 0.0, len(self.users)
        )

    def __enter__(self) -> TrafficLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the users ---------------------------------------------------------------------------------

    async def _run(self, started: threading.Event) -> None:
        import aiohttp

        self._stop = asyncio.Event()
        self._t0 = time.monotonic()
        deadline = self._t0 + self.duration
        sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1),
                # Cookies from an IP address host, as a browser keeps them (or none at all).
                cookie_jar=aiohttp.CookieJar(unsafe=True) if user.keeps_cookies else aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            )
            for user in self.users
        ]
        started.set()
        try:
            await asyncio.gather(
                *(
                    self._user(user, session, deadline, self._rng.random() / self.rate)
                    for user, session in zip(self.users, sessions, strict=True)
                )
            )
        finally:
            self._t_end = time.monotonic()
            for session in sessions:
                await session.close()

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when asked to stop meanwhile."""
        assert self._stop is not None
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def _user(
        self, user: UserSpec, session: aiohttp.ClientSession, deadline: float, offset: float
    ) -> None:
        import aiohttp

        interval = 1.0 / self.rate
        next_at = time.monotonic() + offset
        for n in range(self.max_requests):
            if await self._pause(next_at - time.monotonic()) or time.monotonic() >= deadline:
                return
            url = user.urls[n % len(user.urls)]
            with self._lock:
                window = self._window
            began = time.monotonic()
            status: int | None = None
            version = group = error = None
            try:
                async with session.get(url) as response:
                    await response.read()
                    status = response.status
                    version = response.headers.get(VERSION_HEADER)
                    group = response.headers.get(TARGET_GROUP_HEADER)
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = type(exc).__name__
            now = time.monotonic()
            self.samples.append(
                Sample(
                    user.name,
                    user.group,
                    window,
                    began - self._t0,
                    now - began,
                    status,
                    version,
                    group,
                    error,
                )
            )
            next_at = max(next_at + interval, now)


# --------------------------------------------------------------------------------------------------
# Users for an environment, and the table
# --------------------------------------------------------------------------------------------------
def entry_path(path_patterns: Sequence[str], is_default_action: bool) -> str:
    """A path that reaches the environment: ``/beta/`` for ``/beta*``, ``/`` for prod's default action."""
    if is_default_action or not path_patterns:
        return "/"
    path = path_patterns[0].replace("*", "").replace("?", "x")
    return path if path.endswith("/") else path + "/"


@dataclass(frozen=True)
class EnvTraffic:
    """Where an environment's users go: its entry path, and the listeners that carry it."""

    env: str
    path: str
    listeners: tuple[str, ...] = ("https", "http")


def make_users(
    front_urls: dict[str, str],
    envs: Sequence[EnvTraffic],
    per_env: int,
    *,
    alternating: int = 0,
    keeps_cookies: bool = True,
    prefix: str = "",
) -> list[UserSpec]:
    """``per_env`` users per environment, spread over its listeners (each user keeps to one), and
    ``alternating`` more who switch listener on every request. ``keeps_cookies=False``: users who never
    send a cookie back (every request a new visitor's); ``prefix`` goes before each user's name."""
    users: list[UserSpec] = []
    for env in envs:
        for i in range(per_env):
            listener = env.listeners[i % len(env.listeners)]
            url = f"{front_urls[listener]}{env.path}api/u{i}"
            users.append(UserSpec(f"{prefix}{env.env}-{listener}-{i}", env.env, (url,), keeps_cookies))
        if len(env.listeners) > 1:
            for i in range(alternating):
                urls = tuple(f"{front_urls[x]}{env.path}api/a{i}" for x in env.listeners)
                users.append(UserSpec(f"{prefix}{env.env}-both-{i}", env.env, urls, keeps_cookies))
    return users


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass
class WindowCount:
    label: str
    requests: int = 0
    failed: int = 0
    versions: Counter[str] = field(default_factory=Counter)


def by_window(report: LoadReport, groups: Iterable[str] = ()) -> list[WindowCount]:
    """Counts per window; a window labelled after one of ``groups`` ("beta deploy #1") counts only that
    group's users (the others saw nothing move)."""
    known = set(groups)
    counts = [WindowCount(label) for label in report.labels]
    for sample in report.samples:
        if sample.window >= len(counts):
            continue
        entry = counts[sample.window]
        owner = entry.label.split(" ", 1)[0]
        if owner in known and sample.group != owner:
            continue
        entry.requests += 1
        if not sample.ok:
            entry.failed += 1
        elif sample.version:
            entry.versions[sample.version] += 1
    return counts
