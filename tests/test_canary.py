"""Canary releases (issue 16): weighted steps with stickiness and a bake that watches alarms, targets and
HTTP; weights only ever go 0 -> w1 -> ... -> 100 or back to 0; an alarm, a failure, SIGINT or an abort
rolls back; kill -9 mid-bake is rolled back (or promoted) by recover; prod moves both listeners together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from bgctl.canary import CanaryFailed, parse_steps
from bgctl.errors import InterruptedOperation, UsageError
from bgctl.history import HistoryStore
from bgctl.operations.canary import canary_request
from bgctl.render import status_text
from bgctl.traffic import TrafficSplit
from bgctl.wiring import parse_wiring, wiring_param
from bgtest import HardKill, RecordingReporter, copy_envs, make_context, mark_holder_dead, ops, param

BAKE = 0.4


def wire_alarms(sandbox: Any, env: str) -> dict[str, str]:
    """Per color, one CloudWatch alarm, named in the wiring as the module publishes them."""
    cloudwatch = boto3.client("cloudwatch", endpoint_url=sandbox.endpoint_url, region_name="us-east-1")
    names = {c: f"{env}-{c}-target-5xx" for c in ("blue", "green")}
    for name in names.values():
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="HTTPCode_Target_5XX_Count",
            Namespace="AWS/ApplicationELB",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
        )
    name = wiring_param(env)
    doc = json.loads(sandbox.clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])
    doc["canary"] = {"stickiness_seconds": 600, "alarms": {c: [n] for c, n in names.items()}}
    sandbox.clients.ssm.put_parameter(Name=name, Value=json.dumps(doc), Type="String", Overwrite=True)
    return names


def record_moves(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    moves: list[str] = []
    real = ctx.driver.apply

    def apply(w, split, *, fence):
        moves.append(split.describe())
        real(w, split, fence=fence)

    monkeypatch.setattr(ctx.driver, "apply", apply)
    return moves


def forwards(ctx: Any, env: str) -> list[Any]:
    w = parse_wiring(env, param(ctx.clients, wiring_param(env)))
    elb = ctx.clients.elbv2
    if w.is_default_action:
        return [
            elb.describe_listeners(ListenerArns=[a])["Listeners"][0]["DefaultActions"]
            for a in w.listener_arns.values()
        ]
    return [elb.describe_rules(RuleArns=[a])["Rules"][0]["Actions"] for a in w.rule_arns.values()]


@pytest.fixture
def envs_dir(tmp_path: Path) -> Path:
    return copy_envs(tmp_path)


def test_steps_are_increasing_percents():
    assert parse_steps("10,50") == (10, 50)
    for bad in ("50,10", "0,10", "10,100", "ten", "10,10"):
        with pytest.raises(UsageError):
            parse_steps(bad)


def test_a_canary_steps_through_its_weights_with_stickiness_then_switches(sandbox, envs_dir, monkeypatch):
    wire_alarms(sandbox, "beta")
    seen: dict[str, Any] = {}
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter())
    moves = record_moves(ctx, monkeypatch)

    def during_first_bake() -> None:
        seen["actions"] = forwards(ctx, "beta")
        seen["status"] = status_text(ctx.reader.read_one("beta"))

    ctx.reporter.on_step["bake"] = during_first_bake
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10, 50), bake_seconds=BAKE)
    assert moves == ["blue 90% / green 10%", "blue 50% / green 50%", "green"]
    assert outcome.to_split == TrafficSplit.to("green")
    for actions in seen["actions"]:
        config = actions[0]["ForwardConfig"]
        weights = sorted(g["Weight"] for g in config["TargetGroups"])
        assert weights == [10, 90]
        assert config["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 600}
    assert "🐤 Canary of green: blue 90% / green 10% (step 1/2 of 10%/50%, bake ends in" in seen["status"]
    state = ctx.reader.read_one("beta")
    assert state.routing.split == TrafficSplit.to("green") and state.lock is None
    steps = ctx.reporter.steps
    assert steps.count("bake") == 2 and steps[-2:] == ["verify-switch", "cleanup"]


def test_the_dry_run_prints_every_step(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    dry = ops.deploy(ctx, "gh-105", dry_run=True, canary=(10, 50), bake_seconds=300)
    messages = [a.message() for a in dry.plan.actions]
    assert messages.count("moving traffic to blue 90% / green 10%") == 1
    assert any(m.startswith("canary step 2/2: baking green at 50% for 300s") for m in messages)
    assert dry.plan.canary == (10, 50)


@pytest.mark.parametrize("signal", ["alarm", "health"])
def test_a_signal_during_a_bake_rolls_back(sandbox, envs_dir, monkeypatch, signal):
    alarms = wire_alarms(sandbox, "beta")
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter())
    moves = record_moves(ctx, monkeypatch)

    def fire() -> None:
        if signal == "alarm":
            cw = boto3.client("cloudwatch", endpoint_url=sandbox.endpoint_url, region_name="us-east-1")
            cw.set_alarm_state(AlarmName=alarms["green"], StateValue="ALARM", StateReason="test")
        else:
            sandbox.fail_color("beta", "green", "error")

    ctx.reporter.on_step["bake"] = fire
    with pytest.raises(CanaryFailed) as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10, 50), bake_seconds=5)
    expected = f"alarm {alarms['green']} is ALARM" if signal == "alarm" else "health:"
    assert expected in info.value.message and "switched back to blue" in info.value.message
    assert moves == ["blue 90% / green 10%", "blue"]  # 0 -> 10 -> back to 0, never further
    state = ctx.reader.read_one("beta")
    assert state.routing.split == TrafficSplit.to("blue") and state.lock is None
    assert state.colors["green"].desired == 0
    assert HistoryStore(ctx.clients.ssm, "beta").recent(1)[0].outcome == "canary rolled back"
    sandbox.heal()


def test_sigint_during_a_bake_goes_back_to_weight_0(sandbox, envs_dir, monkeypatch):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter(interrupt_at="bake"))
    moves = record_moves(ctx, monkeypatch)
    with pytest.raises(InterruptedOperation):
        ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10,), bake_seconds=5)
    assert moves == ["blue 90% / green 10%", "blue"]
    assert ctx.reader.read_one("beta").routing.split == TrafficSplit.to("blue")


@pytest.mark.parametrize("promote", [False, True])
def test_kill_9_during_a_bake_then_recover(sandbox, envs_dir, promote):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter(kill_at="bake"))
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10, 50), bake_seconds=BAKE)
    assert ctx.reader.read_one("beta").routing.split == TrafficSplit("blue", 10)
    mark_holder_dead(ctx.clients, "beta")
    other = make_context(sandbox, envs_dir)
    if promote:
        outcome = canary_request(other, "promote")  # the canary's process is gone: recover carries it out
        assert "carried out by recover" in outcome.notes[0]
        expected = "green"
    else:
        ops.recover(other)
        expected = "blue"
    state = other.reader.read_one("beta")
    assert state.routing.split == TrafficSplit.to(expected) and state.lock is None


def test_an_operator_promotes_or_aborts_from_another_shell(sandbox, envs_dir, monkeypatch):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter())
    moves = record_moves(ctx, monkeypatch)
    ctx.reporter.on_step["bake"] = lambda: canary_request(make_context(sandbox, envs_dir), "promote")
    ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10, 50), bake_seconds=30)
    assert moves == ["blue 90% / green 10%", "green"]  # promoted during the first bake: 50% skipped
    ops.cleanup(ctx)  # blue emptied, so the next deploy goes to blue again
    ctx.reporter = RecordingReporter()
    ctx.reporter.on_step["bake"] = lambda: canary_request(make_context(sandbox, envs_dir), "abort")
    with pytest.raises(CanaryFailed, match="aborted by"):
        ops.deploy(ctx, "gh-104", skip_confirmation=True, canary=(25,), bake_seconds=30)
    assert ctx.reader.read_one("beta").routing.split == TrafficSplit.to("green")


def test_prod_moves_both_listeners_together_at_every_step(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod", reporter=RecordingReporter())
    seen: list[list[int]] = []

    def look() -> None:
        seen.extend(
            sorted(g["Weight"] for g in a[0]["ForwardConfig"]["TargetGroups"]) for a in forwards(ctx, "prod")
        )

    ctx.reporter.on_step["bake"] = look
    ops.deploy(ctx, "gh-104", skip_confirmation=True, canary=(20,), bake_seconds=BAKE)
    assert seen == [[20, 80], [20, 80]]  # :443 and :80 carry the same split


def test_a_driver_without_weights_refuses_a_canary_before_anything_changes(sandbox, envs_dir):
    from bgctl.switching import ApiDriver, TerraformDriver

    class PlainOnly(ApiDriver):
        supports_weights = False

    assert TerraformDriver.supports_weights  # canary steps plan and apply canary_weight (issue 16)
    ctx = make_context(sandbox, envs_dir)
    ctx.driver = PlainOnly(ctx.clients, envs_dir)
    with pytest.raises(UsageError, match="cannot apply a canary"):
        ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10,))
    assert ctx.reader.read_one("beta").colors["green"].desired == 0
