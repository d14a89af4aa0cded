"""Regions: where each environment exists, read from the Terraform roots (never a second list).

An environment's **home region** is the ``region`` of the ``aws`` provider in its root,
``terraform/envs/<env>/providers.tf``. An environment that also runs in another region has a second
root for it, ``terraform/envs-<region>/<env>/``: the same module call with that region's provider,
backend key and lookups, its own state, its own color file and, in that region, its own SSM
parameters (wiring, colors, versions, lock with its journal, history). The module knows nothing of
regions beyond its provider.

So a region is just another directory of roots: everything the tool does with ``envs_dir / env``
(color files, the Terraform driver, git drift and commits) works unchanged once ``envs_dir`` is the
region's directory and the AWS clients are that region's. ``scoped`` does exactly that to a
``Settings``; nothing else in the library needs to know about regions.

Bad input is a usage error before any AWS call: a string that is not a region name, or a region the
environment has no root for (the message names the regions it has).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from bgctl.envspec import EnvSpecError, environment_names, load_hcl_dir
from bgctl.errors import UsageError
from bgctl.settings import Settings

REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
REGIONAL_PREFIX = "envs-"
SHARED_NAME = "shared"
SHARED_PREFIX = "shared-"


@dataclass(frozen=True)
class Target:
    """One (environment, region) pair and the directory holding its root."""

    env: str
    region: str
    envs_dir: Path
    home: bool

    @property
    def root(self) -> Path:
        return self.envs_dir / self.env

    @property
    def flag(self) -> str:
        """How a command line names this region: nothing for the home region."""
        return "" if self.home else f" --region {self.region}"

    def describe(self) -> str:
        return f"{self.env} in {self.region}" + (" (home)" if self.home else "")


def check_region_name(region: str) -> str:
    if not REGION_RE.match(region):
        raise UsageError(f"unknown region {region!r}: expected an AWS region name such as us-east-1")
    return region


def parse_regions(text: str) -> tuple[str, ...]:
    """``us-east-1,eu-west-1`` -> the regions in order; each named once."""
    regions = tuple(r.strip() for r in text.split(",") if r.strip())
    if not regions:
        raise UsageError("--regions needs at least one region, e.g. --regions us-east-1,eu-west-1")
    for region in regions:
        check_region_name(region)
    if len(set(regions)) != len(regions):
        raise UsageError(f"--regions names a region twice: {text!r}")
    return regions


def provider_region(root: Path) -> str | None:
    """The literal ``region`` of the root's ``aws`` provider, or None when it has none."""
    try:
        providers = load_hcl_dir(root).get("provider", [])
    except EnvSpecError:
        return None
    for block in providers:
        aws = block.get("aws") if isinstance(block, dict) else None
        region = aws.get("region") if isinstance(aws, dict) else None
        if isinstance(region, str) and "${" not in region:
            return region
    return None


def regional_dir(home_envs_dir: Path, region: str) -> Path:
    """The directory of the roots of ``region`` beside the home roots: ``terraform/envs-<region>``."""
    return home_envs_dir.parent / f"{REGIONAL_PREFIX}{region}"


def regional_dirs(home_envs_dir: Path) -> dict[str, Path]:
    """Every extra region's directory of roots, by region (sorted)."""
    parent = home_envs_dir.parent
    if not parent.is_dir():
        return {}
    found = {
        p.name[len(REGIONAL_PREFIX) :]: p
        for p in parent.iterdir()
        if p.is_dir() and p.name.startswith(REGIONAL_PREFIX) and p != home_envs_dir
    }
    return {r: found[r] for r in sorted(found) if REGION_RE.match(r)}


def home_region(env: str, home_envs_dir: Path, fallback: str | None = None) -> str | None:
    """The region of the environment's home root (``fallback`` when its provider names none)."""
    return provider_region(home_envs_dir / env) or fallback


