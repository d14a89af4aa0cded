"""AWS access: clients handed in from the entry point, standard retries, pagination, precise errors.

Nothing here runs at import time. ``make_clients`` is called once by the CLI (or a test) and the
``Clients`` value is passed down. botocore honours ``AWS_ENDPOINT_URL`` and the usual AWS environment
variables, so the same code runs against AWS or the local sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bgctl.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

    from bgctl.settings import Settings

T = TypeVar("T")

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)


# Read-only commands (status, validate, deploy list, plan) answer an operator who is waiting: fewer
# attempts and a shorter read timeout, so a sick endpoint fails in seconds, not minutes.
READ_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=5,
    read_timeout=10,
    max_pool_connections=32,
)


@dataclass(frozen=True)
class Clients:
    autoscaling: AutoScalingClient
    elbv2: ElasticLoadBalancingv2Client
    ssm: SSMClient
    s3: S3Client
    ec2: EC2Client
    # Release hooks (deployment log) and canary alarms; untyped: no stubs are installed for them.
    dynamodb: Any = None
    cloudwatch: Any = None


def make_clients(
    session: boto3.Session | None = None, *, config: Config = RETRY_CONFIG, endpoint_url: str | None = None
) -> Clients:
    """Create the clients the tool uses from one session (default: the environment's credentials)."""
    session = session or boto3.Session()
    if session.region_name is None:
        raise AwsError(
            "no AWS region configured", hint="set AWS_REGION (e.g. us-east-1) or a region in your AWS profile"
        )
    kw: dict[str, Any] = {"config": config}
    if endpoint_url:
        kw["endpoint_url"] = endpoint_url
    return Clients(
        autoscaling=session.client("autoscaling", **kw),
        elbv2=session.client("elbv2", **kw),
        ssm=session.client("ssm", **kw),
        s3=session.client("s3", **kw),
        ec2=session.client("ec2", **kw),
        dynamodb=session.client("dynamodb", **kw),
        cloudwatch=session.client("cloudwatch", **kw),
    )


def session_for(settings: Settings) -> boto3.Session:
    """One boto3 session from the settings (profile, region, explicit keys when given)."""
    try:
        return boto3.Session(
            profile_name=settings.profile,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
        )
    except BotoCoreError as exc:
        raise explain_aws_error(exc, "reading the AWS configuration") from exc


def clients_for(settings: Settings, *, read_only: bool = False) -> Clients:
    """The CLI's clients: fewer retries for read-only commands (see READ_CONFIG)."""
    return make_clients(
        session_for(settings),
        config=READ_CONFIG if read_only else RETRY_CONFIG,
        endpoint_url=settings.endpoint_url,
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


CREDENTIAL_CODES = ("ExpiredToken", "ExpiredTokenException", "RequestExpired")
INVALID_CREDENTIAL_CODES = ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch")
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError")


def explain_aws_error(exc: Exception, what: str = "an AWS call") -> AwsError:  # noqa: PLR0911
    """One line and the fix for the AWS problems an operator can act on (credentials, region,
    endpoint, permissions); anything else names the call and the error code."""
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            f"{what} failed: no usable AWS credentials",
            hint="set AWS_PROFILE (and run `aws sso login`), or for the sandbox: source .sandbox/env",
        )
    if isinstance(exc, ProfileNotFound):
        return AwsError(f"{what} failed: {exc}", hint="check AWS_PROFILE against ~/.aws/config")
    if isinstance(exc, NoRegionError):
        return AwsError(f"{what} failed: no AWS region configured", hint="set AWS_REGION, e.g. us-east-1")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"{what} failed: cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'the endpoint')}",
            hint="check the network and AWS_ENDPOINT_URL (for the sandbox: is `make sandbox` running?)",
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in CREDENTIAL_CODES:
            return AwsError(
                f"{what} failed: the AWS credentials have expired", code=code, hint="refresh them"
            )
        if code in INVALID_CREDENTIAL_CODES:
            return AwsError(
                f"{what} failed: AWS rejects these credentials ({code})",
                code=code,
                hint="check AWS_PROFILE / the access keys, and that they belong to this account",
            )
        if code in DENIED_CODES:
            return AwsError(
                f"{what} failed: permission denied ({message or code})",
                code=code,
                hint="run with the role that may do this (see terraform/README.md, Security)",
            )
        return AwsError(f"{what} failed: {code}: {message}", code=code)
    return AwsError(f"{what} failed: {exc}")


@contextmanager
def aws_errors(what: str, *, hint: str | None = None) -> Iterator[None]:
    """Turn an unexpected botocore failure into AwsError naming the operation and the error code.

    Callers catch the precise codes they handle *inside* this block; anything else surfaces here.
    """
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        explained = explain_aws_error(exc, what)
        if hint and not explained.hint:
            explained.hint = hint
        raise explained from exc


def paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paginated list/describe call."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(result_key, []))
    return items


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def get_parameters(ssm: SSMClient, names: list[str]) -> dict[str, str]:
    """Read many SSM parameters in batches of 10; missing ones are simply absent from the result."""
    values: dict[str, str] = {}
    for batch in chunks(sorted(set(names)), 10):
        with aws_errors("ssm:GetParameters"):
            resp = ssm.get_parameters(Names=batch)
        for param in resp.get("Parameters", []):
            values[param["Name"]] = param["Value"]
    return values


def get_parameter(ssm: SSMClient, name: str) -> str | None:
    """One SSM parameter's value, or None when it does not exist."""
    try:
        resp = ssm.get_parameter(Name=name)
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise AwsError(f"ssm:GetParameter {name} failed: {error_code(exc)}", code=error_code(exc)) from exc
    return resp["Parameter"]["Value"]


def put_parameter(ssm: SSMClient, name: str, value: str, *, overwrite: bool = True) -> None:
    with aws_errors(f"ssm:PutParameter {name}"):
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=overwrite)


def delete_parameter(ssm: SSMClient, name: str) -> bool:
    """Delete a parameter; False when it was already gone."""
    try:
        ssm.delete_parameter(Name=name)
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return False
        raise AwsError(f"ssm:DeleteParameter {name} failed: {error_code(exc)}", code=error_code(exc)) from exc
    return True
