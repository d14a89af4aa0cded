"""The sandbox has the module's per-color alarms and dashboards (bgctl.sandbox.alarms imitates
terraform/modules/blue_green/canary.tf): the wiring names them, a canary bake watches them without any
test wiring of its own, and firing one rolls the canary back."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgctl import COLORS
from bgctl.canary import CanaryFailed
from bgctl.errors import RefusedError
from bgctl.sandbox.alarms import STICKINESS_SECONDS, alarm_names, cloudwatch_client, fire
from bgctl.traffic import TrafficSplit
from bgctl.wiring import parse_wiring, wiring_param
from bgtest import RecordingReporter, copy_envs, make_context, ops, param


@pytest.fixture
def envs_dir(tmp_path: Path) -> Path:
    return copy_envs(tmp_path)


def test_every_wiring_names_alarms_that_exist_and_each_env_has_a_dashboard(sandbox_readonly):
    sandbox = sandbox_readonly
    cloudwatch = cloudwatch_client(sandbox.endpoint_url)
    for env in sorted(sandbox.resources):
        wiring = parse_wiring(env, param(sandbox.clients, wiring_param(env)) or "")
        assert wiring.canary.stickiness_seconds == STICKINESS_SECONDS
        assert wiring.canary.alarms == alarm_names(env)
        for color in COLORS:
            names = list(wiring.canary.alarms_of(color))
            found = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
            assert sorted(a["AlarmName"] for a in found) == sorted(names), env
            assert all(a["StateValue"] != "ALARM" for a in found)
        body = cloudwatch.get_dashboard(DashboardName=f"bluegreen-{env}")["DashboardBody"]
        assert f"{env}: Healthy hosts" in body and "HealthyHostCount" in body


def test_the_modules_latency_alarm_firing_mid_bake_rolls_the_canary_back(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter())
    latency = alarm_names("beta")["green"][2]
    assert latency == "beta-green-p99-latency"
    ctx.reporter.on_step["bake"] = lambda: fire(sandbox.endpoint_url, latency)
    with pytest.raises(CanaryFailed) as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10,), bake_seconds=5)
    assert f"alarm {latency} is ALARM" in info.value.message
    state = ctx.reader.read_one("beta")
    assert state.routing.split == TrafficSplit.to("blue") and state.lock is None


def test_a_canary_whose_alarms_do_not_exist_is_refused_before_any_change(sandbox, envs_dir):
    """DescribeAlarms leaves unknown names out: without this check a bake would watch nothing."""
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter())
    gone = alarm_names("beta")["green"][0]
    cloudwatch_client(sandbox.endpoint_url).delete_alarms(AlarmNames=[gone])
    before = ctx.reader.read_one("beta")
    with pytest.raises(RefusedError, match=f"alarms do not exist.*{gone}"):
        ops.deploy(ctx, "gh-105", skip_confirmation=True, canary=(10,), bake_seconds=1)
    after = ctx.reader.read_one("beta")
    assert after.routing.split == before.routing.split == TrafficSplit.to("blue")
    assert after.colors["green"].desired == before.colors["green"].desired and after.lock is None
    assert ctx.reporter.steps == []
