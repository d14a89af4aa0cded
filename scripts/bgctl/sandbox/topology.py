"""Build the blue-green topology of the real ALB inside moto, from ``EnvSpec`` values.

Everything is created through boto3 against the sandbox endpoint, exactly as Terraform would lay it out:
the network and the load balancer all environments share (``network``), and per environment two target
groups, two launch templates, two ASGs, listener rules (path environments) or the listeners' default
actions (prod), the SSM color/wiring/version parameters; then the builds bucket with sample builds and
discovery files (``samplebuilds``). Resources an environment root's provider tags carry its
``default_tags`` too. ``build_topology`` builds the home region; ``build_regional_topology`` another
region of the same moto server (the bucket, global, is not built twice).

``tests/test_tf_e2e.py`` compares this topology with the one Terraform builds from the real roots
(``bgctl.sandbox.snapshot``), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bgctl import COLORS, other_color
from bgctl.envspec import EnvSpec
from bgctl.sandbox.alarms import STICKINESS_SECONDS, alarm_names, build_alarms
from bgctl.sandbox.network import (
    NOT_FOUND_ACTION,
    SharedInfra,
    build_load_balancer,
    build_network,
    forward,
)
from bgctl.sandbox.preview import create_preview_rules, smoke_of
from bgctl.sandbox.samplebuilds import (
    ACTIVE_VERSION,
    BUILD_SUFFIXES,
    BUILDS_BUCKET,
    BUILDS_PREFIX,
    DISCOVERY_PREFIX,
    NO_VERSION,
    PARALLEL_CALLS,
    build_bucket,
)
from bgctl.sandbox.server import REGION, require_loopback_url
from bgctl.wiring import (
    Boot,
    Builds,
    CanaryConfig,
    Capacity,
    Wiring,
    active_color_param,
    active_tg_param,
    version_param,
    wiring_param,
)

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import (
        CreateAutoScalingGroupTypeTypeDef,
        LaunchTemplateSpecificationTypeDef,
        TagTypeDef,
    )
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_elbv2.type_defs import TagTypeDef as ElbTagTypeDef

    from bgctl.sandbox.clients import SandboxClients

IMAGE_ID = "ami-12c6146b"  # one of moto's built-in images
TG_NAME_MAX = 32


@dataclass(frozen=True)
class EnvResources:
    """What build_topology created for one environment (the same facts the wiring parameter holds)."""

    wiring: Wiring
    active_color: str


def target_group_name(env: str, color: str) -> str:
    """``Beta-Blue``, ``Aarch64staging-Green``: the Terraform module's naming, at most 32 characters."""
    name = f"{env.capitalize()}-{color.capitalize()}"
    if len(name) > TG_NAME_MAX:
        raise ValueError(f"target group name {name!r} is longer than {TG_NAME_MAX} characters")
    return name


def asg_name(env: str, color: str) -> str:
    return f"{env}-{color}"


def launch_template_name(env: str, color: str) -> str:
    return f"{env}-{color}"


@functools.lru_cache(maxsize=64)
def provider_default_tags(root: Path) -> dict[str, str]:
    """The ``default_tags`` of the root's AWS provider (``providers.tf``), which Terraform adds to
    every taggable resource of the root; {} when the root has none (synthetic environments)."""
    from bgctl.envspec import load_hcl_file

    path = Path(root) / "providers.tf"
    if not path.is_file():
        return {}
    tags: dict[str, str] = {}
    for block in load_hcl_file(path).get("provider", []):
        for default in (block.get("aws") or {}).get("default_tags", []):
            tags.update({str(k): str(v) for k, v in (default.get("tags") or {}).items()})
    return tags


def _tagged(spec: EnvSpec, **own: str) -> list[ElbTagTypeDef]:
    """The provider's default tags with the resource's own on top (Terraform's merge order)."""
    merged = {**provider_default_tags(Path(spec.root)), **own}
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def initial_capacity(spec: EnvSpec) -> int:
    """Instances the active color starts with: enough to be live, never above the ASG maximum."""
    return min(max(1, spec.min_healthy), spec.max_size)


def serving_min(spec: EnvSpec) -> int:
    """The active color's minimum once a deploy put it in service (CapacityPolicy.serving_min)."""
    return min(spec.max_size, max(spec.min_size, spec.min_healthy, 1))


