"""Adoption (issue 13, docs/MIGRATION.md) against moto with the real Terraform and AWS provider.

moto is seeded the way compiler-explorer/infra's account is (its names, tags and listener rules, built
here with boto3 as its own root would have): VPC and subnets tagged only by Name, gcc-explorer-sg with
the admin node's :80 rule, the GccExplorerApp ALB with its :80/:443 listeners forwarding to Prod-Blue,
beta's /beta* rule at priority 101, the blue/green target groups, ASGs (on a shared ce-<env> launch
template), color parameters and scaling policies. Then the working copy's roots, with their
adopt.auto.tfvars.json (AMI IDs replaced by the seeded ones: AMI IDs are per account), are planned:
only imports, creates and in-place updates, never a destroy or a replacement. Beta's adoption is then
applied: the re-plan is empty and a flipped color file plans exactly the switch.

Where Terraform >= 1.10 or the hashicorp/aws provider is missing, every test skips with the reason.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgctl.adoptplan import AdoptionReport, adoption_report, plan_root, render
from bgctl.planguard import parse_plan
from bgctl.sandbox.clients import fake_session, make_clients
from bgctl.sandbox.server import REAL_AWS_VARS, sandbox_environ
from bgctl.sandbox.tfsandbox import SandboxProcess, _self_signed_certificate, _source_image, working_copy
from bgctl.terraform import TerraformRoot, default_binary
from bgctl.tfconfig import provider_status
from bgctl.tfoverride import write_override

REGION = "us-east-1"
AZS = ("a", "b", "c", "d", "f")
ENVS = ("prod", "beta")
POLICIES = {"prod": "cpu-tracker", "beta": "beta-compilation-queue-tracker-{color}"}
RULES = {"beta": (101, "/beta*")}
PREVIEW_SECRET = "/compiler-explorer/preview-secret"  # the module's preview_secret_parameter default


def _seed_legacy(endpoint: str) -> dict[str, str]:
    """compiler-explorer/infra's account in an empty moto; returns the AMI IDs (x86_64) to pin."""
    clients = make_clients(endpoint)
    ec2, elbv2, asg, ssm = clients.ec2, clients.elbv2, clients.autoscaling, clients.ssm
    iam = fake_session().client("iam", endpoint_url=endpoint, region_name=REGION)

    def named(kind: str, name: str) -> list[Any]:
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]

    vpc = ec2.create_vpc(CidrBlock="172.30.0.0/16", TagSpecifications=named("vpc", "CompilerExplorer"))
    vpc_id = vpc["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"172.30.{i}.0/24",
            AvailabilityZone=f"{REGION}{az}",
            TagSpecifications=named("subnet", f"CompilerExplorer1{az}"),
        )["Subnet"]["SubnetId"]
        for i, az in enumerate(AZS)
    ]
    groups = {
        name: ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
        for name in ("gcc-explorer-sg", "AdminNodeSecGroup", "ce-alb-sg")
    }
    ec2.authorize_security_group_ingress(  # CE_HttpFromAdminNode
        GroupId=groups["gcc-explorer-sg"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": groups["AdminNodeSecGroup"]}],
            }
        ],
    )
    for profile in ("CompilerExplorerRole", "CompilerExplorerWindowsRole"):
        iam.create_role(RoleName=profile, AssumeRolePolicyDocument="{}")
        iam.create_instance_profile(InstanceProfileName=profile)
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=profile)
    clients.s3.create_bucket(Bucket="compiler-explorer")
    cert_pem, key_pem = _self_signed_certificate("godbolt.org")
    cert = clients.acm.import_certificate(Certificate=cert_pem, PrivateKey=key_pem)["CertificateArn"]
    ami = ec2.copy_image(
        Name="compiler-explorer packer 24.04 @ 20250601000000",
        SourceImageId=_source_image(clients, "x86_64", False),
        SourceRegion=REGION,
    )["ImageId"]

    alb = elbv2.create_load_balancer(
        Name="GccExplorerApp", Subnets=subnets, SecurityGroups=[groups["ce-alb-sg"]], Scheme="internet-facing"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tgs: dict[str, str] = {}
    for env in ENVS:
        for color in ("blue", "green"):
            tgs[f"{env}-{color}"] = elbv2.create_target_group(
                Name=f"{env.title()}-{color.title()}",
                Protocol="HTTP",
                Port=80,
                VpcId=vpc_id,
                HealthCheckPath="/healthcheck",
                Tags=[{"Key": "Environment", "Value": env}, {"Key": "Color", "Value": color}],
            )["TargetGroups"][0]["TargetGroupArn"]
    forward = [{"Type": "forward", "TargetGroupArn": tgs["prod-blue"]}]
    https = elbv2.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-2015-05",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=forward,
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=forward)
    for env, (priority, path) in RULES.items():
        elbv2.create_rule(
            ListenerArn=https,
            Priority=priority,
            # As the provider writes it (and AWS returns it): the pattern in PathPatternConfig.
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": tgs[f"{env}-blue"]}],
        )
    for env in ENVS:
        ec2.create_launch_template(  # one per environment, shared by both colors
            LaunchTemplateName=f"ce-{env}",
            LaunchTemplateData={"ImageId": ami, "InstanceType": "m5.large"},
        )
        for color in ("blue", "green"):
            name = f"{env}-{color}"
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={"LaunchTemplateName": f"ce-{env}", "Version": "$Latest"},
                MinSize=0,
                MaxSize=10,
                DesiredCapacity=0,
                VPCZoneIdentifier=",".join(subnets),
                TargetGroupARNs=[tgs[name]],
                HealthCheckType="ELB",
                HealthCheckGracePeriod=240,
                Tags=[
                    {"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": name}
                    | {"ResourceType": "auto-scaling-group"}
                    for k, v in (("Environment", env), ("Color", color), ("Name", f"ce-{env}-{color}"))
                ],
            )
            asg.put_scaling_policy(
                AutoScalingGroupName=name,
                PolicyName=POLICIES[env].replace("{color}", color),
                PolicyType="TargetTrackingScaling",
                TargetTrackingConfiguration={
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                    "TargetValue": 25.0,
                },
            )
        ssm.put_parameter(Name=f"/compiler-explorer/{env}/active-color", Value="blue", Type="String")
        ssm.put_parameter(
            Name=f"/compiler-explorer/{env}/active-target-group-arn", Value=tgs[f"{env}-blue"], Type="String"
        )
    # The migration's one manual prerequisite (docs/MIGRATION.md): the preview routes' secret header
    # value, a SecureString created outside Terraform so the value never enters any state.
    ssm.put_parameter(Name=PREVIEW_SECRET, Value="s3cret-value-for-the-test-only", Type="SecureString")
    return {"x86_64": ami}


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, dict[str, str]]]:
    binary = default_binary()
    ok, reason = provider_status(binary)
    if not ok:
        pytest.skip(f"adoption plan: {reason}")
    process = SandboxProcess().start()
    try:
        amis = _seed_legacy(process.endpoint_url)
        terraform = working_copy(tmp_path_factory.mktemp("adopt") / "terraform", adopt=True)
        for root in ("shared", *(f"envs/{e}" for e in ENVS)):
            write_override(terraform / root, process.endpoint_url)
        for env in ENVS:  # AMI IDs are per account: pin the seeded image, as an operator pins theirs
            tfvars = terraform / "envs" / env / "adopt.auto.tfvars.json"
            doc = json.loads(tfvars.read_text())
            doc["ami_id"] = amis["x86_64"]
            tfvars.write_text(json.dumps(doc))
        yield terraform, binary, sandbox_environ(process.endpoint_url, process.health_url_template)
    finally:
        process.stop()


