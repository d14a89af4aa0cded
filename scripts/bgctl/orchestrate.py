"""The operations: deploy, switch, rollback, cleanup, shutdown, recover.

Each is a short sequence of named steps. Every step that mutates AWS is journaled first, so that:

- an exception or SIGINT/SIGTERM *before* traffic moves undoes what was done (protection lifted,
  the new color scaled back and its version key restored), then releases the lock;
- once traffic has moved, every later step only rolls forward: a failure never restores the old
  version key of the color that is now serving;
- a process killed outright leaves the journal, and ``recover`` completes or undoes it.

The library never prints or prompts: it reports through ``Reporter`` and asks through ``Prompter``.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bgctl import other_color
from bgctl.aws import Clients, aws_errors, get_parameter, paginate, put_parameter
from bgctl.errors import (
    BlueGreenError,
    HealthGateError,
    InterruptedOperation,
    LockHeldError,
    RefusedError,
    UsageError,
    WiringError,
)
from bgctl.journal import Journal, JournalStore
from bgctl.lock import EnvLock, held_error, now_iso, whoami
from bgctl.ops import (
    protect_asg,
    record_version,
    scale,
    set_min,
    snapshot,
    unprotect_asg,
)
from bgctl.plansummary import ColorHealth, TrafficChange
from bgctl.state import ColorState, EnvState, StateReader
from bgctl.switching import SwitchDriver, planned_changes
from bgctl.wiring import Wiring, param_name

VERSION_RE = re.compile(r"^gh-[0-9]{1,9}$")
PROD_ENVS = ("prod",)
DISCOVERY_SOURCE = "staging"

EXISTING_INSTANCES_WARNING = """⚠️  WARNING: The {color} ASG already has {count} instance(s) running!
This means you'll be switching to existing instances rather than deploying fresh ones.

If you want to:
  • Switch traffic to existing {color} instances → use 'bluegreen --env {env} switch {color}'
  • Roll back to {color} → use 'bluegreen --env {env} rollback'
  • Deploy fresh instances → run 'bluegreen --env {env} cleanup' first, then deploy"""

DISCOVERY_WARNING = """⚠️  WARNING: Compiler discovery has not run for {env}/{version}
For production deployments, we can copy discovery from staging if available.
Options:
  1. Copy discovery from staging (recommended)
  2. Continue without discovery (risky)
  3. Cancel deployment"""

DISCOVERY_REFUSAL = (
    "❌ ERROR: --skip-confirmation cannot be used for production deployments without discovery.\n"
    """Production deployments require either:
  1. Existing discovery file for the version
  2. Manual confirmation to copy discovery from staging
