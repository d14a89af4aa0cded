"""Seeding the Terraform sandbox: the pieces the roots find rather than create (terraform/README.md,
"Who owns what"), in the home region and in each extra region, and afterwards what the deploy tool owns
on a live system (versions per color, the active color's capacity).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl import other_color
from bgctl.sandbox.network import build_vpc
from bgctl.sandbox.preview import preview_secret
from bgctl.sandbox.samplebuilds import ACTIVE_VERSION, BUILDS_BUCKET, NO_VERSION, build_keys
from bgctl.sandbox.server import REGION
from bgctl.sandbox.topology import initial_capacity, serving_min
from bgctl.wiring import version_param

if TYPE_CHECKING:
    from bgctl.envspec import EnvSpec
    from bgctl.sandbox.clients import SandboxClients

LOGS_BUCKET = "compiler-explorer-logs"
CERT_DOMAIN = "godbolt.org"
AMI_STAMP = "20250601000000"  # packer's timestamp: RFC 3339 without separators


@dataclass(frozen=True)
class Seeded:
    vpc_id: str
    private_subnet_ids: tuple[str, ...]
    public_subnet_ids: tuple[str, ...]
    certificate_arn: str
    amis: dict[str, str]  # AMI name -> id


def _self_signed_certificate(domain: str) -> tuple[bytes, bytes]:
    """A throw-away self-signed certificate and key (PEM) for ``domain``, for ACM ImportCertificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(domain), x509.DNSName(f"*.{domain}")]), False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass(frozen=True)
class AmiWanted:
    name: str
    architecture: str
    windows: bool


def amis_wanted(envs_dir: Path, env_names: Iterable[str]) -> list[AmiWanted]:
    """One AMI per (name pattern, architecture) the roots ask for, named like a packer build."""
    from bgctl.envspec import load_env_spec, module_call

    wanted: dict[tuple[str, str], AmiWanted] = {}
    for env in env_names:
        spec = load_env_spec(env, envs_dir)
        pattern = str(module_call(envs_dir / env)["ami_name_pattern"])
        name = pattern.replace("*", AMI_STAMP)
        wanted[(name, spec.architecture)] = AmiWanted(name, spec.architecture, spec.os == "windows")
    return sorted(wanted.values(), key=lambda a: a.name)


def _source_image(clients: SandboxClients, architecture: str, windows: bool) -> str:
    """One of moto's built-in images with that architecture (copy_image keeps it; register_image
    ignores the architecture it is given)."""
    filters: list[Any] = [{"Name": "architecture", "Values": [architecture]}]
    if windows:
        filters.append({"Name": "platform", "Values": ["windows"]})
    images = clients.ec2.describe_images(Filters=filters)["Images"]
    if not windows:
        images = [i for i in images if i.get("Platform") != "windows"]
    if not images:
        raise RuntimeError(
            f"moto has no built-in {architecture} {'Windows ' if windows else ''}image to copy"
        )
    return str(sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"])


def seed(
    clients: SandboxClients,
    envs_dir: Path,
    env_names: Sequence[str],
    *,
    region: str = REGION,
    logs_bucket: str = LOGS_BUCKET,
) -> Seeded:
    """Create the pre-existing pieces in an empty moto (terraform/README.md, "Who owns what"), in
    ``region`` with that region's ``clients``. The builds bucket is global (S3): only the home region
    creates it; every region has its own VPC, logs bucket, certificate, AMIs and preview secret."""
    home = region == REGION
    ec2 = clients.ec2
    vpc_id, private, public = build_vpc(clients, region, named_subnets=True)
    if home:
        for bucket in (BUILDS_BUCKET, logs_bucket):
            clients.s3.create_bucket(Bucket=bucket)
        for key, body in build_keys(env_names).items():
            content_type = "application/json" if key.endswith(".json") else "application/x-xz"
            clients.s3.put_object(Bucket=BUILDS_BUCKET, Key=key, Body=body, ContentType=content_type)
    else:
        clients.s3.create_bucket(
            Bucket=logs_bucket,
            CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
        )
    # The preview routes' secret (preview.tf reads it): an operator creates it once, outside Terraform.
    wanted = {s.preview_secret_parameter for s in _specs(envs_dir, env_names) if s.preview_secret_parameter}
    for name in sorted(wanted):
        preview_secret(clients, name)
    cert_pem, key_pem = _self_signed_certificate(CERT_DOMAIN)
    cert_arn = clients.acm.import_certificate(Certificate=cert_pem, PrivateKey=key_pem)["CertificateArn"]
    amis: dict[str, str] = {}
    for ami in amis_wanted(envs_dir, env_names):
        source = _source_image(clients, ami.architecture, ami.windows)
        amis[ami.name] = ec2.copy_image(
            Name=ami.name,
            SourceImageId=source,
            SourceRegion=region,
            Description=f"sandbox {ami.architecture}",
        )["ImageId"]
    return Seeded(vpc_id, private, public, str(cert_arn), amis)


def _specs(envs_dir: Path, env_names: Sequence[str]) -> list[EnvSpec]:
    from bgctl.envspec import load_env_spec

    return [load_env_spec(name, envs_dir) for name in env_names]


def after_apply(clients: SandboxClients, specs: Iterable[EnvSpec]) -> None:
    """What the deploy tool owns on a live system: versions per color, the active color's capacity and
    its serving minimum (Terraform creates both groups at min 0; the first deploy raises it)."""
    for spec in specs:
        active = spec.active_color
        for color, value in ((active, ACTIVE_VERSION), (other_color(active), NO_VERSION)):
            clients.ssm.put_parameter(
                Name=version_param(spec.name, color), Value=value, Type="String", Overwrite=True
            )
        clients.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=f"{spec.name}-{active}",
            MinSize=serving_min(spec),
            DesiredCapacity=initial_capacity(spec),
        )
