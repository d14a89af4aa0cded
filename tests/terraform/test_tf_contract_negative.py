"""The contract suite must fail on broken trees: copy terraform/ to tmp_path, break it, check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tf_contract as tc

from bgctl import REPO_ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    dest = tmp_path / "terraform"
    shutil.copytree(REPO_ROOT / "terraform", dest, ignore=shutil.ignore_patterns(".terraform*"))
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _module(tree: Path) -> Path:
    return tree / "modules" / "blue_green"


def _shared(tree: Path) -> Path:
    return tree / "modules" / "shared_lookups"


def test_the_copied_tree_passes(tree: Path) -> None:
    assert tc.check_env_roots(tree / "envs") == []
    assert tc.check_module_inputs(tree / "envs") == []
    assert tc.check_literal_values(tree / "envs") == []
    assert tc.check_shared_lookups(tree / "envs") == []
    assert tc.check_active_color_references(_module(tree)) == []
    assert tc.check_color_files(tree / "envs", _module(tree)) == []


def test_renaming_a_module_variable_names_each_env_and_the_input(tree: Path) -> None:
    _edit(_module(tree) / "variables.tf", 'variable "asg_max_size" {', 'variable "max_instances" {')
    problems = tc.check_module_inputs(tree / "envs")
    for env in tc.ENVIRONMENTS:
        assert any(f"env {env}:" in p and "'asg_max_size'" in p and "unknown" in p for p in problems), (
            problems
        )
        assert any(f"env {env}:" in p and "'max_instances'" in p and "required" in p for p in problems), (
            problems
        )


def test_a_missing_required_input_is_named(tree: Path) -> None:
    _edit(tree / "envs" / "gpu" / "main.tf", '  instance_type    = "g4dn.xlarge"\n', "")
    assert tc.check_module_inputs(tree / "envs") == [
        "env gpu: module blue_green input 'instance_type' is required (no default) but not passed"
    ]


def test_renaming_a_shared_lookups_variable_names_each_env_and_the_input(tree: Path) -> None:
    _edit(_shared(tree) / "variables.tf", 'variable "lookup_listeners" {', 'variable "read_listeners" {')
    problems = tc.check_module_inputs(tree / "envs")
    for env in tc.ENVIRONMENTS:
        assert f"env {env}: module shared has no input 'lookup_listeners' (unknown argument)" in problems, (
            problems
        )
        assert (
            f"env {env}: module shared input 'read_listeners' is required (no default) but not passed"
            in problems
        ), problems
    assert len(problems) == 2 * len(tc.ENVIRONMENTS), problems


def test_a_module_source_that_is_not_a_module_is_named(tree: Path) -> None:
    _edit(
        tree / "envs" / "beta" / "main.tf", '"../../modules/shared_lookups"', '"../../modules/shared_lookup"'
    )
    problems = tc.check_module_inputs(tree / "envs")
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "env beta: module shared source '../../modules/shared_lookup' is not a module"
    )
    assert any(
        "env beta: module 'shared' source is '../../modules/shared_lookup'" in p
        for p in tc.check_env_roots(tree / "envs")
    )


def test_a_root_without_the_shared_call_is_named(tree: Path) -> None:
    _edit(tree / "envs" / "staging" / "main.tf", 'module "shared" {', 'module "lookups" {')
    assert tc.check_env_roots(tree / "envs") == ["env staging: does not call module 'shared'"]


def test_prod_looking_up_its_own_listeners_is_named(tree: Path) -> None:
    _edit(
        tree / "envs" / "prod" / "main.tf", "  lookup_listeners      = false\n", "  lookup_listeners = true\n"
    )
    _edit(tree / "envs" / "gpu" / "main.tf", "lookup_listeners      = true", "lookup_listeners = false")
    problems = tc.check_shared_lookups(tree / "envs")
    assert len(problems) == 2, problems
    assert any(
        p.startswith("env prod: module shared lookup_listeners = true") and "'listener_default'" in p
        for p in problems
    )
    assert any(
        p.startswith("env gpu: module shared lookup_listeners = false") and "'path_rule'" in p
        for p in problems
    )


def test_a_non_literal_or_wrongly_typed_lookup_listeners_is_named(tree: Path) -> None:
    _edit(tree / "envs" / "wintest" / "main.tf", "lookup_listeners      = true", 'lookup_listeners = "yes"')
    assert tc.check_literal_values(tree / "envs") == [
        "env wintest: module shared input lookup_listeners = 'yes' does not match type bool"
    ]
    assert tc.check_shared_lookups(tree / "envs") == [
        "env wintest: module shared lookup_listeners must be a literal true or false"
    ]


def test_a_shared_lookups_validation_names_env_and_module(tree: Path) -> None:
    _edit(
        tree / "envs" / "beta" / "main.tf",
        "  alb_name              = var.alb_name\n",
        '  alb_name = "no_underscores"\n',
    )
    problems = tc.check_literal_values(tree / "envs")
    assert problems == [
        "env beta: module shared input alb_name = 'no_underscores' fails validation: "
        "alb_name must be 1-32 letters, digits or hyphens, starting with a letter or digit."
    ]


def test_a_root_repeating_a_shared_lookup_is_named(tree: Path) -> None:
    _edit(
        tree / "envs" / "aarch64staging" / "main.tf",
        'module "shared" {',
        'data "aws_vpc" "this" {\n  tags = {\n    Name = "CompilerExplorer"\n  }\n}\n\nmodule "shared" {',
    )
    problems = tc.check_shared_lookups(tree / "envs")
    assert len(problems) == 1, problems
    assert problems[0].startswith("env aarch64staging: data.aws_vpc.this repeats a lookup of module shared")


def test_active_color_passed_to_the_shared_lookups_is_caught(tree: Path) -> None:
    _edit(
        tree / "envs" / "beta" / "main.tf",
        "  alb_name              = var.alb_name\n",
        "  alb_name              = var.active_color\n",
    )
    assert tc.check_env_active_color_use(tree / "envs") == [
        "env beta: module shared.alb_name uses var.active_color; only module.blue_green.active_color may"
    ]


def test_active_color_in_an_asg_breaks_the_switch_invariant(tree: Path) -> None:
    _edit(
        _module(tree) / "main.tf",
        '  health_check_type         = "ELB"\n',
        '  health_check_type         = "ELB"\n  capacity_rebalance        = var.active_color == each.key\n',
    )
    problems = tc.check_active_color_references(_module(tree))
    assert len(problems) == 1, problems
    assert "aws_autoscaling_group.this" in problems[0]
    assert "capacity_rebalance" in problems[0]


def test_active_color_smuggled_through_a_local_is_caught(tree: Path) -> None:
    _edit(_module(tree) / "main.tf", "locals {\n", "locals {\n  live = var.active_color\n")
    _edit(
        _module(tree) / "main.tf",
        '    Color       = each.key\n  })\n}\n\nresource "aws_launch_template"',
        '    Color       = each.key\n    Live        = local.live\n  })\n}\n\nresource "aws_launch_template"',
    )
    problems = tc.check_active_color_references(_module(tree))
    assert any("aws_lb_target_group.this" in p and "local.live" in p for p in problems), problems


def test_active_color_in_the_wiring_is_caught(tree: Path) -> None:
    _edit(
        _module(tree) / "main.tf", "    routing           = var.routing\n", "    routing = var.active_color\n"
    )
    problems = tc.check_active_color_references(_module(tree))
    assert any("aws_ssm_parameter.wiring" in p and "local.wiring" in p for p in problems), problems


def test_active_color_in_a_listener_rule_condition_is_caught(tree: Path) -> None:
    _edit(
        _module(tree) / "traffic.tf",
        "  priority     = var.rule_priority\n",
        '  priority     = var.active_color == "blue" ? 1 : 2\n',
    )
    problems = tc.check_active_color_references(_module(tree))
    assert any("aws_lb_listener_rule.this" in p and "priority" in p for p in problems), problems


def test_red_in_a_color_file_fails_with_the_validation_message(tree: Path) -> None:
    (tree / "envs" / "beta" / tc.COLOR_FILE).write_text(json.dumps({"active_color": "red"}) + "\n")
    problems = tc.check_color_files(tree / "envs", _module(tree))
    assert problems == [
        "env beta: active_color.auto.tfvars.json active_color = 'red': "
        'active_color must be "blue" or "green".'
    ]


def test_an_invalid_literal_fails_with_the_validation_message(tree: Path) -> None:
    _edit(tree / "envs" / "gpu" / "main.tf", "rule_priority      = 121", "rule_priority      = 0")
    _edit(
        tree / "envs" / "winprod" / "main.tf",
        "on_demand_percentage_above_base_capacity = 0",
        "on_demand_percentage_above_base_capacity = 150",
    )
    _edit(tree / "envs" / "beta" / "main.tf", 'os               = "linux"', 'os               = "macos"')
    problems = tc.check_literal_values(tree / "envs")
    assert (
        "env gpu: module blue_green input rule_priority = 0 fails validation: "
        "rule_priority must be a whole number from 1 to 50000." in problems
    )
    assert any(
        p.startswith("env winprod: module blue_green input on_demand_percentage_above_base_capacity = 150")
        and "0 to 100" in p
        for p in problems
    )
    assert (
        'env beta: module blue_green input os = \'macos\' fails validation: os must be "linux" or "windows".'
        in problems
    )
    assert len(problems) == 3, problems


def test_a_literal_of_the_wrong_type_is_named(tree: Path) -> None:
    _edit(
        tree / "envs" / "beta" / "main.tf",
        "asg_max_size              = 10",
        'asg_max_size              = "ten"',
    )
    assert tc.check_literal_values(tree / "envs") == [
        "env beta: module blue_green input asg_max_size = 'ten' does not match type number"
    ]


def test_an_environment_name_against_the_pattern(tree: Path) -> None:
    _edit(tree / "envs" / "beta" / "main.tf", 'environment  = "beta"', 'environment  = "Beta-1"')
    problems = tc.check_literal_values(tree / "envs")
    assert len(problems) == 1 and "environment must match ^[a-z][a-z0-9]{1,31}$" in problems[0], problems


def test_duplicate_priority_and_pattern_are_named(tree: Path) -> None:
    _edit(tree / "envs" / "staging" / "main.tf", "rule_priority      = 111", "rule_priority      = 101")
    _edit(tree / "envs" / "staging" / "main.tf", '["/staging*"]', '["/beta*"]')
    problems = tc.check_routing_unique(tree / "envs")
    assert "rule priority 101 is used by several environments: beta, staging" in problems
    assert "path pattern '/beta*' is used by several environments: beta, staging" in problems


def test_a_broad_pattern_evaluated_first_is_a_shadowing_error(tree: Path) -> None:
    _edit(tree / "envs" / "wintest" / "main.tf", '["/wintest*"]', '["/win*"]')
    problems = tc.check_routing_unique(tree / "envs")
    assert any("env wintest: '/win*' (priority 151)" in p and "winprod" in p for p in problems), problems
    assert any("winstaging" in p for p in problems), problems


def test_an_unpinned_provider_is_named(tree: Path) -> None:
    _edit(tree / "envs" / "prod" / "versions.tf", 'version = "~> 5.80"', 'version = ">= 5.80"')
    assert tc.check_version_pins(tree / "envs" / "prod", root=True) == [
        "prod: provider aws version '>= 5.80' is not pinned (use ~> or an upper bound)"
    ]


def test_a_missing_root_is_named(tree: Path) -> None:
    shutil.rmtree(tree / "envs" / "aarch64prod")
    assert tc.check_env_roots(tree / "envs") == [
        "env aarch64prod: no root module at " + str(tree / "envs" / "aarch64prod") + "/main.tf"
    ]
