"""The one health gate, on constructed states (the target states moto cannot produce)."""

from __future__ import annotations

import pytest

from bgctl.errors import RefusedError
from bgctl.gate import judge, read_gate, refusal_reason
from bgctl.health import HttpResult
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


def test_ready_when_targets_and_http_agree():
    reading = read_gate(color(inst(1), inst(2)), 2, "gh-105")
    assert reading.all_ready() and not reading.problems
    assert reading.healthy == 2


def test_an_unrouted_target_counts_on_http_evidence_alone():
    reading = read_gate(color(inst(1, "unused")), 1, "gh-105")
    assert reading.all_ready()


def test_a_healthy_target_covers_an_instance_without_http():
    assert read_gate(color(inst(1, "healthy", SKIPPED)), 1, "gh-105").all_ready()


@pytest.mark.parametrize("target", ["unused", None])
def test_no_covering_check_never_counts(target):
    """Issue 10 finding 5: an `unused` target (no rule forwards there, so the load balancer checks
    nothing) with HTTP skipped used to count as healthy. It is blind, and never passes."""
    reading = read_gate(color(inst(1, target, SKIPPED)), 1, "gh-105")
    assert reading.healthy == 0 and not reading.enough()
    assert reading.blind == ("i-1",)
    reason = refusal_reason(reading, "beta")
    assert reason is not None and "no health check covers" in reason
    if target == "unused":  # waiting cannot help: the deploy gate fails at once
        assert (
            reading.hopeless is not None and "no health check covers 1 instance(s) (i-1)" in reading.hopeless
        )
    else:  # not registered yet: registration may still come
        assert reading.hopeless is None


def test_wrong_version_initial_targets_and_pending_instances():
    wrong = HttpResult(ok=True, status=200, body='{"version": "gh-100"}')
    pending = inst(3, lifecycle="Pending")
    reading = read_gate(color(inst(1, "initial"), inst(2, "healthy", wrong), pending), 3, "gh-105")
    assert not reading.enough() and reading.hopeless is None
    assert reading.problems == (
        "i-1 target initial",
        "i-2 serves gh-100, expected gh-105",
        "i-3 Pending/Healthy",
    )


@pytest.mark.parametrize(
    ("target", "http", "problem"),
    [
        ("healthy", HttpResult(ok=False, status=500, detail="HTTP 500"), "i-1 HTTP 500"),
        ("unhealthy", OK_HTTP, "i-1 target unhealthy"),
        ("draining", OK_HTTP, "i-1 target draining"),
    ],
)
def test_any_failing_check_fails_the_instance(target, http, problem):
    verdict = judge(inst(1, target, http), "gh-105")
    assert not verdict.counted and verdict.problem == problem


def test_a_switch_needs_the_floor_not_every_instance():
    bad = HttpResult(ok=False, status=500, detail="HTTP 500")
    reading = read_gate(color(inst(1), inst(2), inst(3, "healthy", bad)), 2, None)
    assert reading.enough() and not reading.all_ready()
    assert refusal_reason(read_gate(color(inst(1), inst(3, "healthy", bad)), 2, None), "prod") == (
        "green has 1 healthy instance(s); prod needs at least 2"
    )


def test_require_healthy_refuses_unforced(sandbox_readonly, tmp_path):
    from bgctl.gate import require_healthy
    from bgtest import ScriptedPrompter, copy_envs, make_context

    ctx = make_context(
        sandbox_readonly, copy_envs(tmp_path), prompter=ScriptedPrompter(typed_answers=["beta"])
    )
    reading = read_gate(color(inst(1, "unused", SKIPPED)), 1, None)
    with pytest.raises(RefusedError, match="refusing to switch beta to green: green has 0 covered healthy"):
        require_healthy(ctx, reading, force=False, operation="switch")
    notes = require_healthy(ctx, reading, force=True, operation="switch")
    assert notes and notes[0].startswith("FORCED switch:")
