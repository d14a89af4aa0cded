"""Canary weights in the blue_green module (issue 16): weight 0 renders today's plain forward, weight w a
sticky weighted forward to both target groups, the weight reaches nothing but the traffic action(s), and
the wiring names the module's per-color alarms.

The rendered checks run ``terraform test`` with a mock AWS provider (fixtures/canary.tftest.hcl) over a
copy of the module: no AWS, no moto, about ten seconds. They skip in one line where Terraform >= 1.10
with the hashicorp/aws provider is not available (its schema is needed even under a mock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import tf_contract as tc

from bgctl import REPO_ROOT

MODULE = REPO_ROOT / "terraform" / "modules" / "blue_green"
TFTEST = Path(__file__).parent / "fixtures" / "canary.tftest.hcl"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    dest = tmp_path / "terraform"
    shutil.copytree(REPO_ROOT / "terraform", dest, ignore=shutil.ignore_patterns(".terraform*"))
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The invariant, statically
# --------------------------------------------------------------------------------------------------
def test_the_weight_in_a_color_parameter_is_caught(tree: Path) -> None:
    module = tree / "modules" / "blue_green"
    _edit(
        module / "parameters.tf",
        "  value       = var.active_color\n",
        '  value       = "${var.active_color}/${var.canary_weight}"\n',
    )
    problems = tc.check_canary_weight_references(module)
    assert len(problems) == 1, problems
    assert "aws_ssm_parameter.active_color" in problems[0] and "var.canary_weight" in problems[0]
    assert tc.check_active_color_references(module) == []  # the color may be there, the weight not


def test_the_weight_smuggled_into_the_wiring_through_a_local_is_caught(tree: Path) -> None:
    module = tree / "modules" / "blue_green"
    _edit(
        module / "canary.tf",
        "    stickiness_seconds = var.canary_stickiness_seconds\n    alarms",
        "    stickiness_seconds = var.canary_stickiness_seconds * (local.weighted_forward == [] ? 1 : 2)\n"
        "    alarms",
    )
    problems = tc.check_canary_weight_references(module)
    assert any("aws_ssm_parameter.wiring" in p and "local.wiring" in p for p in problems), problems


def test_the_weight_in_an_alarm_is_caught(tree: Path) -> None:
    module = tree / "modules" / "blue_green"
    _edit(
        module / "canary.tf",
        "  threshold           = var.alarm_unhealthy_hosts\n",
        "  threshold           = var.alarm_unhealthy_hosts + var.canary_weight\n",
    )
    problems = tc.check_canary_weight_references(module)
    assert len(problems) == 1, problems
    assert "aws_cloudwatch_metric_alarm.unhealthy_hosts" in problems[0] and "threshold" in problems[0]


def test_a_root_using_the_weight_elsewhere_is_caught(tree: Path) -> None:
    _edit(
        tree / "envs" / "beta" / "main.tf",
        "  lookup_listeners      = true\n",
        "  lookup_listeners      = var.canary_weight > 0\n",
    )
    assert tc.check_env_active_color_use(tree / "envs") == [
        "env beta: module shared.lookup_listeners uses var.canary_weight; only "
        "module.blue_green.canary_weight may"
    ]


def test_a_color_file_may_carry_a_valid_weight_and_nothing_else(tree: Path) -> None:
    envs = tree / "envs"
    module = tree / "modules" / "blue_green"
    (envs / "beta" / tc.COLOR_FILE).write_text(json.dumps({"active_color": "green", "canary_weight": 10}))
    assert tc.check_color_files(envs, module) == []
    (envs / "beta" / tc.COLOR_FILE).write_text(json.dumps({"active_color": "green", "canary_weight": 150}))
    assert tc.check_color_files(envs, module) == [
        "env beta: active_color.auto.tfvars.json canary_weight = 150: "
        "canary_weight must be an integer from 0 to 99 (100 is a switch: change active_color)."
    ]
    (envs / "beta" / tc.COLOR_FILE).write_text(json.dumps({"active_color": "green", "weight": 10}))
    problems = tc.check_color_files(envs, module)
    assert len(problems) == 1 and "at most a canary_weight" in problems[0], problems


def test_every_root_passes_the_weight_from_its_color_file_to_the_module() -> None:
    from bgctl.envspec import module_variables

    for root in tc.env_dirs(REPO_ROOT / "terraform" / "envs"):
        call = tc.module_calls(root)[tc.MODULE_NAME]
        assert call.get("canary_weight") == "${var.canary_weight}", root.name
        assert module_variables(root)["canary_weight"].get("default") == 0, root.name


# --------------------------------------------------------------------------------------------------
# Rendered by Terraform (mock provider)
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def terraform() -> str:
    from bgctl.terraform import default_binary
    from bgctl.tfconfig import provider_status, terraform_version

    binary = default_binary()
    ok, reason = provider_status(binary)
    if not ok:
        pytest.skip(f"terraform test: {reason}")
    version = terraform_version(shutil.which(binary) or binary) or (0,)
    if version[:2] < (1, 7):
        pytest.skip(f"terraform test with mock providers needs Terraform >= 1.7, not {version}")
    return binary


def _run(binary: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    from bgctl.tfconfig import cli_config_env

    env = {**os.environ, **cli_config_env(), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [binary, *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_module_renders_weights_stickiness_and_alarm_names(terraform: str, tmp_path: Path) -> None:
    """weight 0: plain forward; 10: 90/10 with stickiness on both rules; 50 on prod's listeners; the
    wiring's canary.alarms are the alarms' names; 101 and 12.5 fail validation."""
    module = tmp_path / "blue_green"
    shutil.copytree(MODULE, module, ignore=shutil.ignore_patterns(".terraform*"))
    (module / "tests").mkdir()
    shutil.copy(TFTEST, module / "tests" / TFTEST.name)
    init = _run(terraform, ["init", "-backend=false", "-input=false"], module)
    assert init.returncode == 0, init.stdout + init.stderr
    result = _run(terraform, ["test"], module)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 0 failed" in result.stdout, result.stdout
