"""Model-based test: random operation sequences, interleavings and faults against the sandbox; the
safety invariants are checked after every step.

Operations: deploy, switch, rollback, cleanup, recover, force-unlock, a second operator trying a
deploy while another one is in its health gate, and a canary deploy (weighted steps with a bake) that a
second shell may promote or abort mid-bake. Faults: a 500 on the Nth mutating call (as if every
retry failed), 20% throttling, SIGINT or kill -9 at a chosen step. Invariants (issue 10):

1. every listener/rule forwards to exactly one color and SSM agrees, unless a lock with a journal
   says an operation is unfinished, or ``validate`` names the disagreement (after a forced unlock);
2. the serving color has at least its minimum healthy instances and a min of at least 1;
3. its version parameter names a build that was deployed to it;
4. no lock without a journal saying what its operation is doing.

``make test`` runs a bounded, derandomised sample; ``make soak`` (BLUEGREEN_SOAK_EXAMPLES) runs many
more and prints the counts.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bgctl.aws import make_clients
from bgctl.capacity import CapacityPolicy
from bgctl.errors import BlueGreenError
from bgctl.gate import read_gate
from bgctl.operations.canary import canary_request
from bgctl.validate import problems_of
from bgtest import (
    HardKill,
    RecordingReporter,
    ScriptedPrompter,
    copy_envs,
    make_context,
    mark_holder_dead,
    ops,
)
from faults import Faults, any_mutation
from test_throttling import Throttler

ENV = "beta"
VERSIONS = ("gh-103", "gh-104", "gh-105")
STEPS = (
    "protect",
    "deploy-inactive",
    "verify-health",
    "smoke-test",
    "switch",
    "bake",
    "verify-switch",
    "cleanup",
)
CANARIES = ((10,), (10, 50), (25, 75))
BAKE = 0.3
COUNTS: Counter[str] = Counter()

faults = st.one_of(
    st.none(),
    st.tuples(st.just("fail"), st.integers(min_value=1, max_value=9)),
    st.tuples(st.just("kill"), st.sampled_from(STEPS)),
    st.tuples(st.just("interrupt"), st.sampled_from(STEPS)),
    st.tuples(st.just("kill-call"), st.integers(min_value=1, max_value=9)),
    st.just(("throttle", 0)),
)


class BlueGreenModel(RuleBasedStateMachine):
    sandbox: Any = None
    workdir: Path = Path()

    def __init__(self) -> None:
        super().__init__()
        self.sandbox.reset(rebuild=True, only=[ENV])
        self.envs_dir = copy_envs(self.workdir / f"case{COUNTS['cases']}")
        COUNTS["cases"] += 1
        self.deployed: dict[str, set[str]] = {"blue": {"gh-100"}, "green": set()}

    # -- helpers -------------------------------------------------------------------------------------
    def _ctx(self, fault: tuple[str, Any] | None = None, **kwargs: Any) -> Any:
        clients = make_clients()
        reporter = RecordingReporter()
        if fault is not None:
            COUNTS["faults injected"] += 1
            kind, arg = fault
            if kind == "fail":
                Faults().attach(clients).fail(any_mutation, skip=arg - 1, times=1)
            elif kind == "kill-call":
                Faults().attach(clients).kill(any_mutation, skip=arg - 1)
            elif kind == "kill":
                reporter.kill_at = arg
            elif kind == "interrupt":
                reporter.interrupt_at = arg
            elif kind == "throttle":
                throttler = Throttler(0.2, seed=COUNTS["cases"])
                for client in (clients.autoscaling, clients.elbv2, clients.ssm, clients.s3, clients.ec2):
                    throttler.attach(client)
        return make_context(
            self.sandbox,
            self.envs_dir,
            ENV,
            clients=clients,
            reporter=reporter,
            health_timeout=1.5,
            verify_timeout=1.0,
            **kwargs,
        )

    def _run(self, name: str, call: Any) -> None:
        COUNTS[f"op {name}"] += 1
        try:
            call()
            COUNTS["completed"] += 1
        except HardKill:
            COUNTS["killed"] += 1
        except BlueGreenError as exc:
            COUNTS[f"refused/failed: {type(exc).__name__}"] += 1

    def _state(self) -> Any:
        return make_context(self.sandbox, self.envs_dir, ENV).reader.read_one(ENV)

    # -- rules -----------------------------------------------------------------------------------------
    @rule(version=st.sampled_from(VERSIONS), fault=faults, replace=st.booleans())
    def deploy(self, version: str, fault: tuple[str, Any] | None, replace: bool) -> None:
        before = self._state()
        target = before.inactive_color
        ctx = self._ctx(fault, prompter=ScriptedPrompter(confirms=[replace]))
        self._run("deploy", lambda: ops.deploy(ctx, version))
        after = self._state()
        if target and after.colors[target].version == version:
            self.deployed[target].add(version)

    @rule(version=st.sampled_from(VERSIONS))
    def deploy_with_a_second_operator(self, version: str) -> None:
        """A second operator tries a deploy while the first one is in its health gate: refused."""
        second: list[BaseException] = []

        def meanwhile() -> None:
            try:
                ops.deploy(self._ctx(), version, skip_confirmation=True)
            except BlueGreenError as exc:
                second.append(exc)

        before = self._state()
        ctx = self._ctx()
        ctx.reporter.on_step["verify-health"] = meanwhile
        target = before.inactive_color
        self._run("deploy+second operator", lambda: ops.deploy(ctx, version, skip_confirmation=True))
        if target and self._state().colors[target].version == version:
            self.deployed[target].add(version)
        if "verify-health" not in ctx.reporter.on_step:  # the first deploy reached its gate
            assert second, "a second deploy ran while the first held the lock"
            COUNTS["second operator refused"] += 1

    @rule(
        version=st.sampled_from(VERSIONS),
        weights=st.sampled_from(CANARIES),
        fault=faults,
        operator=st.sampled_from((None, "promote", "abort")),
    )
    def deploy_canary(
        self, version: str, weights: tuple[int, ...], fault: tuple[str, Any] | None, operator: str | None
    ) -> None:
        """A canary deploy through its weighted steps; a second shell may promote or abort it mid-bake,
        and the faults include kill -9 and SIGINT during a bake (STEPS has "bake")."""
        target = self._state().inactive_color
        ctx = self._ctx(fault)
        if operator is not None:
            ctx.reporter.on_step["bake"] = lambda: canary_request(self._ctx(), operator)
        self._run(
            f"canary deploy ({operator or 'baked'})",
            lambda: ops.deploy(ctx, version, skip_confirmation=True, canary=weights, bake_seconds=BAKE),
        )
        if target and self._state().colors[target].version == version:
            self.deployed[target].add(version)

    @rule(color=st.sampled_from(("blue", "green")), fault=faults)
    def switch(self, color: str, fault: tuple[str, Any] | None) -> None:
        self._run("switch", lambda: ops.switch(self._ctx(fault), color))

    @rule(fault=faults)
    def rollback(self, fault: tuple[str, Any] | None) -> None:
        self._run("rollback", lambda: ops.rollback(self._ctx(fault)))

    @rule(fault=faults)
    def cleanup(self, fault: tuple[str, Any] | None) -> None:
        self._run("cleanup", lambda: ops.cleanup(self._ctx(fault)))

    @rule()
    def recover(self) -> None:
        if self._state().lock is not None:
            mark_holder_dead(make_clients(), ENV)
        self._run("recover", lambda: ops.recover(self._ctx(prompter=ScriptedPrompter(typed_answers=[ENV]))))

    @rule()
    def force_unlock(self) -> None:
        lock = self._state().lock
        if lock is None:
            return
        mark_holder_dead(make_clients(), ENV)
        ctx = self._ctx(prompter=ScriptedPrompter(typed_answers=[ENV]))
        self._run("force-unlock", lambda: ops.force_unlock(ctx, lock.lock_id))

    @rule(broken=st.booleans())
    def standby_health(self, broken: bool) -> None:
        """The color that does not serve starts (or stops) answering 500 (the serving one never does:
        that would be an outage the tool did not cause)."""
        state = self._state()
        standby = state.inactive_color
        self.sandbox.heal()
        if broken and standby and state.routing.split is not None:
            self.sandbox.fail_color(ENV, standby, "error")

    # -- invariants ------------------------------------------------------------------------------------
    @invariant()
    def safe(self) -> None:
        COUNTS["invariant checks"] += 1
        state = self._state()
        lock = state.lock
        if lock is not None:
            assert lock.journal is not None, f"lock without a journal: {lock.describe()}"
            return  # an operation is unfinished: recover's business (checked when it runs)
        split = state.routing.split
        wiring = state.wiring
        assert wiring is not None
        if split is None or split.serving is None or state.ssm_color != split.active:
            problems = problems_of(state, make_clients())
            assert any("routes" in p.message or "SSM" in p.message for p in problems), (
                f"traffic not on one color and validate does not say so: {state.routing.describe()}"
            )
            COUNTS["disagreement named by validate"] += 1
            return
        serving = state.colors[split.serving]
        floor = CapacityPolicy.of(wiring).floor
        assert read_gate(serving, floor).healthy >= floor, f"{split.serving} serves without {floor} healthy"
        assert serving.min_size >= 1, f"{split.serving} serves with min {serving.min_size}"
        assert serving.version in self.deployed[split.serving], (
            f"{split.serving} records {serving.version}, deployed there: {self.deployed[split.serving]}"
        )

    def teardown(self) -> None:
        self.sandbox.heal()


def test_model(sandbox: Any, tmp_path: Path) -> None:
    examples = int(os.environ.get("BLUEGREEN_SOAK_EXAMPLES", "4"))
    steps = int(os.environ.get("BLUEGREEN_SOAK_STEPS", "6"))
    BlueGreenModel.sandbox = sandbox
    BlueGreenModel.workdir = tmp_path
    run_state_machine_as_test(
        BlueGreenModel,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=not os.environ.get("BLUEGREEN_SOAK_EXAMPLES"),
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    assert COUNTS["invariant checks"] >= examples
    if os.environ.get("BLUEGREEN_SOAK_EXAMPLES"):
        width = max(len(k) for k in COUNTS)
        print("\nsoak results")
        for key, value in sorted(COUNTS.items()):
            print(f"  {key:<{width}}  {value:>6}")


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
