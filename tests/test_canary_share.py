"""A canary's split and stickiness, visible in the requests served through the sandbox's load balancer
(issue 16): a real ``deploy --canary`` with users on the front, measured during each bake step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bgctl.sandbox import Sandbox
from bgctl.sandbox.canaryshare import Z_BOUND, CanaryProbe, CanaryShare, StepShare, share_table
from bgctl.sandbox.loadgen import format_table
from bgctl.traffic import TrafficSplit
from bgtest import RecordingReporter, copy_envs, make_context, ops

FRESH = 800  # fresh requests per step: 4.5 sigma is 4.8 points at 10%, 8.0 points at 50%
STICKY = 32  # sticky users: 0.9 ** 32 = 3% that none lands on green at 10% (the seed fixes which case)
BAKE = 2.0


def step(weight: int, fresh: int, served_new: int) -> StepShare:
    return StepShare(f"green {weight}%", "green", weight, fresh, served_new, 0, 1, 0, 1)


def test_the_bound_is_binomial() -> None:
    ten = step(10, 800, 80)
    assert ten.share == 0.1 and ten.z == 0.0 and ten.within()
    assert math.isclose(ten.sigma, math.sqrt(0.1 * 0.9 / 800))
    assert step(10, 800, 118).within() and not step(10, 800, 119).within()  # 4.5 sigma: 38.2 requests
    assert not step(50, 800, 300).within()  # 37.5%: 7 sigma off
    assert not step(10, 0, 0).within()  # no sample, no claim


def test_the_bench_table_has_one_row_per_step() -> None:
    result = CanaryShare("beta", "green", (step(10, 2000, 218), step(50, 2000, 1006)), 1)
    table = format_table(share_table([result])).splitlines()
    assert table[0].split()[:3] == ["env", "step", "fresh"]
    assert table[2].split()[:7] == ["beta", "green", "10%", "2000", "218", "10.9%", "3.0%"]
    assert "+0.27" in table[3]
    assert result.ok
    assert not CanaryShare("beta", "green", (step(10, 2000, 300),), 1).ok


@pytest.mark.parametrize("env", ["beta", "prod"])
def test_users_see_the_configured_split_and_keep_their_color_at_every_step(
    sandbox: Sandbox, tmp_path: Path, env: str
) -> None:
    recording = RecordingReporter()
    ctx = make_context(sandbox, copy_envs(tmp_path), env, reporter=recording)
    # As in test_traffic, the probe's fronts wait 15 s for a target: one answering late on a loaded
    # two-CPU machine is not a lost request (with the sandbox's 1 s, a loaded run got 504s).
    probe = CanaryProbe(sandbox, env, fresh_requests=FRESH, sticky_users=STICKY, seed=16, target_timeout=15.0)
    with probe.watching(ctx):
        outcome = ops.deploy(ctx, "gh-104", skip_confirmation=True, canary=(10, 50), bake_seconds=BAKE)
    assert outcome.to_split == TrafficSplit.to("green")
    assert recording.steps.count("bake") == 2
    result = probe.result
    assert result is not None
    assert [(s.color, s.weight) for s in result.steps] == [("green", 10), ("green", 50)]
    for s in result.steps:
        # (a) New visitors (no cookie): the share served by green is the configured weight, within a
        # binomial bound for the sample size. The front's rng is seeded: the same counts every run
        # (seed 16: 80 of 800 at 10%, 423 of 800 at 50%, z = 0.00 and +1.63).
        assert s.fresh == FRESH and s.failed == 0, s
        assert abs(s.share - s.weight / 100) <= Z_BOUND * s.sigma, s
        # (b) Users who keep their AWSALBTG cookie: each served several times in the step, by one color.
        assert s.fewest >= probe.sticky_min, s
        assert s.flipped == (), s
    # ... and by the same color over the whole canary, although the weight grew from 10% to 50%: they
    # were bound at the first step, and the second keeps them (the new weight applies to new visitors).
    assert result.rebound == ()
    first, second = result.steps
    assert first.sticky_on_new == second.sticky_on_new
    assert 0 < first.sticky_on_new < STICKY  # both colors have sticky users (5 of 32 on green): not vacuous
    assert result.ok
