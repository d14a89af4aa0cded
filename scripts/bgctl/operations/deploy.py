"""deploy: the new version on the inactive color, proven healthy, then traffic moves to it.

Steps (the plan's actions): prepare (discovery copy, prod only) → protect the active ASG → record the
version for the inactive color and scale it → wait until the gate passes → switch → verify → cleanup
(the old color held warm for rollback, the new one's minimum, a shutdown record cleared).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bgctl import other_color
from bgctl.asg import PROTECT_PROCESSES, snapshot
from bgctl.builds import (
    build_exists,
    discovery_key,
    discovery_required,
    discovery_source_with,
    discovery_sources,
    list_builds,
    object_exists,
)
from bgctl.canary import alarms_missing
from bgctl.capacity import CapacityPolicy
from bgctl.context import Context, Outcome
from bgctl.errors import RefusedError, UsageError
from bgctl.lock import now_iso
from bgctl.operations import execute, hook_actions, move_traffic, require_settled
from bgctl.plan import (
    Action,
    AwaitHealthy,
    Bake,
    Basis,
    ClearShutdown,
    CopyDiscovery,
    Drain,
    Plan,
    Protect,
    RecordVersion,
    Scale,
    SetMin,
    SmokeTest,
    Unprotect,
    VerifyTraffic,
    smoke_checks,
)
from bgctl.plansummary import ColorHealth
from bgctl.shutdown import shutdown_param
from bgctl.state import EnvState
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Wiring

VERSION_RE = re.compile(r"^gh-[0-9]{1,9}$")
PROD_ENVS = ("prod",)
# The source plan_deploy names in its CopyDiscovery action; bgctl.builds.copy_discovery copies from the
# first of the environment's own sources (prod: staging, beta; winprod: winstaging) that has the file.
DISCOVERY_SOURCE = "staging"

EXISTING_INSTANCES_WARNING = """⚠️  WARNING: The {color} ASG already has {count} instance(s) running!
This means you'll be switching to existing instances rather than deploying fresh ones.

If you want to:
  • Switch traffic to existing {color} instances → use 'bluegreen --env {env} switch {color}'
  • Roll back to {color} → use 'bluegreen --env {env} rollback'
  • Deploy fresh instances → run 'bluegreen --env {env} cleanup' first, then deploy"""

DISCOVERY_WARNING = """⚠️  WARNING: Compiler discovery has not run for {env}/{version}
For production deployments, we can copy discovery from {source} if available.
Options:
  1. Copy discovery from {source} (recommended)
  2. Continue without discovery (risky)
  3. Cancel deployment"""

DISCOVERY_UNAVAILABLE = """⚠️  WARNING: Compiler discovery has not run for {env}/{version}
and none of {sources} has it to copy.
Options:
  1. Continue without discovery (risky)
  2. Cancel deployment"""

DISCOVERY_MISSING = """⚠️  WARNING: Compiler discovery has not run for {env}/{version}
Instances will start without prediscovery (slow start; the registration check may time out).
Are you sure you want to deploy without it?"""

DISCOVERY_REFUSAL = (
    "❌ ERROR: --skip-confirmation cannot be used for production deployments without discovery.\n"
    """Production deployments require either:
  1. Existing discovery file for the version
  2. Manual confirmation to copy discovery from a source environment (prod: staging or beta;
     winprod: winstaging)
