"""The moto fidelity fixes that make a plan right after ``terraform apply`` empty (moto_fixes 3 and 4).

Each fix is checked twice through the sandbox's moto server: with the fix, moto answers as AWS does;
inside ``moto_fixes.stock(...)`` it answers as stock moto 5.2.5 does, which is what Terraform's AWS
provider reads as drift. When a moto release fixes either bug, the stock half fails and says so: the
fix can then go.
"""

from __future__ import annotations

import uuid

import pytest

from bgctl.sandbox import moto_fixes


@pytest.fixture(scope="module")
def moto(sandbox_session):
    """The session's moto server; emptied afterwards, so read-only tests rebuild their topology."""
    yield sandbox_session
    sandbox_session.reset(rebuild=False)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _launch_template(clients, name: str) -> dict:
    clients.ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Color", "Value": "blue"}]}],
        },
        TagSpecifications=[
            {"ResourceType": "launch-template", "Tags": [{"Key": "Environment", "Value": "beta"}]}
        ],
    )
    versions = clients.ec2.describe_launch_template_versions(LaunchTemplateName=name)
    return dict(versions["LaunchTemplateVersions"][0])


def test_launch_template_keeps_its_own_tags_out_of_version_data(moto):
    clients = moto.clients
    name = _name("lt-fixed")
    version = _launch_template(clients, name)
    # AWS: the version's data holds only what LaunchTemplateData said...
    assert version["LaunchTemplateData"]["TagSpecifications"] == [
        {"ResourceType": "instance", "Tags": [{"Key": "Color", "Value": "blue"}]}
    ]
    # ...and the template's own tags stay on the template.
    (template,) = clients.ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
    assert template["Tags"] == [{"Key": "Environment", "Value": "beta"}]


def test_a_launch_template_without_data_tags_gets_none_in_its_version(moto):
    clients = moto.clients
    name = _name("lt-notags")
    clients.ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-12c6146b"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "Color", "Value": "green"}]}],
    )
    (version,) = clients.ec2.describe_launch_template_versions(LaunchTemplateName=name)[
        "LaunchTemplateVersions"
    ]
    assert "TagSpecifications" not in version["LaunchTemplateData"]


def test_stock_moto_still_copies_launch_template_tags_into_version_1(moto):
    with moto_fixes.stock("launch_template_tags"):
        version = _launch_template(moto.clients, _name("lt-stock"))
    kinds = [s["ResourceType"] for s in version["LaunchTemplateData"]["TagSpecifications"]]
    assert kinds == ["instance", "launch-template"], "moto no longer leaks the tags: drop fix 3"


def _policy(clients, *, enabled: bool | None = None) -> dict:
    group = _name("asg")
    template = _name("lt")
    clients.ec2.create_launch_template(
        LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )
    clients.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        MinSize=0,
        MaxSize=1,
        LaunchTemplate={"LaunchTemplateName": template, "Version": "1"},
        AvailabilityZones=["us-east-1a"],
    )
    extra = {} if enabled is None else {"Enabled": enabled}
    clients.autoscaling.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName=f"{group}-cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 50.0,
        },
        **extra,
    )
    (policy,) = clients.autoscaling.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]
    return dict(policy)


@pytest.mark.parametrize(("enabled", "expected"), [(None, True), (True, True), (False, False)])
def test_describe_policies_says_enabled_and_has_no_empty_predictive_block(moto, enabled, expected):
    policy = _policy(moto.clients, enabled=enabled)
    assert policy["Enabled"] is expected
    assert "PredictiveScalingConfiguration" not in policy
    assert policy["TargetTrackingConfiguration"]["TargetValue"] == 50.0


def test_stock_moto_still_drops_enabled_and_returns_an_empty_predictive_block(moto):
    with moto_fixes.stock("scaling_policy_enabled"):
        policy = _policy(moto.clients, enabled=True)
    assert "Enabled" not in policy, "moto now returns Enabled: drop half of fix 4"
    assert policy.get("PredictiveScalingConfiguration") == {}, "moto fixed the predictive block"


def test_stock_rejects_unknown_fix_names():
    with pytest.raises(ValueError, match="unknown fix"), moto_fixes.stock("no_such_fix"):
        pass


def _mixed_group(clients, *, base: int = 2, percent: int = 25) -> str:
    """A mixed-instances group; the default split is prod's (2 on-demand, 25 % above that)."""
    group, template = _name("mixed"), _name("lt")
    clients.ec2.create_launch_template(
        LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )
    clients.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        MinSize=0,
        MaxSize=4,
        AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateName": template, "Version": "1"},
                "Overrides": [{"InstanceType": "m6i.large"}, {"InstanceType": "m5.large"}],
            },
            "InstancesDistribution": {
                "OnDemandBaseCapacity": base,
                "OnDemandPercentageAboveBaseCapacity": percent,
            },
        },
    )
    return group


def _describe_group(clients, name: str) -> dict:
    (group,) = clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return dict(group)


def test_an_update_that_omits_the_mixed_instances_policy_keeps_it(moto):
    clients = moto.clients
    group = _mixed_group(clients)
    before = _describe_group(clients, group)["MixedInstancesPolicy"]
    # What the deploy tool sends: sizes only (scale, protect, set_min).
    clients.autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=2, DesiredCapacity=2)
    after = _describe_group(clients, group)
    assert after["MixedInstancesPolicy"] == before
    assert (after["MinSize"], after["DesiredCapacity"], len(after["Instances"])) == (2, 2, 2)
    assert "LaunchTemplate" not in after


def test_stock_moto_still_wipes_the_mixed_instances_policy_on_update(moto):
    clients = moto.clients
    group = _mixed_group(clients)
    with moto_fixes.stock("update_keeps_mixed_instances"):
        clients.autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=1)
    assert "MixedInstancesPolicy" not in _describe_group(clients, group), "moto keeps it now: drop fix 5"


@pytest.mark.parametrize(("base", "percent", "desired"), [(2, 25, 3), (1, 25, 2), (0, 50, 3), (2, 25, 2)])
def test_a_mixed_instances_group_fills_its_desired_capacity(moto, base, percent, desired):
    clients = moto.clients
    vpc = clients.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    tg = clients.elbv2.create_target_group(Name=_name("tg"), Protocol="HTTP", Port=80, VpcId=vpc)
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    group = _mixed_group(clients, base=base, percent=percent)
    clients.autoscaling.attach_load_balancer_target_groups(
        AutoScalingGroupName=group, TargetGroupARNs=[tg_arn]
    )
    clients.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=desired, DesiredCapacity=desired
    )
    instances = {i["InstanceId"] for i in _describe_group(clients, group)["Instances"]}
    assert len(instances) == desired
    targets = clients.elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    assert {t["Target"]["Id"] for t in targets} == instances  # every one registered, as AWS does
    clients.autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    assert len(_describe_group(clients, group)["Instances"]) == 1


def test_stock_moto_still_leaves_a_mixed_group_below_desired(moto):
    clients = moto.clients
    group = _mixed_group(clients, base=2, percent=25)
    with moto_fixes.stock("mixed_instances_count"):
        clients.autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    assert len(_describe_group(clients, group)["Instances"]) == 2, "moto fills mixed groups now: drop fix 6"
