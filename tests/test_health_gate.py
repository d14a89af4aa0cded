"""The health gate's reading of one color, on constructed states (the cases moto cannot produce)."""

from __future__ import annotations

from bgctl.health import HttpResult
from bgctl.orchestrate import read_gate
from bgctl.state import ColorState, Instance

OK_HTTP = HttpResult(ok=True, status=200, body='{"status": "ok", "version": "gh-105"}')
SKIPPED = HttpResult(ok=None, detail="not running on admin node: set BLUEGREEN_HEALTH_URL")


def color(*instances: Instance) -> ColorState:
    return ColorState(
        "green",
        "beta-green",
        "arn:tg",
        asg_exists=True,
        tg_exists=True,
        desired=len(instances),
        instances=instances,
    )


def inst(
    n: int, target: str | None = "healthy", http: HttpResult = OK_HTTP, lifecycle: str = "InService"
) -> Instance:
    return Instance(f"i-{n}", "10.0.0.1", lifecycle, "Healthy", target, None, http)


def test_ready_when_asg_targets_and_http_agree():
    reading = read_gate(color(inst(1), inst(2)), 2, "gh-105", routed=False)
    assert reading.ready and not reading.problems
    assert reading.summary == "ASG 2/2, target group 2/2, HTTP 2/2"


def test_unused_targets_are_accepted_on_http_evidence_before_traffic_arrives():
    reading = read_gate(color(inst(1, "unused")), 1, "gh-105", routed=False)
    assert reading.ready
    assert not read_gate(color(inst(1, "unused")), 1, "gh-105", routed=True).ready


def test_no_evidence_at_all_is_hopeless_not_a_wait():
    reading = read_gate(color(inst(1, "unused", SKIPPED)), 1, "gh-105", routed=False)
    assert not reading.ready
    assert reading.hopeless is not None
    assert "no health check covers 1 instance(s) (i-1)" in reading.hopeless


def test_skipped_http_is_fine_when_the_target_group_checks():
    reading = read_gate(color(inst(1, "healthy", SKIPPED)), 1, "gh-105", routed=False)
    assert reading.ready
    assert "HTTP skipped (not running on admin node" in reading.summary


def test_wrong_version_initial_targets_and_missing_instances_are_problems():
    wrong = HttpResult(ok=True, status=200, body='{"version": "gh-100"}')
    reading = read_gate(color(inst(1, "initial"), inst(2, "healthy", wrong)), 3, "gh-105", routed=False)
    assert not reading.ready and reading.hopeless is None
    assert reading.problems == (
        "2/3 InService and Healthy",
        "i-1 target initial",
        "i-2 serves gh-100, expected gh-105",
    )


def test_http_failure_is_a_problem():
    bad = HttpResult(ok=False, status=500, detail="HTTP 500")
    reading = read_gate(color(inst(1, "healthy", bad)), 1, "gh-105", routed=False)
    assert reading.problems == ("i-1 HTTP HTTP 500",)
