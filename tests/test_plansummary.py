"""The summary renderer: terminal and pull-request flavours, Terraform plans and API dry runs alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import StrictUndefined

from bgctl.planguard import load_plan
from bgctl.plansummary import (
    COMMENT_LIMIT,
    ColorHealth,
    TrafficChange,
    _environment,
    comment_marker,
    render_pr_comment,
    render_summary,
    summary_from_dry_run,
    summary_from_plan,
)

PLANS = Path(__file__).parent / "fixtures" / "plans"
PLAN_TEXT = "Terraform will perform the following actions:\n\n  # module.blue_green...\n\nPlan: 0 to add"


def _summary(name: str, env: str = "prod", health: ColorHealth | None = None, text: str = PLAN_TEXT):
    return summary_from_plan(env, load_plan(PLANS / name), text, health=health)


def test_prod_headline_names_listeners_and_parameters():
    s = _summary("switch_prod_listeners.json", health=ColorHealth("blue", 3, 3))
    out = render_summary(s)
    lines = out.splitlines()
    assert lines[0] == (
        "prod: traffic green -> blue (listeners :80 and :443, SSM active-color and "
        "active-target-group-arn), 0 other changes"
    )
    assert lines[1] == "health of blue: 3/3 healthy"
    assert "DESTROYS" not in out
    assert "forward -> arn:aws:elasticloadbalancing:us-east-1:052730242331:targetgroup/Prod-Blue/" in out
    assert out.rstrip().endswith("Plan: 0 to add")  # the full plan comes last


def test_path_headline_names_rules():
    s = _summary("switch_beta_path.json", env="beta")
    assert s.headline() == (
        "beta: traffic blue -> green (rules https and http, SSM active-color and active-target-group-arn), "
        "0 other changes"
    )


def test_unknown_health_says_why():
    s = _summary("switch_beta_path.json", health=ColorHealth.unknown("green", "no AWS credentials"))
    assert "health of green: unknown (no AWS credentials)" in render_summary(s)


@pytest.mark.parametrize(
    ("fixture", "word"),
    [("replace_target_group.json", "replaces"), ("deletes_scaling_policy.json", "destroys")],
)
def test_destroys_and_replaces_are_flagged_loudly(fixture, word):
    s = _summary(fixture, env="beta")
    term = render_summary(s)
    assert "!!! THIS PLAN DESTROYS OR REPLACES RESOURCES !!!" in term
    assert f"  {word} module.blue_green." in term
    md = render_pr_comment(s, artifact_url="https://example.invalid/a/1")
    assert "> [!CAUTION]" in md and f"> - {word} `module.blue_green." in md
    assert "1 other change" in s.headline()


def test_no_change_plan():
    s = _summary("no_change.json", env="beta")
    assert s.headline() == "beta: no changes"
    assert "!!!" not in render_summary(s)


def test_explicit_colors_win():
    s = summary_from_plan("beta", load_plan(PLANS / "no_change.json"), "", from_color="blue", to_color="blue")
    assert s.headline() == "beta: no changes (traffic stays on blue)"


def test_api_dry_run_has_the_same_shape_as_the_plan():
    tg = "arn:aws:elasticloadbalancing:us-east-1:052730242331:targetgroup/Prod-{}/x"
    dry = summary_from_dry_run(
        "prod",
        [
            TrafficChange(
                "listener",
                "listener :80 arn:l80",
                f"forward -> {tg.format('Green')}",
                f"forward -> {tg.format('Blue')}",
                label=":80",
            ),
            TrafficChange(
                "listener",
                "listener :443 arn:l443",
                f"forward -> {tg.format('Green')}",
                f"forward -> {tg.format('Blue')}",
                label=":443",
            ),
            TrafficChange(
                "ssm", "SSM /compiler-explorer/prod/active-color", "green", "blue", label="active-color"
            ),
            TrafficChange(
                "ssm",
                "SSM /compiler-explorer/prod/active-target-group-arn",
                tg.format("Green"),
                tg.format("Blue"),
                label="active-target-group-arn",
            ),
        ],
        from_color="green",
        to_color="blue",
        health=ColorHealth("blue", 2, 2),
    )
    plan = _summary("switch_prod_listeners.json")
    assert dry.headline() == plan.headline()
    out = render_summary(dry)
    assert out.splitlines()[0] == plan.headline()
    assert "traffic changes (API dry run):" in out
    assert "  SSM /compiler-explorer/prod/active-color\n    before: green\n    after:  blue" in out


def test_pr_comment_starts_with_the_marker_and_folds_the_plan():
    s = _summary("switch_prod_listeners.json")
    md = render_pr_comment(
        s, artifact_url="https://example.invalid/run/1/artifacts/2", artifact_name="plan-prod"
    )
    assert md.splitlines()[0] == comment_marker("prod") == "<!-- bluegreen-plan:prod -->"
    assert md.splitlines()[1].startswith("### prod: traffic green -> blue")
    assert "<details><summary>Full plan (5 lines)</summary>" in md
    assert "```text\n" + PLAN_TEXT + "\n```" in md
    assert "truncated" not in md
    assert "[plan-prod](https://example.invalid/run/1/artifacts/2)" in md


def test_pr_comment_stays_under_the_limit_with_a_pointer_to_the_artifact():
    huge = "\n".join(f'  ~ resource "x" "y{i}" {{ value = "{"z" * 80}" }}' for i in range(20_000))
    s = _summary("replace_target_group.json", env="beta", text=huge)
    md = render_pr_comment(s, artifact_url="https://example.invalid/art/9", artifact_name="plan-beta")
    assert len(huge) > COMMENT_LIMIT
    assert len(md) < COMMENT_LIMIT
    assert "Full plan (20000 lines), truncated" in md
    assert "the rest is in [plan-beta](https://example.invalid/art/9)" in md
    assert md.index("> [!CAUTION]") < md.index("<details>")  # the summary and flags survive truncation
    assert md.rstrip().endswith("Full plan: [plan-beta](https://example.invalid/art/9)")


def test_plan_text_with_backticks_gets_a_longer_fence():
    s = _summary("no_change.json", text="a ``` b\nc")
    md = render_pr_comment(s, artifact_url="u")
    assert "````text\na ``` b\nc\n````" in md


def test_templates_use_strict_undefined():
    assert _environment().undefined is StrictUndefined