Deployment cancelled."""
)


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
    """Non-interactive (--skip-confirmation): every question is answered "no"."""

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
    driver: SwitchDriver
    reporter: Reporter
    prompter: Prompter
    envs_dir: Path
    health_timeout: float = 600.0
    verify_timeout: float = 60.0
    poll_interval: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass
class Outcome:
    """What an operation did, for the CLI to print."""

    env: str
    operation: str
    from_color: str | None = None
    to_color: str | None = None
    version: str | None = None
    changes: list[TrafficChange] = field(default_factory=list)
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    health: ColorHealth | None = None


# -- preparation helpers -----------------------------------------------------------------------------
def validate_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise UsageError(f"malformed version {version!r}: expected gh-<build number>, e.g. gh-123")
    return version


def _wiring(st: EnvState) -> Wiring:
    if st.wiring is None:
        raise WiringError(
            st.wiring_error or f"{st.env}: no wiring",
            hint=f"apply Terraform for terraform/envs/{st.env}, then: bluegreen --env {st.env} validate",
        )
    return st.wiring


def _require_settled(st: EnvState) -> tuple[Wiring, str]:
    """Refuse to start on an environment whose state is ambiguous; return (wiring, active color)."""
    wiring = _wiring(st)
    if st.lock:
        raise held_error(st.env, st.lock)
    if st.journal:
        raise RefusedError(
            f"{st.env} has an unfinished {st.journal.get('operation', 'operation')} "
            f"(step {st.journal.get('step', '?')})",
            hint=f"bluegreen --env {st.env} recover",
        )
    if st.routing.color is None:
        raise RefusedError(
            f"{st.env}: cannot tell which color serves traffic ({'; '.join(st.drift) or 'no routes found'})",
            hint=f"bluegreen --env {st.env} validate",
        )
    if st.ssm_color is not None and st.ssm_color != st.routing.color:
        raise RefusedError(
            f"{st.env}: SSM says {st.ssm_color} but the load balancer routes to {st.routing.color}",
            hint=f"bluegreen --env {st.env} validate",
        )
    return wiring, st.routing.color


def build_exists(clients: Clients, wiring: Wiring, version: str) -> bool:
    prefix = wiring.builds.prefix
    with aws_errors("s3:ListObjectsV2 (builds)"):
        objects = paginate(
            clients.s3, "list_objects_v2", "Contents", Bucket=wiring.builds.bucket, Prefix=prefix
        )
    return any(obj["Key"].rsplit("/", 1)[-1].startswith(f"{version}.") for obj in objects)


def discovery_key(wiring: Wiring, env: str, version: str) -> str:
    return f"{wiring.builds.discovery_prefix}{env}/{version}.json"


def _object_exists(clients: Clients, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    from bgctl.aws import error_code

    try:
        clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise BlueGreenError(f"checking s3://{bucket}/{key} failed: {error_code(exc)}") from exc
    return True


def ensure_discovery(ctx: Context, wiring: Wiring, version: str, *, skip_confirmation: bool) -> list[str]:
    """Production needs a compiler discovery file for the version: offer to copy it from staging."""
    if ctx.env not in PROD_ENVS:
        return []
    bucket = wiring.builds.bucket
    key = discovery_key(wiring, ctx.env, version)
    if _object_exists(ctx.clients, bucket, key):
        return []
    if skip_confirmation:
        raise RefusedError(DISCOVERY_REFUSAL)
    choice = ctx.prompter.choose(DISCOVERY_WARNING.format(env=ctx.env, version=version), 3)
    if choice == 2:
        return [f"deploying {version} to {ctx.env} WITHOUT compiler discovery (operator chose option 2)"]
    if choice != 1:
        raise RefusedError("Deployment cancelled.")
    source = discovery_key(wiring, DISCOVERY_SOURCE, version)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ctx.clients.s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
    except (ClientError, BotoCoreError) as exc:
        raise RefusedError(
            f"copying discovery s3://{bucket}/{source} -> {key} failed: {exc}; deployment failed",
            hint=f"run compiler discovery for {ctx.env}/{version}, then deploy again",
        ) from exc
    if not _object_exists(ctx.clients, bucket, key):
        raise RefusedError(
            f"discovery for {ctx.env}/{version} still missing after the copy; deployment failed"
        )
    return [f"copied compiler discovery for {version} from {DISCOVERY_SOURCE}"]


# -- health gates ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateReading:
    ready: bool
    summary: str
    problems: tuple[str, ...]
    # Set when waiting cannot help: no check at all vouches for some instance.
    hopeless: str | None = None


def read_gate(cs: ColorState, want: int, version: str | None, *, routed: bool) -> GateReading:
    """Is ``cs`` ready to serve: ``want`` instances InService+Healthy, targets healthy, HTTP 200?"""
    problems: list[str] = []
    in_service = [i for i in cs.instances if i.in_service_healthy]
    if len(in_service) < want:
        problems.append(f"{len(in_service)}/{want} InService and Healthy")
    tg_ok = 0
    for inst in in_service:
        state = inst.target_health
        # A group no rule forwards to reads "unused" (the load balancer runs no checks): the ASG and
        # HTTP checks speak for it until traffic arrives.
        if state == "healthy" or (state == "unused" and not routed):
            tg_ok += 1
        else:
            problems.append(f"{inst.instance_id} target {state or 'not registered'}")
    http_ok = 0
    skipped: str | None = None
    for inst in in_service:
        result = inst.http
        if result.skipped:
            skipped = result.detail
            http_ok += 1
            continue
        served = re.search(r"gh-[0-9]+", result.body)
        if result.ok and version and served and served.group(0) != version:
            problems.append(f"{inst.instance_id} serves {served.group(0)}, expected {version}")
        elif result.ok:
            http_ok += 1
        else:
            problems.append(f"{inst.instance_id} HTTP {result.detail}")
    http_text = f"skipped ({skipped})" if skipped and http_ok == len(in_service) else f"{http_ok}/{want}"
    summary = f"ASG {len(in_service)}/{want}, target group {tg_ok}/{want}, HTTP {http_text}"
    # An unrouted group's targets read "unused" (the load balancer checks nothing) and a skipped HTTP
    # probe checks nothing either: only EC2 status would vouch for such an instance. That never
    # improves by waiting, and switching on it would be switching blind.
    blind = [i.instance_id for i in in_service if i.target_health == "unused" and i.http.skipped]
    hopeless = None
    if blind and not routed:
        hopeless = (
            f"no health check covers {len(blind)} instance(s) ({', '.join(blind[:3])}): the target group "
            f"runs no checks until traffic arrives and HTTP checks are skipped ({skipped})"
        )
        problems.append(hopeless)
    ready = not problems and len(in_service) >= want
    return GateReading(ready, summary, tuple(problems), hopeless)


def wait_until_ready(
    ctx: Context, color: str, want: int, version: str | None, *, routed: bool, timeout: float
) -> EnvState:
    deadline = ctx.clock() + timeout
    started = ctx.clock()
    while True:
        st = ctx.reader.read_one(ctx.env)
        reading = read_gate(st.colors[color], want, version, routed=routed)
        elapsed = ctx.clock() - started
        ctx.reporter.progress(f"{color}: {reading.summary} ({elapsed:.0f}s/{timeout:.0f}s)")
        if reading.ready:
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
                hint=f"bluegreen --env {ctx.env} status --detailed",
            )
        ctx.sleep(ctx.poll_interval)


def healthy_count(cs: ColorState) -> int:
    """Instances InService+Healthy whose target and HTTP checks pass (or are skipped / unused)."""
    return sum(
        1
        for i in cs.instances
        if i.in_service_healthy and i.target_health in ("healthy", "unused") and (i.http.ok or i.http.skipped)
    )


def color_health(cs: ColorState) -> ColorHealth:
    return ColorHealth(cs.color, healthy=healthy_count(cs), total=len(cs.instances))


def switch_gate(ctx: Context, st: EnvState, to_color: str, *, force: bool) -> list[str]:
    """Refuse a color without enough healthy instances, unless forced with a typed confirmation."""
    wiring = _wiring(st)
    cs = st.colors[to_color]
    healthy = healthy_count(cs)
    need = max(1, wiring.capacity.min_healthy)
    if healthy >= need:
        return []
    reason = (
        f"{to_color} has {healthy} healthy instance(s); {ctx.env} needs at least {need}"
        if healthy
        else f"{to_color} has no healthy instances"
    )
    if not force:
        raise RefusedError(
            f"refusing to switch {ctx.env} to {to_color}: {reason}",
            hint=f"bluegreen --env {ctx.env} deploy VERSION (or switch {to_color} --force)",
        )
    if not ctx.prompter.typed(f"{reason}. Type the environment name to switch anyway", ctx.env):
        raise RefusedError(f"forced switch of {ctx.env} to {to_color} not confirmed; nothing changed")
    return [f"FORCED switch: {reason}"]


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while a safe state is being restored (a second Ctrl-C must not cut it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- the journaled runner --------------------------------------------------------------------------
class Run:
    """One mutating operation: lock + journal, named steps, compensation on failure."""

    def __init__(self, ctx: Context, journal: Journal, lock: EnvLock) -> None:
        self.ctx = ctx
        self.journal = journal
        self.lock = lock
        self.store = JournalStore(ctx.clients.ssm, ctx.env)

    @classmethod
    def start(cls, ctx: Context, operation: str, from_color: str, to_color: str) -> Run:
        lock = EnvLock(ctx.clients.ssm, ctx.env)
        info = lock.acquire(operation)
        journal = Journal(
            env=ctx.env,
            operation=operation,
            from_color=from_color,
            to_color=to_color,
            lock_token=info.token,
            via=ctx.driver.name,
        )
        run = cls(ctx, journal, lock)
        try:
            run.store.save(journal, "prepare")
        except BaseException:
            lock.release()
            raise
        return run

    def step(self, name: str, message: str) -> None:
        self.store.save(self.journal, name)
        self.ctx.reporter.step(name, message)

    def switch_traffic(self, wiring: Wiring) -> None:
        """Move traffic to the target color and journal that it moved."""
        self.step(
            "switch",
            f"switching {self.ctx.env} traffic to {self.journal.to_color} via {self.ctx.driver.name}",
        )
        self.ctx.driver.switch(wiring, self.journal.to_color)
        self.journal.traffic_switched = True
        self.store.save(self.journal)

    def verify_switch(self, wiring: Wiring) -> None:
        """The load balancer forwards to the new group, SSM agrees, targets healthy; else switch back."""
        self.step("verify-switch", "verifying the load balancer, SSM and target health")
        to = self.journal.to_color
        deadline = self.ctx.clock() + self.ctx.verify_timeout
        while True:
            st = self.ctx.reader.read_one(self.ctx.env, probe_http=True)
            problems = []
            if st.routing.color != to:
                problems.append(f"load balancer routes {st.routing.paths}")
            if st.ssm_color != to:
                problems.append(f"SSM active-color is {st.ssm_color}")
            cs = st.colors[to]
            if cs.tg_healthy < max(1, min(wiring.capacity.min_healthy, cs.desired)):
                problems.append(f"{cs.tg_healthy}/{cs.tg_total} targets healthy")
            if not problems:
                return
            if self.ctx.clock() >= deadline:
                break
            self.ctx.reporter.progress(f"post-switch: {'; '.join(problems)}")
            self.ctx.sleep(self.ctx.poll_interval)
        self.ctx.reporter.warn(
            f"post-switch verification failed ({'; '.join(problems)}): switching back to "
            f"{self.journal.from_color}"
        )
        self.ctx.driver.switch(wiring, self.journal.from_color)
        self.journal.traffic_switched = False
        self.store.save(self.journal, "switched-back")
        raise HealthGateError(
            f"{self.ctx.env}: post-switch verification of {to} failed ({'; '.join(problems)}); "
            f"traffic switched back to {self.journal.from_color}",
            hint=f"bluegreen --env {self.ctx.env} status --detailed",
        )

    def finish(self, wiring: Wiring) -> None:
        """Roll forward: lift protection, set minimums, close the journal, release the lock."""
        j = self.journal
        self.step("cleanup", "lifting protection and setting minimums")
        env_min = max(wiring.capacity.min_size, wiring.capacity.min_healthy)
        if j.traffic_switched:
            if j.protected is not None:
                # The old active color keeps running (instant rollback) but no longer has a floor.
                unprotect_asg(self.ctx.clients, j.protected, min_size=0)
            set_min(self.ctx.clients, wiring.asg_names[j.to_color], env_min)
        elif j.protected is not None:
            unprotect_asg(self.ctx.clients, j.protected)
        self.close()

    def undo(self, wiring: Wiring) -> None:
        """Before traffic moved: put everything back as it was, then close."""
        j = self.journal
        if j.step in ("switch", "verify-switch", "switched-back"):
            # A switch may have been cut half-way (one listener moved): put all traffic back.
            self.ctx.driver.switch(wiring, j.from_color)
        if j.inactive is not None:
            scale(self.ctx.clients, j.inactive.name, desired=j.inactive.desired, min_size=j.inactive.min_size)
            if j.version is not None:
                record_version(self.ctx.clients, wiring, j.to_color, j.previous_version)
        if j.protected is not None:
            unprotect_asg(self.ctx.clients, j.protected)
        self.close()

    def settle(self, wiring: Wiring) -> None:
        """Finish or undo according to the journal (what recover and the failure paths run)."""
        if self.journal.traffic_switched:
            self.finish(wiring)
        else:
            self.undo(wiring)

    def close(self) -> None:
        self.store.close()
        self.lock.release()

    def guarded(self, wiring: Wiring, body: Callable[[], None]) -> None:
        """Run ``body``; on any failure or interrupt settle the journal, then re-raise."""
        try:
            body()
        except KeyboardInterrupt as exc:
            self.ctx.reporter.warn("interrupted: restoring a safe state…")
            with signals_deferred():
                self.settle(wiring)
            raise InterruptedOperation(
                f"{self.ctx.env}: {self.journal.operation} interrupted; "
                + ("traffic stays on the new color" if self.journal.traffic_switched else "nothing changed"),
            ) from exc
        except Exception:
            self.settle(wiring)
            raise


# -- operations ------------------------------------------------------------------------------------
def deploy(
    ctx: Context,
    version: str,
    *,
    capacity: int | None = None,
    skip_confirmation: bool = False,
    dry_run: bool = False,
) -> Outcome:
    validate_version(version)
    st = ctx.reader.read_one(ctx.env)
    wiring, active = _require_settled(st)
    target = other_color(active)
    active_cs, target_cs = st.colors[active], st.colors[target]
    want = capacity if capacity is not None else max(active_cs.desired, wiring.capacity.min_healthy, 1)
    floor = max(1, wiring.capacity.min_healthy)
    if want < floor or want > wiring.capacity.max_size:
        raise UsageError(
            f"--capacity {want} is outside {floor}..{wiring.capacity.max_size} for {ctx.env} "
            f"(at least its minimum healthy instances, at most its ASG maximum)"
        )
    if not build_exists(ctx.clients, wiring, version):
        raise RefusedError(
            f"build {version} not found in s3://{wiring.builds.bucket}/{wiring.builds.prefix}",
            hint=f"bluegreen --env {ctx.env} deploy list",
        )
    outcome = Outcome(ctx.env, "deploy", active, target, version, dry_run=dry_run)
    if target_cs.desired > 0 or target_cs.instances:
        warning = EXISTING_INSTANCES_WARNING.format(
            color=target, count=len(target_cs.instances) or target_cs.desired, env=ctx.env
        )
        if skip_confirmation or dry_run:
            raise RefusedError(warning + "\nRefusing with --skip-confirmation: nothing changed.")
        ctx.reporter.warn(warning)
        if not ctx.prompter.confirm(f"Scale {target} to 0 first and deploy fresh instances of {version}?"):
            raise RefusedError("deployment cancelled; nothing changed")
        outcome.notes.append(f"replaced the {len(target_cs.instances)} existing {target} instance(s)")
    ctx.driver.check_available(ctx.env)
    if dry_run:
        outcome.health = ColorHealth.unknown(
            target, f"{want} new instance(s) of {version} not launched (dry run)"
        )
        outcome.changes = [
            TrafficChange(
                "version",
                f"SSM {wiring.version_parameters[target]}",
                str(target_cs.version),
                version,
                label=f"{target}/version",
            ),
            TrafficChange(
                "asg",
                f"ASG {wiring.asg_names[target]}",
                f"desired {target_cs.desired}",
                f"desired {want}",
                label=wiring.asg_names[target],
            ),
            *planned_changes(st, target, ctx.envs_dir),
        ]
        return outcome
    outcome.notes += ensure_discovery(ctx, wiring, version, skip_confirmation=skip_confirmation)

    run = Run.start(ctx, "deploy", active, target)
    run.journal.version = version

    def body() -> None:
        j = run.journal
        j.protected = snapshot(active_cs)
        run.step("protect", f"protecting {active_cs.asg_name} from scaling while we work")
        protect_asg(ctx.clients, active_cs)

        j.inactive = snapshot(target_cs)
        j.previous_version = target_cs.version
        run.step(
            "deploy-inactive", f"recording {version} for {target} and scaling {target_cs.asg_name} to {want}"
        )
        if target_cs.desired > 0:
            scale(ctx.clients, target_cs.asg_name, desired=0, min_size=0)
            j.inactive.desired, j.inactive.min_size = 0, 0
            run.store.save(j)
            wait_until_empty(ctx, target)
        record_version(ctx.clients, wiring, target, version)
        scale(ctx.clients, target_cs.asg_name, desired=want, min_size=want)

        run.step("verify-health", f"waiting for {want} healthy {target} instance(s) running {version}")
        wait_until_ready(ctx, target, want, version, routed=False, timeout=ctx.health_timeout)

        run.switch_traffic(wiring)
        run.verify_switch(wiring)
        run.finish(wiring)
        _clear_shutdown(ctx)

    run.guarded(wiring, body)
    outcome.changes = planned_changes(st, target, ctx.envs_dir)
    return outcome


def wait_until_empty(ctx: Context, color: str, timeout: float = 600.0) -> None:
    deadline = ctx.clock() + timeout
    while True:
        cs = ctx.reader.read_one(ctx.env, probe_http=False).colors[color]
        if not cs.instances:
            return
        if ctx.clock() >= deadline:
            raise HealthGateError(f"{color} still has {len(cs.instances)} instance(s) after {timeout:.0f}s")
        ctx.reporter.progress(f"{color}: waiting for {len(cs.instances)} old instance(s) to terminate")
        ctx.sleep(ctx.poll_interval)


def switch(
    ctx: Context, to_color: str, *, force: bool = False, dry_run: bool = False, operation: str = "switch"
) -> Outcome:
    if to_color not in ("blue", "green"):
        raise UsageError(f"unknown color {to_color!r}: expected blue or green")
    st = ctx.reader.read_one(ctx.env)
    wiring, active = _require_settled(st)
    outcome = Outcome(ctx.env, operation, active, to_color, st.colors[to_color].version, dry_run=dry_run)
    if active == to_color and st.ssm_color == to_color and st.file_color == to_color:
        outcome.notes.append(f"{ctx.env} already serves {to_color}: nothing to do")
        return outcome
    if dry_run:
        try:
            outcome.notes += switch_gate(ctx, st, to_color, force=force)
        except RefusedError as exc:
            outcome.notes.append(f"⚠️  the real {operation} would be REFUSED: {exc.message}")
    else:
        outcome.notes += switch_gate(ctx, st, to_color, force=force)
    ctx.driver.check_available(ctx.env)
    outcome.changes = planned_changes(st, to_color, ctx.envs_dir)
    outcome.health = color_health(st.colors[to_color])
    if dry_run:
        return outcome
    run = Run.start(ctx, operation, active, to_color)

    def body() -> None:
        run.switch_traffic(wiring)
        run.verify_switch(wiring)
        run.finish(wiring)

    run.guarded(wiring, body)
    return outcome


def rollback(ctx: Context, *, force: bool = False, dry_run: bool = False) -> Outcome:
    st = ctx.reader.read_one(ctx.env)
    _, active = _require_settled(st)
    previous = other_color(active)
    cs = st.colors[previous]
    if not cs.instances:
        raise RefusedError(
            f"cannot roll {ctx.env} back to {previous}: it has no capacity left (desired {cs.desired}, "
            f"no instances); its recorded version is {cs.version or 'none'}",
            hint=f"redeploy that version instead: bluegreen --env {ctx.env} deploy {cs.version or 'VERSION'}",
        )
    return switch(ctx, previous, force=force, dry_run=dry_run, operation="rollback")


def cleanup(ctx: Context, color: str | None = None) -> Outcome:
    st = ctx.reader.read_one(ctx.env, probe_http=False)
    _, active = _require_settled(st)
    target = color or other_color(active)
    if target == active:
        raise RefusedError(
            f"refusing to clean up {target}: it is the active color of {ctx.env} and serves traffic",
            hint=f"switch first (bluegreen --env {ctx.env} switch {other_color(active)}) or use shutdown",
        )
    cs = st.colors[target]
    outcome = Outcome(ctx.env, "cleanup", active, target)
    if cs.desired == 0 and cs.min_size == 0 and not cs.instances:
        outcome.notes.append(f"{target} is already empty")
        return outcome
    lock = EnvLock(ctx.clients.ssm, ctx.env)
    lock.acquire("cleanup")
    try:
        scale(ctx.clients, cs.asg_name, desired=0, min_size=0)
    finally:
        lock.release()
    outcome.notes.append(f"scaled {cs.asg_name} from {cs.desired} to 0 (version {cs.version or 'none'})")
    return outcome


def shutdown(ctx: Context, *, reason: str = "") -> Outcome:
    st = ctx.reader.read_one(ctx.env, probe_http=False)
    wiring = _wiring(st)
    if not ctx.prompter.typed(
        f"⚠️  This stops every instance of {ctx.env}: the environment will be DOWN until the next deploy.\n"
        f"Type the environment name to confirm",
        ctx.env,
    ):
        raise RefusedError(f"shutdown of {ctx.env} not confirmed; nothing changed")
    lock = EnvLock(ctx.clients.ssm, ctx.env)
    lock.acquire("shutdown")
    try:
        put_parameter(
            ctx.clients.ssm,
            param_name(ctx.env, "shutdown"),
            json.dumps({"by": whoami(), "at": now_iso(), "reason": reason or "operator shutdown"}),
        )
        for color in ("blue", "green"):
            scale(ctx.clients, wiring.asg_names[color], desired=0, min_size=0)
    finally:
        lock.release()
    return Outcome(ctx.env, "shutdown", st.active_color, None, notes=[f"{ctx.env} is shut down on purpose"])


def _clear_shutdown(ctx: Context) -> None:
    from bgctl.aws import delete_parameter

    delete_parameter(ctx.clients.ssm, param_name(ctx.env, "shutdown"))


def _confirm_holder_gone(ctx: Context, lock: EnvLock) -> None:
    """Never take over a live operation: check its pid on this host, else ask the operator."""
    held = lock.current()
    if held is None:
        return
    alive = held.alive_here()
    if alive:
        raise LockHeldError(
            f"{ctx.env}: the {held.operation} of {held.describe()} is still running on this host",
            hint="wait for it to finish (or interrupt it: it restores a safe state itself)",
        )
    if alive is None and not ctx.prompter.typed(
        f"The {held.operation} of {held.describe()} ran on another host ({held.host or 'unknown'}).\n"
        f"Make sure it is no longer running, then type the environment name to recover",
        ctx.env,
    ):
        raise RefusedError(
            f"recover of {ctx.env} not confirmed: {held.describe()} may still be running",
            hint=f"confirm that process is gone, then: bluegreen --env {ctx.env} recover",
        )


def recover(ctx: Context) -> Outcome:
    """Complete or undo an operation whose process died, from its journal."""
    store = JournalStore(ctx.clients.ssm, ctx.env)
    journal = store.load()
    if journal is None:
        return Outcome(ctx.env, "recover", notes=["no unfinished operation: nothing to recover"])
    st = ctx.reader.read_one(ctx.env)
    wiring = _wiring(st)
    lock = EnvLock(ctx.clients.ssm, ctx.env)
    _confirm_holder_gone(ctx, lock)
    lock.take_over(journal.lock_token, f"recover {journal.operation}")
    run = Run(ctx, journal, lock)
    to = journal.to_color
    if not journal.traffic_switched and st.routing.color == to and st.ssm_color == to:
        # The switch completed but the process died before journaling it: roll forward.
        journal.traffic_switched = True
    elif (
        not journal.traffic_switched
        and journal.step == "switch"
        and to in st.routing.paths.values()
        and read_gate(st.colors[to], 1, journal.version, routed=False).ready
    ):
        # Cut mid-switch with the new color demonstrably healthy: finish the switch.
        ctx.driver.switch(wiring, to)
        journal.traffic_switched = True
    action = "completing" if journal.traffic_switched else "undoing"
    ctx.reporter.step("recover", f"{action} the interrupted {journal.operation} (step {journal.step})")
    if journal.traffic_switched:
        ctx.driver.switch(wiring, to)  # idempotent: make sure SSM and the color file agree
    run.settle(wiring)
    return Outcome(
        ctx.env,
        "recover",
        journal.from_color,
        to,
        journal.version,
        notes=[f"{action} {journal.operation} of {journal.started} by {journal.holder}"],
    )


def force_unlock(ctx: Context) -> Outcome:
    if not ctx.prompter.typed("Force-unlock: type the environment name to remove its lock", ctx.env):
        raise RefusedError("force-unlock not confirmed; lock left in place")
    held = EnvLock(ctx.clients.ssm, ctx.env).force_unlock()
    note = f"removed lock held by {held.describe()}" if held else "no lock was held"
    if get_parameter(ctx.clients.ssm, param_name(ctx.env, "journal")):
        note += f"; an unfinished operation remains: bluegreen --env {ctx.env} recover"
    return Outcome(ctx.env, "force-unlock", notes=[note])
