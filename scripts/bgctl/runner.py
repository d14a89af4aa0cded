"""The runner: executes a plan under the lock, one named step at a time, and never leaves half a move.

Phases and what a failure in each does:

1. **before traffic moves** (protect, record the version, scale, wait for health): any failure, SIGINT
   or SIGTERM undoes what the journal's snapshots say (protection lifted, the new color scaled back,
   its version key restored), then closes.
2. **the move** (``MoveTraffic``): signals are deferred while the driver runs (a Ctrl-C cannot cut a
   move in half); the journal already says where traffic is going (it was written with the lock). If
   the driver itself fails part-way, lock and journal are kept and the error names where every listener
   or rule points now: ``recover`` finishes the move the journal names, behind the health gate.
3. **verification**: the load balancer, SSM and the gate must agree within the deadline; otherwise the
   journal is rewritten *first* (traffic intended back where it was, the color rejected), then traffic
   switches back and phase 1's work is undone. A failed switch-back keeps lock and journal.
4. **finishing** (the old color held warm, the new one's minimum, the shutdown record cleared): only
   rolls forward; a failure keeps lock and journal for ``recover``, which re-runs these idempotent
   steps.

Every end writes one history record and releases the lock; every failure message says what failed,
where traffic and both colors are now, whether lock and journal remain, and what to run next.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import FrameType

from bgctl import COLORS
from bgctl.asg import record_version, scale, unprotect_asg
from bgctl.canary import CanaryFailed, bake_until
from bgctl.canary import bake as canary_bake
from bgctl.context import Context, Outcome
from bgctl.errors import BlueGreenError, HealthGateError, InterruptedOperation
from bgctl.executor import mutate
from bgctl.gate import read_gate, wait_until_ready
from bgctl.history import HistoryRecord, HistoryStore
from bgctl.hooks import HookError, HookRunner
from bgctl.journal import Journal
from bgctl.lock import EnvLock, LostLockError, now_iso, whoami
from bgctl.plan import (
    Action,
    AwaitHealthy,
    Bake,
    Drain,
    MoveTraffic,
    Plan,
    RunHook,
    SmokeTest,
    VerifyTraffic,
)
from bgctl.smoke import smoke_test
from bgctl.state import EnvState
from bgctl.traffic import TrafficSplit


class KeptForRecovery(BlueGreenError):
    """The operation stopped where only ``recover`` may continue: lock and journal are kept."""


@contextmanager
def deferred_signals(*, reraise: bool = True) -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a short critical section runs; re-raise one afterwards if asked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending and reraise:
        raise KeyboardInterrupt(signal.Signals(pending[0]).name)


def describe_now(ctx: Context) -> str:
    """Where traffic and both colors are, read fresh (best effort: a failure to read is said too)."""
    try:
        st = ctx.reader.read_one(ctx.env)
    except BlueGreenError as exc:
        return f"(could not read the state: {exc.message})"
    return describe_state(st)


def describe_state(st: EnvState) -> str:
    parts = [f"traffic: {st.routing.describe()}"]
    for color in COLORS:
        cs = st.colors.get(color)
        if cs is not None:
            healthy = read_gate(cs, 0).healthy
            parts.append(
                f"{color}: {healthy}/{len(cs.instances)} healthy, desired {cs.desired}, min {cs.min_size}"
            )
    return "; ".join(parts)


@dataclass
class Runner:
    ctx: Context
    plan: Plan
    lock: EnvLock
    journal: Journal
    started_at: str = field(default_factory=now_iso)
    timings: dict[str, float] = field(default_factory=dict)
    _step: str = ""
    _step_started: float = 0.0
    _t0: float = 0.0
    lock_id: str = "?"
    hook_notes: list[str] = field(default_factory=list)
    hook_failures: list[str] = field(default_factory=list)
    smoke_notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._t0 = self.ctx.clock()
        if self.lock.info is not None:
            self.lock_id = self.lock.info.lock_id

    # -- the whole run -------------------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            return self._run()
        except BaseException:
            self.lock.abandon()  # a hard stop (kill -9 in tests) makes no AWS call: the lock stays
            raise

    def _run(self) -> Outcome:
        actions = self.plan.actions
        first, final = self.plan.index_of_move(), self.plan.index_of_final_move()
        before, canary, after = actions[:first], actions[first:final], actions[final:]
        move = after[0] if after and isinstance(after[0], MoveTraffic) else None
        self._before_traffic(before, canary[0] if canary and isinstance(canary[0], MoveTraffic) else move)
        if canary:
            self._canary(canary)
            if move is not None and self.journal.intended != move.after:
                self._write_ahead(move.after)
        self._after_traffic(after, move)
        return self._outcome()

    def _after_traffic(self, after: tuple[Action, ...], move: MoveTraffic | None) -> None:
        """The final move and what follows it: only rolls forward."""
        interrupted: KeyboardInterrupt | None = None
        if move is not None:
            after = after[1:]
            try:
                self._move(move.after)
            except KeyboardInterrupt as exc:  # arrived during the move, raised once it completed
                interrupted = exc
            except LostLockError:
                raise
            except Exception as exc:
                raise self.keep(exc, "moving traffic failed part-way") from exc
        for action in after:
            try:
                self.do(action)
            except KeyboardInterrupt as exc:
                interrupted = interrupted or exc
                if isinstance(action, VerifyTraffic):
                    self.ctx.reporter.warn(
                        "interrupted: traffic already moved; finishing instead of undoing…"
                    )
                    continue
                with deferred_signals(reraise=False):
                    self.do(action)
            except HookError as exc:  # post-switch: reported, never a reason to move traffic back
                self.ctx.reporter.warn(f"⚠️  {exc.message} (traffic stays on the new color)")
                self.hook_failures.append(exc.message)
            except (LostLockError, HealthGateError, KeptForRecovery):
                raise  # lost lock: touch nothing; gate: switched back and undone; kept: said why
            except Exception as exc:
                raise self.keep(exc, f"{action.step} failed after traffic moved") from exc
        detail = "; ".join([*self.hook_failures, *self.smoke_notes])
        self.close("done" if not self.hook_failures else "done, hooks failed", detail)
        if interrupted is not None:
            raise InterruptedOperation(
                f"{self.ctx.env}: {self.plan.operation} interrupted after traffic moved; it finished: "
                f"traffic stays on {self.plan.to_split.describe() if self.plan.to_split else '?'}"
            ) from interrupted

    def _before_traffic(self, actions: tuple[Action, ...], move: MoveTraffic | None) -> None:
        """Phase 1 (and the announcement of the move): any failure or interrupt here undoes."""
        try:
            for action in actions:
                self.do(action)
            if move is not None:
                self._report(move)
        except KeyboardInterrupt as exc:
            self.ctx.reporter.warn("interrupted: restoring a safe state…")
            with deferred_signals(reraise=False):
                self._undo_or_keep(exc)
                self.close("undone", "interrupted before traffic moved")
            raise InterruptedOperation(self._undone_message("interrupted")) from exc
        except LostLockError:
            raise
        except Exception as exc:
            with deferred_signals(reraise=False):
                self._undo_or_keep(exc)
                self.close("undone", _first_line(exc))
            raise

    def _outcome(self) -> Outcome:
        return Outcome(
            self.ctx.env,
            self.plan.operation,
            self.plan.from_split,
            self.plan.to_split,
            self.plan.version,
            plan=self.plan,
            notes=[
                *self.plan.notes,
                *self.smoke_notes,
                *self.hook_notes,
                *(f"⚠️  {f}" for f in self.hook_failures),
            ],
            timings=dict(self.timings),
        )

    # -- steps ---------------------------------------------------------------------------------------
    def _report(self, action: Action) -> None:
        if action.step != self._step:
            now = self.ctx.clock()
            if self._step:
                self.timings[self._step] = self.timings.get(self._step, 0.0) + now - self._step_started
            self._step, self._step_started = action.step, now
            self.ctx.reporter.step(action.step, action.message())
        else:
            self.ctx.reporter.info(action.message())

    def do(self, action: Action) -> None:
        self._report(action)
        if mutate(action, self.ctx.clients, self.plan.wiring):
            return
        if isinstance(action, MoveTraffic):
            self._move(action.after)
        elif isinstance(action, Drain):
            scale(self.ctx.clients, action.before.name, desired=0, min_size=0)
            self._wait_until_empty(action.before.name)
        elif isinstance(action, AwaitHealthy):
            wait_until_ready(
                self.ctx, action.color, action.want, action.version, self.ctx.settings.health_timeout
            )
        elif isinstance(action, VerifyTraffic):
            self._verify_or_switch_back(action)
        elif isinstance(action, SmokeTest):
            result = smoke_test(
                self.ctx.clients, self.ctx.settings, self.plan.wiring, action.color, action.version
            )
            self.smoke_notes.append(result)
            (self.ctx.reporter.warn if result.startswith("⚠️") else self.ctx.reporter.info)(result)
        elif isinstance(action, RunHook):
            result = HookRunner(self.ctx.clients, self.ctx.poster).run(action.hook, action.release)
            self.hook_notes.append(result)
            self.ctx.reporter.info(result)

    def _move(self, split: TrafficSplit) -> None:
        """One traffic move; the journal already names ``split`` as intended."""
        with deferred_signals():
            self.ctx.driver.apply(self.plan.wiring, split, fence=self.lock.check)

    def _wait_until_empty(self, asg_name: str, timeout: float = 600.0) -> None:
        ctx = self.ctx
        color = next(c for c, n in self.plan.wiring.asg_names.items() if n == asg_name)
        deadline = ctx.clock() + timeout
        while True:
            cs = ctx.reader.read_one(ctx.env, probe_http=False).colors[color]
            if not cs.instances:
                return
            if ctx.clock() >= deadline:
                raise HealthGateError(
                    f"{color} still has {len(cs.instances)} instance(s) after {timeout:.0f}s"
                )
            ctx.reporter.progress(f"{color}: waiting for {len(cs.instances)} old instance(s) to terminate")
            ctx.sleep(ctx.settings.poll_interval)

    # -- verification and the switch-back ---------------------------------------------------------
    def verify_problems(self, split: TrafficSplit, color: str, want: int) -> tuple[list[str], EnvState]:
        st = self.ctx.reader.read_one(self.ctx.env, probe_http=True)
        problems = []
        if st.routing.split != split:
            problems.append(f"load balancer routes {st.routing.describe()}")
        if st.ssm_color != split.active:
            problems.append(f"SSM active-color is {st.ssm_color}")
        reading = read_gate(st.colors[color], want)
        if not reading.enough():
            detail = "; ".join(reading.problems[:3])
            problems.append(f"{color} {reading.healthy}/{want} healthy" + (f" ({detail})" if detail else ""))
        return problems, st

    def _verify_or_switch_back(self, action: VerifyTraffic) -> None:
        ctx = self.ctx
        deadline = ctx.clock() + ctx.settings.verify_timeout
        while True:
            problems, _ = self.verify_problems(action.split, action.color, action.want)
            if not problems or ctx.clock() >= deadline:
                break
            ctx.reporter.progress(f"post-switch: {'; '.join(problems)}")
            ctx.sleep(ctx.settings.poll_interval)
        if not problems:
            return
        cause = f"post-switch verification of {action.color} failed ({'; '.join(problems)})"
        raise self.switch_back(cause, action.color, HealthGateError)

    def switch_back(
        self, cause: str, rejected: str, error: type[BlueGreenError], outcome: str = "switched back"
    ) -> BlueGreenError:
        """Traffic back where it was (the journal says so first, and that ``rejected`` may never be
        completed onto), then undo; returns the error to raise (the lock is released)."""
        back = self.journal.from_split
        if back is None:
            return self.keep(error(cause), "traffic must move back and there is nowhere to move it")
        self.ctx.reporter.warn(f"{cause}: switching back to {back.describe()}")
        with deferred_signals(reraise=False):
            self.journal = self.journal.switching_back(rejected)
            self.lock.update(self.journal)  # write-ahead: recover must never complete onto it
            try:
                self.ctx.driver.apply(self.plan.wiring, back, fence=self.lock.check)
            except Exception as exc:
                raise self.keep(exc, f"{cause}; switching back to {back.describe()} ALSO failed") from exc
            self._undo_or_keep(error(cause))
            self.close(outcome, cause)
        return error(
            f"{self.ctx.env}: {cause}; traffic switched back to {back.describe()} and the "
            f"{self.plan.operation} was undone",
            hint=f"{self.ctx.cli} status --detailed",
        )

    # -- the canary ---------------------------------------------------------------------------------
    def _write_ahead(self, split: TrafficSplit, bake_seconds: float = 0) -> None:
        until = bake_until(bake_seconds) if bake_seconds else ""
        self.journal = replace(self.journal, intended=split, bake_until=until)
        self.lock.update(self.journal)

    def _canary(self, actions: tuple[Action, ...]) -> None:
        """Weighted moves, each baked; any signal, abort or interrupt: weight back to 0 and undo."""
        color = self.plan.target_color or "?"
        try:
            for i, action in enumerate(actions):
                if isinstance(action, MoveTraffic):
                    bake = next((a for a in actions[i + 1 :] if isinstance(a, Bake)), None)
                    self._write_ahead(action.after, bake.seconds if bake else 0)
                    self._report(action)
                    self._move(action.after)
                elif isinstance(action, Bake):
                    self._report(action)
                    if canary_bake(self.ctx, self.plan.wiring, color, action.seconds, action.version):
                        break  # promoted: straight to the full switch
                else:
                    self.do(action)
        except KeyboardInterrupt as exc:
            raise self.switch_back("interrupted during the canary", color, InterruptedOperation) from exc
        except (LostLockError, KeptForRecovery):
            raise
        except Exception as exc:
            cause = f"canary of {color} stopped: {_first_line(exc)}"
            raise self.switch_back(cause, color, CanaryFailed, "canary rolled back") from exc

    # -- undo, keep, close --------------------------------------------------------------------------
    def undo(self) -> None:
        """Put back what the journal's snapshots recorded (idempotent: safe to run twice)."""
        j, clients, w = self.journal, self.ctx.clients, self.plan.wiring
        if j.inactive is not None:
            scale(clients, j.inactive.name, desired=j.inactive.desired, min_size=j.inactive.min_size)
        if j.version is not None and j.target_color is not None:
            record_version(clients, w, j.target_color, j.previous_version)
        if j.protected is not None:
            unprotect_asg(clients, j.protected)

    def _undo_or_keep(self, cause: BaseException) -> None:
        if self._step:
            self.timings[self._step] = (
                self.timings.get(self._step, 0.0) + self.ctx.clock() - self._step_started
            )
            self._step = ""
        self.ctx.reporter.step("undo", "restoring what this operation changed")
        try:
            self.undo()
        except LostLockError:
            raise
        except Exception as exc:
            raise self.keep(exc, f"{_first_line(cause)}; restoring the previous state ALSO failed") from exc

    def _undone_message(self, why: str) -> str:
        parts = [f"{self.ctx.env}: {self.plan.operation} {why}; traffic untouched"]
        if self.plan.from_split:
            parts[0] += f" on {self.plan.from_split.describe()}"
        if any(isinstance(a, Drain) for a in self.plan.actions) and self._reached("deploy-inactive"):
            drained = next(a for a in self.plan.actions if isinstance(a, Drain))
            parts.append(
                f"the {drained.before.desired} instance(s) it replaced in {drained.before.name} are gone"
            )
        parts.append("everything else was restored; lock released")
        return "; ".join(parts)

    def _reached(self, step: str) -> bool:
        return step in self.timings or self._step == step

    def keep(self, cause: BaseException, what: str) -> KeptForRecovery:
        """Stop here: keep lock and journal, and say exactly where things stand."""
        self.lock.abandon()
        lock_id = self.lock_id
        return KeptForRecovery(
            f"{self.ctx.env}: {what}: {_first_line(cause)}\n"
            f"   now: {describe_now(self.ctx)}\n"
            f"   the lock (ID {lock_id}) and its journal ({self.journal.describe()}) are kept",
            hint=f"{self.ctx.cli} recover",
        )

    def close(self, outcome: str, detail: str = "") -> None:
        j = self.journal
        record = HistoryRecord(
            env=self.ctx.env,
            operation=self.plan.operation,
            outcome=outcome,
            started=self.started_at,
            finished=now_iso(),
            holder=whoami(),
            from_traffic=j.from_split.describe() if j.from_split else None,
            to_traffic=j.intended.describe() if j.intended else self.plan.target_color,
            version=self.plan.version,
            duration_s=round(self.ctx.clock() - self._t0, 1),
            detail=detail[:300],
            id=j.id,
            region=self.ctx.region or "",
            wave=self.ctx.wave,
        )
        if self._step:
            self.timings[self._step] = (
                self.timings.get(self._step, 0.0) + self.ctx.clock() - self._step_started
            )
            self._step = ""
        HistoryStore(self.ctx.clients.ssm, self.ctx.env).append(record)
        self.lock.release()


def _first_line(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, BlueGreenError) else str(exc) or type(exc).__name__
    return message.splitlines()[0] if message else type(exc).__name__
