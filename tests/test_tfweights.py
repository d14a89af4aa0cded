"""The Terraform driver's canary check (bgctl.tfweights) on the real beta switch plan from ``make e2e`` and
on canary-step plans derived from it: the guard's policy decides what a plan may touch, this decides
that the traffic actions forward by exactly the requested split (sticky when weighted) and that the
color parameters move only to the split's active color."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bgctl.errors import PlanGuardError
from bgctl.planguard import guard, parse_plan
from bgctl.tfweights import check_planned_split, split_problems
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Builds, CanaryConfig, Capacity, Wiring

PLAN = Path(__file__).parent / "fixtures" / "plans" / "tf_switch_beta.json"
TG = "arn:aws:elasticloadbalancing:us-east-1:052730242331:targetgroup/"
BLUE, GREEN = f"{TG}Beta-Blue/ec3e3a1bfb0f6562", f"{TG}Beta-Green/b2d895c27866733e"
WIRING = Wiring(
    environment="beta",
    routing="path_rule",
    asg_names={"blue": "beta-blue", "green": "beta-green"},
    target_group_arns={"blue": BLUE, "green": GREEN},
    listener_arns={"https": "arn:listener/https", "http": "arn:listener/http"},
    rule_arns={"https": "arn:rule/https", "http": "arn:rule/http"},
    path_patterns=("/beta*",),
    rule_priority=10,
    capacity=Capacity(0, 4, 1),
    version_parameters={"blue": "/v/blue", "green": "/v/green"},
    builds=Builds("bucket", "dist/gh/", "dist/discovery/"),
    canary=CanaryConfig(stickiness_seconds=3600),
)


def _switch_plan() -> dict[str, Any]:
    return json.loads(PLAN.read_text(encoding="utf-8"))


def _canary_plan(
    blue: int, green: int, *, sticky: int | None = 3600, keep_ssm: bool = False
) -> dict[str, Any]:
    """The beta plan turned into a canary step: both rules forward by weight, the color parameters
    stay (unless ``keep_ssm``)."""
    doc = copy.deepcopy(_switch_plan())
    changes = []
    for rc in doc["resource_changes"]:
        if rc["type"] == "aws_ssm_parameter" and rc["change"]["actions"] == ["update"] and not keep_ssm:
            continue
        if rc["type"] == "aws_lb_listener_rule":
            action = rc["change"]["after"]["action"][0]
            action["target_group_arn"] = ""
            action["forward"] = [
                {
                    "target_group": [{"arn": BLUE, "weight": blue}, {"arn": GREEN, "weight": green}],
                    "stickiness": [{"enabled": sticky is not None, "duration": sticky or 0}],
                }
            ]
        changes.append(rc)
    doc["resource_changes"] = changes
    return doc


def test_the_real_switch_plan_moves_everything_to_green() -> None:
    report = guard(parse_plan(_switch_plan()))
    assert split_problems(report, WIRING, TrafficSplit.to("green")) == []
    problems = split_problems(report, WIRING, TrafficSplit.to("blue"))
    assert problems == [
        'module.blue_green.aws_lb_listener_rule.this["http"]: forwards green, not blue',
        'module.blue_green.aws_lb_listener_rule.this["https"]: forwards green, not blue',
        "module.blue_green.aws_ssm_parameter.active_color: sets 'green', not 'blue'",
        "module.blue_green.aws_ssm_parameter.active_target_group_arn: sets "
        f"{GREEN!r}, not blue's target group",
    ]


def test_a_weight_only_plan_passes_the_guard_and_realises_the_step() -> None:
    report = guard(parse_plan(_canary_plan(90, 10)))
    assert {tc.kind for tc in report.traffic_changes} == {"rule"}
    assert check_planned_split(report, WIRING, TrafficSplit("blue", 10)) is report


@pytest.mark.parametrize(
    ("plan", "split", "expected"),
    [
        (
            _canary_plan(80, 20),
            TrafficSplit("blue", 10),
            "forwards blue 80% / green 20%, not blue 90% / green 10%",
        ),
        (_canary_plan(90, 10, sticky=None), TrafficSplit("blue", 10), "stickiness is off, not 3600s"),
        (_canary_plan(90, 10, sticky=60), TrafficSplit("blue", 10), "stickiness is 60, not 3600s"),
        (_canary_plan(90, 10, keep_ssm=True), TrafficSplit("blue", 10), "sets 'green', not 'blue'"),
        (_canary_plan(90, 10), TrafficSplit.to("blue"), "forwards blue 90% / green 10%, not blue"),
    ],
    ids=["other-weight", "not-sticky", "other-stickiness", "moves-the-color", "weight-where-none-asked"],
)
def test_a_plan_that_is_not_the_requested_step_is_refused(
    plan: Any, split: TrafficSplit, expected: str
) -> None:
    report = guard(parse_plan(plan))
    with pytest.raises(PlanGuardError, match="does not move beta's traffic to") as err:
        check_planned_split(report, WIRING, split)
    assert expected in str(err.value), str(err.value)


def test_a_forward_to_a_foreign_target_group_is_refused() -> None:
    doc = _canary_plan(90, 10)
    for rc in doc["resource_changes"]:
        if rc["type"] == "aws_lb_listener_rule":
            rc["change"]["after"]["action"][0]["forward"][0]["target_group"][1]["arn"] = f"{TG}Other/1"
    problems = split_problems(parse_plan(doc), WIRING, TrafficSplit("blue", 10))
    assert len(problems) == 2 and all("not a forward to this environment's colors" in p for p in problems)


def test_a_canary_plan_that_touches_anything_else_is_refused_by_the_guard() -> None:
    doc = _canary_plan(90, 10)
    wiring = next(rc for rc in doc["resource_changes"] if rc["address"].endswith("aws_ssm_parameter.wiring"))
    wiring["change"]["actions"] = ["update"]
    wiring["change"]["after"] = {**wiring["change"]["before"], "value": "{}", "insecure_value": "{}"}
    with pytest.raises(PlanGuardError, match=r"(?s)1 other change\(s\).*aws_ssm_parameter\.wiring"):
        guard(parse_plan(doc))


def test_the_stickiness_the_wiring_publishes_is_the_one_required() -> None:
    report = guard(parse_plan(_canary_plan(50, 50, sticky=600)))
    wiring = replace(WIRING, canary=CanaryConfig(stickiness_seconds=600))
    assert split_problems(report, wiring, TrafficSplit("blue", 50)) == []


def test_a_merged_color_file_with_a_weight_is_refused_before_the_switch(tmp_path: Path) -> None:
    from bgctl.colorfile import write_split
    from bgctl.errors import RefusedError
    from bgctl.planning import check_no_canary_weight

    write_split(tmp_path, TrafficSplit.to("green"))
    check_no_canary_weight(tmp_path)
    write_split(tmp_path, TrafficSplit("green", 10))
    with pytest.raises(RefusedError, match=r"asks for a canary split \(green 90% / blue 10%\)"):
        check_no_canary_weight(tmp_path)


def test_a_canary_steps_plan_summary_names_the_split() -> None:
    from bgctl.plansummary import render_summary, summary_from_plan

    doc = _canary_plan(90, 10)
    doc["output_changes"] = {}  # a step moves no output and no color parameter
    headline = render_summary(summary_from_plan("beta", parse_plan(doc), "")).splitlines()[0]
    assert headline == "beta: traffic blue -> blue 90% / green 10% (rules http and https), 0 other changes"
