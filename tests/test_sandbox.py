"""The embedded sandbox: the topology it builds in moto, and the loopback health server."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bgctl import COLORS, other_color
from bgctl.envspec import EnvSpec
from bgctl.sandbox import Sandbox
from bgctl.sandbox.health import health_url, send_control
from bgctl.sandbox.samplebuilds import (
    ACTIVE_VERSION,
    BUILDS_BUCKET,
    NEWEST_VERSION,
    NO_VERSION,
    SAMPLE_BUILDS,
)
from bgctl.sandbox.server import require_loopback_url, sandbox_environ
from bgctl.sandbox.topology import initial_capacity, target_group_name
from bgctl.wiring import (
    Wiring,
    active_color_param,
    active_tg_param,
    parse_wiring,
    version_param,
    wiring_param,
)
from bgtest import without_preview_routes


def _param(sandbox: Sandbox, name: str) -> str:
    return sandbox.clients.ssm.get_parameter(Name=name)["Parameter"]["Value"]


def _wiring(sandbox: Sandbox, env: str) -> Wiring:
    return parse_wiring(env, _param(sandbox, wiring_param(env)))


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# --------------------------------------------------------------------------------------------------
# Topology
# --------------------------------------------------------------------------------------------------
def test_all_nine_environments_are_built(sandbox_readonly: Sandbox, env_specs: dict[str, EnvSpec]) -> None:
    sandbox = sandbox_readonly
    assert len(env_specs) == 9
    assert set(sandbox.resources) == set(env_specs)
    names = sandbox.clients.ssm.get_parameters_by_path(Path="/compiler-explorer", Recursive=True)
    assert names["Parameters"]  # the tree exists; details below


def test_wiring_parses_and_references_real_resources(
    sandbox_readonly: Sandbox, env_specs: dict[str, EnvSpec]
) -> None:
    sandbox = sandbox_readonly
    elbv2, autoscaling = sandbox.clients.elbv2, sandbox.clients.autoscaling
    for env, spec in env_specs.items():
        wiring = _wiring(sandbox, env)
        assert wiring.environment == env
        assert wiring.routing == spec.routing
        tgs = elbv2.describe_target_groups(TargetGroupArns=list(wiring.target_group_arns.values()))
        assert {tg["TargetGroupName"] for tg in tgs["TargetGroups"]} == {
            target_group_name(env, c) for c in COLORS
        }
        groups = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=list(wiring.asg_names.values())
        )
        assert {g["AutoScalingGroupName"] for g in groups["AutoScalingGroups"]} == {
            f"{env}-{c}" for c in COLORS
        }
        for group in groups["AutoScalingGroups"]:
            color = group["AutoScalingGroupName"].rsplit("-", 1)[1]
            assert group["TargetGroupARNs"] == [wiring.target_group_arns[color]]
            # the active color starts as a deploy leaves it: min at the serving minimum
            serving_min = min(spec.max_size, max(spec.min_size, spec.min_healthy, 1))
            assert group["MinSize"] == (serving_min if group["DesiredCapacity"] else 0)
            assert group["MaxSize"] == spec.max_size
            tags = {t["Key"]: t["Value"] for t in group["Tags"]}
            assert tags == {"Environment": env, "Color": color, "Name": f"{env}-{color}"}
        listeners = elbv2.describe_listeners(ListenerArns=list(wiring.listener_arns.values()))
        assert {listener["Protocol"] for listener in listeners["Listeners"]} == {
            {"https": "HTTPS", "http": "HTTP"}[k] for k in wiring.listener_arns
        }
        if wiring.rule_arns:
            rules = elbv2.describe_rules(RuleArns=list(wiring.rule_arns.values()))
            assert len(rules["Rules"]) == len(wiring.rule_arns)
        assert wiring.capacity.max_size == spec.max_size
        assert wiring.capacity.min_healthy == spec.min_healthy
        assert wiring.version_parameters == {c: version_param(env, c) for c in COLORS}
        assert wiring.builds.bucket == BUILDS_BUCKET


def test_target_group_names_fit_the_aws_limit(env_specs: dict[str, EnvSpec]) -> None:
    for env in env_specs:
        for color in COLORS:
            assert len(target_group_name(env, color)) <= 32
    assert target_group_name("aarch64staging", "green") == "Aarch64staging-Green"
    with pytest.raises(ValueError, match="32"):
        target_group_name("x" * 30, "green")


def test_prod_listeners_forward_to_the_active_target_group(sandbox_readonly: Sandbox) -> None:
    sandbox = sandbox_readonly
    wiring = _wiring(sandbox, "prod")
    assert wiring.is_default_action
    active = _param(sandbox, active_color_param("prod"))
    active_tg = _param(sandbox, active_tg_param("prod"))
    assert active_tg == wiring.target_group_arns[active]
    assert set(wiring.listener_arns) == {"https", "http"}
    listeners = sandbox.clients.elbv2.describe_listeners(ListenerArns=list(wiring.listener_arns.values()))
    assert {listener["Port"] for listener in listeners["Listeners"]} == {443, 80}
    for listener in listeners["Listeners"]:
        (action,) = listener["DefaultActions"]
        assert action["Type"] == "forward"
        assert action["TargetGroupArn"] == active_tg


def test_path_rules_match_the_specs(sandbox_readonly: Sandbox, env_specs: dict[str, EnvSpec]) -> None:
    sandbox = sandbox_readonly
    path_envs = {env: spec for env, spec in env_specs.items() if spec.routing == "path_rule"}
    assert len(path_envs) == 8
    for env, spec in path_envs.items():
        wiring = _wiring(sandbox, env)
        assert wiring.path_patterns == spec.path_patterns
        assert wiring.rule_priority == spec.rule_priority
        assert set(wiring.rule_arns) == ({"https", "http"} if spec.http_rule else {"https"})
        active_tg = wiring.target_group_arns[spec.active_color]
        for kind, rule_arn in wiring.rule_arns.items():
            (rule,) = sandbox.clients.elbv2.describe_rules(RuleArns=[rule_arn])["Rules"]
            assert rule["Priority"] == str(spec.rule_priority), (env, kind)
            (condition,) = rule["Conditions"]
            assert condition["Field"] == "path-pattern"
            assert tuple(condition["PathPatternConfig"]["Values"]) == spec.path_patterns
            (action,) = rule["Actions"]
            assert action["TargetGroupArn"] == active_tg
        # The rule hangs off the listener the wiring names.
        listener_rules = sandbox.clients.elbv2.describe_rules(ListenerArn=wiring.listener_arns["https"])
        assert wiring.rule_arns["https"] in {r["RuleArn"] for r in listener_rules["Rules"]}


def test_color_and_version_parameters(sandbox_readonly: Sandbox, env_specs: dict[str, EnvSpec]) -> None:
    sandbox = sandbox_readonly
    for env, spec in env_specs.items():
        active = spec.active_color
        assert _param(sandbox, active_color_param(env)) == active
        assert _param(sandbox, version_param(env, active)) == ACTIVE_VERSION
        assert _param(sandbox, version_param(env, other_color(active))) == NO_VERSION


def test_active_color_runs_registered_healthy_instances(
    sandbox_readonly: Sandbox, env_specs: dict[str, EnvSpec]
) -> None:
    sandbox = sandbox_readonly
    for env, spec in env_specs.items():
        wiring = _wiring(sandbox, env)
        for color in COLORS:
            (group,) = sandbox.clients.autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[wiring.asg_names[color]]
            )["AutoScalingGroups"]
            want = initial_capacity(spec) if color == spec.active_color else 0
            assert group["DesiredCapacity"] == want, (env, color)
            ids = sorted(i["InstanceId"] for i in group["Instances"])
            assert len(ids) == want
            assert all(i["LifecycleState"] == "InService" for i in group["Instances"])
            health = sandbox.clients.elbv2.describe_target_health(
                TargetGroupArn=wiring.target_group_arns[color]
            )["TargetHealthDescriptions"]
            assert sorted(h["Target"]["Id"] for h in health) == ids
            assert {h["TargetHealth"]["State"] for h in health} <= {"healthy"}


def test_builds_bucket_holds_builds_and_discovery(sandbox_readonly: Sandbox) -> None:
    sandbox = sandbox_readonly
    s3 = sandbox.clients.s3
    keys = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUILDS_BUCKET)
        for obj in page.get("Contents", [])
    }
    for branch, versions in SAMPLE_BUILDS.items():  # named as compiler-explorer/infra's CI names them
        for version in versions:
            number = version.removeprefix("gh-")
            assert f"dist/gh/{branch}/{number}.tar.xz" in keys
            assert f"dist/gh/{branch}/{number}.zip" in keys
    assert f"dist/discovery/staging/{NEWEST_VERSION}.json" in keys
    # prod's discovery lives under its instances' branch, "release"; the newest build lacks it (the
    # prod-discovery prompt path)
    assert f"dist/discovery/release/{NEWEST_VERSION}.json" not in keys
    assert f"dist/discovery/release/{ACTIVE_VERSION}.json" in keys
    assert not any(
        k.startswith("dist/discovery/prod/") or k.startswith("dist/discovery/wintest/") for k in keys
    )
    body = s3.get_object(Bucket=BUILDS_BUCKET, Key=f"dist/discovery/staging/{NEWEST_VERSION}.json")["Body"]
    assert json.loads(body.read())["version"] == NEWEST_VERSION


def test_synthetic_topology_has_the_same_shape(sandbox: Sandbox) -> None:
    built = sandbox.build_synthetic(n_envs=3, instances_per_env=2)
    assert sorted(built) == ["env000", "env001", "env002"]
    wiring = _wiring(sandbox, "env001")
    assert wiring.routing == "path_rule"
    assert wiring.path_patterns == ("/env001*",)
    (group,) = sandbox.clients.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[wiring.asg_names["blue"]]
    )["AutoScalingGroups"]
    assert len(group["Instances"]) == 2
    listeners = sandbox.clients.elbv2.describe_listeners(ListenerArns=[wiring.listener_arns["https"]])
    (default,) = listeners["Listeners"][0]["DefaultActions"]
    assert default["Type"] == "fixed-response"  # no environment owns the default action


# --------------------------------------------------------------------------------------------------
# Health server
# --------------------------------------------------------------------------------------------------
def test_health_check_answers_with_the_pinned_version(sandbox: Sandbox) -> None:
    (iid,) = sandbox.instance_ids("beta", "blue")
    status, body = _get(sandbox.health_url(iid))
    assert status == 200
    doc = json.loads(body)
    assert doc == {
        "status": "ok",
        "instance_id": iid,
        "environment": "beta",
        "color": "blue",
        "version": ACTIVE_VERSION,
    }
    assert _get(sandbox.health_url(iid).replace("/healthcheck", "/version")) == (200, ACTIVE_VERSION)

    # A new version recorded for blue does not change the running instance; a new instance boots it.
    sandbox.clients.ssm.put_parameter(
        Name=version_param("beta", "blue"), Value="gh-104", Type="String", Overwrite=True
    )
    assert json.loads(_get(sandbox.health_url(iid))[1])["version"] == ACTIVE_VERSION
    sandbox.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-blue", DesiredCapacity=2)
    (new,) = set(sandbox.instance_ids("beta", "blue")) - {iid}
    assert json.loads(_get(sandbox.health_url(new))[1])["version"] == "gh-104"


def test_unknown_instance_is_404(sandbox_readonly: Sandbox) -> None:
    sandbox = sandbox_readonly
    status, body = _get(sandbox.health_url("i-0000000000000dead"))
    assert status == 404
    assert "unknown instance" in body


def test_injected_failures(sandbox: Sandbox) -> None:
    (iid,) = sandbox.instance_ids("beta", "blue")
    sandbox.fail_instance(iid)
    status, body = _get(sandbox.health_url(iid))
    assert status == 500
    assert json.loads(body)["status"] == "error"

    sandbox.heal(iid)
    assert _get(sandbox.health_url(iid))[0] == 200

    sandbox.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=2)
    sandbox.fail_color("beta", "green")
    green = sandbox.instance_ids("beta", "green")
    assert [_get(sandbox.health_url(i))[0] for i in green] == [500, 500]
    assert _get(sandbox.health_url(iid))[0] == 200  # blue unaffected

    sandbox.fail_instance(iid, "drop")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, urllib.error.URLError)):
        urllib.request.urlopen(sandbox.health_url(iid), timeout=2)

    sandbox.fail_instance(iid, "hang")
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        urllib.request.urlopen(sandbox.health_url(iid), timeout=0.3)

    sandbox.heal()
    assert [_get(sandbox.health_url(i))[0] for i in [iid, *green]] == [200, 200, 200]
    with pytest.raises(ValueError, match="failure mode"):
        sandbox.fail_instance(iid, "explode")


def test_control_endpoint_for_other_processes(sandbox: Sandbox) -> None:
    (iid,) = sandbox.instance_ids("staging", "blue")
    control = sandbox.health.control_url
    assert send_control(control, {"action": "fail", "instance_id": iid}) == {"ok": True, "action": "fail"}
    assert _get(sandbox.health_url(iid))[0] == 500
    send_control(control, {"action": "heal"})
    assert _get(sandbox.health_url(iid))[0] == 200
    send_control(control, {"action": "set_version", "instance_id": iid, "version": "gh-1"})
    assert _get(sandbox.health_url(iid).replace("healthcheck", "version")) == (200, "gh-1")
    with pytest.raises(urllib.error.HTTPError) as bad:
        send_control(control, {"action": "explode"})
    assert bad.value.code == 400


# --------------------------------------------------------------------------------------------------
# Loopback only, environment for other shells
# --------------------------------------------------------------------------------------------------
def test_health_urls_are_loopback_only(sandbox_readonly: Sandbox) -> None:
    sandbox = sandbox_readonly
    template = sandbox.health_url_template
    assert template.startswith("http://127.0.0.1:")
    assert "{instance_id}" in template
    assert "{address}" not in template  # the instance's private address is never part of the URL
    for bad in ("http://10.0.1.5:80/healthcheck", "http://{instance_id}/healthcheck", "http://example.com/x"):
        with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
            health_url(bad, "i-1234")
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        sandbox_environ("http://172.31.0.10:5000")
    assert require_loopback_url("http://localhost:1/x") == "http://localhost:1/x"


def test_network_guard_refuses_private_addresses_and_name_lookups() -> None:
    with pytest.raises(ConnectionRefusedError, match="network guard"):
        socket.create_connection(("10.0.0.1", 80), timeout=0.1)
    with pytest.raises(socket.gaierror, match="network guard"):
        socket.getaddrinfo("ssm.us-east-1.amazonaws.com", 443)


def test_environment_points_at_the_sandbox(sandbox_readonly: Sandbox, tmp_path: Path) -> None:
    sandbox = sandbox_readonly
    import os

    import boto3

    assert os.environ["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert os.environ["BLUEGREEN_HEALTH_URL"] == sandbox.health_url_template
    assert "AWS_PROFILE" not in os.environ
    # A plain client, as the CLI would create it, lands in the sandbox.
    groups = boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert {g["AutoScalingGroupName"] for g in groups} >= {"beta-blue", "prod-green"}

    path = sandbox.env_file(tmp_path / "env")
    text = path.read_text()
    assert f"export AWS_ENDPOINT_URL='{sandbox.endpoint_url}'" in text
    assert f"export BLUEGREEN_HEALTH_URL='{sandbox.health_url_template}'" in text
    assert "export AWS_ACCESS_KEY_ID='testing'" in text
    assert "export AWS_DEFAULT_REGION='us-east-1'" in text
    assert "unset AWS_PROFILE" in text


# --------------------------------------------------------------------------------------------------
# moto fidelity: what the sandbox fixes, and what moto does that the tool must live with
# --------------------------------------------------------------------------------------------------
def _target_states(sandbox: Sandbox, tg_arn: str, ids: list[str] | None = None) -> dict[str, str]:
    kwargs = {"Targets": [{"Id": i} for i in ids]} if ids else {}
    health = sandbox.clients.elbv2.describe_target_health(TargetGroupArn=tg_arn, **kwargs)
    return {h["Target"]["Id"]: h["TargetHealth"]["State"] for h in health["TargetHealthDescriptions"]}


def test_scale_out_registers_and_scale_in_deregisters_targets(sandbox: Sandbox) -> None:
    without_preview_routes(sandbox)  # else the preview rule forwards to green
    wiring = _wiring(sandbox, "beta")
    tg = wiring.target_group_arns["green"]
    autoscaling = sandbox.clients.autoscaling
    autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=3)
    ids = sandbox.instance_ids("beta", "green")
    # moto registers at once; no rule forwards to green yet, so its targets are unused (moto_fixes)
    assert _target_states(sandbox, tg) == dict.fromkeys(ids, "unused")

    autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=1)
    (kept,) = sandbox.instance_ids("beta", "green")
    assert _target_states(sandbox, tg) == {kept: "unused"}  # stale targets gone (moto_fixes)
    gone = [i for i in ids if i != kept]
    assert set(_target_states(sandbox, tg, gone).values()) == {"draining"}
    reservations = sandbox.clients.ec2.describe_instances(InstanceIds=gone)["Reservations"]
    assert {i["State"]["Name"] for r in reservations for i in r["Instances"]} == {"terminated"}

    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=kept, ShouldDecrementDesiredCapacity=True)
    assert _target_states(sandbox, tg) == {}


def test_targets_of_a_group_no_rule_forwards_to_read_unused(sandbox: Sandbox) -> None:
    """On AWS only routed target groups are health-checked; stock moto calls every target healthy."""
    without_preview_routes(sandbox)  # the preview rules forward to both colors
    wiring = _wiring(sandbox, "beta")
    sandbox.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=1)
    blue, green = (wiring.target_group_arns[c] for c in ("blue", "green"))
    assert set(_target_states(sandbox, blue).values()) == {"healthy"}
    assert set(_target_states(sandbox, green).values()) == {"unused"}
    for arn in wiring.rule_arns.values():
        sandbox.clients.elbv2.modify_rule(RuleArn=arn, Actions=[{"Type": "forward", "TargetGroupArn": green}])
    assert set(_target_states(sandbox, blue).values()) == {"unused"}
    assert set(_target_states(sandbox, green).values()) == {"healthy"}
    weighted = {
        "TargetGroups": [{"TargetGroupArn": blue, "Weight": 90}, {"TargetGroupArn": green, "Weight": 10}]
    }
    for arn in wiring.rule_arns.values():
        sandbox.clients.elbv2.modify_rule(
            RuleArn=arn, Actions=[{"Type": "forward", "ForwardConfig": weighted}]
        )
    assert set(_target_states(sandbox, blue).values()) == {"healthy"}
    assert set(_target_states(sandbox, green).values()) == {"healthy"}


def test_target_health_follows_injected_failures(sandbox: Sandbox) -> None:
    tg = _wiring(sandbox, "beta").target_group_arns["blue"]
    (iid,) = sandbox.instance_ids("beta", "blue")
    sandbox.fail_color("beta", "blue")
    assert _target_states(sandbox, tg) == {iid: "unhealthy"}
    sandbox.heal()
    sandbox.set_target_state(iid, "initial")
    assert _target_states(sandbox, tg) == {iid: "initial"}
    sandbox.set_target_state(iid, None)
    assert _target_states(sandbox, tg) == {iid: "healthy"}
    with pytest.raises(ValueError, match="target state"):
        sandbox.set_target_state(iid, "sleepy")


def test_moto_limits_the_tool_must_know(sandbox: Sandbox) -> None:
    autoscaling, ssm = sandbox.clients.autoscaling, sandbox.clients.ssm
    # suspend_processes is recorded but not enforced: a suspended group still scales.
    autoscaling.suspend_processes(AutoScalingGroupName="beta-green", ScalingProcesses=["Launch", "Terminate"])
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["beta-green"])[
        "AutoScalingGroups"
    ]
    assert {p["ProcessName"] for p in group["SuspendedProcesses"]} == {"Launch", "Terminate"}
    autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=2)
    assert len(sandbox.instance_ids("beta", "green")) == 2
    # Overwrite=False on an existing parameter fails, as in AWS (usable for a lock).
    name = "/compiler-explorer/beta/lock"
    ssm.put_parameter(Name=name, Value="a", Type="String")
    with pytest.raises(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name=name, Value="b", Type="String", Overwrite=False)
    # History and labels work, including name:label and name:version selectors.
    ssm.put_parameter(Name=name, Value="c", Type="String", Overwrite=True)
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [(p["Value"], p["Version"]) for p in history] == [("a", 1), ("c", 2)]
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["first"])
    assert ssm.get_parameter(Name=f"{name}:first")["Parameter"]["Value"] == "a"
    assert ssm.get_parameter(Name=f"{name}:2")["Parameter"]["Value"] == "c"


def test_terminated_instances_stop_answering(sandbox: Sandbox) -> None:
    sandbox.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=2)
    ids = sandbox.instance_ids("beta", "green")
    assert [_get(sandbox.health_url(i))[0] for i in ids] == [200, 200]
    sandbox.clients.autoscaling.set_desired_capacity(AutoScalingGroupName="beta-green", DesiredCapacity=1)
    (kept,) = sandbox.instance_ids("beta", "green")
    (gone,) = set(ids) - {kept}
    assert _get(sandbox.health_url(kept))[0] == 200
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, urllib.error.URLError)):
        urllib.request.urlopen(sandbox.health_url(gone), timeout=2)


def test_importing_the_sandbox_does_not_import_moto() -> None:
    code = "import sys, bgctl.sandbox, bgctl.sandbox.topology; sys.exit('moto' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": "scripts"}, check=False
    )
    assert proc.returncode == 0


SANDBOX_PROCESS = """
import sys
from bgctl.sandbox import Sandbox
from pathlib import Path
with Sandbox() as sb:
    sb.env_file(Path(sys.argv[1]))
    sb.serve_until_interrupted()