Deployment cancelled."""
)


def validate_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise UsageError(f"malformed version {version!r}: expected gh-<build number>, e.g. gh-123")
    return version


@dataclass(frozen=True)
class Decisions:
    """What the operator decided before the lock was taken; the plan under the lock reuses them."""

    version: str
    capacity: int | None = None
    replace_existing: bool = False
    copy_discovery: bool = False
    stamp: str = ""
    canary: tuple[int, ...] = ()  # weights (percent to the new color) before the full switch
    bake_seconds: float = 300.0


def plan_deploy(st: EnvState, d: Decisions, own_token: str | None = None) -> Plan:
    """The deploy plan for ``st``; every refusal is raised here, before anything changes."""
    wiring, split = require_settled(st, own_token)
    if split.serving is None:
        raise RefusedError(
            f"{st.env} is mid-canary ({split.describe()}): promote or abort it before deploying",
            hint=f"bluegreen --env {st.env} switch {split.active}",
        )
    active = split.active
    target = other_color(active)
    policy = CapacityPolicy.of(wiring)
    active_cs, target_cs = st.colors[active], st.colors[target]
    want = (
        policy.check_capacity(d.capacity)
        if d.capacity is not None
        else policy.default_capacity(active_cs.desired)
    )
    occupied = target_cs.desired > 0 or bool(target_cs.instances)
    if occupied and not d.replace_existing:
        raise RefusedError(existing_warning(st.env, target, target_cs.desired, len(target_cs.instances)))
    to = TrafficSplit.to(target)
    actions: list[Action] = []
    if d.copy_discovery:
        actions.append(
            CopyDiscovery(st.env, DISCOVERY_SOURCE, d.version, discovery_key(wiring, st.env, d.version))
        )
    actions.append(Protect(snapshot(active_cs), PROTECT_PROCESSES))
    if occupied:
        actions.append(Drain(snapshot(target_cs)))
    actions += [
        RecordVersion(target, wiring.version_parameters[target], target_cs.version, d.version),
        Scale(snapshot(target_cs), want, want),
        AwaitHealthy(target, want, d.version),
    ]
    hooks = {
        phase: hook_actions(wiring, "deploy", phase, version=d.version, color=target, stamp=d.stamp)
        for phase in ("pre-switch", "post-switch")
    }
    if wiring.preview is not None:
        actions.append(SmokeTest(target, d.version, smoke_checks(wiring)))
    actions += [*hooks["pre-switch"], *canary_steps(st, wiring, split, target, d)]
    actions += [
        move_traffic(st, wiring, to),
        VerifyTraffic(to, target, min(policy.floor, want)),
        *hooks["post-switch"],
        Unprotect(snapshot(active_cs), PROTECT_PROCESSES, CapacityPolicy.standby_min(active_cs.desired)),
    ]
    if want != policy.serving_min:
        actions.append(SetMin(target_cs.asg_name, want, policy.serving_min, "serving"))
    if st.shutdown is not None:
        actions.append(ClearShutdown(shutdown_param(st.env)))
    return Plan(
        env=st.env,
        operation="deploy",
        wiring=wiring,
        basis=Basis(split, target, int(occupied), d.version),
        actions=tuple(actions),
        from_split=split,
        to_split=to,
        target_color=target,
        version=d.version,
        stamp=d.stamp,
    )


def canary_steps(
    st: EnvState, wiring: Wiring, split: TrafficSplit, target: str, d: Decisions
) -> list[Action]:
    """Each canary weight as a weighted move followed by its bake (none without --canary)."""
    steps: list[Action] = []
    for i, weight in enumerate(d.canary, start=1):
        steps += [
            move_traffic(st, wiring, TrafficSplit(split.active, weight)),
            Bake(target, weight, d.bake_seconds, d.version, i, len(d.canary)),
        ]
    return steps


def existing_warning(env: str, color: str, desired: int, instances: int) -> str:
    return EXISTING_INSTANCES_WARNING.format(color=color, count=instances or desired, env=env)


def _discovery(
    ctx: Context, wiring: Wiring, version: str, *, skip_confirmation: bool
) -> tuple[bool, list[str]]:
    """Compiler discovery for the version, as compiler-explorer/infra requires it: (copy it from a
    source environment?, notes).

    Every environment but wintest needs it. Missing where the environment has sources (prod, winprod):
    ``--skip-confirmation`` refuses; otherwise the operator copies it from the first source that has
    it, goes on without, or cancels. Missing elsewhere: ``--skip-confirmation`` goes on with a warning;
    otherwise the operator confirms."""
    if not discovery_required(ctx.env) or object_exists(
        ctx.clients, wiring.builds.bucket, discovery_key(wiring, ctx.env, version)
    ):
        return False, []
    without = f"deploying {version} to {ctx.env} WITHOUT compiler discovery"
    sources = discovery_sources(ctx.env)
    if not sources:
        if not skip_confirmation and not ctx.prompter.confirm(
            DISCOVERY_MISSING.format(env=ctx.env, version=version)
        ):
            raise RefusedError("Deployment cancelled.")
        return False, [f"{without} (none has run for it)"]
    if skip_confirmation:
        raise RefusedError(DISCOVERY_REFUSAL)
    source = discovery_source_with(ctx.clients, wiring, ctx.env, version)
    if source is None:
        text = DISCOVERY_UNAVAILABLE.format(env=ctx.env, version=version, sources=" or ".join(sources))
        if ctx.prompter.choose(text, 2) != 1:
            raise RefusedError("Deployment cancelled.")
        return False, [f"{without} (no source had it; operator chose option 1)"]
    choice = ctx.prompter.choose(DISCOVERY_WARNING.format(env=ctx.env, version=version, source=source), 3)
    if choice == 2:
        return False, [f"{without} (operator chose option 2)"]
    if choice != 1:
        raise RefusedError("Deployment cancelled.")
    return True, [f"copied compiler discovery for {version} from {source}"]


def resolve_version(
    ctx: Context, st: EnvState, active: str, version: str | None, branch: str | None
) -> tuple[str, list[str]]:
    """gh-N as given; 'latest': the newest build (of ``branch``); None: what the active color runs."""
    if version is None:
        running = st.colors[active].version
        if running is None:
            raise RefusedError(
                f"{ctx.env}'s active color {active} records no version to redeploy",
                hint=f"name one: {ctx.cli} deploy gh-N (see {ctx.cli} deploy list)",
            )
        return running, [f"redeploying {running} (what {active} runs) on fresh instances"]
    if version == "latest":
        builds = list_builds(ctx.clients, st, branch=branch)
        if not builds:
            where = f" on branch {branch}" if branch else ""
            raise RefusedError(f"no builds found{where}", hint=f"{ctx.cli} deploy list")
        chosen = builds[0]
        ctx.reporter.info(
            f"latest build{' on ' + branch if branch else ''}: {chosen.version} ({chosen.branch})"
        )
        return chosen.version, [
            f"'latest' resolved to {chosen.version} ({chosen.branch}, {chosen.modified:%Y-%m-%d %H:%M})"
        ]
    return validate_version(version), []


def require_alarms(ctx: Context, names: tuple[str, ...]) -> None:
    """A canary's alarms must exist where it bakes, or it would bake blind; refused before any change."""
    missing = alarms_missing(ctx, names)
    if missing:
        where = f" in {ctx.region}" if ctx.region else ""
        raise RefusedError(
            f"the canary's alarms do not exist{where}: {', '.join(missing)}; nothing changed",
            hint="apply the environment's root (its module creates them), or deploy without --canary",
        )


