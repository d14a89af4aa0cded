"""Preview routes (issue 15): unique priorities in the right order on the shared listeners, restricted,
forwarding to their own color; the checks fail on broken copies of the tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tf_preview as tp

from bgctl import REPO_ROOT

TERRAFORM = REPO_ROOT / "terraform"


def test_preview_routes_of_the_real_tree() -> None:
    assert tp.check_preview_priorities(TERRAFORM / "envs") == []
    assert tp.check_preview_module(TERRAFORM / "modules" / "blue_green") == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    dest = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, dest, ignore=shutil.ignore_patterns(".terraform*"))
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("env", "old", "new", "problem"),
    [
        (
            "staging",
            "{ blue = 109, green = 110 }",
            "{ blue = 99, green = 110 }",
            "rule priority 99 is used by several",
        ),
        ("beta", "{ blue = 99, green = 100 }", "{ blue = 99, green = 102 }", "not below its rule's 101"),
        ("prod", "{ blue = 210, green = 211 }", "{ blue = 5, green = 211 }", "evaluated before path rule"),
        (
            "gpu",
            "  preview_rule_priorities = { blue = 119, green = 120 }\n",
            "",
            "env gpu: no preview routes",
        ),
        (
            "wintest",
            "  preview_rule_priorities",
            "  preview_secret_parameter = null\n  preview_rule_priorities",
            "env wintest: preview routes are unrestricted",
        ),
    ],
)
def test_broken_preview_priorities_are_named(tree: Path, env: str, old: str, new: str, problem: str) -> None:
    _edit(tree / "envs" / env / "main.tf", old, new)
    problems = tp.check_preview_priorities(tree / "envs")
    assert any(problem in p for p in problems), problems


def test_a_preview_rule_that_follows_active_color_is_named(tree: Path) -> None:
    module = tree / "modules" / "blue_green"
    _edit(
        module / "preview.tf",
        "aws_lb_target_group.this[each.value.color].arn",
        "aws_lb_target_group.this[var.active_color].arn",
    )
    problems = tp.check_preview_module(module)
    assert "aws_lb_listener_rule.preview references var.active_color" in problems
