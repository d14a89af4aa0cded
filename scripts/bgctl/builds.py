"""The builds bucket: which versions exist, on which branch, how big, how new."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bgctl.aws import Clients, aws_errors, paginate
from bgctl.errors import WiringError
from bgctl.state import EnvState

BUILD_KEY = re.compile(r"^(?P<branch>.+)/(?P<version>gh-(?P<number>[0-9]+))\.tar\.(?:xz|gz|zst)$")


@dataclass(frozen=True)
class Build:
    version: str
    number: int
    branch: str
    size: int
    modified: datetime
    key: str


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
