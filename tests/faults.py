"""Fault injection at botocore's ``before-call`` step: a chosen AWS call fails (as if every retry had
failed) or the process "dies" (HardKill) right before it. moto cannot fail on demand, so this small
injected double stands in front of it; everything else is the real client talking to moto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bgctl.aws import Clients
from bgtest import HardKill

Match = Callable[[str, dict[str, Any]], bool]


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""
        self.text = ""
        self.raw = None


@dataclass
class Rule:
    match: Match
    action: str  # "fail" | "kill"
    skip: int = 0  # let this many matching calls through first
    times: int | None = None  # then act this many times (None: always)
    code: str = "InternalError"
    seen: int = 0
    fired: int = 0

    def wants(self, operation: str, params: dict[str, Any]) -> bool:
        if not self.match(operation, params):
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class Faults:
    rules: list[Rule] = field(default_factory=list)
    mutating_calls: list[str] = field(default_factory=list)
    _params: threading.local = field(default_factory=threading.local)

    def fail(
        self, match: Match, *, skip: int = 0, times: int | None = None, code: str = "InternalError"
    ) -> Rule:
        rule = Rule(match, "fail", skip, times, code)
        self.rules.append(rule)
        return rule

    def kill(self, match: Match, *, skip: int = 0) -> Rule:
        rule = Rule(match, "kill", skip, 1)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def attach(self, clients: Clients) -> Faults:
        for client in (clients.autoscaling, clients.elbv2, clients.ssm, clients.s3, clients.ec2):
            client.meta.events.register("before-parameter-build", self._remember)
            client.meta.events.register("before-call", self._before_call)
        return self

    def _remember(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        # A stack: the fence's own GetParameter runs *inside* the outer call's parameter build.
        stack = getattr(self._params, "stack", None)
        if stack is None:
            stack = self._params.stack = []
        stack.append((str(model.name), dict(params)))

    def _before_call(self, model: Any, **_: Any) -> Any:
        stack = getattr(self._params, "stack", [])
        operation, params = stack.pop() if stack else (str(model.name), {})
        if not operation.startswith(("Describe", "Get", "List", "Head")):
            self.mutating_calls.append(operation)
        for rule in self.rules:
            if rule.wants(operation, params):
                if rule.action == "kill":
                    raise HardKill(f"killed before {operation}")
                parsed = {
                    "Error": {"Code": rule.code, "Message": f"injected failure of {operation}"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                }
                return _Response(500), parsed
        return None


def op(name: str, **where: str) -> Match:
    """Match calls of ``name`` whose parameters include every ``where`` key/value."""

    def match(operation: str, params: dict[str, Any]) -> bool:
        return operation == name and all(params.get(k) == v for k, v in where.items())

    return match


def any_mutation(operation: str, params: dict[str, Any]) -> bool:
    return not operation.startswith(("Describe", "Get", "List", "Head")) and not str(
        params.get("Name", "")
    ).endswith("/lock")
