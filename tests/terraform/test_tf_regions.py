"""The contract suite over every extra region's roots (``terraform/envs-<region>/<env>``): each is an
environment's home root aimed at another region, with its own state and color file."""

from __future__ import annotations

from pathlib import Path

import pytest
import tf_contract as tc

from bgctl import REPO_ROOT
from bgctl.envspec import is_literal
from bgctl.regions import provider_region, regional_dirs

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
