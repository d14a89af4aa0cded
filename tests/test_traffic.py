"""Zero downtime and version consistency, measured through the sandbox's load balancer front.

The bounded version of ``make bench-traffic``: users load the front while the tool's own operations
move traffic; no request may fail and no user may see a version flip back within one operation.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from albtest import bring_up, fetch
from bgctl.bench_traffic import details, run, summary_table
from bgctl.sandbox import Sandbox
from bgctl.sandbox.loadgen import (
    EnvTraffic,
    Sample,
    TrafficLoad,
    collapse,
    entry_path,
    make_users,
    mixed_sessions,
    percentile,
)
from bgctl.sandbox.watch import TrafficWatcher
from bgctl.switching import ApiDriver
from bgctl.traffic import TrafficSplit, forward_actions
from bgtest import copy_envs


def s(user: str, window: int, started: float, version: str | None, status: int | None = 200) -> Sample:
    return Sample(user, "beta", window, started, 0.001, status, version)


# --------------------------------------------------------------------------------------------------
# The measures themselves
# --------------------------------------------------------------------------------------------------
def test_a_flip_back_within_a_window_is_a_mixed_session() -> None:
    samples = [
        s("u1", 1, 0.0, "A"),
        s("u1", 1, 0.1, "B"),
        s("u1", 1, 0.2, "B"),
        s("u1", 1, 0.3, "A"),  # back to A: mixed
        s("u2", 1, 0.0, "A"),
        s("u2", 1, 0.1, "B"),  # one change: fine
        s("u2", 2, 0.2, "A"),  # the next window (a switch back) starts over
        s("u3", 1, 0.0, "A"),
        s("u3", 1, 0.1, None, status=503),  # failures are counted elsewhere, not as versions
        s("u3", 1, 0.2, "A"),
    ]
    (mixed,) = mixed_sessions(samples, ["warm-up", "beta deploy #1", "beta switch #1"])
    assert (mixed.user, mixed.label, mixed.versions) == ("u1", "beta deploy #1", ("A", "B", "A"))
    assert collapse(["A", "A", "B", "B", "A"]) == ("A", "B", "A")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) == 0.0


def test_users_and_entry_paths() -> None:
    assert entry_path(("/beta*",), False) == "/beta/"
    assert entry_path((), True) == "/"
    users = make_users(
        {"http": "http://127.0.0.1:1", "https": "http://127.0.0.1:2"},
        [EnvTraffic("beta", "/beta/"), EnvTraffic("gpu", "/gpu/", ("https",))],
        3,
        alternating=1,
    )
    assert [u.name for u in users] == [
        "beta-https-0",
        "beta-http-1",
        "beta-https-2",
        "beta-both-0",
        "gpu-https-0",
        "gpu-https-1",
        "gpu-https-2",
    ]
    assert users[3].urls == ("http://127.0.0.1:2/beta/api/a0", "http://127.0.0.1:1/beta/api/a0")
    with pytest.raises(ValueError, match="127"):
        TrafficLoad([users[0].__class__("x", "beta", ("http://10.1.2.3/",))])


# --------------------------------------------------------------------------------------------------
# The tool's own traffic moves under load
# --------------------------------------------------------------------------------------------------
def test_deploy_switch_rollback_under_load_lose_no_request_and_mix_no_version(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No failure is injected here: a target that answers late is this machine's CPU, not a lost request.
    monkeypatch.setattr(sandbox.front, "target_timeout", 15.0)
    started = time.monotonic()
    result = run(
        sandbox,
        tmp_path,
        cycles=2,
        users_per_env=4,
        alternating=0,
        rate=10.0,
        settle=0.2,
        warmup=0.3,
        max_seconds=120,
    )
    print(f"\n{summary_table(result)}\n{details(result)}\n({time.monotonic() - started:.1f} s)")
    assert not result.errors, result.errors
    assert [(op.env, op.name) for op in result.moves] == [
        ("beta", "deploy"),
        ("beta", "switch"),
        ("beta", "rollback"),
        ("prod", "deploy"),
        ("prod", "switch"),
        ("prod", "rollback"),
    ]
    report = result.report
    assert report.requests > 200
    assert report.failed == 0, [(x.user, x.status, x.error) for x in report.failures()]
    assert report.mixed() == []
    for env in ("beta", "prod"):
        assert set(report.versions(env)) == {"gh-100", "gh-101"}  # the moves were seen through the front
    assert result.front.get("lb_answers", {}) == {}
    # Both environments have two carriers (beta: two rules; prod: two listeners), written one by one.
    assert all(op.listener_gap is not None and op.listener_gap > 0 for op in result.moves)


def test_the_two_listeners_move_one_after_the_other(sandbox: Sandbox, tmp_path: Path) -> None:
    """What users who mix http:// and https:// may see: the API driver modifies the HTTPS rule, then the
    HTTP rule (two calls); in between, the two listeners serve different colors."""
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    front = sandbox.front
    between: list[tuple[str | None, str | None]] = []

    def after_modify_rule(**kwargs: object) -> None:
        if not between:
            between.append(
                (fetch(f"{front.https_url}/beta/").version, fetch(f"{front.http_url}/beta/").version)
            )

    events = sandbox.clients.elbv2.meta.events
    events.register("after-call.elastic-load-balancing-v2.ModifyRule", after_modify_rule)
    try:
        ApiDriver(sandbox.clients, copy_envs(tmp_path)).apply(wiring, TrafficSplit.to("green"))
    finally:
        events.unregister("after-call.elastic-load-balancing-v2.ModifyRule", after_modify_rule)
    assert between == [("gh-105", "gh-100")]
    assert fetch(f"{front.http_url}/beta/").version == "gh-105"


def _canary(sandbox: Sandbox, stickiness_seconds: int) -> int:
    """Mixed-version sessions of 4 users during 1.5 s of a 50% canary on beta."""
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    actions = forward_actions(wiring, TrafficSplit("blue", 50), stickiness_seconds=stickiness_seconds)
    for carrier in ("https", "http"):
        sandbox.clients.elbv2.modify_rule(RuleArn=wiring.rule_arns[carrier], Actions=actions)
    front = sandbox.front
    users = make_users({"http": front.http_url, "https": front.https_url}, [EnvTraffic("beta", "/beta/")], 4)
    load = TrafficLoad(users, rate=20.0, duration=1.5).start()
    load.mark("canary")
    report = load.wait()
    assert report.failed == 0
    return len(report.mixed())


def test_a_canary_without_group_stickiness_mixes_versions_within_a_session(sandbox: Sandbox) -> None:
    """Why a weighted split needs TargetGroupStickinessConfig (ApiDriver.apply passes none today)."""
    assert _canary(sandbox, stickiness_seconds=0) >= 3
    assert _canary(sandbox, stickiness_seconds=300) == 0


def test_the_watcher_prints_a_line_a_second_and_a_total(sandbox_readonly: Sandbox) -> None:
    stream = io.StringIO()
    watcher = TrafficWatcher.for_sandbox(sandbox_readonly, ["beta", "prod"], stream=stream, interval=0.5)
    watcher.start()
    time.sleep(1.3)
    report = watcher.stop()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert "beta: gh-100 100%" in lines[0] and "prod: gh-100 100%" in lines[0] and "failed 0" in lines[0]
    assert lines[-1] == f"traffic total: {report.requests} requests through the load balancer, 0 failed"
    assert report.requests > 10
