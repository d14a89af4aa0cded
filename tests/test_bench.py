"""The scaling property of ``status --all``: AWS calls grow with environments, not with instances.

Not a timed test: it counts calls (with the benchmark's own counter) on small synthetic fleets.
"""

from __future__ import annotations

import pytest

from bgctl.callcount import CallCounter, CallCounts, CountingChecker, count_read, reader_clients
from bgctl.envspec import ENVS_DIR
from bgctl.sandbox import Sandbox
from bgctl.state import StateReader


@pytest.fixture
def fleet(sandbox_session: Sandbox, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for name, value in sandbox_session.environ().items():
        monkeypatch.setenv(name, value)
    return sandbox_session


def _calls(sb: Sandbox, k: int, m: int, *, probe_http: bool = False) -> tuple[CallCounts, int, int]:
    """(calls, instances seen, probes sent) for one read of a fresh k-env fleet of m instances each."""
    envs = sorted(sb.build_synthetic(k, m))
    checker = CountingChecker(sb.health_url_template, loopback_only=True)
    reader = StateReader(reader_clients(sb.endpoint_url), checker, envs_dir=ENVS_DIR)
    states, counts = count_read(reader, envs, probe_http=probe_http)
    assert sorted(states) == envs
    assert all(st.wiring is not None and not st.drift for st in states.values())
    instances = sum(len(cs.instances) for st in states.values() for cs in st.colors.values())
    assert instances == k * m
    return counts, instances, checker.probes


def test_calls_grow_with_environments_not_instances(fleet: Sandbox) -> None:
    few, _, _ = _calls(fleet, 6, 1)
    many, _, _ = _calls(fleet, 6, 8)
    assert many.calls == few.calls, "more instances per environment must not cost more AWS calls"
    assert few.retries == 0

    double, _, _ = _calls(fleet, 12, 8)
    assert few.total < double.total <= 2 * few.total
    for counts, k in ((few, 6), (many, 6), (double, 12)):
        assert counts.total / k <= 2.5, counts.calls  # issue 14: at most 2.5 calls per environment
    # One DescribeAutoScalingGroups for all groups; target health is the only per-group call, and only
    # for a color with instances (the inactive colors here have none).
    assert double.calls["autoscaling:DescribeAutoScalingGroups"] == 1
    assert double.calls["elbv2:DescribeTargetHealth"] == 12


def test_http_probes_add_no_aws_calls(fleet: Sandbox) -> None:
    without, _, none_sent = _calls(fleet, 4, 3)
    with_http, instances, sent = _calls(fleet, 4, 3, probe_http=True)
    assert none_sent == 0
    assert sent == instances  # one probe per InService instance, every one on loopback
    assert with_http.calls == without.calls


def test_counter_detaches_and_counts_pages(fleet: Sandbox) -> None:
    fleet.build_synthetic(2, 1)
    clients = reader_clients(fleet.endpoint_url)
    with CallCounter.on(clients) as counter:
        clients.ssm.get_parameters(Names=["/nothing/here"])
        pages = list(clients.autoscaling.get_paginator("describe_auto_scaling_groups").paginate(MaxRecords=1))
    clients.ssm.get_parameters(Names=["/nothing/here"])  # after detaching: not counted
    counts = counter.counts()
    assert counts.calls == {
        "ssm:GetParameters": 1,
        "autoscaling:DescribeAutoScalingGroups": len(pages),
    }
    assert len(pages) >= 4  # 2 envs x 2 colors, one group per page
    assert counts.retries == 0


def test_switch_writes_stay_within_the_target(fleet: Sandbox, tmp_path) -> None:
    """Issue 14: a switch or rollback writes at most 8 times on path rules, 9 on prod's listeners."""
    from bgctl.bench_ops import WRITE_TARGETS, measure_operations

    results = {(r.env, r.operation): r for r in measure_operations(fleet, tmp_path)}
    for env, kind in (("beta", "rule"), ("prod", "listener")):
        for operation in ("rollback", "switch"):
            r = results[(env, operation)]
            assert r.write_total <= WRITE_TARGETS[kind], (env, operation, r.writes)
            # every write but the lock's own is fenced by a read of the lock
            lock_writes = r.writes.get("ssm:PutParameter", 0) + r.writes.get("ssm:DeleteParameter", 0)
            assert r.fence_reads >= r.write_total - lock_writes
