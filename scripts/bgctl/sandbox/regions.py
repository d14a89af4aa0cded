"""The sandbox in several regions: one moto server answers for every region, so another region's
topology is the same build made with clients of that region.

``build_region(sandbox, "eu-west-1")`` builds, from the roots in ``terraform/envs-eu-west-1`` (parsed,
as the home region's are), that region's network, load balancer with its listeners, and per
environment the target groups, ASGs, routing and SSM parameters, all in eu-west-1. The builds bucket
is S3's, global, so it is not built twice. The instances' health server learns the region's instances
too, so the health gate covers them; failures are injected per instance (``fail_instance``), because
``fail_color`` names an environment and a color, which exist in each region.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl.envspec import ENVS_DIR, EnvSpec, load_env_specs
from bgctl.regions import regional_dir
from bgctl.sandbox.clients import SandboxClients
from bgctl.sandbox.health import aws_directory
from bgctl.sandbox.server import FAKE_AWS_ENV, REGION, require_loopback_url
from bgctl.sandbox.topology import (
    BUILDS_BUCKET,
    INSTANCE_SG_NAME,
    NOT_FOUND_ACTION,
    PUBLIC_SUBNETS,
    SUBNETS,
    VPC_CIDR,
    VPC_NAME,
    EnvResources,
    Network,
    _build_environment,
    _build_load_balancer,
    _create_target_groups,
    _default_env,
    _forward,
    _parameters,
    _put_parameters,
)

if TYPE_CHECKING:
    from bgctl.sandbox import Sandbox
    from bgctl.sandbox.health import Directory, InstanceInfo


def region_clients(endpoint_url: str, region: str) -> SandboxClients:
    """Sandbox clients (fake keys, loopback only) of ``region``."""
    import boto3
    from botocore.config import Config

    require_loopback_url(endpoint_url, "endpoint")
    session = boto3.session.Session(
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_AWS_ENV["AWS_SESSION_TOKEN"],
        region_name=region,
    )
    config = Config(retries={"mode": "standard"}, max_pool_connections=32)

    def client(name: str) -> object:
        return session.client(name, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]

    return SandboxClients(
        endpoint_url=endpoint_url,
        autoscaling=client("autoscaling"),  # type: ignore[arg-type]
        ec2=client("ec2"),  # type: ignore[arg-type]
        elbv2=client("elbv2"),  # type: ignore[arg-type]
        ssm=client("ssm"),  # type: ignore[arg-type]
        s3=client("s3"),  # type: ignore[arg-type]
        acm=client("acm"),
    )


def _in(region: str, cidrs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The home subnets' layout with the availability zones of ``region``."""
    return tuple((cidr, region + az.removeprefix(REGION)) for cidr, az in cidrs)


def _network(clients: SandboxClients, region: str) -> Network:
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
            for cidr, az in _in(region, cidrs)
        )

    private = subnets(SUBNETS, "private")
    public = subnets(PUBLIC_SUBNETS, "public")
    sg_id = ec2.create_security_group(
        GroupName=INSTANCE_SG_NAME, Description="compiler explorer web servers", VpcId=vpc_id
    )["GroupId"]
    return Network(vpc_id, private, public, sg_id)


def build_regional_topology(
    clients: SandboxClients,
    region: str,
    specs: Mapping[str, EnvSpec],
    *,
    health_url_template: str | None,
    builds_bucket: str = BUILDS_BUCKET,
) -> dict[str, EnvResources]:
    """The topology of ``specs`` in ``region`` (the home build's steps, without the global bucket)."""
    if health_url_template is not None:
        require_loopback_url(health_url_template, "health URL template")
    network = _network(clients, region)
    tg_arns = {name: _create_target_groups(clients, spec, network.vpc_id) for name, spec in specs.items()}
    owner = _default_env(specs)
    default = _forward(tg_arns[owner.name][owner.active_color]) if owner else NOT_FOUND_ACTION
    infra = _build_load_balancer(clients, network, default, health_url_template)
    built = {
        name: _build_environment(clients, spec, infra, tg_arns=tg_arns[name], builds_bucket=builds_bucket)
        for name, spec in specs.items()
    }
    _put_parameters(clients, _parameters(built))
    return built


def _answer_for(sandbox: Sandbox, region: str, directory: Directory) -> None:
    """Make the sandbox's health server know ``region``'s instances as well as the home region's."""
    health = sandbox.health
    extra: dict[str, Directory] = health.__dict__.setdefault("_regional_directories", {})
    if not extra:
        home = health._directory

        def every_region() -> dict[str, InstanceInfo]:
            found = dict(home())
            for more in list(extra.values()):
                found.update(more())
            return found

        health._directory = every_region
    extra[region] = directory


def build_region(
    sandbox: Sandbox,
    region: str,
    *,
    envs_dir: Path = ENVS_DIR,
    only: tuple[str, ...] | None = None,
) -> dict[str, EnvResources]:
    """Build ``region``'s environments (those with a root in ``terraform/envs-<region>``) in the
    sandbox's moto server; the health server then answers for their instances too."""
    specs = load_env_specs(regional_dir(envs_dir, region))
    if only is not None:
        specs = {k: v for k, v in specs.items() if k in only}
    clients = region_clients(sandbox.endpoint_url, region)
    built = build_regional_topology(
        clients,
        region,
        specs,
        health_url_template=sandbox.health_url_template,
        builds_bucket=sandbox.builds_bucket,
    )
    _answer_for(sandbox, region, aws_directory(clients))
    return built