def _plan(
    adopted: tuple[Path, str, dict[str, str]], root: str, monkeypatch: pytest.MonkeyPatch
) -> AdoptionReport:
    terraform, binary, environ = adopted
    for name in (*REAL_AWS_VARS, "BLUEGREEN_TF_PLUGIN_DIR"):
        monkeypatch.delenv(name, raising=False)
    report = plan_root(terraform / root, binary=binary, env=environ)
    print(render(root, report))
    return report


def _base(address: str) -> str:
    return address.split(" (", 1)[0]


def _new_in_the_account() -> set[str]:
    """What every adopted environment root creates: the pieces infra's account has no counterpart of."""
    alarms = ("target_5xx_rate", "unhealthy_hosts", "p99_latency")
    return {
        *(f'module.blue_green.aws_launch_template.this["{c}"]' for c in ("blue", "green")),
        "module.blue_green.aws_ssm_parameter.wiring",
        *(
            f'module.blue_green.aws_cloudwatch_metric_alarm.{a}["{c}"]'
            for a in alarms
            for c in ("blue", "green")
        ),
        "module.blue_green.aws_cloudwatch_dashboard.this",
    }


def _preview_rules(report: AdoptionReport) -> set[str]:
    return {c for c in report.created if c.startswith("module.blue_green.aws_lb_listener_rule.preview[")}


def test_the_shared_root_adopts_the_admin_node_probe_rule_and_creates_nothing(adopted, monkeypatch):
    report = _plan(adopted, "shared", monkeypatch)
    assert report.ok, report.refused
    assert [_base(a) for a in report.imported] == ["aws_security_group_rule.health_probe[0]"]
    assert report.created == ()  # no ALB, no groups, no roles: the account has them


