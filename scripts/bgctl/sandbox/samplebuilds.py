"""The sandbox's builds bucket: sample builds as compiler-explorer/infra's CI names them, and the
compiler discovery files each environment's deploys look for.

S3 is global: the bucket is built once, with the home region's topology, and every region's wiring
points at it.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from bgctl.buildkeys import number_of
from bgctl.builds import discovery_dir

if TYPE_CHECKING:
    from bgctl.sandbox.clients import SandboxClients

BUILDS_BUCKET = "compiler-explorer"
BUILDS_PREFIX = "dist/gh/"
DISCOVERY_PREFIX = "dist/discovery/"
PARALLEL_CALLS = 8  # independent puts (parameters, objects) go out concurrently

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


def build_bucket(clients: SandboxClients, bucket: str, env_names: Iterable[str]) -> None:
    """Create ``bucket`` with the sample builds and the discovery files of ``env_names``."""
    clients.s3.create_bucket(Bucket=bucket)

    def put(item: tuple[str, bytes]) -> None:
        key, body = item
        content_type = "application/json" if key.endswith(".json") else "application/x-xz"
        clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    with ThreadPoolExecutor(PARALLEL_CALLS) as pool:
        list(pool.map(put, build_keys(env_names).items()))
