"""Build keys in the builds bucket, named as compiler-explorer/infra's CI uploads them.

A build is ``<prefix><branch>/<N>.tar.xz`` (Linux) or ``<prefix><branch>/<N>.zip`` (Windows), for example
``dist/gh/main/12345.tar.xz``; beside a Linux build lie ``<N>.static.tar.xz`` (the CDN's static files)
and ``<N>.txt`` (the commit), which are not builds. The tool names a build ``gh-<N>`` (what the
version parameters, the history and the CLI show); ``<N>`` is the number in the file name. The full
key is what an instance's boot reads (docs/BOOT-CONTRACT.md).

No wiring here (hooks and asg use it without importing the wiring's module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bgctl.aws import aws_errors, paginate

SUFFIXES = (".tar.xz", ".zip")
VERSION = re.compile(r"^gh-(?P<number>[0-9]{1,9})$")
# Relative to the builds prefix: <branch>/<N>.tar.xz or <branch>/<N>.zip. "<N>.static.tar.xz" does not
# match: the number must be followed directly by the suffix.
BUILD_FILE = re.compile(r"^(?P<branch>.+)/(?P<number>[0-9]{1,9})(?P<suffix>\.tar\.xz|\.zip)$")


@dataclass(frozen=True)
class BuildFile:
    branch: str
    number: int
    suffix: str

    @property
    def version(self) -> str:
        return version_of(self.number)


def version_of(number: int | str) -> str:
    """``12345`` -> ``gh-12345``."""
    return f"gh-{int(number)}"


def number_of(version: str) -> str | None:
    """``gh-12345`` -> ``12345``; None for anything else."""
    match = VERSION.match(version)
    return match["number"] if match else None


def parse_build_key(relative: str, suffixes: tuple[str, ...] = SUFFIXES) -> BuildFile | None:
    """The build a key names (relative to the builds prefix), if it is one with one of ``suffixes``."""
    match = BUILD_FILE.match(relative)
    if match is None or match["suffix"] not in suffixes:
        return None
    return BuildFile(match["branch"], int(match["number"]), match["suffix"])


def find_build_key(
    s3: Any, bucket: str, prefix: str, version: str, suffixes: tuple[str, ...] = SUFFIXES
) -> str | None:
    """The full key of build ``version`` (gh-N) under ``prefix`` on any branch, first of ``suffixes``
    that exists (the newest upload if a number appears on two branches); None when there is none."""
    number = number_of(version)
    if number is None:
        return None
    with aws_errors(f"s3:ListObjectsV2 s3://{bucket}/{prefix}"):
        objects = paginate(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
    found: list[tuple[int, str, str]] = []  # (suffix preference, modified, key)
    for obj in objects:
        build = parse_build_key(str(obj["Key"])[len(prefix) :], suffixes)
        if build is not None and build.number == int(number):
            modified = obj.get("LastModified")
            stamp = modified.isoformat() if modified is not None else ""
            found.append((-suffixes.index(build.suffix), stamp, str(obj["Key"])))
    return max(found)[2] if found else None
