"""The plan guard on the real switch plans it saw in ``make e2e`` (Terraform 1.11 + hashicorp/aws 5.100
against moto, written by ``scripts/tf-e2e --update-fixtures``): beta's rules and prod's listeners."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgctl.errors import PlanGuardError
from bgctl.planguard import DEFAULT_POLICY, guard, parse_plan
from bgctl.planning import decide_apply
from bgctl.plansummary import render_summary, summary_from_plan
from bgctl.sandbox.tfe2e import fixture_name, plan_shape

PLANS = Path(__file__).parent / "fixtures" / "plans"
EXPECTED = {
    "beta": [
        ('module.blue_green.aws_lb_listener_rule.this["http"]', ("update",), ("action",)),
        ('module.blue_green.aws_lb_listener_rule.this["https"]', ("update",), ("action",)),
        (
            "module.blue_green.aws_ssm_parameter.active_color",
            ("update",),
            ("insecure_value", "value", "version"),
        ),
        (
            "module.blue_green.aws_ssm_parameter.active_target_group_arn",
            ("update",),
            ("insecure_value", "value", "version"),
        ),
    ],
    "prod": [
        ("module.blue_green.aws_lb_listener.http[0]", ("update",), ("default_action",)),
        ("module.blue_green.aws_lb_listener.https[0]", ("update",), ("default_action",)),
        (
            "module.blue_green.aws_ssm_parameter.active_color",
            ("update",),
            ("insecure_value", "value", "version"),
        ),
        (
            "module.blue_green.aws_ssm_parameter.active_target_group_arn",
            ("update",),
            ("insecure_value", "value", "version"),
        ),
    ],
}
SSM_PARTS = "SSM active-color and active-target-group-arn"
FIRST_LINES = {
    "beta": f"beta: traffic blue -> green (rules http and https, {SSM_PARTS}), 0 other changes",
    "prod": f"prod: traffic blue -> green (listeners :80 and :443, {SSM_PARTS}), 0 other changes",
}


def _doc(env: str) -> dict:
    return json.loads((PLANS / fixture_name(env)).read_text(encoding="utf-8"))


@pytest.mark.parametrize("env", ["beta", "prod"])
def test_the_real_switch_plan_is_exactly_the_switch(env):
    doc = _doc(env)
    assert doc["terraform_version"].startswith("1.")
    report = guard(parse_plan(doc))
    assert plan_shape(doc) == EXPECTED[env]
    assert report.other_changes == ()
    assert report.colors() == ("blue", "green")
    assert [o.name for o in report.output_changes] == ["active_color"]
    assert decide_apply(report).action == "switch"
    assert render_summary(summary_from_plan(env, report, "")).splitlines()[0] == FIRST_LINES[env]


@pytest.mark.parametrize("env", ["beta", "prod"])
def test_what_the_tool_owns_is_drift_but_never_a_change(env):
    """Mid-deploy the tool has scaled and protected the groups: Terraform sees it (resource_drift) and,
    through ignore_changes, plans nothing for it."""
    doc = _doc(env)
    drift = {d["address"]: d["change"] for d in doc["resource_drift"]}
    for color in ("blue", "green"):
        address = f'module.blue_green.aws_autoscaling_group.this["{color}"]'
        before, after = drift[address]["before"], drift[address]["after"]
        assert {"desired_capacity", "min_size"} <= {k for k in after if before.get(k) != after.get(k)}
        change = next(c for c in doc["resource_changes"] if c["address"] == address)
        assert change["change"]["actions"] == ["no-op"]
    protected = drift['module.blue_green.aws_autoscaling_group.this["blue"]']["after"]["suspended_processes"]
    assert sorted(protected) == ["AZRebalance", "AlarmNotification", "ScheduledActions"]


@pytest.mark.parametrize("env", ["beta", "prod"])
def test_the_real_plan_with_an_asg_change_is_refused_naming_it(env):
    doc = _doc(env)
    change = next(
        c for c in doc["resource_changes"] if c["address"].endswith('aws_autoscaling_group.this["green"]')
    )
    change["change"]["actions"] = ["update"]
    change["change"]["after"]["max_size"] = change["change"]["before"]["max_size"] + 1
    with pytest.raises(PlanGuardError) as err:
        guard(parse_plan(doc))
    assert 'aws_autoscaling_group.this["green"]: update (max_size)' in err.value.message


def _traffic_attribute_cases() -> list[tuple[str, str, str]]:
    cases = []
    for env in ("beta", "prod"):
        report = parse_plan(_doc(env))
        for tc in report.traffic_changes:
            rule = DEFAULT_POLICY.traffic_rule(tc.change)
            assert rule is not None
            for key in sorted(tc.change.after):
                if key not in rule.attributes and key not in ("tags_all",):
                    cases.append((env, tc.change.address, key))
    return cases


CASES = _traffic_attribute_cases()


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(CASES), value=st.one_of(st.text(max_size=8), st.integers(), st.booleans()))
def test_any_other_attribute_of_a_traffic_resource_makes_the_real_plan_more_than_a_switch(case, value):
    env, address, key = case
    doc = copy.deepcopy(_doc(env))
    change = next(c for c in doc["resource_changes"] if c["address"] == address)["change"]
    if change["after"].get(key) == value:
        return
    change["after"][key] = value
    report = parse_plan(doc)
    assert [c.address for c in report.other_changes] == [address]
    assert key in report.other_changes[0].changed_attributes
    with pytest.raises(PlanGuardError):
        guard(report)