def synthetic_spec(name: str, *, rule_priority: int, max_size: int = 4, **overrides: object) -> EnvSpec:
    """A plain Linux path-rule environment (``/{name}*``); ``overrides`` replace any EnvSpec field."""
    spec = EnvSpec(
        name=name,
        root=Path("terraform/envs") / name,
        routing="path_rule",
        path_patterns=(f"/{name}*",),
        rule_priority=rule_priority,
        http_rule=False,
        min_size=0,
        max_size=max_size,
        min_healthy=1,
        instance_type="t3.micro",
        instance_types=(),
        mixed_instances=False,
        on_demand_base_capacity=0,
        on_demand_percentage=100,
        health_check_grace_period=60,
        cpu_autoscaling=False,
        cpu_target=None,
        sqs_autoscaling=False,
        sqs_target=None,
        os="linux",
        architecture="x86_64",
        active_color="blue",
    )
    return dataclasses.replace(spec, **overrides)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Per environment
# --------------------------------------------------------------------------------------------------


def _create_target_groups(clients: SandboxClients, spec: EnvSpec, vpc_id: str) -> dict[str, str]:
    arns: dict[str, str] = {}
    for color in COLORS:
        arns[color] = clients.elbv2.create_target_group(
            Name=target_group_name(spec.name, color),
            Protocol="HTTP",
            Port=80,
            VpcId=vpc_id,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPath="/healthcheck",
            HealthCheckIntervalSeconds=10,
            HealthCheckTimeoutSeconds=8,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=spec.unhealthy_threshold,
            Matcher={"HttpCode": "200"},
            Tags=_tagged(spec, Environment=spec.name, Color=color),
        )["TargetGroups"][0]["TargetGroupArn"]
        if spec.load_balancing_algorithm != "round_robin":  # moto's default, like AWS's
            clients.elbv2.modify_target_group_attributes(
                TargetGroupArn=arns[color],
                Attributes=[{"Key": "load_balancing.algorithm.type", "Value": spec.load_balancing_algorithm}],
            )
    return arns


def _create_rules(clients: SandboxClients, spec: EnvSpec, infra: SharedInfra, tg_arn: str) -> dict[str, str]:
    if spec.rule_priority is None or not spec.path_patterns:
        raise ValueError(f"{spec.name}: a path_rule environment needs path patterns and a rule priority")
    listeners = {"https": infra.https_listener_arn}
    if spec.http_rule:
        listeners["http"] = infra.http_listener_arn
    rules: dict[str, str] = {}
    for kind, listener_arn in listeners.items():
        rules[kind] = clients.elbv2.create_rule(
            ListenerArn=listener_arn,
            Priority=spec.rule_priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": list(spec.path_patterns)}}],
            Actions=forward(tg_arn),
            Tags=_tagged(spec, Environment=spec.name),
        )["Rules"][0]["RuleArn"]
    return rules


def _asg_tags(env: str, color: str, name_prefix: str = "") -> list[TagTypeDef]:
    name = asg_name(env, color)
    values = {"Environment": env, "Color": color, "Name": f"{name_prefix}{env}-{color}"}
    return [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": value,
            "PropagateAtLaunch": True,
        }
        for key, value in values.items()
    ]


