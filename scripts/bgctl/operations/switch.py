"""switch and rollback: move all traffic to a color that passes the health gate, then verify.

The color that stops serving is held warm (``MinSize = DesiredCapacity``) for an instant way back, the
color that starts serving gets the environment's serving minimum: the same rule as after a deploy.
"""

from __future__ import annotations

from bgctl import COLORS, other_color
from bgctl.capacity import CapacityPolicy
from bgctl.context import Context, Outcome
from bgctl.errors import RefusedError, UsageError
from bgctl.gate import color_health, read_gate, require_healthy
from bgctl.lock import now_iso
from bgctl.operations import execute, hook_actions, move_traffic, require_settled
from bgctl.plan import Action, Basis, Plan, RunHook, SetMin, SmokeTest, VerifyTraffic, smoke_checks
from bgctl.state import EnvState
from bgctl.traffic import TrafficSplit

VERBS = {"switch": "switch", "rollback": "roll back"}


def plan_switch(
    st: EnvState,
    to_color: str,
    operation: str = "switch",
    own_token: str | None = None,
    stamp: str = "",
    *,
    smoke: bool = True,
) -> Plan:
    """The plan that moves all of ``st``'s traffic to ``to_color`` (no actions when it is already there).
    A switch (not a rollback: the emergency way back to what served moments ago, and not with
    ``--force``) smoke-tests the color through its preview route first, where the wiring has one."""
    wiring, split = require_settled(st, own_token)
    policy = CapacityPolicy.of(wiring)
    to = TrafficSplit.to(to_color)
    actions: list[Action] = []
    settled = split == to and st.ssm_color == to_color and st.file_split == to
    if not settled:
        to_cs = st.colors[to_color]
        version = to_cs.version

        def hooks(phase: str) -> list[RunHook]:
            return hook_actions(wiring, operation, phase, version=version, color=to_color, stamp=stamp)

        if smoke and operation == "switch" and wiring.preview is not None:
            actions.append(SmokeTest(to_color, version, smoke_checks(wiring)))
        actions += [
            *hooks("pre-switch"),
            move_traffic(st, wiring, to),
            VerifyTraffic(to, to_color, min(policy.floor, max(1, to_cs.desired))),
            *hooks("post-switch"),
        ]
        losing = other_color(to_color)
        old = st.colors[losing]
        if split.reaches(losing) and old.min_size != CapacityPolicy.standby_min(old.desired):
            actions.append(
                SetMin(
                    old.asg_name, old.min_size, CapacityPolicy.standby_min(old.desired), "held for rollback"
                )
            )
        if to_cs.min_size != policy.serving_min:
            actions.append(SetMin(to_cs.asg_name, to_cs.min_size, policy.serving_min, "serving"))
    return Plan(
        env=st.env,
        operation=operation,
        wiring=wiring,
        basis=Basis(split, to_color, 0, None),
        actions=tuple(actions),
        from_split=split,
        to_split=to,
        target_color=to_color,
        version=st.colors[to_color].version,
        stamp=stamp,
    )


def _gate(ctx: Context, st: EnvState, plan: Plan, *, force: bool, dry_run: bool) -> list[str]:
    wiring, _ = require_settled(st)
    reading = read_gate(st.colors[plan.target_color or "blue"], CapacityPolicy.of(wiring).floor)
    verb = VERBS.get(plan.operation, plan.operation)
    if dry_run:
        try:
            return require_healthy(ctx, reading, force=False, operation=verb)
        except RefusedError as exc:
            return [f"⚠️  the real {plan.operation} would be REFUSED: {exc.message}"]
    return require_healthy(ctx, reading, force=force, operation=verb)


def _switch(
    ctx: Context, st: EnvState, to_color: str, *, force: bool, dry_run: bool, operation: str
) -> Outcome:
    stamp = now_iso()
    first = plan_switch(st, to_color, operation, stamp=stamp, smoke=not force)
    if not first.actions:
        return Outcome(
            ctx.env,
            operation,
            first.from_split,
            first.to_split,
            first.version,
            plan=first,
            dry_run=dry_run,
            notes=[f"{ctx.env} already serves {to_color}: nothing to do"],
        )
    notes = _gate(ctx, st, first, force=force, dry_run=dry_run)
    ctx.driver.check_available(ctx.env)
    health = color_health(st.colors[to_color])
    if dry_run:
        return Outcome(
            ctx.env,
            operation,
            first.from_split,
            first.to_split,
            first.version,
            plan=first,
            dry_run=True,
            notes=notes,
            health=health,
        )
    forced = bool(notes)

    def replan(now: EnvState, token: str) -> Plan:
        plan = plan_switch(now, to_color, operation, token, stamp, smoke=not force)
        if not forced:
            wiring, _ = require_settled(now, token)
            reading = read_gate(now.colors[to_color], CapacityPolicy.of(wiring).floor)
            require_healthy(ctx, reading, force=False, operation=VERBS.get(operation, operation))
        return plan

    outcome = execute(ctx, first, replan)
    outcome.notes = notes + outcome.notes
    outcome.health = health
    return outcome


def switch(ctx: Context, to_color: str, *, force: bool = False, dry_run: bool = False) -> Outcome:
    if to_color not in COLORS:
        raise UsageError(f"unknown color {to_color!r}: expected blue or green")
    st = ctx.reader.read_one(ctx.env)
    return _switch(ctx, st, to_color, force=force, dry_run=dry_run, operation="switch")


def rollback(ctx: Context, *, force: bool = False, dry_run: bool = False) -> Outcome:
    st = ctx.reader.read_one(ctx.env)
    _, split = require_settled(st)
    previous = other_color(split.active)
    cs = st.colors[previous]
    if not cs.instances:
        raise RefusedError(
            f"cannot roll {ctx.env} back to {previous}: it has no capacity left (desired {cs.desired}, "
            f"no instances); its recorded version is {cs.version or 'none'}",
            hint=f"redeploy that version instead: {ctx.cli} deploy {cs.version or 'VERSION'}",
        )
    return _switch(ctx, st, previous, force=force, dry_run=dry_run, operation="rollback")
