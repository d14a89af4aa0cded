"""The contract suite over the real tree: nine roots, one module, the switch invariant."""

from __future__ import annotations

from pathlib import Path

import pytest
import tf_contract as tc

from bgctl import REPO_ROOT

TERRAFORM = REPO_ROOT / "terraform"
ENVS = TERRAFORM / "envs"
MODULE = TERRAFORM / "modules" / "blue_green"
MODULES = sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())
SHARED = TERRAFORM / "shared"


def _ok(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def test_every_environment_root_exists_and_calls_the_modules() -> None:
    _ok(tc.check_env_roots(ENVS))


def test_the_modules_include_blue_green_and_shared_lookups() -> None:
    assert {"blue_green", "shared_lookups"} <= {p.name for p in MODULES}, MODULES


def test_module_calls_pass_all_required_inputs_and_no_unknown_ones() -> None:
    _ok(tc.check_module_inputs(ENVS))


def test_literal_values_match_types_and_pass_validation() -> None:
    _ok(tc.check_literal_values(ENVS))


def test_shared_pieces_are_looked_up_only_through_the_shared_module() -> None:
    _ok(tc.check_shared_lookups(ENVS))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_module_validation_has_a_checker(module: Path) -> None:
    _ok(tc.check_validation_coverage(module))


def test_every_variable_has_description_and_type() -> None:
    from bgctl.envspec import module_variables

    for directory in (*MODULES, *tc.env_dirs(ENVS)):
        for name, body in module_variables(directory).items():
            assert body.get("description"), f"{directory.name}: variable {name} has no description"
            assert body.get("type"), f"{directory.name}: variable {name} has no type"


def test_color_files_pass_the_active_color_validation() -> None:
    _ok(tc.check_color_files(ENVS, MODULE))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_active_color_is_referenced_only_by_traffic_and_color_parameters(module: Path) -> None:
    _ok(tc.check_active_color_references(module))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_canary_weight_is_referenced_only_by_the_traffic_actions(module: Path) -> None:
    _ok(tc.check_canary_weight_references(module))


def test_environment_roots_use_active_color_only_for_the_module_input() -> None:
    _ok(tc.check_env_active_color_use(ENVS))


def test_path_patterns_and_priorities_are_unique_across_environments() -> None:
    _ok(tc.check_routing_unique(ENVS))


@pytest.mark.parametrize("directory", [*MODULES, SHARED, *tc.env_dirs(ENVS)], ids=lambda p: p.name)
def test_version_constraints_are_pinned(directory: Path) -> None:
    _ok(tc.check_version_pins(directory, root=directory not in MODULES))


@pytest.mark.parametrize("directory", [SHARED, *tc.env_dirs(ENVS)], ids=lambda p: p.name)
def test_roots_have_locked_encrypted_state_and_a_guarded_provider(directory: Path) -> None:
    _ok(tc.check_backend_and_provider(directory, f"bluegreen/{directory.name}/terraform.tfstate"))


def test_asg_lifecycle_ignores_only_tool_owned_fields_with_comments() -> None:
    text = (MODULE / "main.tf").read_text(encoding="utf-8")
    for field in ("desired_capacity", "min_size", "suspended_processes"):
        line = next(
            (ln for ln in text.splitlines() if ln.strip().startswith(f"{field},") and "#" in ln),
            None,
        )
        assert line is not None, f"ignore_changes entry {field} without a one-line owner comment"
        assert "deploy tool" in line, f"ignore_changes {field}: comment must say the deploy tool owns it"
    assert "latest_version" in text, "launch template versions must be pinned to latest_version"


def test_launch_templates_are_pinned_and_metadata_tags_enabled() -> None:
    from bgctl.envspec import load_hcl_file

    doc = load_hcl_file(MODULE / "main.tf")
    resources = {
        (t, n): body for block in doc["resource"] for t, named in block.items() for n, body in named.items()
    }
    lt = resources[("aws_launch_template", "this")]
    meta = lt["metadata_options"][0]
    assert meta["instance_metadata_tags"] == "enabled"
    assert meta["http_tokens"] == "required"
    assert lt["block_device_mappings"][0]["ebs"][0]["encrypted"] is True
    asg = resources[("aws_autoscaling_group", "this")]
    versions = [s for _, s in tc._walk(asg) if "latest_version" in s or "$Latest" in s]
    assert versions, "ASG does not pin a launch template version"
    assert all("$Latest" not in v for v in versions), f"ASG uses $Latest: {versions}"
