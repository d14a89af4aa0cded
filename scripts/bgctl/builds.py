"""The builds bucket: which versions exist, on which branch, how big, how new; compiler discovery."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from bgctl.aws import Clients, aws_errors, error_code, paginate
from bgctl.errors import BlueGreenError, RefusedError, WiringError
from bgctl.state import EnvState
from bgctl.wiring import Wiring

BUILD_KEY = re.compile(r"^(?P<branch>.+)/(?P<version>gh-(?P<number>[0-9]+))\.tar\.(?:xz|gz|zst)$")


@dataclass(frozen=True)
class Build:
    version: str
    number: int
    branch: str
    size: int
    modified: datetime
    key: str

    def to_doc(self) -> dict[str, object]:
        return {
            "version": self.version,
            "branch": self.branch,
            "size": self.size,
            "modified": self.modified.isoformat(),
            "key": self.key,
        }


def list_builds(clients: Clients, st: EnvState, *, branch: str | None = None) -> list[Build]:
    """Every build under the wiring's builds prefix, newest first (by build number, then date)."""
    if st.wiring is None:
        raise WiringError(st.wiring_error or f"{st.env}: no wiring")
    builds = st.wiring.builds
    prefix = builds.prefix + (f"{branch}/" if branch else "")
    with aws_errors(f"s3:ListObjectsV2 s3://{builds.bucket}/{prefix}"):
        objects = paginate(clients.s3, "list_objects_v2", "Contents", Bucket=builds.bucket, Prefix=prefix)
    found: list[Build] = []
    for obj in objects:
        match = BUILD_KEY.match(obj["Key"][len(builds.prefix) :])
        if not match:
            continue
        found.append(
            Build(
                version=match["version"],
                number=int(match["number"]),
                branch=match["branch"],
                size=int(obj.get("Size", 0)),
                modified=obj["LastModified"],
                key=obj["Key"],
            )
        )
    return sorted(found, key=lambda b: (b.number, b.modified), reverse=True)


def build_exists(clients: Clients, wiring: Wiring, version: str) -> bool:
    """A build object named ``{version}.*`` exists under the builds prefix (any branch)."""
    prefix = wiring.builds.prefix
    with aws_errors("s3:ListObjectsV2 (builds)"):
        objects = paginate(
            clients.s3, "list_objects_v2", "Contents", Bucket=wiring.builds.bucket, Prefix=prefix
        )
    return any(obj["Key"].rsplit("/", 1)[-1].startswith(f"{version}.") for obj in objects)


def discovery_key(wiring: Wiring, env: str, version: str) -> str:
    """Where compiler discovery for ``env``/``version`` lives in the builds bucket."""
    return f"{wiring.builds.discovery_prefix}{env}/{version}.json"


def object_exists(clients: Clients, bucket: str, key: str) -> bool:
    try:
        clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise BlueGreenError(f"checking s3://{bucket}/{key} failed: {error_code(exc)}") from exc
    return True


def copy_discovery(clients: Clients, wiring: Wiring, env: str, source_env: str, version: str) -> None:
    """Copy ``source_env``'s discovery of ``version`` to ``env``; RefusedError when it fails or the
    copy is not there afterwards (the deployment must not go on without it)."""
    bucket = wiring.builds.bucket
    key, source = discovery_key(wiring, env, version), discovery_key(wiring, source_env, version)
    try:
        clients.s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
    except (ClientError, BotoCoreError) as exc:
        raise RefusedError(
            f"copying discovery s3://{bucket}/{source} -> {key} failed: {exc}; deployment failed",
            hint=f"run compiler discovery for {env}/{version}, then deploy again",
        ) from exc
    if not object_exists(clients, bucket, key):
        raise RefusedError(f"discovery for {env}/{version} still missing after the copy; deployment failed")