def deploy(
    ctx: Context,
    version: str | None,
    *,
    capacity: int | None = None,
    skip_confirmation: bool = False,
    dry_run: bool = False,
    branch: str | None = None,
    canary: tuple[int, ...] = (),
    bake_seconds: float = 300.0,
) -> Outcome:
    if version not in (None, "latest"):
        validate_version(version)
    st = ctx.reader.read_one(ctx.env)
    wiring, split = require_settled(st)
    version, resolved = resolve_version(ctx, st, split.active, version, branch)
    if canary and not ctx.driver.supports_weights:
        raise UsageError(
            f"the {ctx.driver.name} driver cannot apply a canary's weighted forward here",
            hint="use --via api, or deploy without --canary",
        )
    if canary:
        require_alarms(ctx, wiring.canary.alarms_of(other_color(split.active)))
    decisions = Decisions(version, capacity, stamp=now_iso(), canary=canary, bake_seconds=bake_seconds)
    if capacity is not None:
        CapacityPolicy.of(wiring).check_capacity(capacity)
    if not build_exists(ctx.clients, wiring, version):
        raise RefusedError(
            f"build {version} not found in s3://{wiring.builds.bucket}/{wiring.builds.prefix}",
            hint=f"{ctx.cli} deploy list",
        )
    target_cs = st.colors[other_color(split.active)]
    notes: list[str] = list(resolved)
    if target_cs.desired > 0 or target_cs.instances:
        warning = existing_warning(ctx.env, target_cs.color, target_cs.desired, len(target_cs.instances))
        if skip_confirmation or dry_run:
            raise RefusedError(warning + "\nRefusing with --skip-confirmation: nothing changed.")
        ctx.reporter.warn(warning)
        if not ctx.prompter.confirm(
            f"Scale {target_cs.color} to 0 first and deploy fresh instances of {version}?"
        ):
            raise RefusedError("deployment cancelled; nothing changed")
        decisions = replace(decisions, replace_existing=True)
        notes.append(f"replaced the {len(target_cs.instances)} existing {target_cs.color} instance(s)")
    ctx.driver.check_available(ctx.env)
    if dry_run:
        plan = plan_deploy(st, decisions)
        want = next(a.want for a in plan.actions if isinstance(a, AwaitHealthy))
        health = ColorHealth.unknown(
            plan.target_color or "?", f"{want} new instance(s) of {version} not launched (dry run)"
        )
        return Outcome(
            ctx.env,
            "deploy",
            plan.from_split,
            plan.to_split,
            version,
            plan=plan,
            dry_run=True,
            health=health,
            notes=notes,
        )
    copy, discovery_notes = _discovery(ctx, wiring, version, skip_confirmation=skip_confirmation)
    decisions = replace(decisions, copy_discovery=copy)
    first = plan_deploy(st, decisions)
    outcome = execute(ctx, first, lambda now, token: plan_deploy(now, decisions, token))
    outcome.notes = discovery_notes + notes + outcome.notes
    return outcome