def _create_color(
    clients: SandboxClients,
    spec: EnvSpec,
    infra: SharedInfra,
    *,
    color: str,
    tg_arn: str,
    desired: int,
) -> str:
    lt_name = launch_template_name(spec.name, color)
    clients.ec2.create_launch_template(
        LaunchTemplateName=lt_name,
        VersionDescription=f"{spec.name} {color}: boots the version in {version_param(spec.name, color)}",
        LaunchTemplateData={
            "ImageId": IMAGE_ID,
            "InstanceType": cast("InstanceTypeType", spec.instance_type),
            "SecurityGroupIds": [infra.security_group_id],
        },
        TagSpecifications=[
            {
                "ResourceType": "launch-template",
                "Tags": cast("list[Any]", _tagged(spec, Environment=spec.name, Color=color)),
            }
        ],
    )
    template: LaunchTemplateSpecificationTypeDef = {"LaunchTemplateName": lt_name, "Version": "1"}  # pinned
    name = asg_name(spec.name, color)
    request: CreateAutoScalingGroupTypeTypeDef = {
        "AutoScalingGroupName": name,
        # Terraform creates both at min 0; the deploy that put the active color in service raised its
        # min to the serving minimum (CapacityPolicy.serving_min): the sandbox starts after that deploy.
        "MinSize": serving_min(spec) if desired else 0,
        "MaxSize": spec.max_size,
        "DesiredCapacity": desired,
        "VPCZoneIdentifier": ",".join(infra.subnet_ids),
        "TargetGroupARNs": [tg_arn],
        "HealthCheckType": "ELB",
        "HealthCheckGracePeriod": spec.health_check_grace_period,
        "Tags": _asg_tags(spec.name, color, spec.instance_name_prefix),
    }
    if spec.default_cooldown is not None:
        request["DefaultCooldown"] = spec.default_cooldown
    if spec.mixed_instances and spec.instance_types:
        request["MixedInstancesPolicy"] = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": template,
                "Overrides": [{"InstanceType": t} for t in spec.instance_types],
            },
            "InstancesDistribution": {
                "OnDemandBaseCapacity": spec.on_demand_base_capacity,
                "OnDemandPercentageAboveBaseCapacity": spec.on_demand_percentage,
                "SpotAllocationStrategy": "price-capacity-optimized",
            },
        }
    else:
        request["LaunchTemplate"] = template
    clients.autoscaling.create_auto_scaling_group(**request)
    return name


def _put_parameters(clients: SandboxClients, params: Mapping[str, str]) -> None:
    def put(item: tuple[str, str]) -> None:
        clients.ssm.put_parameter(Name=item[0], Value=item[1], Type="String", Overwrite=True)

    with ThreadPoolExecutor(PARALLEL_CALLS) as pool:
        list(pool.map(put, params.items()))


def _build_environment(
    clients: SandboxClients,
    spec: EnvSpec,
    infra: SharedInfra,
    *,
    tg_arns: dict[str, str],
    builds_bucket: str,
    active_desired: int | None = None,
    alarms: bool = True,
) -> EnvResources:
    active = spec.active_color
    if spec.routing == "listener_default":
        listener_arns = {"https": infra.https_listener_arn, "http": infra.http_listener_arn}
        rule_arns: dict[str, str] = {}
    else:
        rule_arns = _create_rules(clients, spec, infra, tg_arns[active])
        listener_arns = {"https": infra.https_listener_arn}
        if spec.http_rule:
            listener_arns["http"] = infra.http_listener_arn
    desired = initial_capacity(spec) if active_desired is None else active_desired
    asgs = {
        color: _create_color(
            clients,
            spec,
            infra,
            color=color,
            tg_arn=tg_arns[color],
            desired=desired if color == active else 0,
        )
        for color in COLORS
    }
    preview = create_preview_rules(clients, spec, listener_arns, tg_arns, _tagged)
    wiring = Wiring(
        environment=spec.name,
        routing=spec.routing,
        asg_names=asgs,
        target_group_arns=dict(tg_arns),
        listener_arns=listener_arns,
        rule_arns=rule_arns,
        path_patterns=tuple(spec.path_patterns) if spec.routing == "path_rule" else (),
        rule_priority=spec.rule_priority if spec.routing == "path_rule" else None,
        capacity=Capacity(min_size=spec.min_size, max_size=spec.max_size, min_healthy=spec.min_healthy),
        version_parameters={color: version_param(spec.name, color) for color in COLORS},
        builds=Builds(
            bucket=builds_bucket,
            prefix=BUILDS_PREFIX,
            discovery_prefix=DISCOVERY_PREFIX,
            suffix=BUILD_SUFFIXES[spec.os],
        ),
        protected=spec.protected,
        release_hooks=spec.release_hooks,
        boot=boot_of(spec),
        preview=preview,
        smoke=smoke_of(spec),
        # The module's canary block: its default stickiness and the names of the alarms _build creates.
        canary=CanaryConfig(STICKINESS_SECONDS, alarm_names(spec.name) if alarms else {}),
    )
    return EnvResources(wiring=wiring, active_color=active)


def boot_of(spec: EnvSpec) -> Boot:
    """The wiring's boot contract, as the module publishes it."""
    if spec.boot_contract != "version_key" or spec.boot_version_key is None:
        return Boot(spec.boot_contract)
    key = spec.boot_version_key
    keys = {"live": key, **{c: f"{key}.{c}" for c in COLORS}}
    return Boot(spec.boot_contract, tuple(sorted(keys.items())))


