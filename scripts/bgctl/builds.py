"""The builds bucket: which versions exist, on which branch, how big, how new; compiler discovery.

Builds are named as compiler-explorer/infra's CI uploads them (``bgctl.buildkeys``):
``dist/gh/<branch>/<N>.tar.xz`` for Linux environments, ``<N>.zip`` for Windows ones (the wiring's
``builds.suffix``); the tool calls build ``<N>`` ``gh-<N>``.

Compiler discovery (``dist/discovery/<dir>/gh-<N>.json``) follows compiler-explorer/infra too: prod's
directory is ``release`` (the branch its instances boot), every other environment's is its name; it
is required for every environment but wintest; a missing file may be promoted from the environment's
sources (prod: staging, then beta; winprod: winstaging), copied public-read because instances fetch
it anonymously.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError

from bgctl.aws import Clients, aws_errors, error_code, paginate
from bgctl.buildkeys import SUFFIXES, find_build_key, parse_build_key
from bgctl.errors import BlueGreenError, RefusedError, WiringError
from bgctl.state import EnvState
from bgctl.wiring import Wiring

# compiler-explorer/infra's discovery layout (bin/lib/discovery.py, bin/lib/env.py).
DISCOVERY_DIRS = {"prod": "release"}
DISCOVERY_SOURCES: dict[str, tuple[str, ...]] = {"prod": ("staging", "beta"), "winprod": ("winstaging",)}
DISCOVERY_OPTIONAL = ("wintest",)
DISCOVERY_ACL: Final = "public-read"


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


def build_suffixes(wiring: Wiring) -> tuple[str, ...]:
    """The file suffixes of this environment's builds (``.tar.xz`` or ``.zip``; both if unpublished)."""
    return (wiring.builds.suffix,) if wiring.builds.suffix else SUFFIXES


def list_builds(clients: Clients, st: EnvState, *, branch: str | None = None) -> list[Build]:
    """Every build of this environment's kind under the wiring's builds prefix, newest first (by build
    number, then date)."""
    if st.wiring is None:
        raise WiringError(st.wiring_error or f"{st.env}: no wiring")
    builds = st.wiring.builds
    suffixes = build_suffixes(st.wiring)
    prefix = builds.prefix + (f"{branch}/" if branch else "")
    with aws_errors(f"s3:ListObjectsV2 s3://{builds.bucket}/{prefix}"):
        objects = paginate(clients.s3, "list_objects_v2", "Contents", Bucket=builds.bucket, Prefix=prefix)
    found: list[Build] = []
    for obj in objects:
        build = parse_build_key(obj["Key"][len(builds.prefix) :], suffixes)
        if build is None:
            continue
        found.append(
            Build(
                version=build.version,
                number=build.number,
                branch=build.branch,
                size=int(obj.get("Size", 0)),
                modified=obj["LastModified"],
                key=obj["Key"],
            )
        )
    return sorted(found, key=lambda b: (b.number, b.modified), reverse=True)


def build_key(clients: Clients, wiring: Wiring, version: str) -> str | None:
    """The full key of build ``version`` (gh-N) of this environment's kind, on any branch; None if
    there is none."""
    return find_build_key(
        clients.s3, wiring.builds.bucket, wiring.builds.prefix, version, build_suffixes(wiring)
    )


def build_exists(clients: Clients, wiring: Wiring, version: str) -> bool:
    """Build ``version`` (gh-N: ``<N>.tar.xz``, or ``<N>.zip`` for Windows) exists on some branch."""
    return build_key(clients, wiring, version) is not None


def discovery_dir(env: str) -> str:
    """The discovery directory of ``env``: ``release`` for prod (its instances' branch), else ``env``."""
    return DISCOVERY_DIRS.get(env, env)


def discovery_required(env: str) -> bool:
    """Every environment but wintest deploys only with compiler discovery (or an operator's yes)."""
    return env not in DISCOVERY_OPTIONAL


def discovery_sources(env: str) -> tuple[str, ...]:
    """Environments whose discovery ``env`` may take, in order (none for most)."""
    return DISCOVERY_SOURCES.get(env, ())


def discovery_key(wiring: Wiring, env: str, version: str) -> str:
    """Where compiler discovery for ``env``/``version`` lives in the builds bucket."""
    return f"{wiring.builds.discovery_prefix}{discovery_dir(env)}/{version}.json"


def discovery_source_with(clients: Clients, wiring: Wiring, env: str, version: str) -> str | None:
    """The first of ``env``'s sources that has discovery for ``version``; None when none has."""
    bucket = wiring.builds.bucket
    return next(
        (
            s
            for s in discovery_sources(env)
            if object_exists(clients, bucket, discovery_key(wiring, s, version))
        ),
        None,
    )


def object_exists(clients: Clients, bucket: str, key: str) -> bool:
    try:
        clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise BlueGreenError(f"checking s3://{bucket}/{key} failed: {error_code(exc)}") from exc
    return True


def copy_discovery(clients: Clients, wiring: Wiring, env: str, source_env: str, version: str) -> None:
    """Copy discovery of ``version`` to ``env`` from the first of its sources that has it, public-read
    (instances fetch it anonymously; a copy is private unless told otherwise); RefusedError when it
    fails or the copy is not there afterwards (the deployment must not go on without it).

    ``source_env`` is tried first when it is one of ``env``'s sources (or ``env`` has none configured);
    an environment's own sources always win over another environment's (winprod copies from winstaging,
    never from Linux staging)."""
    bucket = wiring.builds.bucket
    sources = discovery_sources(env)
    candidates = [source_env] if (not sources or source_env in sources) else []
    candidates += [s for s in sources if s not in candidates]
    source_env = next(
        (s for s in candidates if object_exists(clients, bucket, discovery_key(wiring, s, version))),
        candidates[0],
    )
    key, source = discovery_key(wiring, env, version), discovery_key(wiring, source_env, version)
    try:
        clients.s3.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source}, ACL=DISCOVERY_ACL
        )
    except (ClientError, BotoCoreError) as exc:
        raise RefusedError(
            f"copying discovery s3://{bucket}/{source} -> {key} failed: {exc}; deployment failed",
            hint=f"run compiler discovery for {env}/{version}, then deploy again",
        ) from exc
    if not object_exists(clients, bucket, key):
        raise RefusedError(f"discovery for {env}/{version} still missing after the copy; deployment failed")
