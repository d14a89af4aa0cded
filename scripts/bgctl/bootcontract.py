"""The boot contract: what an instance reads to know which build to boot (docs/BOOT-CONTRACT.md).

Two contracts, chosen per environment by the module input ``boot_contract`` and published in the
wiring's ``boot``:

- ``user_data`` (a fresh account, the sandbox): the module's user data reads the SSM parameter
  ``/compiler-explorer/<env>/<color>/version`` (``gh-N``) of the instance's own ``Color`` tag.
- ``version_key`` (compiler-explorer/infra's AMIs): no user data. The AMI's boot scripts read the
  instance's ``Environment`` and ``Color`` tags, then the S3 object ``<version key>.<color>`` in the
  builds bucket, falling back to ``<version key>`` (the "live" key, e.g. ``version/release``) when the
  per-color object does not exist. The object's body is the build's full key
  (``dist/gh/main/12345.tar.xz``), fetched anonymously, so every object is written ``public-read``.

``record_color_build`` is what ``asg.record_version`` adds for ``version_key``; ``boot_read`` is the
instance's side, the contract's executable statement (the tests run it against what a deploy and a
rollback leave behind).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from bgctl.aws import aws_errors, error_code
from bgctl.buildkeys import SUFFIXES, find_build_key
from bgctl.errors import BlueGreenError

if TYPE_CHECKING:
    from bgctl.aws import Clients
    from bgctl.wiring import Wiring

VERSION_ACL: Final = "public-read"  # instances read version objects anonymously over HTTPS
NO_VERSION = "none"


def write_version_object(s3: Any, bucket: str, key: str, build: str) -> None:
    """Point ``key`` at ``build`` (a full build key), readable by anyone, as CE's boot scripts need."""
    with aws_errors(f"s3:PutObject s3://{bucket}/{key}"):
        s3.put_object(Bucket=bucket, Key=key, Body=build.encode(), ACL=VERSION_ACL, ContentType="text/plain")


def resolve_build(s3: Any, bucket: str, prefix: str, version: str, suffixes: tuple[str, ...]) -> str:
    """The full key of ``version``; BlueGreenError when there is no such build."""
    build = find_build_key(s3, bucket, prefix, version, suffixes)
    if build is None:
        raise BlueGreenError(
            f"no build {version} ({' or '.join(suffixes)}) under s3://{bucket}/{prefix}: "
            "cannot tell instances what to boot"
        )
    return build


def record_color_build(clients: Clients, wiring: Wiring, color: str, version: str | None) -> str | None:
    """With the ``version_key`` contract: point ``color``'s version object at ``version``'s build, or
    delete it when ``version`` is None/``none`` (the color then boots the live key, what it booted
    before it had one). Returns the build key written (None: nothing to do or deleted)."""
    boot = wiring.boot
    key = boot.key(color) if boot.contract == "version_key" else None
    if key is None:
        return None
    s3, bucket = clients.s3, wiring.builds.bucket
    if version in (None, NO_VERSION):
        with aws_errors(f"s3:DeleteObject s3://{bucket}/{key}"):
            s3.delete_object(Bucket=bucket, Key=key)
        return None
    assert version is not None  # narrowed above
    suffixes = (wiring.builds.suffix,) if wiring.builds.suffix else SUFFIXES
    build = resolve_build(s3, bucket, wiring.builds.prefix, version, suffixes)
    write_version_object(s3, bucket, key, build)
    return build


def read_object(s3: Any, bucket: str, key: str) -> str | None:
    """The body of ``key`` (stripped), None when it does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return bytes(body).decode().strip()


def boot_read(
    s3: Any, bucket: str, version_keys: Mapping[str, str], color: str | None, *, reads_color_key: bool = True
) -> str | None:
    """The build an instance boots under the ``version_key`` contract: ``<key>.<color>`` when the AMI
    reads it (the one AMI-side change, ``reads_color_key``) and it exists, else the live key. None when
    neither exists (the instance would not start)."""
    if reads_color_key and color is not None and color in version_keys:
        found = read_object(s3, bucket, version_keys[color])
        if found:
            return found
    return read_object(s3, bucket, version_keys["live"])
