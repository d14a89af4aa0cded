"""Build the blue-green topology of the real ALB inside moto, from ``EnvSpec`` values.

Everything is created through boto3 against the sandbox endpoint, exactly as Terraform would lay it out:
one VPC with private (instances) and public (the ALB) subnets in two AZs, one security group, one ALB with
HTTPS (443) and HTTP (80) listeners, and per environment two target groups, two launch templates, two
ASGs, listener rules (path environments) or the listeners' default actions (prod), the SSM
color/wiring/version parameters, and a builds bucket with sample builds and discovery files. Resources
an environment root's provider tags carry its ``default_tags`` too.

``tests/test_tf_e2e.py`` compares this topology with the one Terraform builds from the real roots
(``bgctl.sandbox.snapshot``), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bgctl import COLORS, other_color
from bgctl.buildkeys import number_of
from bgctl.builds import discovery_dir
from bgctl.envspec import EnvSpec
from bgctl.sandbox.alarms import STICKINESS_SECONDS, alarm_names, build_alarms
from bgctl.sandbox.preview import create_preview_rules, smoke_of
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
    from mypy_boto3_elbv2.type_defs import ActionTypeDef
    from mypy_boto3_elbv2.type_defs import TagTypeDef as ElbTagTypeDef

    from bgctl.sandbox.clients import SandboxClients

BUILDS_BUCKET = "compiler-explorer"
BUILDS_PREFIX = "dist/gh/"
DISCOVERY_PREFIX = "dist/discovery/"
VPC_CIDR = "10.42.0.0/16"
# Large enough for the synthetic benchmark (90 x 40 instances; moto fills one subnet first).
SUBNETS = (("10.42.0.0/19", f"{REGION}a"), ("10.42.32.0/19", f"{REGION}b"))  # Tier=private: instances
PUBLIC_SUBNETS = (("10.42.64.0/24", f"{REGION}a"), ("10.42.65.0/24", f"{REGION}b"))  # Tier=public: ALB
LOAD_BALANCER_NAME = "compiler-explorer"  # terraform/shared
VPC_NAME = "CompilerExplorer"
INSTANCE_SG_NAME = "compiler-explorer-web"
IMAGE_ID = "ami-12c6146b"  # one of moto's built-in images
TG_NAME_MAX = 32

# Sample builds: branch -> versions, oldest first. gh-105 is the newest build overall. Each is uploaded as
# compiler-explorer/infra's CI names builds: dist/gh/<branch>/<N>.tar.xz (Linux) and <N>.zip (Windows).
SAMPLE_BUILDS: dict[str, tuple[str, ...]] = {
    "main": ("gh-100", "gh-101", "gh-102", "gh-103", "gh-104", "gh-105"),
    "release": ("gh-90", "gh-91", "gh-92"),
    "mg-cppfront": ("gh-95", "gh-96"),
}
NEWEST_VERSION = "gh-105"
ACTIVE_VERSION = "gh-100"  # what every environment's active color runs after build_topology
NO_VERSION = "none"  # the inactive color's version parameter (SSM values cannot be empty)
# Compiler discovery ran for every build in every environment (dist/discovery/<dir>/gh-N.json, prod's dir
# being "release"), except: prod lacks the newest (so a prod deploy's "copy discovery from staging" path
# can be exercised) and wintest, which needs none, has none.
DISCOVERY_SKIP = {"prod": (NEWEST_VERSION,)}
DISCOVERY_NONE = ("wintest",)
BUILD_SUFFIXES = {"linux": ".tar.xz", "windows": ".zip"}


@dataclass(frozen=True)
class SharedInfra:
    """What all environments share: the network and the one load balancer with its two listeners."""

    vpc_id: str
    subnet_ids: tuple[str, ...]  # private: where the instances run
    security_group_id: str
    load_balancer_arn: str
    https_listener_arn: str
    http_listener_arn: str


@dataclass(frozen=True)
class Network:
    vpc_id: str
    private_subnet_ids: tuple[str, ...]
    public_subnet_ids: tuple[str, ...]
    security_group_id: str


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
# Shared pieces
# --------------------------------------------------------------------------------------------------


def _build_network(clients: SandboxClients) -> Network:
    ec2 = clients.ec2
    vpc_id = ec2.create_vpc(
        CidrBlock=VPC_CIDR,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": VPC_NAME}]}],
    )["Vpc"]["VpcId"]

    def subnets(cidrs: tuple[tuple[str, str], ...], tier: str) -> tuple[str, ...]:
        return tuple(
            ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=az,
                TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Tier", "Value": tier}]}],
            )["Subnet"]["SubnetId"]
            for cidr, az in cidrs
        )

    private = subnets(SUBNETS, "private")
    public = subnets(PUBLIC_SUBNETS, "public")
    sg_id = ec2.create_security_group(
        GroupName=INSTANCE_SG_NAME, Description="compiler explorer web servers", VpcId=vpc_id
    )["GroupId"]
    return Network(vpc_id, private, public, sg_id)


def _forward(tg_arn: str) -> list[ActionTypeDef]:
    return [{"Type": "forward", "TargetGroupArn": tg_arn}]


NOT_FOUND_ACTION: list[ActionTypeDef] = [
    {
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "not found"},
    }
]


def _build_load_balancer(
    clients: SandboxClients,
    network: Network,
    default_action: list[ActionTypeDef],
    health_url_template: str | None,
) -> SharedInfra:
    sg_id = network.security_group_id
    elbv2 = clients.elbv2
    tags: list[ElbTagTypeDef] = [{"Key": "Name", "Value": LOAD_BALANCER_NAME}]
    if health_url_template is not None:
        tags.append({"Key": "sandbox:health-url-template", "Value": health_url_template})
    lb_arn = elbv2.create_load_balancer(
        Name=LOAD_BALANCER_NAME,
        Subnets=list(network.public_subnet_ids),
        SecurityGroups=[sg_id],
        Scheme="internet-facing",
        Type="application",
        Tags=tags,
    )["LoadBalancers"][0]["LoadBalancerArn"]
    # moto checks the certificate exists (ACM or IAM), so request a dummy one first.
    cert_arn = clients.acm.request_certificate(DomainName="godbolt.org")["CertificateArn"]
    https = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": cert_arn}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        DefaultActions=default_action,
    )["Listeners"][0]["ListenerArn"]
    http = elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=default_action
    )["Listeners"][0]["ListenerArn"]
    return SharedInfra(network.vpc_id, network.private_subnet_ids, sg_id, lb_arn, https, http)


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
            Actions=_forward(tg_arn),
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


PARALLEL_CALLS = 8  # independent puts (parameters, objects) go out concurrently


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
# Builds bucket
# --------------------------------------------------------------------------------------------------


def build_key(branch: str, version: str, os: str = "linux") -> str:
    """``dist/gh/main/105.tar.xz``: where the sample build ``version`` (gh-N) of ``branch`` lies."""
    return f"{BUILDS_PREFIX}{branch}/{number_of(version)}{BUILD_SUFFIXES[os]}"


def build_keys(env_names: Iterable[str]) -> dict[str, bytes]:
    """Object key -> body for the sample builds (Linux and Windows) and discovery files."""
    objects: dict[str, bytes] = {}
    for branch, versions in SAMPLE_BUILDS.items():
        for n, version in enumerate(versions):
            # Small bodies of different sizes, so a listing shows something other than one number.
            objects[build_key(branch, version)] = b"\xfd7zXZ\x00" + b"x" * (1000 + 37 * n)
            objects[build_key(branch, version, "windows")] = b"PK\x03\x04" + b"x" * (1000 + 37 * n)
    everything = [v for versions in SAMPLE_BUILDS.values() for v in versions]
    for env in sorted(set(env_names) - set(DISCOVERY_NONE)):
        for version in everything:
            if version in DISCOVERY_SKIP.get(env, ()):
                continue
            body = f'{{"environment": "{env}", "version": "{version}", "compilers": []}}'
            objects[f"{DISCOVERY_PREFIX}{discovery_dir(env)}/{version}.json"] = body.encode()
    return objects


def _build_bucket(clients: SandboxClients, bucket: str, env_names: Iterable[str]) -> None:
    clients.s3.create_bucket(Bucket=bucket)

    def put(item: tuple[str, bytes]) -> None:
        key, body = item
        content_type = "application/json" if key.endswith(".json") else "application/x-xz"
        clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    with ThreadPoolExecutor(PARALLEL_CALLS) as pool:
        list(pool.map(put, build_keys(env_names).items()))


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
) -> dict[str, EnvResources]:
    if health_url_template is not None:
        require_loopback_url(health_url_template, "health URL template")
    network = _build_network(clients)
    tg_arns = {name: _create_target_groups(clients, spec, network.vpc_id) for name, spec in specs.items()}
    owner = _default_env(specs)
    default = _forward(tg_arns[owner.name][owner.active_color]) if owner else NOT_FOUND_ACTION
    infra = _build_load_balancer(clients, network, default, health_url_template)
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
        build_alarms(clients.endpoint_url, tg_arns, infra.load_balancer_arn, PARALLEL_CALLS)
    _put_parameters(clients, _parameters(built))
    _build_bucket(clients, builds_bucket, specs)
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
