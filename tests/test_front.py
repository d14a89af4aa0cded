"""The sandbox's load balancer data plane (bgctl.sandbox.front): requests routed as moto's rules say."""

from __future__ import annotations

import http.cookiejar
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from albtest import bring_up, fetch
from bgctl.sandbox import Sandbox
from bgctl.sandbox.albsource import ApiSource, MotoSource
from bgctl.sandbox.front import SOURCE_IP_HEADER
from bgctl.sandbox.network import LOAD_BALANCER_NAME
from bgctl.switching import ApiDriver
from bgctl.traffic import TrafficSplit, forward_actions
from bgtest import copy_envs


@contextmanager
def failures_hidden_from_the_load_balancer(sandbox: Sandbox) -> Iterator[None]:
    """Injected failures stop marking targets unhealthy: the front sends requests to failing instances."""
    sandbox.health.failures_affect_targets = False
    try:
        yield
    finally:
        sandbox.health.failures_affect_targets = True
        sandbox.heal()


# --------------------------------------------------------------------------------------------------
# Routing as the rules say
# --------------------------------------------------------------------------------------------------
def test_both_listeners_route_path_environments_and_prod_takes_the_rest(sandbox_readonly: Sandbox) -> None:
    front = sandbox_readonly.front
    for base in (front.http_url, front.https_url):
        beta = fetch(f"{base}/beta/api/compilers?lang=c%2B%2B")
        assert (beta.status, beta.group, beta.version) == (200, "Beta-Blue", "gh-100")
        doc = beta.json()
        assert doc["environment"] == "beta" and doc["color"] == "blue" and doc["version"] == "gh-100"
        assert doc["path"] == "/beta/api/compilers"
        for path in ("/", "/anything", "/Beta"):  # path patterns are case-sensitive
            assert fetch(base + path).group == "Prod-Blue"
        assert fetch(f"{base}/winprod/x").group == "Winprod-Blue"


def test_any_method_and_body_reach_the_instance(sandbox_readonly: Sandbox) -> None:
    url = f"{sandbox_readonly.front.https_url}/beta/api/compiler/g122/compile"
    answer = fetch(
        url, method="POST", data=b'{"source": "int main() {}"}', headers={"Content-Type": "application/json"}
    )
    assert answer.status == 200
    assert answer.json()["method"] == "POST"
    head = fetch(url, method="HEAD")
    assert head.status == 200 and head.body == b"" and head.version == "gh-100"


def test_a_rule_change_is_seen_by_the_next_request(sandbox: Sandbox, tmp_path: Path) -> None:
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    url = f"{sandbox.front.https_url}/beta/"
    assert fetch(url).version == "gh-100"
    driver = ApiDriver(sandbox.clients, copy_envs(tmp_path))
    for color, version in (("green", "gh-105"), ("blue", "gh-100"), ("green", "gh-105")):
        driver.apply(wiring, TrafficSplit.to(color))
        assert fetch(url).version == version  # no cache, no lag: the very next request
        assert fetch(f"{sandbox.front.http_url}/beta/").version == version


def test_round_robin_over_healthy_targets_only(sandbox: Sandbox) -> None:
    ids = bring_up(sandbox, "beta", "blue", "gh-100", count=3)
    url = f"{sandbox.front.https_url}/beta/"
    seen = Counter(fetch(url).json()["instance"] for _ in range(12))
    assert seen == dict.fromkeys(ids, 4)
    sandbox.fail_instance(ids[0], "error")  # the load balancer now reports it unhealthy
    seen = Counter(fetch(url).json()["instance"] for _ in range(10))
    assert set(seen) == set(ids[1:])


def test_no_healthy_target_answers_503_like_an_alb(sandbox: Sandbox) -> None:
    url = f"{sandbox.front.https_url}/beta/"
    sandbox.fail_color("beta", "blue", "drop")
    answer = fetch(url)
    assert answer.status == 503
    assert answer.headers["Server"] == "awselb/2.0"
    assert b"503 Service Temporarily Unavailable" in answer.body
    sandbox.heal()
    assert fetch(url).status == 200


