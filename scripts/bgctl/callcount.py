"""Counting the AWS API calls a piece of code makes, for the benchmarks (``bench``, ``bench_ops``) and
their tests: botocore's ``before-call`` fires once per API call (every page of a paginated call counts),
``before-send`` once per HTTP attempt, so attempts minus calls are retries."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bgctl.aws import RETRY_CONFIG, Clients
from bgctl.health import HttpChecker, HttpResult, Target
from bgctl.state import EnvState, StateReader


@dataclass(frozen=True)
class CallCounts:
    """AWS API calls by ``service:Operation`` (``calls``) and HTTP attempts including retries."""

    calls: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def retries(self) -> int:
        return sum(self.attempts.values()) - self.total


class CallCounter:
    """Counts the API calls made through a ``Clients`` (thread-safe: target health runs concurrently).

    Attach with ``with CallCounter.on(clients) as counter:``; ``counter.counts()`` is a snapshot and
    ``counter.reset()`` starts over. Labels use the Clients field name: ``elbv2:DescribeTargetHealth``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._attached: list[tuple[Any, str]] = []

    def _handler(self, target: Counter[str], service: str) -> Callable[..., None]:
        def handle(event_name: str = "", **_: Any) -> None:
            # Returning anything but None from these events would short-circuit the call.
            operation = event_name.rsplit(".", 1)[-1]
            with self._lock:
                target[f"{service}:{operation}"] += 1

        return handle

    def attach(self, clients: Clients) -> None:
        for f in dataclasses.fields(clients):
            client = getattr(clients, f.name)
            if client is None:  # a client this run does not use (e.g. dynamodb in the readers' set)
                continue
            events = client.meta.events
            for event, target in (("before-call", self._calls), ("before-send", self._attempts)):
                unique_id = f"bgctl-bench-{id(self)}-{event}-{f.name}"
                events.register(event, self._handler(target, f.name), unique_id=unique_id)
                self._attached.append((events, f"{event}|{unique_id}"))

    def detach(self) -> None:
        for events, key in self._attached:
            event, unique_id = key.split("|", 1)
            events.unregister(event, unique_id=unique_id)
        self._attached.clear()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._attempts.clear()

    def counts(self) -> CallCounts:
        with self._lock:
            return CallCounts(dict(self._calls), dict(self._attempts))

    @classmethod
    @contextmanager
    def on(cls, clients: Clients) -> Iterator[CallCounter]:
        counter = cls()
        counter.attach(clients)
        try:
            yield counter
        finally:
            counter.detach()


class CountingChecker(HttpChecker):
    """An HttpChecker that counts the probes it sends (skipped ones included)."""

    def __init__(self, template: str | None, **kwargs: Any) -> None:
        super().__init__(template, **kwargs)
        self._lock = threading.Lock()
        self.probes = 0

    def probe(self, target: Target) -> HttpResult:
        with self._lock:
            self.probes += 1
        return super().probe(target)


def reader_clients(endpoint_url: str) -> Clients:
    """Clients like the CLI's (``bgctl.aws.RETRY_CONFIG``), aimed at a loopback endpoint, fake keys."""
    from bgctl.sandbox.clients import fake_session
    from bgctl.sandbox.server import require_loopback_url

    require_loopback_url(endpoint_url, "endpoint")
    session = fake_session()
    return Clients(
        autoscaling=session.client("autoscaling", endpoint_url=endpoint_url, config=RETRY_CONFIG),
        elbv2=session.client("elbv2", endpoint_url=endpoint_url, config=RETRY_CONFIG),
        ssm=session.client("ssm", endpoint_url=endpoint_url, config=RETRY_CONFIG),
        s3=session.client("s3", endpoint_url=endpoint_url, config=RETRY_CONFIG),
        ec2=session.client("ec2", endpoint_url=endpoint_url, config=RETRY_CONFIG),
    )


def count_read(
    reader: StateReader, envs: Sequence[str], *, probe_http: bool = False
) -> tuple[dict[str, EnvState], CallCounts]:
    """One ``reader.read(envs)`` and the AWS calls it made."""
    with CallCounter.on(reader.clients) as counter:
        states = reader.read(envs, probe_http=probe_http)
    return states, counter.counts()
