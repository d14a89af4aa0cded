"""boto3 clients aimed at the sandbox's moto server (explicit fake credentials, standard retries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bgctl.sandbox.server import FAKE_AWS_ENV, REGION, require_loopback_url

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient


@dataclass(frozen=True)
class SandboxClients:
    """One client per service the sandbox builds; all point at the same moto endpoint."""

    endpoint_url: str
    autoscaling: AutoScalingClient
    ec2: EC2Client
    elbv2: ElasticLoadBalancingv2Client
    ssm: SSMClient
    s3: S3Client
    acm: Any  # only for the listener's certificate; no ACM stubs in the dev set


def fake_session(region: str = REGION) -> boto3.session.Session:
    """A boto3 session of ``region`` with the sandbox's fake keys: it never reads the caller's AWS
    profile."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_AWS_ENV["AWS_SESSION_TOKEN"],
        region_name=region,
    )


def make_clients(endpoint_url: str, region: str = REGION) -> SandboxClients:
    """Clients of ``region`` (one moto server answers for every region) for ``endpoint_url`` (loopback
    only) that never read the caller's AWS profile."""
    from botocore.config import Config

    require_loopback_url(endpoint_url, "endpoint")
    session = fake_session(region)
    config = Config(retries={"mode": "standard"}, max_pool_connections=32)
    return SandboxClients(
        endpoint_url=endpoint_url,
        autoscaling=session.client("autoscaling", endpoint_url=endpoint_url, config=config),
        ec2=session.client("ec2", endpoint_url=endpoint_url, config=config),
        elbv2=session.client("elbv2", endpoint_url=endpoint_url, config=config),
        ssm=session.client("ssm", endpoint_url=endpoint_url, config=config),
        s3=session.client("s3", endpoint_url=endpoint_url, config=config),
        acm=session.client("acm", endpoint_url=endpoint_url, config=config),
    )