def test_prod_imports_its_listeners_groups_parameters_and_policies(adopted, monkeypatch):
    report = _plan(adopted, "envs/prod", monkeypatch)
    assert report.ok, report.refused
    imported = {_base(a) for a in report.imported}
    expected = {
        "module.blue_green.aws_lb_listener.https[0]",
        "module.blue_green.aws_lb_listener.http[0]",
        "module.blue_green.aws_ssm_parameter.active_color",
        "module.blue_green.aws_ssm_parameter.active_target_group_arn",
    }
    for color in ("blue", "green"):
        expected |= {
            f'module.blue_green.aws_lb_target_group.this["{color}"]',
            f'module.blue_green.aws_autoscaling_group.this["{color}"]',
            f'module.blue_green.aws_autoscaling_policy.cpu["{color}"]',
        }
    assert imported == expected
    # Created: only what the account does not have: our per-color launch templates, the wiring, the
    # canary alarms and dashboard, and the preview rules (both listeners, both colors).
    assert set(report.created) == {*_new_in_the_account(), *_preview_rules(report)}
    assert len(_preview_rules(report)) == 4


def test_beta_imports_its_rule_at_its_own_priority(adopted, monkeypatch):
    report = _plan(adopted, "envs/beta", monkeypatch)
    assert report.ok, report.refused
    imported = {_base(a) for a in report.imported}
    assert 'module.blue_green.aws_lb_listener_rule.this["https"]' in imported
    assert 'module.blue_green.aws_autoscaling_policy.sqs_backlog["green"]' in imported
    # No HTTP rule and no shadowing duplicate of the path rule: only the two HTTPS preview rules.
    assert not any("aws_lb_listener_rule.this" in c for c in report.created)
    assert len(_preview_rules(report)) == 2
    assert set(report.created) == {*_new_in_the_account(), *_preview_rules(report)}


def test_a_color_file_that_disagrees_with_live_is_refused(adopted, monkeypatch):
    terraform, _, _ = adopted
    color_file = terraform / "envs" / "beta" / "active_color.auto.tfvars.json"
    original = color_file.read_text()
    color_file.write_text(json.dumps({"active_color": "green"}))
    try:
        report = _plan(adopted, "envs/beta", monkeypatch)
    finally:
        color_file.write_text(original)
    assert not report.ok
    assert any("active_color" in r and "'blue'" in r for r in report.refused), report.refused


def test_after_adopting_the_plan_is_empty_and_a_switch_is_exactly_the_switch(adopted, monkeypatch, tmp_path):
    """Apply beta's adoption (in a copy of its own, so the other tests' plans do not depend on order),
    then: the re-plan is empty, and a color file flipped to green plans only the switch."""
    terraform, binary, environ = adopted
    for name in (*REAL_AWS_VARS, "BLUEGREEN_TF_PLUGIN_DIR"):
        monkeypatch.delenv(name, raising=False)
    copy = tmp_path / "terraform"
    shutil.copytree(terraform, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"))
    root = TerraformRoot(copy / "envs" / "beta", binary, env=environ)
    root.init(backend=True)
    root.apply_plan(root.plan_to_file(tmp_path / "adopt.tfplan"))
    assert not root.plan_to_file(tmp_path / "replan.tfplan").has_changes
    (copy / "envs" / "beta" / "active_color.auto.tfvars.json").write_text(
        json.dumps({"active_color": "green"})
    )
    report = parse_plan(root.show_json(root.plan_to_file(tmp_path / "switch.tfplan")))
    assert report.is_pure_switch, report.other_changes
    assert report.colors() == ("blue", "green")


def test_the_report_refuses_destroys_and_replacements():
    def rc(address: str, actions: list[str], importing: bool = False) -> dict[str, Any]:
        change: dict[str, Any] = {"actions": actions, "before": {"a": 1}, "after": {"a": 2}}
        if importing:
            change["importing"] = {"id": "x"}
        return {"address": address, "mode": "managed", "change": change}

    doc = {
        "resource_changes": [
            rc("a.kept", ["no-op"], importing=True),
            rc("a.moved", ["update"], importing=True),
            rc("a.new", ["create"]),
            rc("a.gone", ["delete"]),
            rc("a.swapped", ["delete", "create"]),
            {"address": "data.x", "mode": "data", "change": {"actions": ["read"]}},
        ]
    }
    report = adoption_report(doc)
    assert report.imported == ("a.kept", "a.moved (update: a)")
    assert report.created == ("a.new",)
    assert report.refused == ("a.gone: would be destroyed", "a.swapped: would be replaced")
    assert "REFUSED" in render("x", report)
