"""cleanup (scale a color that serves nothing to zero) and shutdown (stop the whole environment)."""

from __future__ import annotations

from bgctl import COLORS, other_color
from bgctl.asg import snapshot
from bgctl.context import Context, Outcome
from bgctl.errors import RefusedError
from bgctl.lock import held_error
from bgctl.operations import execute, require_settled, wiring_of
from bgctl.plan import Action, Basis, Plan, RecordShutdown, Scale
from bgctl.shutdown import shutdown_param
from bgctl.state import EnvState


def plan_cleanup(st: EnvState, color: str | None, own_token: str | None = None) -> Plan:
    wiring, split = require_settled(st, own_token)
    target = color or other_color(split.active)
    if split.reaches(target):
        raise RefusedError(
            f"refusing to clean up {target}: it is the active color of {st.env} and serves traffic",
            hint=f"switch first (bluegreen --env {st.env} switch {other_color(target)}) or use shutdown",
        )
    cs = st.colors[target]
    actions = () if cs.empty else (Scale(snapshot(cs), 0, 0, step="cleanup"),)
    return Plan(
        env=st.env,
        operation="cleanup",
        wiring=wiring,
        basis=Basis(split, target, 0, None),
        actions=actions,
        from_split=split,
        target_color=target,
        version=cs.version,
    )


def cleanup(ctx: Context, color: str | None = None) -> Outcome:
    st = ctx.reader.read_one(ctx.env, probe_http=False)
    first = plan_cleanup(st, color)
    target = first.target_color or "?"
    cs = st.colors[target]
    if not first.actions:
        return Outcome(ctx.env, "cleanup", first.from_split, notes=[f"{target} is already empty"], plan=first)
    lost = (
        f"It removes the rollback capacity: {len(cs.instances)} warm instance(s) of "
        f"{cs.version or 'an unknown version'} in {cs.asg_name}; a rollback after this means a full deploy."
    )
    outcome = execute(ctx, first, lambda now, token: plan_cleanup(now, target, token), warning=lost)
    outcome.notes.append(f"scaled {cs.asg_name} from {cs.desired} to 0 (version {cs.version or 'none'})")
    return outcome


def plan_shutdown(st: EnvState, reason: str) -> Plan:
    wiring = wiring_of(st)
    actions: tuple[Action, ...] = (
        RecordShutdown(shutdown_param(st.env), reason),
        *(Scale(snapshot(st.colors[c]), 0, 0, step="shutdown") for c in COLORS),
    )
    return Plan(
        env=st.env,
        operation="shutdown",
        wiring=wiring,
        basis=Basis(st.routing.split, None, 0, None),
        actions=actions,
        from_split=st.routing.split,
    )


def shutdown(ctx: Context, *, reason: str = "") -> Outcome:
    st = ctx.reader.read_one(ctx.env, probe_http=False)
    wiring_of(st)
    if st.lock is not None:
        raise held_error(ctx.env, st.lock)
    if not ctx.prompter.typed(
        f"⚠️  This stops every instance of {ctx.env}: the environment will be DOWN until the next deploy.\n"
        f"Type the environment name to confirm",
        ctx.env,
    ):
        raise RefusedError(f"shutdown of {ctx.env} not confirmed; nothing changed")
    why = reason or "operator shutdown"
    outcome = execute(ctx, plan_shutdown(st, why), lambda now, _token: plan_shutdown(now, why))
    outcome.notes.append(f"{ctx.env} is shut down on purpose")
    return outcome
