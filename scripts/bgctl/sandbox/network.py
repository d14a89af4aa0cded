"""What every environment of a region shares: the network and the one load balancer with its listeners.

One VPC with private (instances) and public (the ALB) subnets in two availability zones of the region,
one security group, and the ALB with HTTPS (443) and HTTP (80) listeners, as ``terraform/shared`` lays
them out. Every region gets the same layout (the same CIDRs, its own zones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bgctl.sandbox.server import REGION

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagTypeDef as Ec2TagTypeDef
    from mypy_boto3_elbv2.type_defs import ActionTypeDef
    from mypy_boto3_elbv2.type_defs import TagTypeDef as ElbTagTypeDef

    from bgctl.sandbox.clients import SandboxClients

VPC_CIDR = "10.42.0.0/16"
# Large enough for the synthetic benchmark (90 x 40 instances; moto fills one subnet first).
SUBNETS = (("10.42.0.0/19", f"{REGION}a"), ("10.42.32.0/19", f"{REGION}b"))  # Tier=private: instances
PUBLIC_SUBNETS = (("10.42.64.0/24", f"{REGION}a"), ("10.42.65.0/24", f"{REGION}b"))  # Tier=public: ALB
LOAD_BALANCER_NAME = "compiler-explorer"  # terraform/shared
VPC_NAME = "CompilerExplorer"
INSTANCE_SG_NAME = "compiler-explorer-web"


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


def in_region(region: str, cidrs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The home subnets' layout with the availability zones of ``region``."""
    return tuple((cidr, region + az.removeprefix(REGION)) for cidr, az in cidrs)


def build_vpc(
    clients: SandboxClients, region: str = REGION, *, named_subnets: bool = False
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The VPC and its private and public subnets in ``region``'s zones: (VPC ID, private, public).
    Subnets carry their Tier tag, and with ``named_subnets`` a Name (``<tier>-<zone>``) as infra's do."""
    ec2 = clients.ec2
    vpc_id = ec2.create_vpc(
        CidrBlock=VPC_CIDR,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": VPC_NAME}]}],
    )["Vpc"]["VpcId"]

    def subnets(cidrs: tuple[tuple[str, str], ...], tier: str) -> tuple[str, ...]:
        def tags(az: str) -> list[Ec2TagTypeDef]:
            name: list[Ec2TagTypeDef] = [{"Key": "Name", "Value": f"{tier}-{az}"}] if named_subnets else []
            return [{"Key": "Tier", "Value": tier}, *name]

        return tuple(
            ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=az,
                TagSpecifications=[{"ResourceType": "subnet", "Tags": tags(az)}],
            )["Subnet"]["SubnetId"]
            for cidr, az in in_region(region, cidrs)
        )

    return vpc_id, subnets(SUBNETS, "private"), subnets(PUBLIC_SUBNETS, "public")


def build_network(clients: SandboxClients, region: str = REGION) -> Network:
    """The VPC, its subnets in ``region``'s zones and the instances' security group."""
    vpc_id, private, public = build_vpc(clients, region)
    sg_id = clients.ec2.create_security_group(
        GroupName=INSTANCE_SG_NAME, Description="compiler explorer web servers", VpcId=vpc_id
    )["GroupId"]
    return Network(vpc_id, private, public, sg_id)


def forward(tg_arn: str) -> list[ActionTypeDef]:
    return [{"Type": "forward", "TargetGroupArn": tg_arn}]


NOT_FOUND_ACTION: list[ActionTypeDef] = [
    {
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "not found"},
    }
]


def build_load_balancer(
    clients: SandboxClients,
    network: Network,
    default_action: list[ActionTypeDef],
    health_url_template: str | None,
) -> SharedInfra:
    """The ALB in the public subnets, with its HTTPS and HTTP listeners answering ``default_action``."""
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
