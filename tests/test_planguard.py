"""The plan guard on plan JSON in Terraform's documented format (fixtures under tests/fixtures/plans)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bgctl.errors import PlanGuardError
from bgctl.planguard import (
    DEFAULT_POLICY,
    GuardPolicy,
    TrafficRule,
    changed_attributes,
    guard,
    load_plan,
    parse_plan,
)

PLANS = Path(__file__).parent / "fixtures" / "plans"


def _doc(name: str) -> dict:
    return json.loads((PLANS / name).read_text())


def test_pure_path_switch_is_accepted():
    report = guard(load_plan(PLANS / "switch_beta_path.json"))
    kinds = sorted(t.kind for t in report.traffic_changes)
    assert kinds == ["rule", "rule", "ssm", "ssm"]
    assert report.other_changes == ()
    assert report.colors() == ("blue", "green")
    assert not report.destroys_or_replaces
    rule = next(t.change for t in report.traffic_changes if t.kind == "rule")
    assert rule.changed_attributes == ("action",)


def test_pure_prod_switch_two_listeners_and_two_parameters_is_accepted():
    report = guard(load_plan(PLANS / "switch_prod_listeners.json"))
    assert report.format_version == "0.2"
    assert sorted(t.change.address for t in report.traffic_changes) == [
        "module.blue_green.aws_lb_listener.http[0]",
        "module.blue_green.aws_lb_listener.https[0]",
        "module.blue_green.aws_ssm_parameter.active_color",
        "module.blue_green.aws_ssm_parameter.active_target_group_arn",
    ]
    assert report.colors() == ("green", "blue")


def test_a_plan_that_touches_an_asg_is_refused_naming_it():
    report = load_plan(PLANS / "switch_touches_asg.json")
    assert not report.is_pure_switch
    with pytest.raises(PlanGuardError) as err:
        guard(report)
    msg = err.value.message
    assert (
        'module.blue_green.aws_autoscaling_group.this["blue"]: update (desired_capacity, launch_template)'
        in msg
    )
    assert "1 other change" in msg
    assert "aws_lb_listener_rule" not in msg  # the switch itself is not listed as a problem
    assert err.value.hint


def test_a_plan_that_replaces_a_target_group_is_refused_and_flagged():
    report = load_plan(PLANS / "replace_target_group.json")
    assert report.has_replaces and not report.has_destroys
    (tg,) = report.replaces
    assert tg.is_replace and tg.actions == ("delete", "create")
    assert tg.replace_paths == ("port",)
    with pytest.raises(PlanGuardError, match=r"1 replaced") as err:
        guard(report)
    assert 'aws_lb_target_group.this["green"]: replace (port)' in err.value.message


def test_a_plan_that_deletes_something_is_refused():
    report = load_plan(PLANS / "deletes_scaling_policy.json")
    assert report.has_destroys
    with pytest.raises(PlanGuardError, match=r"1 destroyed") as err:
        guard(report)
    assert 'aws_autoscaling_policy.cpu["green"]: delete' in err.value.message


def test_a_plan_that_changes_nothing_is_accepted_and_says_so():
    report = guard(load_plan(PLANS / "no_change.json"))
    assert not report.has_changes
    assert report.traffic_changes == () and report.other_changes == ()
    assert report.colors() == (None, None)


def test_every_other_change_is_listed():
    doc = _doc("switch_touches_asg.json")
    doc["resource_changes"] += _doc("replace_target_group.json")["resource_changes"][-1:]
    doc["resource_changes"] += _doc("deletes_scaling_policy.json")["resource_changes"][-1:]
    with pytest.raises(PlanGuardError) as err:
        guard(parse_plan(doc))
    msg = err.value.message
    assert "3 other change(s)" in msg
    assert "aws_autoscaling_group" in msg and "aws_lb_target_group" in msg and "aws_autoscaling_policy" in msg


def _mutate(name: str, address_part: str) -> tuple[dict, dict]:
    doc = _doc(name)
    rc = next(r for r in doc["resource_changes"] if address_part in r["address"])
    return doc, rc


def test_a_rule_whose_condition_changes_is_not_a_switch():
    doc, rc = _mutate("switch_beta_path.json", 'aws_lb_listener_rule.this["https"]')
    rc["change"]["after"]["condition"][0]["path_pattern"][0]["values"] = ["/other*"]
    report = parse_plan(doc)
    assert [c.describe() for c in report.other_changes] == [
        'module.blue_green.aws_lb_listener_rule.this["https"]: update (action, condition)'
    ]


def test_a_created_rule_is_not_a_switch():
    doc, rc = _mutate("switch_beta_path.json", 'aws_lb_listener_rule.this["http"]')
    rc["change"]["actions"] = ["create"]
    rc["change"]["before"] = None
    report = parse_plan(doc)
    assert report.other_changes[0].is_create


def test_other_ssm_parameters_and_other_attributes_are_not_a_switch():
    doc, rc = _mutate("switch_beta_path.json", "aws_ssm_parameter.active_color")
    rc["change"]["before"]["name"] = rc["change"]["after"]["name"] = "/compiler-explorer/beta/wiring"
    doc2, rc2 = _mutate("switch_beta_path.json", "aws_ssm_parameter.active_target_group_arn")
    rc2["change"]["after"]["tags_all"] = {"Environment": "beta", "Owner": "someone"}
    assert len(parse_plan(doc).other_changes) == 1
    assert parse_plan(doc2).other_changes[0].changed_attributes == ("tags_all", "value", "version")


def test_a_listener_whose_certificate_changes_is_not_a_switch():
    doc, rc = _mutate("switch_prod_listeners.json", "aws_lb_listener.https")
    rc["change"]["after"]["certificate_arn"] = "arn:aws:acm:us-east-1:052730242331:certificate/new"
    assert parse_plan(doc).other_changes[0].changed_attributes == ("certificate_arn", "default_action")


def test_the_policy_is_data_a_test_root_can_supply():
    policy = GuardPolicy(
        rules=(TrafficRule("asg", "aws_autoscaling_group", frozenset({"desired_capacity"})),)
    )
    doc, rc = _mutate("switch_touches_asg.json", "aws_autoscaling_group")
    rc["change"]["after"]["launch_template"] = copy.deepcopy(rc["change"]["before"]["launch_template"])
    report = parse_plan(doc, policy)
    assert [t.kind for t in report.traffic_changes] == ["asg"]
    # under that policy the AWS traffic resources are "other"
    assert len(report.other_changes) == 4
    assert policy != DEFAULT_POLICY


def test_changed_attributes_counts_values_known_only_after_apply():
    assert changed_attributes({"a": 1, "b": 2}, {"a": 1}, {"b": True}) == ("b",)
    assert changed_attributes({"a": [1]}, {"a": [1]}, {"a": [False]}) == ()
    assert changed_attributes(None, {"a": 1}, {}) == ("a",)


def test_not_a_plan_is_an_error(tmp_path):
    with pytest.raises(PlanGuardError, match="format_version"):
        parse_plan({"resource_changes": []})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanGuardError, match="cannot read plan JSON"):
        load_plan(bad)
