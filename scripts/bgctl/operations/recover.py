"""recover (finish or undo an operation whose process died, from the journal in its lock) and
force-unlock (remove a stale lock named by its ID).

recover decides from the journal and what the load balancer does *now*:

| traffic now | what recover does |
| --- | --- |
| where it was (``from``) | undo the operation's changes (snapshots in the journal) |
| where it was going (``intended``), gate passes | finish (hold the old color, set minimums) |
| where it was going, gate fails | switch back (journal first), undo |
| split between the two (cut mid-move) | complete the move if the target passes the gate and was |
| | never rejected, else move back and undo |

It never completes onto a color the journal lists as rejected, and it runs the same health gate as
every other operation.
"""

from __future__ import annotations

from dataclasses import replace

from bgctl.asg import PROTECT_PROCESSES
from bgctl.capacity import CapacityPolicy
from bgctl.context import Context, Outcome
from bgctl.errors import LockHeldError, RefusedError
from bgctl.gate import read_gate
from bgctl.history import HistoryRecord, HistoryStore
from bgctl.journal import Journal
from bgctl.lock import EnvLock, LockInfo, now_iso, whoami
from bgctl.operations import hook_actions, wiring_of
from bgctl.plan import Action, Basis, ClearShutdown, Plan, SetMin, Unprotect
from bgctl.runner import KeptForRecovery, Runner, deferred_signals, describe_state
from bgctl.shutdown import shutdown_param
from bgctl.state import EnvState
from bgctl.traffic import TrafficSplit


def _confirm_holder_gone(ctx: Context, held: LockInfo) -> None:
    """Never take over a live operation: check its pid on this host, else ask the operator."""
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
            hint=f"confirm that process is gone, then: {ctx.cli} recover",
        )


def finishing_actions(st: EnvState, journal: Journal) -> list[Action]:
    """What the operation still had to do once traffic reached ``intended`` (all idempotent)."""
    wiring = wiring_of(st)
    policy = CapacityPolicy.of(wiring)
    intended = journal.intended or journal.from_split
    actions: list[Action] = []
    if intended is None:
        return actions
    # Where traffic ends: the operation's target (a canary's intended split is still weighted).
    final = journal.target_color if journal.moves_traffic and journal.target_color else intended.active
    new = st.colors[final]
    if journal.protected is not None:
        snap = journal.protected
        actions.append(Unprotect(snap, PROTECT_PROCESSES, CapacityPolicy.standby_min(snap.desired)))
    elif journal.from_split is not None and journal.from_split.active != final:
        old = st.colors[journal.from_split.active]
        actions.append(
            SetMin(old.asg_name, old.min_size, CapacityPolicy.standby_min(old.desired), "held for rollback")
        )
    if new.min_size != policy.serving_min:
        actions.append(SetMin(new.asg_name, new.min_size, policy.serving_min, "serving"))
    version = journal.version if journal.operation == "deploy" else new.version
    actions[:0] = hook_actions(
        wiring, journal.operation, "post-switch", version=version, color=final, stamp=journal.stamp
    )
    if journal.operation == "deploy" and st.shutdown is not None:
        actions.append(ClearShutdown(shutdown_param(st.env)))
    return actions


def _passes(st: EnvState, color: str, journal: Journal) -> bool:
    policy = CapacityPolicy.of(wiring_of(st))
    version = journal.version if color == journal.target_color else None
    return read_gate(st.colors[color], policy.floor, version).enough()


def _plan(st: EnvState, journal: Journal, actions: list[Action]) -> Plan:
    return Plan(
        env=st.env,
        operation=journal.operation,
        wiring=wiring_of(st),
        basis=Basis(st.routing.split, journal.target_color, 0, journal.version),
        actions=tuple(actions),
        from_split=journal.from_split,
        to_split=journal.intended,
        target_color=journal.target_color,
        version=journal.version,
    )