print("stopped")
"""


def test_env_file_serves_another_process_until_sigterm(aws_env: dict[str, str], tmp_path: Path) -> None:
    """``sandbox up`` in one shell, ``source .sandbox/env`` in another."""
    import boto3

    env_path = tmp_path / "env"
    proc = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_PROCESS, str(env_path)],
        env={**os.environ, "PYTHONPATH": "scripts"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not env_path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env_path.exists(), "the sandbox process never wrote its env file"
        exported = dict(
            line.removeprefix("export ").replace("'", "").split("=", 1)
            for line in env_path.read_text().splitlines()
            if line.startswith("export ")
        )
        assert exported["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        client = boto3.client(
            "autoscaling",
            endpoint_url=exported["AWS_ENDPOINT_URL"],
            region_name=exported["AWS_DEFAULT_REGION"],
            aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        )
        (group,) = client.describe_auto_scaling_groups(AutoScalingGroupNames=["beta-blue"])[
            "AutoScalingGroups"
        ]
        (iid,) = [i["InstanceId"] for i in group["Instances"]]
        url = health_url(exported["BLUEGREEN_HEALTH_URL"], iid)
        assert _get(url)[0] == 200
        send_control(exported["BLUEGREEN_HEALTH_CONTROL_URL"], {"action": "fail", "instance_id": iid})
        assert _get(url)[0] == 500
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "stopped" in out