def _parameters(built: Mapping[str, EnvResources]) -> dict[str, str]:
    """The SSM parameters Terraform (wiring, colors) and the tool (versions) would have written."""
    params: dict[str, str] = {}
    for env, res in built.items():
        active = res.active_color
        params[wiring_param(env)] = res.wiring.to_json()
        params[active_color_param(env)] = active
        params[active_tg_param(env)] = res.wiring.target_group_arns[active]
        params[version_param(env, active)] = ACTIVE_VERSION
        params[version_param(env, other_color(active))] = NO_VERSION
    return params


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------


def _default_env(specs: Mapping[str, EnvSpec]) -> EnvSpec | None:
    owners = [s for s in specs.values() if s.routing == "listener_default"]
    if len(owners) > 1:
        raise ValueError(
            "only one environment can own the listeners' default action, got "
            + ", ".join(s.name for s in owners)
        )
    return owners[0] if owners else None


def _build(
    clients: SandboxClients,
    specs: Mapping[str, EnvSpec],
    *,
    health_url_template: str | None,
    builds_bucket: str,
    active_desired: int | None = None,
    alarms: bool = True,
    region: str = REGION,
) -> dict[str, EnvResources]:
    """The build; another ``region`` than the home one does not get the bucket (S3 is global, the home
    build made it), but gets its own alarms, as each regional root's module creates them."""
    if health_url_template is not None:
        require_loopback_url(health_url_template, "health URL template")
    home = region == REGION
    network = build_network(clients, region)
    tg_arns = {name: _create_target_groups(clients, spec, network.vpc_id) for name, spec in specs.items()}
    owner = _default_env(specs)
    default = forward(tg_arns[owner.name][owner.active_color]) if owner else NOT_FOUND_ACTION
    infra = build_load_balancer(clients, network, default, health_url_template)
    built = {
        name: _build_environment(
            clients,
            spec,
            infra,
            tg_arns=tg_arns[name],
            builds_bucket=builds_bucket,
            active_desired=active_desired,
            alarms=alarms,
        )
        for name, spec in specs.items()
    }
    if alarms:
        build_alarms(clients.endpoint_url, tg_arns, infra.load_balancer_arn, PARALLEL_CALLS, region)
    _put_parameters(clients, _parameters(built))
    if home:
        build_bucket(clients, builds_bucket, specs)
    return built


def build_topology(
    clients: SandboxClients,
    specs: Mapping[str, EnvSpec],
    *,
    health_url_template: str | None,
    builds_bucket: str = BUILDS_BUCKET,
) -> dict[str, EnvResources]:
    """Create the whole topology for ``specs`` in an empty moto; return what was built, per env."""
    return _build(clients, specs, health_url_template=health_url_template, builds_bucket=builds_bucket)


def build_regional_topology(
    clients: SandboxClients,
    region: str,
    specs: Mapping[str, EnvSpec],
    *,
    health_url_template: str | None,
    builds_bucket: str = BUILDS_BUCKET,
) -> dict[str, EnvResources]:
    """The topology of ``specs`` in ``region`` (``clients`` of that region), beside the home one: its
    network, load balancer, environments and parameters; the builds bucket is the home build's."""
    return _build(
        clients, specs, health_url_template=health_url_template, builds_bucket=builds_bucket, region=region
    )


def synthetic_specs(n_envs: int = 90, instances_per_env: int = 40) -> dict[str, EnvSpec]:
    """``env000``.. path-rule environments whose ASG maximum fits ``instances_per_env``."""
    return {
        f"env{i:03d}": synthetic_spec(
            f"env{i:03d}", rule_priority=100 + i, max_size=max(instances_per_env, 1) * 2
        )
        for i in range(n_envs)
    }


def build_synthetic(
    clients: SandboxClients,
    n_envs: int = 90,
    instances_per_env: int = 40,
    *,
    health_url_template: str | None = None,
    builds_bucket: str = BUILDS_BUCKET,
) -> dict[str, EnvResources]:
    """A benchmark topology: ``n_envs`` environments shaped like the real ones, each active color
    running ``instances_per_env`` instances."""
    return _build(
        clients,
        synthetic_specs(n_envs, instances_per_env),
        health_url_template=health_url_template,
        builds_bucket=builds_bucket,
        active_desired=instances_per_env,
        alarms=False,  # the benchmark reads status, never a bake's alarms
    )
