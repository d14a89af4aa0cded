"""Issue 10: the paths where the tool itself could cause an outage, one test per finding.

Each test reproduces the interleaving or fault that used to take a serving color down (or leave traffic
split), against the sandbox, with faults injected in front of moto (tests/faults.py) where moto cannot
produce them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bgctl.errors import HealthGateError, InterruptedOperation, LockHeldError, RefusedError
from bgctl.health import HttpChecker
from bgctl.lock import EnvLock, LostLockError, parse_lock
from bgctl.runner import KeptForRecovery
from bgctl.state import StateReader
from bgctl.traffic import TrafficSplit
from bgctl.wiring import parse_wiring, wiring_param
from bgtest import (
    HardKill,
    RecordingReporter,
    ScriptedPrompter,
    asg,
    copy_envs,
    make_context,
    mark_holder_dead,
    ops,
    param,
    rule_target,
    without_preview_routes,
)
from faults import Faults, op


@pytest.fixture
def envs_dir(tmp_path: Path) -> Path:
    return copy_envs(tmp_path)


def wiring(ctx, env="beta"):
    return parse_wiring(env, param(ctx.clients, wiring_param(env)))


def routes(ctx, env="beta") -> dict[str, str | None]:
    return {k: v.describe() if v else None for k, v in ctx.reader.read_one(env).routing.routes.items()}


def assert_serving(ctx, env: str, color: str) -> None:
    """All traffic on ``color``, SSM agrees, no lock, the color healthy and held at its minimum."""
    st = ctx.reader.read_one(env)
    assert st.routing.split == TrafficSplit.to(color), st.routing.describe()
    assert st.ssm_color == color
    assert st.lock is None
    cs = st.colors[color]
    assert cs.asg_healthy >= 1 and cs.min_size >= 1


# -- 1. stale read before the lock ---------------------------------------------------------------------
def test_a_deploy_decided_on_a_stale_read_refuses_and_touches_nothing(sandbox, envs_dir):
    """`prod deploy gh-105` waits at the discovery prompt; meanwhile `prod deploy gh-104` succeeds;
    then the first operator answers 1. It must not treat the now-serving color as inactive."""
    other = make_context(sandbox, envs_dir, "prod")

    def second_operator() -> None:
        ops.deploy(other, "gh-104", skip_confirmation=True)  # gh-104 has prod discovery: no prompt

    prompter = ScriptedPrompter(choices=[1], meanwhile=second_operator)
    first = make_context(sandbox, envs_dir, "prod", prompter=prompter)
    with pytest.raises(RefusedError, match="changed while this deploy was being decided"):
        ops.deploy(first, "gh-105")
    assert "Compiler discovery has not run for prod/gh-105" in prompter.asked[0]
    # What the second deploy left is intact: green serves gh-104 at its size, blue held for rollback.
    assert_serving(first, "prod", "green")
    green = asg(first.clients, "prod-green")
    assert green["DesiredCapacity"] >= 2 and green["MinSize"] >= 2
    assert param(first.clients, "/compiler-explorer/prod/green/version") == "gh-104"
    blue = asg(first.clients, "prod-blue")
    assert blue["MinSize"] == blue["DesiredCapacity"] > 0 and blue["SuspendedProcesses"] == []
    # ...and the refused deploy did not copy discovery either (that happens under the lock)
    bucket = wiring(first, "prod").builds.bucket
    keys = first.clients.s3.list_objects_v2(Bucket=bucket, Prefix="dist/discovery/release/").get(
        "Contents", []
    )
    assert "dist/discovery/release/gh-105.json" not in {k["Key"] for k in keys}


# -- 2. force-unlock of a live holder; fencing ---------------------------------------------------------
def test_force_unlock_needs_the_lock_id_and_a_dead_holder(sandbox, envs_dir):
    holder = EnvLock(make_context(sandbox, envs_dir).clients, "beta")
    info = holder.acquire("deploy")
    holder.abandon()
    ctx = make_context(sandbox, envs_dir, prompter=ScriptedPrompter(typed_answers=["beta", "beta", "beta"]))
    with pytest.raises(LockHeldError, match="still running on this host"):
        ops.force_unlock(ctx, info.lock_id)
    mark_holder_dead(ctx.clients, "beta")
    with pytest.raises(RefusedError, match=f"has ID {info.lock_id}, not 'deadbeef'"):
        ops.force_unlock(ctx, "deadbeef")
    outcome = ops.force_unlock(ctx, info.lock_id)
    assert outcome.notes[0].startswith(f"removed lock {info.lock_id}")
    assert param(ctx.clients, "/compiler-explorer/beta/lock") is None


def test_a_process_that_lost_its_lock_stops_without_compensating(sandbox, envs_dir):
    """The first deploy's health gate fails while another operator has taken the lock over (it looked
    dead from another host). Its undo would scale green and restore versions under the new holder's
    feet: fencing stops it before its next change."""
    sandbox.fail_color("beta", "green", "error")
    taken: dict[str, str] = {}

    def another_host_takes_over() -> None:
        ssm = make_context(sandbox, envs_dir).clients.ssm
        ssm.delete_parameter(Name="/compiler-explorer/beta/lock")
        lock = EnvLock(make_context(sandbox, envs_dir).clients, "beta")
        taken["token"] = lock.acquire("switch").token
        lock.abandon()

    reporter = RecordingReporter(on_step={"verify-health": another_host_takes_over})
    ctx = make_context(sandbox, envs_dir, reporter=reporter)
    with pytest.raises(LostLockError, match="lost its lock") as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert "touched nothing more" in info.value.message
    # Nothing was undone behind the new holder's back: green keeps what the deploy did, blue stays
    # protected, the new holder's lock is untouched.
    green = asg(ctx.clients, "beta-green")
    assert (green["DesiredCapacity"], green["MinSize"]) == (1, 1)
    assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "gh-105"
    assert asg(ctx.clients, "beta-blue")["SuspendedProcesses"] != []
    assert parse_lock(param(ctx.clients, "/compiler-explorer/beta/lock")).token == taken["token"]
    assert routes(ctx) == {"https rule": "blue", "http rule": "blue"}


# -- 3 & 4. the switch-back is written ahead; recover never completes onto a rejected color -------------
def _failing_verification(ctx, monkeypatch) -> None:
    """Post-switch verification fails: the first traffic move "loses" its SSM update."""
    real = ctx.driver.apply
    calls: list[str] = []

    def lossy(w, split, *, fence):
        calls.append(split.describe())
        real(w, split, fence=fence)
        if len(calls) == 1:
            ctx.clients.ssm.put_parameter(
                Name="/compiler-explorer/beta/active-color", Value="blue", Type="String", Overwrite=True
            )

    monkeypatch.setattr(ctx.driver, "apply", lossy)


@pytest.mark.parametrize("failing", ["http", "https"])
def test_a_failed_switch_back_keeps_lock_and_journal_and_recover_finishes_it(
    sandbox, envs_dir, monkeypatch, failing
):
    ctx = make_context(sandbox, envs_dir)
    w = wiring(ctx)
    _failing_verification(ctx, monkeypatch)
    faults = Faults().attach(ctx.clients)
    # The forward switch's call on that rule goes through; the switch-back's fails every time.
    faults.fail(op("ModifyRule", RuleArn=w.rule_arns[failing]), skip=1)
    with pytest.raises(KeptForRecovery) as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    message = info.value.message
    assert "post-switch verification of green failed" in message
    assert "switching back to blue ALSO failed" in message
    # HTTPS moves first: if its switch-back call fails, nothing moved back yet
    now = (
        "https rule -> green, http rule -> green"
        if failing == "https"
        else "https rule -> blue, http rule -> green"
    )
    assert f"traffic: {now}" in message
    assert info.value.hint == "bluegreen --env beta recover"
    lock = parse_lock(param(ctx.clients, "/compiler-explorer/beta/lock"))
    assert lock is not None and lock.journal is not None
    assert lock.journal.intended == TrafficSplit.to("blue") and lock.journal.rejected == ("green",)
    assert f"(ID {lock.lock_id})" in message
    # recover goes back to blue, whatever the gate says about green
    faults.clear()
    mark_holder_dead(ctx.clients, "beta")
    recovered = make_context(sandbox, envs_dir)
    outcome = ops.recover(recovered)
    assert "switched back" in outcome.notes[0]
    assert_serving(recovered, "beta", "blue")
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 0  # the deploy was undone
    assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "none"


def test_kill_9_mid_switch_back_then_recover_goes_back_not_forward(sandbox, envs_dir, monkeypatch):
    ctx = make_context(sandbox, envs_dir)
    w = wiring(ctx)
    _failing_verification(ctx, monkeypatch)
    faults = Faults().attach(ctx.clients)
    faults.kill(op("ModifyRule", RuleArn=w.rule_arns["http"]), skip=1)  # between the switch-back's calls
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert routes(ctx) == {"https rule": "blue", "http rule": "green"}
    faults.clear()
    mark_holder_dead(ctx.clients, "beta")
    recovered = make_context(sandbox, envs_dir)
    ops.recover(recovered)
    assert_serving(recovered, "beta", "blue")  # never green: the journal says it was rejected


def test_recover_does_not_complete_a_cut_switch_onto_an_unhealthy_color(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    w = wiring(ctx)
    faults = Faults().attach(ctx.clients)
    faults.kill(op("ModifyRule", RuleArn=w.rule_arns["http"]))  # HTTPS moved to green, then kill -9
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert routes(ctx) == {"https rule": "green", "http rule": "blue"}
    sandbox.fail_color("beta", "green", "error")  # green went bad while nobody was looking
    faults.clear()
    mark_holder_dead(ctx.clients, "beta")
    recovered = make_context(sandbox, envs_dir)
    outcome = ops.recover(recovered)
    assert "switched back" in outcome.notes[0]
    assert_serving(recovered, "beta", "blue")
    sandbox.heal()


def test_recover_completes_a_cut_switch_onto_a_healthy_color(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    w = wiring(ctx)
    faults = Faults().attach(ctx.clients)
    faults.kill(op("ModifyRule", RuleArn=w.rule_arns["http"]))
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    faults.clear()
    mark_holder_dead(ctx.clients, "beta")
    recovered = make_context(sandbox, envs_dir)
    outcome = ops.recover(recovered)
    assert "completed" in outcome.notes[0]
    assert_serving(recovered, "beta", "green")
    blue = asg(ctx.clients, "beta-blue")
    assert blue["MinSize"] == blue["DesiredCapacity"] == 1 and blue["SuspendedProcesses"] == []


# -- 5. no covering check = no switch ------------------------------------------------------------------
def _blind(ctx):
    """The same context without BLUEGREEN_HEALTH_URL: HTTP checks skipped."""
    settings = replace(ctx.settings, health_url=None)
    ctx.settings = settings
    ctx.reader = StateReader(ctx.clients, HttpChecker.of(settings), envs_dir=settings.envs_dir)
    return ctx


def test_preview_routes_make_the_load_balancer_cover_the_idle_color(sandbox, envs_dir):
    """With its preview rule forwarding to it, the standby is health-checked by the load balancer: a
    rollback to a failing standby is refused even without HTTP probes of our own."""
    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    sandbox.fail_color("beta", "blue", "error")
    with pytest.raises(RefusedError, match="blue has no healthy instances"):
        ops.rollback(_blind(make_context(sandbox, envs_dir)))
    assert_serving(ctx, "beta", "green")
    sandbox.heal()


def test_rollback_to_an_unrouted_color_without_http_checks_is_refused(sandbox, envs_dir):
    without_preview_routes(sandbox)
    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    sandbox.fail_color("beta", "blue", "error")  # blue answers 500: only an HTTP probe would tell
    blind = _blind(make_context(sandbox, envs_dir))
    with pytest.raises(RefusedError, match="no health check covers"):
        ops.rollback(blind)
    assert_serving(ctx, "beta", "green")
    sandbox.heal()


def test_a_deploy_without_any_covering_check_fails_at_once_and_restores(sandbox, envs_dir):
    without_preview_routes(sandbox)
    ctx = _blind(make_context(sandbox, envs_dir))
    ctx.settings = replace(ctx.settings, health_timeout=60)
    started = ctx.clock()
    with pytest.raises(HealthGateError, match="no health check covers"):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert ctx.clock() - started < 30  # did not wait for the deadline
    assert_serving(ctx, "beta", "blue")


# -- 6. the standby stays warm -----------------------------------------------------------------------------
def test_every_traffic_move_holds_the_color_that_stops_serving(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod")
    ops.deploy(ctx, "gh-104", capacity=3, skip_confirmation=True)
    blue = asg(ctx.clients, "prod-blue")
    assert blue["MinSize"] == blue["DesiredCapacity"] == 2, "deploy: old color held"
    ops.rollback(ctx)
    green = asg(ctx.clients, "prod-green")
    assert green["MinSize"] == green["DesiredCapacity"] == 3, "rollback: the color it left is held"
    assert asg(ctx.clients, "prod-blue")["MinSize"] == 2  # serving minimum of prod
    ops.switch(ctx, "green")
    blue = asg(ctx.clients, "prod-blue")
    assert blue["MinSize"] == blue["DesiredCapacity"] == 2, "switch: held too"
    text = __import__("bgctl.render", fromlist=["status_text"]).status_text(ctx.reader.read_one("prod"))
    assert "Standby: held for rollback since" in text


def test_validate_flags_a_standby_that_is_not_held(sandbox, envs_dir):
    from bgctl.validate import problems_of

    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    ctx.clients.autoscaling.update_auto_scaling_group(AutoScalingGroupName="beta-blue", MinSize=0)
    problems = problems_of(ctx.reader.read_one("beta"), ctx.clients)
    assert any("standby blue is not held for rollback" in p.message for p in problems)


# -- 7. true outcomes --------------------------------------------------------------------------------------
def test_a_failed_restore_says_what_failed_first_where_things_are_and_what_to_run(sandbox, envs_dir):
    sandbox.fail_color("beta", "green", "error")
    ctx = make_context(sandbox, envs_dir)
    faults = Faults().attach(ctx.clients)
    # The undo's scale-back of green fails on every retry (the scale-up before it went through).
    faults.fail(op("UpdateAutoScalingGroup", AutoScalingGroupName="beta-green"), skip=1)
    with pytest.raises(KeptForRecovery) as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    message = info.value.message
    assert "beta green not healthy after" in message  # what failed first
    assert "restoring the previous state ALSO failed" in message
    assert "InternalError" in message
    assert "traffic: https rule -> blue, http rule -> blue" in message  # where traffic is
    assert "green: 0/1 healthy" in message and "blue: 1/1 healthy" in message  # both colors
    assert "the lock (ID" in message and "are kept" in message  # the lock and journal
    assert info.value.hint == "bluegreen --env beta recover"  # the one command to run next
    faults.clear()
    sandbox.heal()
    mark_holder_dead(ctx.clients, "beta")
    ops.recover(make_context(sandbox, envs_dir))
    assert_serving(ctx, "beta", "blue")
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 0


def test_ctrl_c_after_agreeing_to_replace_the_standby_says_it_is_gone(sandbox, envs_dir):
    ctx = make_context(
        sandbox,
        envs_dir,
        prompter=ScriptedPrompter(confirms=[True]),
        reporter=RecordingReporter(interrupt_at="verify-health"),
    )
    ctx.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=1)
    with pytest.raises(InterruptedOperation) as info:
        ops.deploy(ctx, "gh-105")
    assert "nothing changed" not in info.value.message
    assert "the 1 instance(s) it replaced in beta-green are gone" in info.value.message
    assert_serving(ctx, "beta", "blue")


def test_history_records_each_operation(sandbox, envs_dir):
    from bgctl.history import HistoryStore

    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    ops.rollback(ctx)
    records = HistoryStore(ctx.clients.ssm, "beta").recent(5)
    assert [(r.operation, r.outcome, r.from_traffic, r.to_traffic) for r in records] == [
        ("rollback", "done", "green", "blue"),
        ("deploy", "done", "blue", "green"),
    ]
    assert records[1].version == "gh-105" and records[1].duration_s is not None
    assert json.loads(param(ctx.clients, "/compiler-explorer/beta/history"))["operation"] == "rollback"
    assert rule_target(ctx.clients, wiring(ctx).rule_arns["https"]) == wiring(ctx).target_group_arns["blue"]