def test_draining_targets_receive_nothing(sandbox: Sandbox) -> None:
    (old,) = sandbox.instance_ids("beta", "blue")
    ids = bring_up(sandbox, "beta", "blue", "gh-100", count=2)
    (new,) = set(ids) - {old}
    sandbox.clients.autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=old, ShouldDecrementDesiredCapacity=True
    )
    url = f"{sandbox.front.https_url}/beta/"
    assert {fetch(url).json()["instance"] for _ in range(6)} == {new}


def test_failing_targets_the_load_balancer_still_trusts_give_502_and_504(sandbox: Sandbox) -> None:
    (iid,) = sandbox.instance_ids("beta", "blue")
    url = f"{sandbox.front.https_url}/beta/"
    with failures_hidden_from_the_load_balancer(sandbox):
        sandbox.fail_instance(iid, "error")
        assert fetch(url).status == 500  # the instance's own answer, passed through
        sandbox.fail_instance(iid, "drop")
        assert fetch(url).status == 502
        sandbox.fail_instance(iid, "hang")
        started = time.monotonic()
        answer = fetch(url)
        assert answer.status == 504
        assert time.monotonic() - started < sandbox.health.hang_seconds + 1
    assert fetch(url).status == 200


def test_fixed_response_and_redirect_actions(sandbox: Sandbox) -> None:
    elbv2, front = sandbox.clients.elbv2, sandbox.front
    https = sandbox.resources["beta"].wiring.listener_arns["https"]
    elbv2.create_rule(
        ListenerArn=https,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/maintenance*"]}}],
        Actions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "503",
                    "ContentType": "text/plain",
                    "MessageBody": "back soon",
                },
            }
        ],
    )
    elbv2.create_rule(
        ListenerArn=https,
        Priority=2,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/old/*"]}}],
        Actions=[
            {
                "Type": "redirect",
                "RedirectConfig": {
                    "Path": "/beta/#{path}",
                    "StatusCode": "HTTP_301",
                    "Protocol": "HTTP",
                    "Port": "80",
                },
            }
        ],
    )
    fixed = fetch(f"{front.https_url}/maintenance")
    assert (fixed.status, fixed.body, fixed.headers["Content-Type"]) == (503, b"back soon", "text/plain")
    moved = fetch(f"{front.https_url}/old/page?x=1")
    assert moved.status == 301
    # Port 80 of the ALB is the front's HTTP listener on loopback.
    assert moved.headers["Location"] == f"{front.http_url}/beta/old/page?x=1"
    assert fetch(moved.headers["Location"]).group == "Beta-Blue"
    assert fetch(f"{front.http_url}/maintenance").group == "Prod-Blue"  # that rule is on :443 only


def test_header_and_source_ip_conditions(sandbox: Sandbox) -> None:
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    https = wiring.listener_arns["https"]
    green = [{"Type": "forward", "TargetGroupArn": wiring.target_group_arns["green"]}]
    sandbox.clients.elbv2.create_rule(
        ListenerArn=https,
        Priority=3,
        Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/beta*"]}},
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["y*"]}},
        ],
        Actions=green,  # type: ignore[arg-type]
    )
    sandbox.clients.elbv2.create_rule(
        ListenerArn=https,
        Priority=4,
        Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/beta*"]}},
            {"Field": "source-ip", "SourceIpConfig": {"Values": ["203.0.113.0/24"]}},
        ],
        Actions=green,  # type: ignore[arg-type]
    )
    url = f"{sandbox.front.https_url}/beta/"
    assert fetch(url).version == "gh-100"
    assert fetch(url, headers={"x-canary": "YES"}).version == "gh-105"
    assert fetch(url, headers={SOURCE_IP_HEADER: "203.0.113.7"}).version == "gh-105"
    assert fetch(url, headers={SOURCE_IP_HEADER: "198.51.100.7"}).version == "gh-100"
    assert fetch(url, headers={SOURCE_IP_HEADER: "nonsense"}).status == 400
    echoed = fetch(url, headers={SOURCE_IP_HEADER: "203.0.113.7"})
    assert echoed.status == 200  # the simulation header never reaches the instance (it is not echoed)


def _users_versions(url: str, users: int, requests: int) -> list[set[str]]:
    seen = []
    for _ in range(users):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        seen.append({fetch(url, opener=opener).version or "?" for _ in range(requests)})
    return seen


def test_weighted_forward_with_group_stickiness_keeps_each_user_on_one_version(sandbox: Sandbox) -> None:
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    url = f"{sandbox.front.https_url}/beta/"
    half = TrafficSplit("blue", 50)
    sandbox.clients.elbv2.modify_rule(
        RuleArn=wiring.rule_arns["https"], Actions=forward_actions(wiring, half, stickiness_seconds=60)
    )
    sticky = _users_versions(url, users=16, requests=8)
    assert all(len(versions) == 1 for versions in sticky), sticky
    assert {v for versions in sticky for v in versions} == {"gh-100", "gh-105"}
    answer = fetch(url)
    assert "AWSALBTG=" in answer.headers["Set-Cookie"]

    sandbox.clients.elbv2.modify_rule(
        RuleArn=wiring.rule_arns["https"], Actions=forward_actions(wiring, half)
    )
    unsticky = _users_versions(url, users=2, requests=40)
    assert all(
        versions == {"gh-100", "gh-105"} for versions in unsticky
    )  # no cookie: every request by weight


def test_a_stuck_user_follows_when_its_group_loses_every_healthy_target(sandbox: Sandbox) -> None:
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    sandbox.clients.elbv2.modify_rule(
        RuleArn=wiring.rule_arns["https"],
        Actions=forward_actions(wiring, TrafficSplit("blue", 50), stickiness_seconds=60),
    )
    url = f"{sandbox.front.https_url}/beta/"
    for _ in range(20):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        if fetch(url, opener=opener).version == "gh-105":
            break
    else:
        pytest.fail("no user was bound to green in 20 tries")
    sandbox.fail_color("beta", "green")
    after = {fetch(url, opener=opener).version for _ in range(6)}
    assert "gh-105" not in after  # re-picked by weight: green has no healthy target, or 503


# --------------------------------------------------------------------------------------------------
# The two readings agree, and the sandbox hands the front out
# --------------------------------------------------------------------------------------------------
def test_moto_source_reads_what_the_api_describes(sandbox: Sandbox) -> None:
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    sandbox.clients.elbv2.modify_rule(
        RuleArn=wiring.rule_arns["https"],
        Actions=forward_actions(wiring, TrafficSplit("blue", 10), stickiness_seconds=30),
    )
    sandbox.fail_color("beta", "blue")
    moto, api = MotoSource(LOAD_BALANCER_NAME), ApiSource(sandbox.clients.elbv2, LOAD_BALANCER_NAME)
    for port in (80, 443):
        ours, theirs = moto.rules(port), api.rules(port)
        assert ours is not None and theirs is not None
        assert sorted(ours, key=lambda r: r.arn) == sorted(theirs, key=lambda r: r.arn)
    assert moto.rules(8080) is None and api.rules(8080) is None
    for env in ("beta", "prod", "staging"):
        for arn in sandbox.resources[env].wiring.target_group_arns.values():
            assert sorted(moto.targets(arn) or []) == sorted(api.targets(arn) or [])
    missing = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/Gone/0123456789abcdef"
    assert moto.targets(missing) is None and api.targets(missing) is None


def test_env_file_names_both_listeners(sandbox_readonly: Sandbox, tmp_path: Path) -> None:
    text = sandbox_readonly.env_file(tmp_path / "env").read_text()
    assert f"BLUEGREEN_SANDBOX_ALB_HTTP_URL='{sandbox_readonly.front.http_url}'" in text
    assert f"BLUEGREEN_SANDBOX_ALB_HTTPS_URL='{sandbox_readonly.front.https_url}'" in text


def test_front_only_forwards_to_loopback() -> None:
    from bgctl.sandbox.front import AlbFront

    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        AlbFront(MotoSource(LOAD_BALANCER_NAME), "http://10.0.0.5:80")


def test_importing_the_sandbox_does_not_import_aiohttp() -> None:
    """The front's HTTP stack (a dev dependency, like moto) loads only when a front starts."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, bgctl.sandbox, bgctl.sandbox.watch, bgctl.bench_traffic; "
        "sys.exit('aiohttp' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": "scripts"}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
