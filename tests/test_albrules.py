"""The ALB's rule evaluation (bgctl.sandbox.albrules): pure functions on DescribeRules-shaped data."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgctl.sandbox.albrules import (
    Forward,
    RequestView,
    Rule,
    StickyCodec,
    condition_matches,
    first_match,
    redirect_location,
    terminal_action,
    wildcard,
)

BLUE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/Beta-Blue/1"
GREEN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/Beta-Green/2"


def req(path: str = "/", **kw: object) -> RequestView:
    return RequestView(method=str(kw.pop("method", "GET")), path=path, **kw)  # type: ignore[arg-type]


def path_rule(priority: int | None, *patterns: str, arn: str = "") -> Rule:
    conditions = (
        ()
        if priority is None
        else ({"Field": "path-pattern", "PathPatternConfig": {"Values": list(patterns)}},)
    )
    return Rule(
        arn or f"rule-{priority}", priority, conditions, ({"Type": "forward", "TargetGroupArn": BLUE},)
    )


@pytest.mark.parametrize(
    ("pattern", "path", "match"),
    [
        ("/beta*", "/beta", True),
        ("/beta*", "/beta/api/compilers", True),
        ("/beta*", "/betamax", True),
        ("/beta*", "/Beta", False),  # case-sensitive
        ("/beta*", "/x/beta", False),  # anchored
        ("/b?ta", "/beta", True),
        ("/b?ta", "/bta", False),
        ("/a.b", "/axb", False),  # regex characters are literal
        ("/a+b*", "/a+bc", True),
        ("*", "/anything/at/all", True),
    ],
)
def test_path_pattern_wildcards(pattern: str, path: str, match: bool) -> None:
    condition = {"Field": "path-pattern", "PathPatternConfig": {"Values": [pattern]}}
    assert condition_matches(condition, req(path)) is match


def test_legacy_values_and_any_value_matches() -> None:
    legacy = {"Field": "path-pattern", "Values": ["/staging*", "/beta*"]}
    assert condition_matches(legacy, req("/beta/x"))
    assert not condition_matches(legacy, req("/prod"))


def test_host_header_ignores_case_and_port() -> None:
    condition = {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.godbolt.org"]}}
    assert condition_matches(condition, req(host="Beta.GodBolt.org:8443"))
    assert not condition_matches(condition, req(host="godbolt.org"))


def test_http_header_name_and_value_case_insensitive_with_wildcards() -> None:
    condition = {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["y*"]}}
    assert condition_matches(condition, req(headers={"x-canary": ["YES"]}))
    assert condition_matches(condition, req(headers={"x-canary": ["no", "yes"]}))  # any value sent
    assert not condition_matches(condition, req(headers={"x-canary": ["no"]}))
    assert not condition_matches(condition, req())


def test_source_ip_cidrs() -> None:
    condition = {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.1.0.0/16", "2001:db8::/32"]}}
    assert condition_matches(condition, req(source_ip="10.1.200.3"))
    assert condition_matches(condition, req(source_ip="2001:db8::1"))
    assert not condition_matches(condition, req(source_ip="127.0.0.1"))
    assert not condition_matches(condition, req(source_ip="not an address"))


def test_method_and_query_string() -> None:
    method = {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}
    assert condition_matches(method, req(method="POST"))
    assert not condition_matches(method, req(method="post"))  # exact
    query = {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v*", "Value": "gh-1*"}]}}
    assert condition_matches(query, req(query="a=1&version=GH-105"))
    assert not condition_matches(query, req(query="version=gh-2"))
    anykey = {"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "canary"}]}}
    assert condition_matches(anykey, req(query="mode=canary"))


def test_unknown_condition_never_matches() -> None:
    assert not condition_matches({"Field": "sparkles", "Values": ["*"]}, req())


def test_priority_order_default_last_and_all_conditions_must_match() -> None:
    default = Rule("default", None, (), ({"Type": "fixed-response"},))
    both = Rule(
        "both",
        5,
        (
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/beta*"]}},
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]}},
        ),
        (),
    )
    rules = [default, path_rule(20, "/beta*", arn="wide"), path_rule(10, "/beta/api*", arn="narrow"), both]
    assert first_match(rules, req("/beta/api/x")).arn == "narrow"  # type: ignore[union-attr]
    assert first_match(rules, req("/beta/x")).arn == "wide"  # type: ignore[union-attr]
    assert first_match(rules, req("/beta/x", headers={"x-canary": ["1"]})).arn == "both"  # type: ignore[union-attr]
    assert first_match(rules, req("/prod")).arn == "default"  # type: ignore[union-attr]


def test_from_api_reads_priorities_as_describe_rules_returns_them() -> None:
    rule = Rule.from_api(
        {"RuleArn": "r", "Priority": "10", "Conditions": [], "Actions": [], "IsDefault": False}
    )
    assert rule.priority == 10
    assert Rule.from_api({"RuleArn": "d", "Priority": "default", "IsDefault": True}).is_default


def test_terminal_action_by_order() -> None:
    rule = Rule(
        "r",
        1,
        (),
        (
            {"Type": "forward", "TargetGroupArn": BLUE, "Order": 2},
            {"Type": "fixed-response", "Order": 1, "FixedResponseConfig": {"StatusCode": "418"}},
        ),
    )
    assert terminal_action(rule)["Type"] == "fixed-response"  # type: ignore[index]
    auth = Rule("a", 1, (), ({"Type": "authenticate-oidc", "Order": 1}, {"Type": "forward", "Order": 2}))
    assert terminal_action(auth)["Type"] == "authenticate-oidc"  # type: ignore[index]


def test_forward_of_plain_and_weighted_actions() -> None:
    assert Forward.of({"Type": "forward", "TargetGroupArn": BLUE}) == Forward(((BLUE, 1),))
    weighted = Forward.of(
        {
            "Type": "forward",
            "TargetGroupArn": BLUE,  # AWS returns both shapes; ForwardConfig wins
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": BLUE, "Weight": 90},
                    {"TargetGroupArn": GREEN, "Weight": 10},
                ],
                "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300},
            },
        }
    )
    assert weighted.groups == ((BLUE, 90), (GREEN, 10))
    assert weighted.stickiness_seconds == 300
    off = Forward.of(
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": BLUE}],
                "TargetGroupStickinessConfig": {"Enabled": False, "DurationSeconds": 300},
            },
        }
    )
    assert off == Forward(((BLUE, 1),), 0)


def test_weighted_choice_follows_weights_and_never_picks_weight_zero() -> None:
    rng = random.Random(7)
    forward = Forward(((BLUE, 90), (GREEN, 10)))
    picks = Counter(forward.choose(rng) for _ in range(5000))
    assert 0.87 < picks[BLUE] / 5000 < 0.93
    assert Forward(((BLUE, 0), (GREEN, 1))).choose(rng) == GREEN
    assert Forward(((BLUE, 0),)).choose(rng) is None
    assert Forward(((BLUE, 1), (GREEN, 1))).choose(rng, exclude=[BLUE]) == GREEN


def test_sticky_cookie_round_trips_expires_and_refuses_forgery() -> None:
    codec = StickyCodec(b"k" * 32)
    value = codec.encode(GREEN, expires_at=1000.0)
    assert codec.decode(value, now=999.0) == GREEN
    assert codec.decode(value, now=1000.0) is None  # expired
    assert StickyCodec(b"x" * 32).decode(value, now=0.0) is None  # another front's key
    payload, signature = value.rsplit(".", 1)
    assert codec.decode(payload + "." + "0" * len(signature), now=0.0) is None
    assert codec.decode(None, now=0.0) is None
    assert codec.decode("garbage", now=0.0) is None


def test_redirect_defaults_and_placeholders() -> None:
    where = {"protocol": "HTTP", "host": "godbolt.org:80", "port": 80, "path": "/beta/x", "query": "a=1"}
    assert redirect_location({"Protocol": "HTTPS", "Port": "443"}, **where) == (  # type: ignore[arg-type]
        "HTTPS",
        "godbolt.org",
        443,
        "/beta/x",
        "a=1",
    )
    moved = redirect_location({"Path": "/new/#{path}", "Query": "from=#{host}"}, **where)  # type: ignore[arg-type]
    assert moved == ("HTTP", "godbolt.org", 80, "/new/beta/x", "from=godbolt.org")


@given(st.text(alphabet="ab*?/.", max_size=8), st.text(alphabet="ab/.", max_size=8))
def test_wildcard_agrees_with_fnmatch_without_brackets(pattern: str, subject: str) -> None:
    import fnmatch

    assert bool(wildcard(pattern, case_sensitive=True).match(subject)) == fnmatch.fnmatchcase(
        subject, pattern
    )
