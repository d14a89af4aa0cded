"""deploy, switch, rollback, cleanup, shutdown, recover against the sandbox; state checked through boto3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgctl.colorfile import read_active_color
from bgctl.errors import HealthGateError, InterruptedOperation, LockHeldError, RefusedError, UsageError
from bgctl.wiring import parse_wiring, wiring_param
from bgtest import (
    HardKill,
    RecordingReporter,
    ScriptedPrompter,
    asg,
    copy_envs,
    hold_lock,
    make_context,
    mark_holder_dead,
    ops,
    param,
    rule_target,
)

DEPLOY_STEPS = [
    "protect",
    "deploy-inactive",
    "verify-health",
    "smoke-test",
    "switch",
    "verify-switch",
    "cleanup",
]


@pytest.fixture
def envs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = copy_envs(tmp_path)
    monkeypatch.setenv("BLUEGREEN_ENVS_DIR", str(path))
    return path


def wiring(ctx, env="beta"):
    return parse_wiring(env, param(ctx.clients, wiring_param(env)))


def assert_settled(ctx, env: str, serving: str) -> None:
    """Traffic on ``serving`` (healthy), SSM and color file agree, no ASG protected, no lock, no journal."""
    w = wiring(ctx, env)
    st = ctx.reader.read_one(env)
    assert st.routing.color == serving, st.routing
    assert st.ssm_color == serving
    assert (
        param(ctx.clients, f"/compiler-explorer/{env}/active-target-group-arn")
        == w.target_group_arns[serving]
    )
    assert read_active_color(ctx.envs_dir / env) == serving
    assert st.colors[serving].asg_healthy >= 1
    for color in ("blue", "green"):
        assert asg(ctx.clients, w.asg_names[color])["SuspendedProcesses"] == [], color
    assert param(ctx.clients, f"/compiler-explorer/{env}/lock") is None  # the journal lives inside it


# -- happy paths ---------------------------------------------------------------------------------------
def test_deploy_happy_path(sandbox, envs_dir):
    reporter = RecordingReporter()
    ctx = make_context(sandbox, envs_dir, reporter=reporter)
    w = wiring(ctx)
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert (outcome.from_color, outcome.to_color) == ("blue", "green")
    assert reporter.steps == DEPLOY_STEPS
    for arn in w.rule_arns.values():
        assert rule_target(ctx.clients, arn) == w.target_group_arns["green"]
    assert param(ctx.clients, w.version_parameters["green"]) == "gh-105"
    assert param(ctx.clients, w.version_parameters["blue"]) == "gh-100"  # the old color keeps its own
    green, blue = asg(ctx.clients, "beta-green"), asg(ctx.clients, "beta-blue")
    assert green["DesiredCapacity"] == 1 and green["MinSize"] >= 1
    # Warm for instant rollback, and held there: min = desired, so its scaling policies cannot empty it.
    assert blue["DesiredCapacity"] == 1 and blue["MinSize"] == 1
    assert_settled(ctx, "beta", "green")


def test_deploy_with_capacity_and_prod_listeners(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod")
    w = wiring(ctx, "prod")
    # gh-104 has discovery for prod in the sandbox, so no prompt is needed.
    ops.deploy(ctx, "gh-104", capacity=3, skip_confirmation=True)
    for arn in w.listener_arns.values():
        listener = ctx.clients.elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]
        assert listener["DefaultActions"][0]["TargetGroupArn"] == w.target_group_arns["green"]
    assert asg(ctx.clients, "prod-green")["DesiredCapacity"] == 3
    assert_settled(ctx, "prod", "green")


def test_switch_and_rollback(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    ops.rollback(ctx)
    assert_settled(ctx, "beta", "blue")
    ops.switch(ctx, "green")
    assert_settled(ctx, "beta", "green")
    assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "gh-105"


def test_switch_to_the_active_color_is_a_no_op(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    outcome = ops.switch(ctx, "blue")
    assert "already serves blue" in outcome.notes[0]
    assert_settled(ctx, "beta", "blue")


def test_dry_runs_change_nothing(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    before = ctx.reader.read_one("beta", probe_http=False)
    deploy = ops.deploy(ctx, "gh-105", dry_run=True)
    kinds = sorted({c.kind for c in deploy.plan.changes(envs_dir)})
    assert kinds == ["asg", "file", "rule", "ssm", "version"]
    switch = ops.switch(ctx, "green", dry_run=True)
    assert any("would be REFUSED" in n for n in switch.notes)
    after = ctx.reader.read_one("beta", probe_http=False)
    assert after.routing == before.routing
    assert after.colors["green"].desired == 0
    assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "none"


def test_cleanup_and_refusal_to_touch_active(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    with pytest.raises(RefusedError, match="it is the active color of beta"):
        ops.cleanup(ctx, "green")
    ops.cleanup(ctx)
    blue = asg(ctx.clients, "beta-blue")
    assert (blue["DesiredCapacity"], blue["MinSize"]) == (0, 0)
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 1
    with pytest.raises(RefusedError, match="no capacity left"):
        ops.rollback(ctx)


def test_shutdown_needs_the_typed_name_and_is_recorded(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, prompter=ScriptedPrompter(typed_answers=["prod"]))
    with pytest.raises(RefusedError, match="not confirmed"):
        ops.shutdown(ctx)
    assert asg(ctx.clients, "beta-blue")["DesiredCapacity"] == 1
    ctx.prompter = ScriptedPrompter(typed_answers=["beta"])
    ops.shutdown(ctx, reason="maintenance")
    assert asg(ctx.clients, "beta-blue")["DesiredCapacity"] == 0
    record = json.loads(param(ctx.clients, "/compiler-explorer/beta/shutdown"))
    assert record["reason"] == "maintenance"
    assert "downtime" in ctx.prompter.asked[0].lower() or "DOWN" in ctx.prompter.asked[0]
    st = ctx.reader.read_one("beta")
    assert st.shutdown is not None


# -- refusals --------------------------------------------------------------------------------------------
def test_unhealthy_new_color_is_never_switched_to(sandbox, envs_dir):
    sandbox.fail_color("beta", "green", "error")
    ctx = make_context(sandbox, envs_dir)
    w = wiring(ctx)
    with pytest.raises(HealthGateError, match="not healthy after"):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    for arn in w.rule_arns.values():
        assert rule_target(ctx.clients, arn) == w.target_group_arns["blue"]
    green = asg(ctx.clients, "beta-green")
    assert (green["DesiredCapacity"], green["MinSize"]) == (0, 0)
    assert param(ctx.clients, w.version_parameters["green"]) == "none"
    assert_settled(ctx, "beta", "blue")


def test_unreachable_new_color_is_never_switched_to(sandbox, envs_dir):
    sandbox.fail_color("beta", "green", "drop")
    ctx = make_context(sandbox, envs_dir)
    with pytest.raises(HealthGateError):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert_settled(ctx, "beta", "blue")


def test_existing_instances_warning_and_refusal(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    ctx.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=1)
    with pytest.raises(RefusedError) as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    text = info.value.message
    assert "⚠️  WARNING: The green ASG already has 1 instance(s) running!" in text
    assert "use 'bluegreen --env beta switch green'" in text
    assert "use 'bluegreen --env beta rollback'" in text
    assert "run 'bluegreen --env beta cleanup' first, then deploy" in text
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 1
    assert param(ctx.clients, "/compiler-explorer/beta/lock") is None


def test_existing_instances_replaced_when_confirmed(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, prompter=ScriptedPrompter(confirms=[True]))
    ctx.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=1)
    old = set(sandbox.instance_ids("beta", "green"))
    ops.deploy(ctx, "gh-105")
    assert not old & set(sandbox.instance_ids("beta", "green"))
    assert_settled(ctx, "beta", "green")


def test_prod_without_discovery_and_skip_confirmation_is_refused_without_mutation(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod")
    before = {n: asg(ctx.clients, n) for n in ("prod-blue", "prod-green")}
    with pytest.raises(RefusedError) as info:
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert info.value.message == ops.DISCOVERY_REFUSAL
    assert "❌ ERROR: --skip-confirmation cannot be used for production deployments without discovery." in (
        info.value.message
    )
    for name, group in before.items():
        now = asg(ctx.clients, name)
        assert (now["DesiredCapacity"], now["MinSize"], now["SuspendedProcesses"]) == (
            group["DesiredCapacity"],
            group["MinSize"],
            group["SuspendedProcesses"],
        )
    assert param(ctx.clients, "/compiler-explorer/prod/green/version") == "none"
    assert param(ctx.clients, "/compiler-explorer/prod/lock") is None


def test_prod_discovery_copied_from_staging(sandbox, envs_dir):
    prompter = ScriptedPrompter(choices=[1])
    ctx = make_context(sandbox, envs_dir, "prod", prompter=prompter)
    outcome = ops.deploy(ctx, "gh-105")
    assert "Compiler discovery has not run for prod/gh-105" in prompter.asked[0]
    assert any("copied compiler discovery" in n for n in outcome.notes)
    bucket = wiring(ctx, "prod").builds.bucket
    # prod's discovery lives under "release" (its instances' branch), readable by the instances
    key = "dist/discovery/release/gh-105.json"
    ctx.clients.s3.head_object(Bucket=bucket, Key=key)
    grants = ctx.clients.s3.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    assert any(
        g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants
    )
    assert_settled(ctx, "prod", "green")


def test_prod_discovery_copy_failure_fails_the_deployment(sandbox, envs_dir):
    """The sources had the file when the operator chose to copy it; by the copy they no longer do."""
    bucket = sandbox.builds_bucket

    def sources_vanish() -> None:
        for source in ("staging", "beta"):
            sandbox.clients.s3.delete_object(Bucket=bucket, Key=f"dist/discovery/{source}/gh-105.json")

    prompter = ScriptedPrompter(choices=[1], meanwhile=sources_vanish)
    ctx = make_context(sandbox, envs_dir, "prod", prompter=prompter)
    with pytest.raises(RefusedError, match="deployment failed"):
        ops.deploy(ctx, "gh-105")
    assert asg(ctx.clients, "prod-green")["DesiredCapacity"] == 0


def test_prod_discovery_falls_back_to_beta(sandbox, envs_dir):
    bucket = sandbox.builds_bucket
    sandbox.clients.s3.delete_object(Bucket=bucket, Key="dist/discovery/staging/gh-105.json")
    prompter = ScriptedPrompter(choices=[1])
    ctx = make_context(sandbox, envs_dir, "prod", prompter=prompter)
    outcome = ops.deploy(ctx, "gh-105")
    assert "copy discovery from beta" in prompter.asked[0]
    assert any("copied compiler discovery for gh-105 from beta" in n for n in outcome.notes)
    ctx.clients.s3.head_object(Bucket=bucket, Key="dist/discovery/release/gh-105.json")


def test_without_discovery_and_no_source_skip_confirmation_deploys_with_a_warning(sandbox, envs_dir):
    """Environments other than prod and winprod have no source to copy from: compiler-explorer/infra
    deploys them without discovery, with a warning (and asks when it may)."""
    sandbox.clients.s3.delete_object(Bucket=sandbox.builds_bucket, Key="dist/discovery/beta/gh-105.json")
    ctx = make_context(sandbox, envs_dir, "beta")
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert any("WITHOUT compiler discovery" in n for n in outcome.notes)
    assert_settled(ctx, "beta", "green")


def test_without_discovery_and_no_source_the_operator_may_cancel(sandbox, envs_dir):
    sandbox.clients.s3.delete_object(Bucket=sandbox.builds_bucket, Key="dist/discovery/beta/gh-105.json")
    prompter = ScriptedPrompter(confirms=[False])
    ctx = make_context(sandbox, envs_dir, "beta", prompter=prompter)
    with pytest.raises(RefusedError, match="cancelled"):
        ops.deploy(ctx, "gh-105")
    assert "Compiler discovery has not run for beta/gh-105" in prompter.asked[0]
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 0


def test_wintest_needs_no_discovery(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "wintest", prompter=ScriptedPrompter())
    outcome = ops.deploy(ctx, "gh-105")  # no discovery for wintest at all, and no question
    assert not any("discovery" in n for n in outcome.notes)
    assert_settled(ctx, "wintest", "green")


def test_prod_discovery_cancel(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod", prompter=ScriptedPrompter(choices=[3]))
    with pytest.raises(RefusedError, match="cancelled"):
        ops.deploy(ctx, "gh-105")


def test_unknown_build_and_bad_capacity_refused_before_mutation(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    with pytest.raises(RefusedError, match="build gh-999 not found"):
        ops.deploy(ctx, "gh-999", skip_confirmation=True)
    with pytest.raises(UsageError, match=r"outside 1\.\.10"):  # beta's max: 10, as compiler-explorer/infra's
        ops.deploy(ctx, "gh-105", capacity=11, skip_confirmation=True)
    prod = make_context(sandbox, envs_dir, "prod")
    with pytest.raises(UsageError, match=r"--capacity 1 is outside 2\.\.40 for prod"):
        ops.deploy(prod, "gh-104", capacity=1, skip_confirmation=True)
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 0


def test_switch_refuses_a_color_without_healthy_instances(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    with pytest.raises(RefusedError, match="green has no healthy instances"):
        ops.switch(ctx, "green")
    ctx.prompter = ScriptedPrompter(typed_answers=["nope"])
    with pytest.raises(RefusedError, match="not confirmed"):
        ops.switch(ctx, "green", force=True)
    assert_settled(ctx, "beta", "blue")


def test_switch_refuses_fewer_healthy_than_the_minimum(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod")
    need = wiring(ctx, "prod").capacity.min_healthy
    assert need >= 2
    ctx.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="prod-green", DesiredCapacity=need - 1)
    with pytest.raises(RefusedError, match=f"needs at least {need}"):
        ops.switch(ctx, "green")


# -- locks -------------------------------------------------------------------------------------------------
def test_second_operation_fails_fast_naming_the_holder(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    held = hold_lock("beta")
    with pytest.raises(LockHeldError, match=held.holder.split()[0]):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 0
    assert asg(ctx.clients, "beta-blue")["SuspendedProcesses"] == []
    ctx.prompter = ScriptedPrompter(typed_answers=["beta"])
    with pytest.raises(LockHeldError, match="still running on this host"):
        ops.force_unlock(ctx, held.lock_id)  # its holder (this process) is alive
    mark_holder_dead(ctx.clients, "beta")
    ctx.prompter = ScriptedPrompter(typed_answers=["beta"])
    ops.force_unlock(ctx, held.lock_id)
    assert param(ctx.clients, "/compiler-explorer/beta/lock") is None


# -- interrupts and hard kills at every step --------------------------------------------------------------
@pytest.mark.parametrize("step", DEPLOY_STEPS)
def test_sigint_at_each_step_leaves_a_safe_state(sandbox, envs_dir, step):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter(interrupt_at=step))
    with pytest.raises(InterruptedOperation):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    switched = DEPLOY_STEPS.index(step) > DEPLOY_STEPS.index("switch")
    serving = "green" if switched else "blue"
    assert_settled(ctx, "beta", serving)
    if not switched:
        assert asg(ctx.clients, "beta-green")["MinSize"] == 0
        assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "none"
    else:  # rolled forward: the serving color's version key is never restored
        assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "gh-105"


@pytest.mark.parametrize("step", DEPLOY_STEPS)
def test_hard_kill_at_each_step_then_recover(sandbox, envs_dir, step):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter(kill_at=step))
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    st = ctx.reader.read_one("beta")
    assert st.lock is not None and st.journal is not None and st.journal.operation == "deploy"
    with pytest.raises(LockHeldError, match="beta is locked by"):
        ops.deploy(make_context(sandbox, envs_dir), "gh-104", skip_confirmation=True)
    with pytest.raises(LockHeldError, match="still running on this host"):
        ops.recover(make_context(sandbox, envs_dir))  # the holder (this process) looks alive
    mark_holder_dead(ctx.clients, "beta")
    outcome = ops.recover(make_context(sandbox, envs_dir))
    switched = DEPLOY_STEPS.index(step) > DEPLOY_STEPS.index("switch")
    assert outcome.notes[0].startswith("completing" if switched else "undoing")
    assert_settled(ctx, "beta", "green" if switched else "blue")


def test_kill_mid_switch_with_one_rule_moved_is_completed_by_recover(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, reporter=RecordingReporter(kill_at="switch"))
    w = wiring(ctx)
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    # The process died after moving the HTTPS rule only.
    ctx.clients.elbv2.modify_rule(
        RuleArn=w.rule_arns["https"],
        Actions=[{"Type": "forward", "TargetGroupArn": w.target_group_arns["green"]}],
    )
    assert ctx.reader.read_one("beta").routing.color is None
    mark_holder_dead(ctx.clients, "beta")
    ops.recover(make_context(sandbox, envs_dir))
    assert_settled(ctx, "beta", "green")


def test_recover_with_nothing_to_do(sandbox, envs_dir):
    outcome = ops.recover(make_context(sandbox, envs_dir))
    assert outcome.notes == ["no unfinished operation: nothing to recover"]


def test_post_switch_verification_failure_switches_back(sandbox, envs_dir, monkeypatch):
    ctx = make_context(sandbox, envs_dir)
    real = ctx.driver.apply
    calls: list[str] = []

    def lossy_apply(w, split, *, fence):
        calls.append(split.describe())
        real(w, split, fence=fence)
        if len(calls) == 1:  # the first switch "loses" the SSM update
            ctx.clients.ssm.put_parameter(
                Name="/compiler-explorer/beta/active-color", Value="blue", Type="String", Overwrite=True
            )

    monkeypatch.setattr(ctx.driver, "apply", lossy_apply)
    with pytest.raises(HealthGateError, match="post-switch verification of green failed"):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert calls == ["green", "blue"]  # switched, then switched back
    assert_settled(ctx, "beta", "blue")
