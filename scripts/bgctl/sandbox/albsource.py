"""Where the sandbox's load balancer front reads its listener rules and target health from.

``MotoSource`` reads moto's elbv2 backend in this process (the sandbox runs moto in a thread here): the
rules exactly as moto holds them at that instant, and target health through the same backend call that
answers ``DescribeTargetHealth`` (so ``moto_fixes`` and the health server's injected failures apply).
It costs microseconds, so the front reads both for every request: a rule change or a failure is seen by
the very next request. ``ApiSource`` reads the same through the public API (``DescribeListeners``,
``DescribeRules``, ``DescribeTargetHealth``), optionally cached for ``ttl`` seconds; it serves a front
whose moto runs in another process, and the tests that hold the two readings equal.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bgctl.sandbox.albrules import Rule
from bgctl.sandbox.server import REGION

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

READ_ATTEMPTS = 3  # a read that races one of moto's own writes ("dict changed size") is read again


@dataclass(frozen=True, order=True)
class TargetView:
    instance_id: str
    state: str  # healthy | unhealthy | unused | draining | initial | unavailable


class AlbSource(Protocol):
    blocking: bool  # True: the front calls it off its event loop

    def rules(self, port: int) -> list[Rule] | None:
        """The rules of the listener on ``port`` (default rule included); None: no such listener."""

    def targets(self, target_group_arn: str) -> list[TargetView] | None:
        """The group's registered targets and their health; None: no such target group."""


def _retrying(read: Callable[[], Any]) -> Any:
    for attempt in range(READ_ATTEMPTS):
        try:
            return read()
        except RuntimeError:  # a dict moto was changing meanwhile
            if attempt == READ_ATTEMPTS - 1:
                raise
    return None  # pragma: no cover - the loop returns or raises


class MotoSource:
    """The load balancer ``name`` in this process's moto (account and region of the sandbox)."""

    blocking = False

    def __init__(self, name: str, *, region: str = REGION, account: str | None = None) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID

        self.name = name
        self.region = region
        self.account = account or DEFAULT_ACCOUNT_ID

    def _backend(self) -> Any:
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[self.account][self.region]

    def rules(self, port: int) -> list[Rule] | None:
        def read() -> list[Rule] | None:
            backend = self._backend()
            for balancer in list(backend.load_balancers.values()):
                if balancer.name != self.name:
                    continue
                for listener in list(balancer.listeners.values()):
                    if int(listener.port) == port:
                        return [_rule_of(r) for r in list(listener.rules.values())]
            return None

        result: list[Rule] | None = _retrying(read)
        return result

    def targets(self, target_group_arn: str) -> list[TargetView] | None:
        def read() -> list[TargetView] | None:
            backend = self._backend()
            if target_group_arn not in backend.target_groups:
                return None
            statuses = backend.describe_target_health(target_group_arn, [])
            return [TargetView(str(s.instance_id), str(s.status)) for s in statuses]

        result: list[TargetView] | None = _retrying(read)
        return result


def _rule_of(rule: Any) -> Rule:
    priority = getattr(rule, "priority", "default")
    default = bool(getattr(rule, "is_default", False)) or str(priority) == "default"
    return Rule(
        arn=str(rule.arn),
        priority=None if default else int(priority),
        conditions=tuple(rule.conditions or ()),
        actions=tuple(getattr(a, "data", a) for a in rule.actions or ()),
    )


class ApiSource:
    """The same reading through the elbv2 API; ``ttl`` > 0 caches each answer that long."""

    blocking = True

    def __init__(self, elbv2: ElasticLoadBalancingv2Client, name: str, *, ttl: float = 0.0) -> None:
        self.elbv2 = elbv2
        self.name = name
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str | int], tuple[float, Any]] = {}

    def _cached(self, key: tuple[str, str | int], read: Callable[[], Any]) -> Any:
        now = time.monotonic()
        if self.ttl > 0:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = read()
        if self.ttl > 0:
            with self._lock:
                self._cache[key] = (now, value)
        return value

    def _listener_arn(self, port: int) -> str | None:
        balancers = self.elbv2.describe_load_balancers(Names=[self.name])["LoadBalancers"]
        if not balancers:
            return None
        listeners = self.elbv2.describe_listeners(LoadBalancerArn=balancers[0]["LoadBalancerArn"])
        for listener in listeners["Listeners"]:
            if int(listener.get("Port", 0)) == port:
                return str(listener["ListenerArn"])
        return None

    def rules(self, port: int) -> list[Rule] | None:
        def read() -> list[Rule] | None:
            arn = self._listener_arn(port)
            if arn is None:
                return None
            docs: list[Any] = []
            kwargs: dict[str, Any] = {"ListenerArn": arn}
            for _ in range(100):  # bounded: 100 pages of rules is far more than one listener holds
                page = self.elbv2.describe_rules(**kwargs)
                docs += page["Rules"]
                marker = page.get("NextMarker")
                if not marker:
                    break
                kwargs["Marker"] = marker
            return [Rule.from_api(doc) for doc in docs]

        result: list[Rule] | None = self._cached(("rules", port), read)
        return result

    def targets(self, target_group_arn: str) -> list[TargetView] | None:
        def read() -> list[TargetView] | None:
            try:
                reply = self.elbv2.describe_target_health(TargetGroupArn=target_group_arn)
            except self.elbv2.exceptions.TargetGroupNotFoundException:
                return None
            return [
                TargetView(str(d["Target"]["Id"]), str(d.get("TargetHealth", {}).get("State", "")))
                for d in reply["TargetHealthDescriptions"]
            ]

        result: list[TargetView] | None = self._cached(("targets", target_group_arn), read)
        return result


def in_process_source(name: str, region: str = REGION) -> AlbSource | None:
    """A ``MotoSource`` of ``region`` when moto's backend in this process has the shape it reads, else
    None (with a warning: the caller falls back to the API)."""
    try:
        from moto.elbv2.models import FakeListener, FakeRule, elbv2_backends  # noqa: F401
    except ImportError as exc:
        warnings.warn(f"sandbox front: moto's elbv2 models not importable ({exc})", stacklevel=2)
        return None
    if not hasattr(FakeListener, "rules") or not hasattr(FakeRule, "__init__"):
        warnings.warn("sandbox front: moto's elbv2 internals changed; reading the API", stacklevel=2)
        return None
    return MotoSource(name, region=region)
