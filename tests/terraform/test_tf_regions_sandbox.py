"""The eu-west-1 roots applied to moto by Terraform beside the home region's (``sandbox --tf --regions``):
the region's shared root, its prod (listeners) and beta, in the same moto server. The re-plan of each is
empty, and a deploy in eu-west-1 switched by the Terraform driver moves only that region's traffic.

Needs Terraform >= 1.10 and the hashicorp/aws provider; elsewhere every test skips with the one-line
reason. The build takes a few minutes (two ALBs, four environment roots).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from bgctl import REPO_ROOT
from bgctl.colorfile import read_active_color
from bgctl.sandbox.tfsandbox import TerraformSandbox, TerraformUnavailable, build_terraform_sandbox

pytestmark = pytest.mark.tf_e2e

REGION = "eu-west-1"
ROOTS = ["shared-eu-west-1", "envs-eu-west-1/prod", "envs-eu-west-1/beta"]


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    lines: list[str] = []
    try:
        sandbox = build_terraform_sandbox(
            ("beta",), regions=(REGION,), workdir=tmp_path_factory.mktemp("tfregions"), log=lines.append
        )
    except TerraformUnavailable as exc:
        pytest.skip(f"Terraform sandbox: {exc.reason}")
    try:
        yield sandbox
    finally:
        sandbox.stop()
        print("\n".join(lines))


def routing(sandbox: TerraformSandbox, region: str) -> dict[str, Any]:
    """Everything that decides or records where a region's traffic goes: the listeners' default actions,
    every rule's actions, and every SSM parameter under /compiler-explorer with its value."""
    clients = sandbox.region_clients(region)
    seen: dict[str, Any] = {}
    for lb in clients.elbv2.describe_load_balancers()["LoadBalancers"]:
        for listener in clients.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            seen[f"listener :{listener['Port']}"] = listener["DefaultActions"]
            rules = clients.elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            for rule in rules:
                seen[f"rule :{listener['Port']} {rule['Priority']}"] = rule["Actions"]
    pages = clients.ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/compiler-explorer", Recursive=True, WithDecryption=True
    )
    for page in pages:
        for param in page["Parameters"]:
            seen[param["Name"]] = param["Value"]
    return seen


def test_the_eu_west_1_roots_are_applied_to_moto_and_their_replan_is_empty(regional):
    assert regional.roots()[:2] == ["shared", "shared-eu-west-1"]
    assert set(ROOTS) <= set(regional.roots())
    assert regional.regional_env_names == {REGION: ["beta", "prod"]}
    changed = [root for root in regional.roots() if regional.replan_has_changes(root)]
    assert changed == [], f"not empty right after the build: {changed}"
    eu, home = regional.region_clients(REGION), regional.clients
    (lb,) = eu.elbv2.describe_load_balancers()["LoadBalancers"]
    assert all(az["ZoneName"].startswith(REGION) for az in lb["AvailabilityZones"])
    assert eu.ssm.get_parameter(Name="/compiler-explorer/beta/active-color")["Parameter"]["Value"] == "blue"
    # Two load balancers of the same name, one per region; the instance roles only once (IAM is global).
    assert len(home.elbv2.describe_load_balancers()["LoadBalancers"]) == 1
    assert routing(regional, REGION) != routing(regional, "us-east-1")


def test_a_deploy_in_eu_west_1_switched_by_terraform_leaves_us_east_1_untouched(regional):
    home_before = routing(regional, "us-east-1")
    eu_before = routing(regional, REGION)
    argv = [sys.executable, str(REPO_ROOT / "scripts" / "bluegreen.py"), "--env", "beta", "--region", REGION]
    proc = subprocess.run(
        [*argv, "deploy", "gh-105", "--skip-confirmation", "--yes"],
        env=regional.child_environ(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    eu = regional.region_clients(REGION)
    assert eu.ssm.get_parameter(Name="/compiler-explorer/beta/active-color")["Parameter"]["Value"] == "green"
    assert read_active_color(regional.region_envs_dir(REGION) / "beta") == "green"
    assert read_active_color(regional.envs_dir / "beta") == "blue"
    eu_after = routing(regional, REGION)
    moved = sorted(k for k in eu_after if eu_after[k] != eu_before.get(k))
    assert any(k.startswith("rule :443") for k in moved), moved
    assert routing(regional, "us-east-1") == home_before, "a switch in eu-west-1 changed us-east-1"
    assert not regional.replan_has_changes("envs-eu-west-1/beta")
    assert not regional.replan_has_changes("envs/beta")