def targets_of(env: str, home_envs_dir: Path, fallback: str | None = None) -> list[Target]:
    """Every region ``env`` has a root in: home first, then the extra regions (sorted)."""
    home = home_region(env, home_envs_dir, fallback)
    # No region known at all: the home target has none, and the AWS clients say so (one line, the fix).
    known = env in environment_names(home_envs_dir)
    targets = [Target(env, home or "", home_envs_dir, True)] if known else []
    for region, directory in regional_dirs(home_envs_dir).items():
        if region != home and env in environment_names(directory):
            targets.append(Target(env, region, directory, False))
    return targets


def all_targets(home_envs_dir: Path, fallback: str | None = None) -> list[Target]:
    """One target per (environment, region), environments sorted, home region first."""
    return [t for env in environment_names(home_envs_dir) for t in targets_of(env, home_envs_dir, fallback)]


def target(env: str, region: str | None, home_envs_dir: Path, fallback: str | None = None) -> Target:
    """The (env, region) to act on: the home region when ``region`` is None. A usage error (before any
    AWS call) for a malformed region, one the environment has no root in, or a root aimed elsewhere."""
    if region is not None:
        check_region_name(region)
    found = targets_of(env, home_envs_dir, fallback)
    if not found:
        raise UsageError(f"unknown environment {env!r}: no root at {home_envs_dir / env}")
    if region is None:
        return found[0]
    for t in found:
        if t.region == region:
            if not t.home:
                check_root_region(t)
            return t
    have = ", ".join(t.region for t in found) or "none"
    raise UsageError(
        f"{env} has no root in {region} (its regions: {have})",
        hint=f"a region is added with a root at {regional_dir(home_envs_dir, region) / env}",
    )


def check_root_region(t: Target) -> None:
    """A regional root's provider must be aimed at the region its directory names."""
    aimed = provider_region(t.root)
    if aimed != t.region:
        raise UsageError(f"{t.root}: its aws provider's region is {aimed!r}, not {t.region}")


def scoped(settings: Settings, t: Target) -> Settings:
    """``settings`` for one (env, region): that region's AWS clients, directory of roots and load
    balancer for the smoke tests."""
    region = t.region or settings.region
    return replace(settings, region=region, envs_dir=t.envs_dir, preview_url=settings.preview_url_in(region))


def home_dir_of(envs_dir: Path) -> Path:
    """The home directory of roots for ``envs_dir``, which may be a region's (``envs-<region>``)."""
    return envs_dir.parent / "envs" if region_of_dir(envs_dir) else envs_dir


def region_of_dir(envs_dir: Path) -> str | None:
    """The region a directory of roots is for: None for the home directory (``terraform/envs``)."""
    name = envs_dir.name
    if name.startswith(REGIONAL_PREFIX) and REGION_RE.match(name[len(REGIONAL_PREFIX) :]):
        return name[len(REGIONAL_PREFIX) :]
    return None


def flag_of(envs_dir: Path) -> str:
    """`` --region R`` for a region's directory of roots, "" for the home one (how hints name it)."""
    region = region_of_dir(envs_dir)
    return f" --region {region}" if region else ""


def shared_root(terraform_dir: Path, region: str | None = None) -> Path:
    """The shared root (ALB, security groups) of ``region``: ``terraform/shared`` for the home region
    (None), ``terraform/shared-<region>`` for an extra one. Instance roles are IAM, global: only the home
    shared root creates them (the regional one sets ``create_instance_roles = false``)."""
    if region is None:
        return terraform_dir / SHARED_NAME
    return terraform_dir / f"{SHARED_PREFIX}{check_region_name(region)}"


def regional_shared_roots(terraform_dir: Path) -> dict[str, Path]:
    """Every extra region's shared root (``terraform/shared-<region>`` with a ``main.tf``), by region."""
    if not terraform_dir.is_dir():
        return {}
    found = {
        p.name[len(SHARED_PREFIX) :]: p
        for p in terraform_dir.iterdir()
        if p.name.startswith(SHARED_PREFIX) and (p / "main.tf").is_file()
    }
    return {r: found[r] for r in sorted(found) if REGION_RE.match(r)}
