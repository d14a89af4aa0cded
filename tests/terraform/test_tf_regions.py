"""The contract suite over every extra region's roots (``terraform/envs-<region>/<env>``): each is an
environment's home root aimed at another region, with its own state and color file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tf_contract as tc

from bgctl import REPO_ROOT
from bgctl.envspec import is_literal, load_hcl_dir
from bgctl.regions import provider_region, regional_dirs, regional_shared_roots, shared_root

TERRAFORM = REPO_ROOT / "terraform"
ENVS = TERRAFORM / "envs"
MODULE = TERRAFORM / "modules" / "blue_green"
REGIONS = regional_dirs(ENVS)
ROOTS = [root for directory in REGIONS.values() for root in tc.env_dirs(directory)]


def _ok(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def _id(root: Path) -> str:
    return f"{root.parent.name}/{root.name}"


def test_there_is_at_least_one_extra_region() -> None:
    assert REGIONS, "no terraform/envs-<region> directory"
    assert ROOTS


@pytest.mark.parametrize("directory", list(REGIONS.values()), ids=lambda p: p.name)
def test_regional_roots_pass_the_contract(directory: Path) -> None:
    present = tuple(p.name for p in tc.env_dirs(directory))
    assert set(present) <= set(tc.ENVIRONMENTS), f"{directory}: roots of unknown environments"
    _ok(tc.check_env_roots(directory, present))
    _ok(tc.check_module_inputs(directory))
    _ok(tc.check_literal_values(directory))
    _ok(tc.check_shared_lookups(directory))
    _ok(tc.check_color_files(directory, MODULE))
    _ok(tc.check_env_active_color_use(directory))
    _ok(tc.check_routing_unique(directory))


@pytest.mark.parametrize("root", ROOTS, ids=_id)
def test_regional_root_has_its_own_state_and_a_provider_aimed_at_its_region(root: Path) -> None:
    region = root.parent.name.removeprefix("envs-")
    _ok(tc.check_version_pins(root, root=True))
    _ok(tc.check_backend_and_provider(root, f"bluegreen/{region}/{root.name}/terraform.tfstate"))
    assert provider_region(root) == region
    assert provider_region(ENVS / root.name) != region, "a region root must not repeat the home region"


@pytest.mark.parametrize("root", ROOTS, ids=_id)
def test_regional_root_differs_from_the_home_root_only_in_arguments_of_its_region(root: Path) -> None:
    """Same module, same literal settings (capacity, routing, instance types, protection): what differs
    between regions are the provider and the region's lookups, never the environment's shape."""
    home = tc.module_calls(ENVS / root.name)
    here = tc.module_calls(root)
    assert set(here) == set(home)
    for name, call in home.items():
        literal_home = {k: v for k, v in call.items() if is_literal(v)}
        literal_here = {k: v for k, v in here[name].items() if is_literal(v)}
        assert literal_here == literal_home, f"{_id(root)}: module {name} differs from its home root"


# -- one piece of code: regional roots and identical root files are symlinks --------------------------------
OWN_FILES = {"providers.tf", "backend.tf", "active_color.auto.tfvars.json", ".terraform.lock.hcl"}
COMMON = TERRAFORM / "common"


@pytest.mark.parametrize("root", ROOTS, ids=_id)
def test_a_regional_root_links_every_file_of_its_home_root_but_its_own_three(root: Path) -> None:
    """Only the provider (region), the backend (state key) and the color file are the region's own (and
    the lock file, which `make tf-lock` writes per root); the rest is the home root's file, symlinked."""
    home = ENVS / root.name
    wanted = {p.name for p in home.glob("*.tf")} - OWN_FILES
    links = {p.name for p in root.iterdir() if p.is_symlink()}
    assert links == wanted, f"{_id(root)}: symlinks {sorted(links)}, home .tf files {sorted(wanted)}"
    for name in links:
        assert (root / name).readlink() == Path("../../envs") / root.name / name
        assert (root / name).resolve() == (home / name).resolve()
    real = {p.name for p in root.iterdir() if not p.is_symlink()}
    assert real <= OWN_FILES, f"{_id(root)}: real files beyond its own: {sorted(real - OWN_FILES)}"


def test_identical_root_files_are_one_file_in_terraform_common() -> None:
    """versions.tf in every root; canary.tf, outputs.tf, variables.tf in every environment root;
    http_rule.tf in every path environment's: each a symlink to terraform/common, never a copy."""
    homes = tc.env_dirs(ENVS)
    expected: dict[Path, Path] = {TERRAFORM / "shared" / "versions.tf": COMMON / "versions.tf"}
    for home in homes:
        for name in ("versions.tf", "canary.tf", "outputs.tf", "variables.tf"):
            expected[home / name] = COMMON / name
        if home.name != "prod":
            expected[home / "http_rule.tf"] = COMMON / "http_rule.tf"
    for link, target in expected.items():
        assert link.is_symlink(), (
            f"{link.relative_to(REPO_ROOT)} is a copy: symlink {target.relative_to(REPO_ROOT)}"
        )
        assert link.resolve() == target.resolve()
    assert not (COMMON / "main.tf").exists(), "terraform/common is not a root"


# -- a region's shared root: the ALB and its groups, never the (global) instance roles -----------------------
SHARED = TERRAFORM / "shared"
SHARED_ROOTS = regional_shared_roots(TERRAFORM)


def test_every_extra_region_has_a_shared_root() -> None:
    assert set(SHARED_ROOTS) == set(REGIONS), "a region's roots look up its ALB: terraform/shared-<region>"


@pytest.mark.parametrize("region", sorted(SHARED_ROOTS))
def test_a_regional_shared_root_is_terraform_shared_aimed_at_its_region(region: str) -> None:
    root = SHARED_ROOTS[region]
    assert root == shared_root(TERRAFORM, region)
    wanted = {p.name for p in SHARED.glob("*.tf")} - OWN_FILES
    links = {p.name for p in root.iterdir() if p.is_symlink()}
    assert links == wanted
    assert all((root / n).readlink() == Path("../shared") / n for n in links)
    real = {p.name for p in root.iterdir() if not p.is_symlink()}
    assert real == {*OWN_FILES - {"active_color.auto.tfvars.json"}, "region.auto.tfvars.json"}
    _ok(tc.check_version_pins(root, root=True))
    _ok(tc.check_backend_and_provider(root, f"bluegreen/{region}/shared/terraform.tfstate"))
    assert provider_region(root) == region
    values = json.loads((root / "region.auto.tfvars.json").read_text())
    # IAM is global: terraform/shared creates the roles; a second root creating them would collide.
    assert values["create_instance_roles"] is False
    # An ALB writes access logs only to a bucket in its own region.
    home_default = next(
        v["logs_bucket"]["default"] for v in load_hcl_dir(SHARED)["variable"] if "logs_bucket" in v
    )
    assert values["logs_bucket"] != home_default
    assert region in values["logs_bucket"]
    assert (root / ".terraform.lock.hcl").read_text() == (SHARED / ".terraform.lock.hcl").read_text()
