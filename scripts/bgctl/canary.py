"""Canary releases: traffic shifted to the new color in steps, each followed by a bake that watches it.

``deploy VERSION --canary 10,50 --bake 300`` passes the health gate as every deploy does, then sends
10% of requests to the new color (a weighted forward with target-group stickiness, so a user stays on
one version), bakes 300 s while watching the new color's CloudWatch alarms, its targets and HTTP
probes, does the same at 50%, and then switches fully as a plain deploy would. Any alarm or failure
during a bake sends the weight back to 0 (the journal first), undoes the deploy and exits 1 naming the
signal; so does SIGINT. An operator may promote (skip the remaining bakes) or abort from another shell
with ``canary promote`` / ``canary abort``: the request is an SSM parameter the baking process reads
with its state on every poll.

Like CodeDeploy's canary/linear configurations and Argo Rollouts' canary steps: weights only ever go
0 -> w1 -> ... -> 100, or back to 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bgctl.aws import aws_errors, delete_parameter, put_parameter
from bgctl.capacity import CapacityPolicy
from bgctl.context import Context
from bgctl.errors import BlueGreenError, UsageError
from bgctl.gate import read_gate
from bgctl.lock import now_iso, whoami
from bgctl.state import EnvState
from bgctl.wiring import Wiring, param_name

REQUESTS = ("promote", "abort")


class CanaryFailed(BlueGreenError):
    """A signal fired during a bake (an alarm, the gate, an HTTP probe) or an operator aborted."""

    def __init__(self, signal: str, *, hint: str | None = None) -> None:
        super().__init__(signal, hint=hint)
        self.signal = signal


def request_param(env: str) -> str:
    return param_name(env, "canary-request")


def parse_steps(text: str) -> tuple[int, ...]:
    """``10,50`` -> (10, 50): integer percents, 1 to 99, strictly increasing."""
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--canary {text!r}: expected percents like 10,50") from None
    if not steps or any(not 0 < s < 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise UsageError(f"--canary {text!r}: weights must be 1..99 and increase, e.g. 10,50")
    return steps


@dataclass(frozen=True)
class CanaryRequest:
    action: str
    by: str
    at: str

    @classmethod
    def parse(cls, text: str | None) -> CanaryRequest | None:
        if not text:
            return None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return None
        action = str(doc.get("action", ""))
        return cls(action, str(doc.get("by", "?")), str(doc.get("at", "?"))) if action in REQUESTS else None


def ask(ctx: Context, action: str) -> None:
    """Leave a promote/abort request for the process baking the canary."""
    put_parameter(
        ctx.clients.ssm,
        request_param(ctx.env),
        json.dumps({"action": action, "by": whoami(), "at": now_iso()}),
    )


def clear_request(ctx: Context) -> None:
    delete_parameter(ctx.clients.ssm, request_param(ctx.env))


def _alarms(ctx: Context, names: tuple[str, ...]) -> list[dict[str, Any]]:
    if not names or ctx.clients.cloudwatch is None:
        return []
    with aws_errors("cloudwatch:DescribeAlarms"):
        found = ctx.clients.cloudwatch.describe_alarms(AlarmNames=list(names)).get("MetricAlarms", [])
    return list(found)


def alarms_firing(ctx: Context, names: tuple[str, ...]) -> list[str]:
    """Of ``names``, the CloudWatch alarms in ALARM state."""
    return sorted(str(a["AlarmName"]) for a in _alarms(ctx, names) if a.get("StateValue") == "ALARM")


def alarms_missing(ctx: Context, names: tuple[str, ...]) -> list[str]:
    """Of ``names``, those CloudWatch does not have in this region: a bake watching them would watch
    nothing (DescribeAlarms silently leaves unknown names out)."""
    if ctx.clients.cloudwatch is None:
        return []
    return sorted(set(names) - {str(a["AlarmName"]) for a in _alarms(ctx, names)})


def signals(ctx: Context, st: EnvState, wiring: Wiring, color: str, version: str | None) -> list[str]:
    """What says the canary color is unwell right now (empty: all quiet)."""
    fired = [f"alarm {name} is ALARM" for name in alarms_firing(ctx, wiring.canary.alarms_of(color))]
    reading = read_gate(st.colors[color], CapacityPolicy.of(wiring).floor, version)
    if reading.failing:
        fired += [f"health: {v.problem}" for v in reading.failing[:3]]
    elif not reading.enough():
        fired.append(f"health: {color} has {reading.healthy}/{reading.want} healthy")
    return fired


def bake(ctx: Context, wiring: Wiring, color: str, seconds: float, version: str | None) -> str | None:
    """Watch ``color`` for ``seconds``: return "promote" when an operator asked to move on (None when
    the bake ran out quietly); raise CanaryFailed naming the first signal, or an operator's abort."""
    started = ctx.clock()
    deadline = started + seconds
    while True:
        st = ctx.reader.read_one(ctx.env)
        request = CanaryRequest.parse(st.canary_request)
        if request is not None:
            clear_request(ctx)
            if request.action == "abort":
                raise CanaryFailed(f"aborted by {request.by} at {request.at}")
            ctx.reporter.info(f"promoted by {request.by} at {request.at}: skipping the remaining bake")
            return "promote"
        fired = signals(ctx, st, wiring, color, version)
        if fired:
            raise CanaryFailed("; ".join(fired))
        left = deadline - ctx.clock()
        ctx.reporter.progress(f"bake: {color} quiet, {max(left, 0):.0f}s of {seconds:.0f}s left")
        if left <= 0:
            return None
        ctx.sleep(min(ctx.settings.poll_interval, max(left, 0.01)))


def bake_until(seconds: float) -> str:
    """The wall-clock end of a bake starting now (what status shows as time left)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_left(until: str) -> float | None:
    try:
        end = datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (end - datetime.now(UTC)).total_seconds()
