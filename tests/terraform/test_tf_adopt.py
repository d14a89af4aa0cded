"""The adoption import blocks (terraform/envs/*/adopt.tf, docs/MIGRATION.md), read from the HCL: they
run only where adopt.auto.tfvars.json turns them on, and they import exactly what the module would
otherwise create under an existing name, found where that account really has it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgctl.envspec import ENVS_DIR, environment_names, load_hcl_file, module_call

ENVS = environment_names(ENVS_DIR)
PER_COLOR = {"aws_lb_target_group.this", "aws_autoscaling_group.this"}
ONCE = {"aws_ssm_parameter.active_color", "aws_ssm_parameter.active_target_group_arn"}


def _adopt(env: str) -> dict:
    return load_hcl_file(ENVS_DIR / env / "adopt.tf")


def _targets(env: str) -> dict[str, dict]:
    out = {}
    for block in _adopt(env)["import"]:
        to = block["to"].removeprefix("${module.blue_green.").removesuffix("}")
        out[to.split("[", 1)[0]] = block
    return out


@pytest.mark.parametrize("env", ENVS)
def test_imports_are_off_by_default_and_on_in_the_adoption_file(env: str):
    (variable,) = _adopt(env)["variable"]
    assert variable["adopt"]["default"] is False
    assert json.loads((ENVS_DIR / env / "adopt.auto.tfvars.json").read_text())["adopt"] is True
    for block in _adopt(env)["import"]:
        assert block["for_each"] in ("${local.adopt_colors}", "${local.adopt_once}") or block[
            "for_each"
        ].startswith("${var.adopt ?")


@pytest.mark.parametrize("env", ENVS)
def test_every_resource_created_under_an_existing_name_is_imported(env: str):
    call = module_call(ENVS_DIR / env)
    wanted = PER_COLOR | ONCE
    if call["routing"] == "listener_default":
        wanted |= {"aws_lb_listener.https", "aws_lb_listener.http"}
    else:
        wanted |= {"aws_lb_listener_rule.this"}
    if call.get("cpu_policy_name"):
        wanted |= {"aws_autoscaling_policy.cpu"}
    if call.get("sqs_policy_name"):
        wanted |= {"aws_autoscaling_policy.sqs_backlog"}
    targets = _targets(env)
    assert set(targets) == wanted
    assert targets["aws_autoscaling_group.this"]["id"] == f"{env}-${{each.key}}"
    assert targets["aws_ssm_parameter.active_color"]["id"] == f"/compiler-explorer/{env}/active-color"
    for kind in ("cpu", "sqs_backlog"):
        name = call.get(f"{'cpu' if kind == 'cpu' else 'sqs'}_policy_name")
        if name:
            expected = f"{env}-${{each.key}}/{name.replace('{color}', '${each.key}')}"
            assert targets[f"aws_autoscaling_policy.{kind}"]["id"] == expected


@pytest.mark.parametrize("env", [e for e in ENVS if module_call(ENVS_DIR / e)["routing"] == "path_rule"])
def test_the_rule_is_found_at_the_priority_the_module_gives_it(env: str):
    data = {
        name: body
        for block in _adopt(env)["data"]
        for kind, v in block.items()
        for name, body in v.items()
        if kind == "aws_lb_listener_rule"
    }
    assert data["adopt"]["priority"] == module_call(ENVS_DIR / env)["rule_priority"]
    assert data["adopt"]["listener_arn"] == "${module.shared.https_listener_arn}"


def test_the_shared_root_imports_the_probe_rule_only_where_the_groups_exist():
    doc = load_hcl_file(Path(ENVS_DIR.parent / "shared" / "main.tf"))
    (block,) = doc["import"]
    assert block["to"] == "${aws_security_group_rule.health_probe[0]}"
    assert "var.create_security_groups ? toset([])" in block["for_each"]
