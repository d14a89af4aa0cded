"""The operations an operator runs: deploy, switch, rollback, cleanup, shutdown, recover.

Each one reads the environment, makes its decisions (prompts included) and computes a ``Plan``; then
``execute`` takes the lock with the plan's journal inside it, reads again *under the lock*, re-plans
with the same decisions and refuses if anything the decisions rest on changed meanwhile (nothing
touched); only then does the runner execute the plan. A prompt left open therefore never blocks
another operator, and never acts on a state it did not show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bgctl.context import Context, Outcome
from bgctl.errors import RefusedError, WiringError
from bgctl.hookspec import Release
from bgctl.lock import EnvLock, held_error
from bgctl.plan import MoveTraffic, Plan, RunHook
from bgctl.runner import Runner
from bgctl.state import EnvState
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Wiring, active_color_param, active_tg_param


def wiring_of(st: EnvState) -> Wiring:
    if st.wiring is None:
        raise WiringError(
            st.wiring_error or f"{st.env}: no wiring",
            hint=f"apply Terraform for terraform/envs/{st.env}, then: bluegreen --env {st.env} validate",
        )
    return st.wiring


def require_settled(st: EnvState, own_token: str | None = None) -> tuple[Wiring, TrafficSplit]:
    """Refuse an environment whose state is ambiguous; return (wiring, the split traffic takes)."""
    wiring = wiring_of(st)
    lock = st.lock
    if lock is not None and lock.token != own_token:
        if lock.journal is not None and lock.alive_here() is False:
            raise RefusedError(
                f"{st.env} has an unfinished {lock.journal.describe()} (its process {lock.holder} is gone)",
                hint=f"bluegreen --env {st.env} recover",
            )
        raise held_error(st.env, lock)
    split = st.routing.split
    if split is None:
        raise RefusedError(
            f"{st.env}: cannot tell which color serves traffic ({'; '.join(st.drift) or 'no routes found'})",
            hint=f"bluegreen --env {st.env} validate",
        )
    if st.ssm_color is not None and st.ssm_color != split.active:
        raise RefusedError(
            f"{st.env}: SSM says {st.ssm_color} but the load balancer routes to {split.describe()}",
            hint=f"bluegreen --env {st.env} validate",
        )
    return wiring, split


def execute(
    ctx: Context, first: Plan, replan: Callable[[EnvState, str], Plan], *, warning: str = ""
) -> Outcome:
    """Lock (with ``first``'s journal), read again, re-plan, check the basis, run.

    ``replan(state, own_lock_token)`` must make the same decisions without asking anything.
    """
    confirm_protected(ctx, first, warning)
    lock = EnvLock(ctx.clients, ctx.env)
    journal = first.journal(ctx.driver.name)
    info = lock.acquire(first.operation, journal)
    try:
        plan = _replan_under_lock(ctx, first, replan, info.token)
        fresh = replace(plan.journal(ctx.driver.name), id=journal.id)
        if fresh != journal:
            lock.update(fresh)
            journal = fresh
    except BaseException:
        lock.release()
        raise
    return Runner(ctx, plan, lock, journal).run()


def confirm_protected(ctx: Context, plan: Plan, extra: str = "") -> None:
    """A protected (production) environment changes only after its name is typed, or with --yes."""
    if not plan.wiring.protected or ctx.assume_yes or not plan.actions:
        return
    lines = [f"⚠️  {ctx.env} is a protected (production) environment. This {plan.operation} will change:"]
    lines += [f"  - {c.kind} {c.target}: {c.before} -> {c.after}" for c in plan.changes(ctx.envs_dir)]
    if extra:
        lines.append(extra)
    lines.append("Type the environment name to go ahead")
    if not ctx.prompter.typed("\n".join(lines), ctx.env):
        raise RefusedError(
            f"{plan.operation} of protected {ctx.env} not confirmed; nothing changed",
            hint="type the environment name at the prompt, or pass --yes (what CI does)",
        )


def _replan_under_lock(
    ctx: Context, first: Plan, replan: Callable[[EnvState, str], Plan], token: str
) -> Plan:
    """Read under the lock and plan again; refuse if what the decisions rest on has changed."""
    now = ctx.reader.read_one(ctx.env)
    if now.routing.split != first.basis.split:
        raise _changed(ctx, first, f"traffic {now.routing.describe()}")
    plan = replan(now, token)
    if plan.basis != first.basis:
        raise _changed(ctx, first, _basis_text(plan))
    return plan


def _changed(ctx: Context, first: Plan, now: str) -> RefusedError:
    return RefusedError(
        f"{ctx.env} changed while this {first.operation} was being decided "
        f"(was {_basis_text(first)}, now {now}); nothing was changed",
        hint=f"{ctx.cli} status, then run it again",
    )


def _basis_text(plan: Plan) -> str:
    b = plan.basis
    parts = [f"traffic {b.split.describe() if b.split else 'unknown'}"]
    if b.target_color:
        parts.append(f"target {b.target_color} with {b.target_instances} instance(s)")
    return ", ".join(parts)


def move_traffic(st: EnvState, wiring: Wiring, to: TrafficSplit) -> MoveTraffic:
    """The MoveTraffic action from the live state to ``to``."""
    return MoveTraffic(
        before=st.routing.split,
        after=to,
        routes=tuple(st.routing.routes.items()),
        ssm=(
            (active_color_param(st.env), st.ssm_color, to.active),
            (active_tg_param(st.env), st.ssm_tg_arn, wiring.target_group_arns[to.active]),
        ),
        file_split=st.file_split,
    )


def hook_actions(
    wiring: Wiring, operation: str, phase: str, *, version: str | None, color: str, stamp: str
) -> list[RunHook]:
    """The environment's release hooks of ``phase`` that run for ``operation``, in declared order."""
    release = Release(
        env=wiring.environment,
        version=version or "none",
        color=color,
        builds_bucket=wiring.builds.bucket,
        builds_prefix=wiring.builds.prefix,
        stamp=stamp,
        operation=operation,
    )
    return [
        RunHook(hook, release)
        for hook in wiring.release_hooks
        if hook.phase == phase and operation in hook.operations
    ]
