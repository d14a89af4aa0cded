"""The switch's Terraform driver end to end on a real Terraform binary (null provider), and the
``plan`` fallback, which must print exactly what ``switch --dry-run`` prints."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bgctl import REPO_ROOT
from bgctl.cli import main
from bgctl.colorfile import read_active_color
from bgctl.errors import PlanGuardError, RefusedError
from bgctl.planguard import load_plan
from bgctl.planning import apply_root, decide_apply
from bgctl.switching import TerraformDriver
from bgctl.terraform import TerraformRoot, default_binary
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Builds, Capacity, Wiring
from bgtest import copy_envs, make_context

FIXTURE_ROOT = Path(__file__).parent / "fixtures" / "tfroot_null"
PLUGIN_DIR = Path(os.environ.get("BLUEGREEN_TF_PLUGIN_DIR") or REPO_ROOT / ".tools" / "plugins")


def _binary() -> str:
    return default_binary()


def _wiring(env: str) -> Wiring:
    return Wiring(
        environment=env,
        routing="path_rule",
        asg_names={"blue": f"{env}-blue", "green": f"{env}-green"},
        target_group_arns={"blue": "arn:tg/blue", "green": "arn:tg/green"},
        listener_arns={"https": "arn:listener/https"},
        rule_arns={"https": "arn:rule/https"},
        path_patterns=("/beta*",),
        rule_priority=10,
        capacity=Capacity(0, 4, 1),
        version_parameters={"blue": "/v/blue", "green": "/v/green"},
        builds=Builds("bucket", "dist/gh/", "dist/discovery/"),
    )


@pytest.fixture
def tf_envs(tmp_path: Path) -> Path:
    binary = _binary()
    if not binary or not (shutil.which(binary) or Path(binary).is_file()):
        pytest.skip("no Terraform binary: run `make setup`")
    if not (PLUGIN_DIR / "registry.terraform.io/hashicorp/null/2.1.2").is_dir():
        pytest.skip(f"null provider not in {PLUGIN_DIR}: run `make setup`")
    envs = tmp_path / "envs"
    shutil.copytree(FIXTURE_ROOT, envs / "beta")
    root = TerraformRoot(envs / "beta", binary, plugin_dir=PLUGIN_DIR)
    root.init(backend=True)
    root.apply_plan(root.plan_to_file(tmp_path / "bootstrap.tfplan"))
    return envs


@pytest.mark.terraform
def test_terraform_driver_switches_through_plan_guard_and_saved_plan(tf_envs: Path):
    driver = TerraformDriver(tf_envs, _binary(), str(PLUGIN_DIR))
    driver.apply(_wiring("beta"), TrafficSplit.to("green"))
    assert read_active_color(tf_envs / "beta") == "green"
    outputs = TerraformRoot(tf_envs / "beta", _binary(), plugin_dir=PLUGIN_DIR).outputs()
    assert outputs == {"active_color": "green"}


@pytest.mark.terraform
def test_terraform_driver_refuses_more_than_a_switch_and_restores_the_color_file(tf_envs: Path):
    main_tf = tf_envs / "beta" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('default     = "1"', 'default     = "2"'))
    driver = TerraformDriver(tf_envs, _binary(), str(PLUGIN_DIR))
    with pytest.raises(PlanGuardError, match=r"null_resource\.asg"):
        driver.apply(_wiring("beta"), TrafficSplit.to("green"))
    assert read_active_color(tf_envs / "beta") == "blue"


def test_plan_fallback_prints_what_switch_dry_run_prints(sandbox, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BLUEGREEN_ENVS_DIR", str(copy_envs(tmp_path)))
    assert main(["--env", "prod", "plan", "--color", "green"]) == 0
    plan = capsys.readouterr().out.splitlines()
    assert plan[0].startswith("terraform plan unavailable here (")
    assert "API driver's dry run from the live state" in plan[0]
    assert plan[1] == (
        "prod: traffic blue -> green (listeners :80 and :443, SSM active-color and active-target-group-arn, "
        "asg prod-green, file active_color.auto.tfvars.json), 0 other changes"
    )
    assert main(["--env", "prod", "switch", "green", "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    assert dry[0] == "DRY RUN: nothing was changed. switch would do:"
    assert dry[1 : len(plan)] == plan[1:]
    assert any(
        "would be REFUSED: refusing to switch prod to green: green has no healthy instances" in line
        for line in dry
    )


def test_terraform_driver_is_refused_before_any_change_against_the_sandbox(
    sandbox, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BLUEGREEN_ENVS_DIR", str(copy_envs(tmp_path)))
    code = main(["--env", "beta", "deploy", "gh-105", "--via", "terraform", "--skip-confirmation"])
    err = capsys.readouterr().err
    assert code == 1
    assert "the terraform switch driver cannot run here: AWS_ENDPOINT_URL points at a local endpoint" in err
    assert "use --via api" in err
    clients = sandbox.clients
    group = clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["beta-green"])
    assert group["AutoScalingGroups"][0]["DesiredCapacity"] == 0
    assert (
        clients.ssm.get_parameter(Name="/compiler-explorer/beta/green/version")["Parameter"]["Value"]
        == "none"
    )
    assert not clients.ssm.get_parameters(Names=["/compiler-explorer/beta/lock"])["Parameters"]


# -- apply: the merge-to-main path -------------------------------------------------------------------------
PLANS = Path(__file__).parent / "fixtures" / "plans"


@pytest.mark.parametrize(
    ("fixture", "action"),
    [
        ("switch_beta_path.json", "switch"),
        ("switch_prod_listeners.json", "switch"),
        ("no_change.json", "noop"),
    ],
)
def test_decide_apply(fixture, action):
    report = load_plan(PLANS / fixture)
    assert decide_apply(report).action == action


def test_decide_apply_refuses_a_switch_mixed_with_other_changes():
    with pytest.raises(
        RefusedError, match=r"mixes a traffic switch with 1 other change\(s\): .*aws_autoscaling_group"
    ):
        decide_apply(load_plan(PLANS / "switch_touches_asg.json"))


def test_decide_apply_refuses_destroys_unless_allowed():
    report = load_plan(PLANS / "deletes_scaling_policy.json")
    with pytest.raises(RefusedError, match="destroys or replaces 1 resource"):
        decide_apply(report)
    assert decide_apply(report, allow_destroy=True).action == "apply"


@pytest.mark.terraform
def test_apply_root_applies_infrastructure_changes_only_when_allowed(tf_envs, sandbox, monkeypatch):
    ctx = make_context(sandbox, tf_envs)
    # The clients keep the sandbox; Terraform runs on the null root, so no local endpoint for it.
    ctx.settings = replace(ctx.settings, endpoint_url=None)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    root = TerraformRoot(tf_envs / "beta", _binary(), plugin_dir=PLUGIN_DIR)
    assert apply_root(ctx, root).notes == ["no changes"]
    main_tf = tf_envs / "beta" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('default     = "1"', 'default     = "2"'))
    with pytest.raises(RefusedError, match=r"replaces 1 resource\(s\): null_resource\.asg"):
        apply_root(ctx, root)
    outcome = apply_root(ctx, root, allow_destroy=True)
    assert outcome.notes == ["1 infrastructure change(s); traffic untouched"]
    assert apply_root(ctx, root).notes == ["no changes"]
    assert not ctx.clients.ssm.get_parameters(Names=["/compiler-explorer/beta/lock"])["Parameters"]
