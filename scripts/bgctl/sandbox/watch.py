"""A live line of what the sandbox's load balancer serves, for ``make demo`` and a ``make sandbox`` shell.

    watcher = TrafficWatcher.for_sandbox(sb, ["beta", "prod"], stream=sys.stderr).start()
    ...                                   # deploy, switch, rollback: one line a second meanwhile
    watcher.stop()                        # the last line, then a total

Each line covers the last ``interval`` seconds of a light load (``users_per_env`` users per environment,
``rate`` requests a second each, through the front's listeners)::

    traffic   40 req/s  beta: gh-105 98%, gh-100 2%  prod: gh-100 100%  failed 0

Bounded: the load stops by itself after ``max_seconds``; ``stop()`` joins both threads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from bgctl.sandbox.front import AlbFront
from bgctl.sandbox.loadgen import EnvTraffic, LoadReport, Sample, TrafficLoad, entry_path, make_users


class TrafficWatcher:
    def __init__(
        self,
        front: AlbFront,
        envs: Sequence[EnvTraffic],
        *,
        stream: TextIO,
        users_per_env: int = 2,
        rate: float = 10.0,
        interval: float = 1.0,
        max_seconds: float = 900.0,
    ) -> None:
        self.envs = list(envs)
        self.stream = stream
        self.interval = interval
        users = make_users({"http": front.http_url, "https": front.https_url}, self.envs, users_per_env)
        self.load = TrafficLoad(users, rate=rate, duration=max_seconds, request_timeout=5.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._printed = 0
        self.lines: list[str] = []

    @classmethod
    def for_sandbox(
        cls, sandbox: Any, envs: Sequence[str] = ("beta", "prod"), **kwargs: Any
    ) -> TrafficWatcher:
        """Users on ``envs`` of a running ``Sandbox`` (its topology built)."""
        traffic = []
        for env in envs:
            wiring = sandbox.resources[env].wiring
            listeners = tuple(k for k in ("https", "http") if k in wiring.listener_arns)
            traffic.append(
                EnvTraffic(env, entry_path(wiring.path_patterns, wiring.is_default_action), listeners)
            )
        return cls(sandbox.front, traffic, **kwargs)

    def start(self) -> TrafficWatcher:
        if self._thread is None:
            self.load.start()
            self._thread = threading.Thread(
                target=self._print_loop, name="sandbox-traffic-watch", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> LoadReport:
        """Stop the load, print the last line and a total; return what the users saw."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None
        report = self.load.stop()
        self._emit(self._line(report.samples[self._printed :], self.interval))
        failed = report.failed
        self._emit(
            f"traffic total: {report.requests} requests through the load balancer, {failed} failed"
            + (
                f" ({', '.join(f'{k} x{v}' for k, v in report.statuses().items() if k != '200')})"
                if failed
                else ""
            )
        )
        return report

    def __enter__(self) -> TrafficWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the line ----------------------------------------------------------------------------------

    def _print_loop(self) -> None:
        while not self._stop.wait(self.interval):
            samples = self.load.samples
            upto = len(samples)
            self._emit(self._line(samples[self._printed : upto], self.interval))
            self._printed = upto
            if self.load.report().duration >= self.load.duration:
                return

    def _line(self, samples: Sequence[Sample], seconds: float) -> str:
        parts = [f"traffic {len(samples) / seconds:4.0f} req/s"]
        for env in self.envs:
            served = Counter(s.version or "?" for s in samples if s.group == env.env and s.ok)
            total = sum(served.values())
            if total:
                shares = ", ".join(f"{v} {100 * n / total:.0f}%" for v, n in served.most_common())
            else:
                shares = "-"
            parts.append(f"{env.env}: {shares}")
        failed = sum(1 for s in samples if not s.ok)
        parts.append(f"failed {failed}")
        return "  ".join(parts)

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.stream.write(line + "\n")
        self.stream.flush()