def recover(ctx: Context, *, promote: bool = False) -> Outcome:
    """Complete or undo an operation whose process died, from the journal in its lock. A canary cut
    mid-bake is rolled back (nobody is watching it any more) unless ``promote``: then it is completed,
    behind the gate."""
    lock = EnvLock(ctx.clients, ctx.env)
    held = lock.current()
    if held is None:
        return Outcome(ctx.env, "recover", notes=["no unfinished operation: nothing to recover"])
    if held.journal is None:
        raise RefusedError(
            f"{ctx.env} is locked by {held.describe()} with no journal: there is nothing to finish or undo",
            hint=f"if that process is gone: {ctx.cli} recover --force-unlock {held.lock_id or 'LOCK_ID'}",
        )
    _confirm_holder_gone(ctx, held)
    before = ctx.reader.read_one(ctx.env, probe_http=False)
    if before.wiring is not None and before.wiring.protected and not ctx.assume_yes:
        question = (
            f"⚠️  {ctx.env} is a protected (production) environment. recover will finish or undo "
            f"{held.journal.describe()} (traffic now: {before.routing.describe()}).\n"
            "Type the environment name to go ahead"
        )
        if not ctx.prompter.typed(question, ctx.env):
            raise RefusedError(
                f"recover of protected {ctx.env} not confirmed; nothing changed",
                hint="type the environment name at the prompt, or pass --yes",
            )
    lock.take_over(held, f"recover {held.journal.operation}")
    journal = held.journal
    st = ctx.reader.read_one(ctx.env)
    runner = Runner(ctx, _plan(st, journal, finishing_actions(st, journal)), lock, journal)
    try:
        with deferred_signals(reraise=False):
            action, note = _recover(ctx, runner, st, promote=promote)
    except BaseException:
        lock.abandon()
        raise
    final = journal.intended if action == "completed" else journal.from_split
    return Outcome(
        ctx.env,
        "recover",
        journal.from_split,
        final,
        journal.version,
        notes=[f"{note} the interrupted {journal.describe()} of {held.since} by {held.holder}: {action}"],
        timings=dict(runner.timings),
    )


def _recover(ctx: Context, runner: Runner, st: EnvState, *, promote: bool = False) -> tuple[str, str]:
    journal = runner.journal
    origin, intended, live = journal.from_split, journal.intended, st.routing.split
    if intended is None or origin is None or (intended == origin and not journal.rejected):
        # Nothing to move (cleanup, shutdown): run what is left of the operation again.
        ctx.reporter.step("recover", f"completing the interrupted {journal.operation}")
        for action in runner.plan.actions:
            runner.do(action)
        runner.close("recovered", "completed by recover")
        return "completed", "completing"
    target = (journal.target_color or intended.active) if intended != origin else None
    if live == origin or (intended == origin and live is not None):
        moved = live != origin
        if moved:  # a switch-back the journal had written ahead but that did not finish
            _move(ctx, runner, origin)
        ctx.reporter.step("recover", f"undoing the interrupted {journal.operation}")
        runner.undo()
        outcome = "switched back" if moved else "undone"
        runner.close(outcome, f"{outcome} by recover")
        return outcome, "switching back" if moved else "undoing"
    if journal.canary and target is not None and (live is None or live.serving is None):
        return _recover_canary(ctx, runner, st, target, promote=promote)
    if target is not None and target not in journal.rejected and _passes(st, target, journal):
        if live != intended:
            _move(ctx, runner, intended)
        ctx.reporter.step("recover", f"completing the interrupted {journal.operation}")
        for action in runner.plan.actions:
            runner.do(action)
        runner.close("recovered", "completed by recover")
        return "completed", "completing"
    back = origin.active
    if not _passes(st, back, journal):
        raise KeptForRecovery(
            f"{ctx.env}: cannot recover the {journal.describe()}: {target or back} may not receive traffic "
            f"and {back} does not pass the health gate either; traffic left as it is\n"
            f"   now: {describe_state(st)}",
            hint=f"repair the instances ({ctx.cli} status --detailed), then {ctx.cli} recover again",
        )
    reason = f"{target} failed the health gate" if target else "the switch-back was unfinished"
    ctx.reporter.warn(f"{reason}: switching {ctx.env} back to {origin.describe()}")
    if target is not None and target not in journal.rejected:
        runner.journal = journal.switching_back(target)
        runner.lock.update(runner.journal)
    _move(ctx, runner, origin)
    runner.undo()
    runner.close("switched back", f"recover: {reason}")
    return "switched back", "switching back"


