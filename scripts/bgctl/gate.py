"""The one health gate, used by deploy, switch, rollback, recover and apply.

An instance counts as healthy only when a check actually *covered* it and none failed:

- covering checks: its target is ``healthy`` (the load balancer probed it, which it does only for a
  group some rule forwards to), or an HTTP probe answered 200 and did not name another build;
- failing checks: target ``unhealthy``/``draining``/``unavailable``, HTTP error or unreachable, HTTP
  naming a different build than the one expected;
- pending: not yet ``InService``/``Healthy`` in its ASG, or a target still in ``initial``.

An instance with neither a covering nor a failing check (target ``unused`` because no rule forwards
there, and HTTP skipped because no ``BLUEGREEN_HEALTH_URL``) is *blind*: EC2 status alone vouches for
it, and waiting cannot change that. Switching on it would be switching blind, so the gate refuses
unless the operator forces it with the environment name typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bgctl.context import Context
from bgctl.errors import HealthGateError, RefusedError
from bgctl.plansummary import ColorHealth
from bgctl.state import ColorState, EnvState, Instance

FAILING_TARGET_STATES = ("unhealthy", "draining", "unavailable")
BUILD_RE = re.compile(r"gh-[0-9]+")


@dataclass(frozen=True)
class Verdict:
    instance_id: str
    counted: bool
    pending: bool = False
    blind: bool = False
    unrouted: bool = False  # blind because no rule forwards to its group (waiting will not help)
    problem: str | None = None


def judge(inst: Instance, version: str | None) -> Verdict:  # noqa: PLR0911 (one verdict per case)
    """One instance through the gate."""
    iid = inst.instance_id
    if not inst.in_service_healthy:
        return Verdict(iid, False, pending=True, problem=f"{iid} {inst.lifecycle_state}/{inst.asg_health}")
    state = inst.target_health
    if state in FAILING_TARGET_STATES:
        return Verdict(iid, False, problem=f"{iid} target {state}")
    http = inst.http
    if http.ok is False:
        return Verdict(iid, False, problem=f"{iid} {http.detail}")
    served = BUILD_RE.search(http.body) if http.ok else None
    if version and served and served.group(0) != version:
        return Verdict(iid, False, problem=f"{iid} serves {served.group(0)}, expected {version}")
    if state == "initial":
        return Verdict(iid, False, pending=True, problem=f"{iid} target initial")
    if state == "healthy" or http.ok:
        return Verdict(iid, True)
    return Verdict(
        iid,
        False,
        blind=True,
        unrouted=state == "unused",
        problem=f"{iid} target {state or 'not registered'}, HTTP skipped",
    )


@dataclass(frozen=True)
class GateReading:
    color: str
    want: int
    verdicts: tuple[Verdict, ...]
    http_skip_reason: str | None

    @property
    def healthy(self) -> int:
        return sum(1 for v in self.verdicts if v.counted)

    @property
    def failing(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.problem and not v.pending and not v.blind)

    @property
    def blind(self) -> tuple[str, ...]:
        return tuple(v.instance_id for v in self.verdicts if v.blind)

    @property
    def hopeless(self) -> str | None:
        """Set when waiting cannot help: instances no check will ever cover."""
        unrouted = [v.instance_id for v in self.verdicts if v.unrouted]
        if not unrouted:
            return None
        return (
            f"no health check covers {len(unrouted)} instance(s) ({', '.join(unrouted[:3])}): no rule "
            f"forwards to the {self.color} target group (so the load balancer checks nothing) and HTTP "
            f"checks are skipped ({self.http_skip_reason or 'no BLUEGREEN_HEALTH_URL'})"
        )

    def enough(self) -> bool:
        """At least ``want`` covered, healthy instances (what a switch needs)."""
        return self.healthy >= self.want

    def all_ready(self) -> bool:
        """``want`` healthy and nothing failing, pending or blind (what a deploy waits for)."""
        return self.enough() and all(v.counted for v in self.verdicts)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(v.problem for v in self.verdicts if v.problem)

    def summary(self) -> str:
        total = len(self.verdicts)
        return f"{self.color}: {self.healthy}/{self.want} healthy ({total} instance(s))"


def read_gate(cs: ColorState, want: int, version: str | None = None) -> GateReading:
    verdicts = tuple(judge(i, version) for i in cs.instances if i.lifecycle_state != "Terminated")
    return GateReading(cs.color, want, verdicts, cs.http_skip_reason)


def color_health(cs: ColorState) -> ColorHealth:
    """The color's health as plans and dry runs show it: covered-healthy of all instances."""
    return ColorHealth(cs.color, healthy=read_gate(cs, 0).healthy, total=len(cs.instances))


def wait_until_ready(ctx: Context, color: str, want: int, version: str | None, timeout: float) -> EnvState:
    """Poll until ``want`` instances of ``color`` pass the gate with nothing failing; HealthGateError at
    the deadline, or at once when no check can ever cover them."""
    started = ctx.clock()
    deadline = started + timeout
    while True:
        st = ctx.reader.read_one(ctx.env)
        reading = read_gate(st.colors[color], want, version)
        ctx.reporter.progress(f"{reading.summary()} ({ctx.clock() - started:.0f}s/{timeout:.0f}s)")
        if reading.all_ready():
            return st
        if reading.hopeless:
            raise HealthGateError(
                f"{ctx.env} {color}: {reading.hopeless}",
                hint="run from a host that reaches the instances with BLUEGREEN_HEALTH_URL set "
                "(e.g. http://{private_ip}/healthcheck on the admin node)",
            )
        if ctx.clock() >= deadline:
            raise HealthGateError(
                f"{ctx.env} {color} not healthy after {timeout:.0f}s: {'; '.join(reading.problems[:5])}",
                hint=f"{ctx.cli} status --detailed",
            )
        ctx.sleep(ctx.settings.poll_interval)


def refusal_reason(reading: GateReading, env: str) -> str | None:
    """Why ``reading`` is not enough to send traffic to its color, or None."""
    if reading.enough():
        return None
    color, healthy, want = reading.color, reading.healthy, reading.want
    if reading.blind and healthy < want:
        return (
            f"{color} has {healthy} covered healthy instance(s) and {len(reading.blind)} that no health "
            f"check covers (HTTP checks skipped: {reading.http_skip_reason or 'no BLUEGREEN_HEALTH_URL'})"
        )
    if healthy:
        return f"{color} has {healthy} healthy instance(s); {env} needs at least {want}"
    return f"{color} has no healthy instances"


def require_healthy(ctx: Context, reading: GateReading, *, force: bool, operation: str) -> list[str]:
    """Refuse to send traffic to a color the gate does not pass, unless forced with the name typed.
    Returns notes for the outcome (the forced reason)."""
    reason = refusal_reason(reading, ctx.env)
    if reason is None:
        return []
    if not force:
        raise RefusedError(
            f"refusing to {operation} {ctx.env} to {reading.color}: {reason}",
            hint=f"{ctx.cli} deploy VERSION (or {operation} with --force after checking it yourself)",
        )
    if not ctx.prompter.typed(f"{reason}. Type the environment name to {operation} anyway", ctx.env):
        raise RefusedError(
            f"forced {operation} of {ctx.env} to {reading.color} not confirmed; nothing changed"
        )
    return [f"FORCED {operation}: {reason}"]