def _recover_canary(
    ctx: Context, runner: Runner, st: EnvState, target: str, *, promote: bool
) -> tuple[str, str]:
    """A canary cut mid-bake: promoted (only onto a healthy, never-rejected color) or rolled back."""
    journal = runner.journal
    origin = journal.from_split
    assert origin is not None
    if promote and target not in journal.rejected and _passes(st, target, journal):
        whole = TrafficSplit.to(target)
        runner.journal = replace(journal, intended=whole)
        runner.lock.update(runner.journal)
        _move(ctx, runner, whole)
        ctx.reporter.step("recover", f"completing the promoted canary of {target}")
        for action in runner.plan.actions:
            runner.do(action)
        runner.close("recovered", "canary promoted by recover")
        return "completed", "promoting"
    ctx.reporter.warn(f"the canary of {target} was cut mid-bake: nobody watches it now, so it goes back")
    runner.journal = journal.switching_back(target)
    runner.lock.update(runner.journal)
    _move(ctx, runner, origin)
    runner.undo()
    runner.close("canary rolled back", "canary cut mid-bake, rolled back by recover")
    return "switched back", "rolling back"


def _move(ctx: Context, runner: Runner, split: TrafficSplit) -> None:
    ctx.reporter.step("switch", f"moving traffic to {split.describe()}")
    try:
        ctx.driver.apply(runner.plan.wiring, split, fence=runner.lock.check)
    except Exception as exc:
        raise runner.keep(exc, f"recover could not move traffic to {split.describe()}") from exc


def force_unlock(ctx: Context, lock_id: str) -> Outcome:
    """Remove a stale lock named by its ID (never a live holder's on this host); archive its journal."""
    lock = EnvLock(ctx.clients, ctx.env)
    held = lock.current()
    if held is None:
        return Outcome(ctx.env, "force-unlock", notes=["no lock was held"])
    doing = held.journal.describe() if held.journal else held.operation
    lock_name = held.lock_id or "(unreadable)"
    warning = f"The lock {lock_name} is held by {held.holder} since {held.since}, doing: {doing}."
    if held.journal is not None:
        warning += f"\nIt carries an unfinished journal: `{ctx.cli} recover` would finish or undo it instead."
    if not ctx.prompter.typed(f"{warning}\nType the environment name to remove the lock", ctx.env):
        raise RefusedError("force-unlock not confirmed; lock left in place")
    removed = lock.force_unlock(lock_id)
    notes = [f"removed lock {removed.lock_id or '(unreadable)'} held by {removed.describe()}"]
    if removed.journal is not None:
        j = removed.journal
        HistoryStore(ctx.clients.ssm, ctx.env).append(
            HistoryRecord(
                env=ctx.env,
                operation=j.operation,
                outcome="abandoned",
                started=removed.since,
                finished=now_iso(),
                holder=removed.holder,
                from_traffic=j.from_split.describe() if j.from_split else None,
                to_traffic=j.intended.describe() if j.intended else None,
                version=j.version,
                detail=f"force-unlocked by {whoami()}",
                id=j.id,
            )
        )
        st = ctx.reader.read_one(ctx.env)
        notes.append(f"its journal ({j.describe()}) is archived in history; now: {describe_state(st)}")
        notes.append(f"check it: {ctx.cli} validate")
    return Outcome(ctx.env, "force-unlock", notes=notes)
