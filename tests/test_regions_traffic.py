"""Issue 17 with the data plane: one load balancer front per region, users on both while a real
``deploy --regions us-east-1,eu-west-1`` runs through the CLI; each region's smoke tests go through that
region's own front (``BLUEGREEN_PREVIEW_URLS``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from albtest import fetch
from bgctl.cli import main
from bgctl.errors import UsageError
from bgctl.regions import scoped, target
from bgctl.sandbox import Sandbox
from bgctl.sandbox.loadgen import EnvTraffic, LoadReport, Sample, TrafficLoad, collapse, make_users
from bgctl.sandbox.regions import build_region
from bgctl.settings import Settings
from bgctl.wiring import wiring_param
from bgtest import copy_envs
from test_regions import HOME, OTHER, clients_in, serving

USERS = 4  # per region, spread over both listeners
WAVE = ["--env", "beta", "deploy", "gh-105", "--regions", f"{HOME},{OTHER}", "--no-commit"]


@pytest.fixture
def settings(sandbox: Sandbox, tmp_path: Path) -> Settings:
    """Both regions built, each with its front; the CLI's settings as the sandbox publishes them."""
    build_region(sandbox, OTHER)
    return Settings.from_environ(
        {
            **sandbox.environ(),
            "BLUEGREEN_ENVS_DIR": str(copy_envs(tmp_path)),
            "BLUEGREEN_POLL_INTERVAL": "0.05",
        }
    )


def users_on_both_fronts(sandbox: Sandbox) -> TrafficLoad:
    users = []
    for region in (HOME, OTHER):
        front = sandbox.front_in(region)
        urls = {"http": front.http_url, "https": front.https_url}
        users += make_users(urls, [EnvTraffic(f"beta@{region}", "/beta/")], USERS)
    return TrafficLoad(users, rate=10.0, duration=300.0, request_timeout=20.0, seed=17)


def in_region(report: LoadReport, region: str) -> list[Sample]:
    return [s for s in report.samples if s.group == f"beta@{region}"]


def failed(samples: list[Sample]) -> list[str]:
    return [
        f"{s.user} at {s.started:.2f}s: {s.status or s.error} after {s.latency:.2f}s"
        for s in samples
        if not s.ok
    ]


def versions_by_user(samples: list[Sample]) -> dict[str, tuple[str, ...]]:
    users: dict[str, list[str]] = {}
    for s in sorted(samples, key=lambda s: s.started):
        if s.version:
            users.setdefault(s.user, []).append(s.version)
    return {user: collapse(versions) for user, versions in users.items()}


def run_wave(
    sandbox: Sandbox, settings: Settings, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> tuple[int, LoadReport]:
    # No failure is injected: a target that answers late is this machine's CPU (two fronts, their
    # users, moto and the CLI share one process), not a lost request (as in test_traffic).
    for region in (HOME, OTHER):
        monkeypatch.setattr(sandbox.front_in(region), "target_timeout", 15.0)
    # The instances already serve: one request per region first, so the health server knows them all
    # (its first lookup reads every region's ASGs; under load that can outlast the front's timeout).
    for region in (HOME, OTHER):
        assert fetch(f"{sandbox.front_in(region).https_url}/beta/").version == "gh-100"
    load = users_on_both_fronts(sandbox).start()
    try:
        load.mark("wave")
        code = main([*WAVE, *extra], settings=settings)
    finally:
        report = load.stop()
    return code, report


# -- the fronts and the variable ---------------------------------------------------------------------------
def test_each_region_has_its_own_front_and_the_sandbox_publishes_them(sandbox: Sandbox, settings: Settings):
    home, other = sandbox.front_in(HOME), sandbox.front_in(OTHER)
    assert home is sandbox.front and other.https_url != home.https_url
    assert settings.preview_urls == ((HOME, home.https_url), (OTHER, other.https_url))
    # Each front routes by its own region's rules: green brought up and switched in eu-west-1 only.
    eu = clients_in(OTHER)
    rule = json.loads(eu.ssm.get_parameter(Name=wiring_param("beta"))["Parameter"]["Value"])["rule_arns"]
    green = eu.elbv2.describe_target_groups(Names=["Beta-Green"])["TargetGroups"][0]["TargetGroupArn"]
    assert fetch(f"{other.https_url}/beta/").group == "Beta-Blue"
    eu.elbv2.modify_rule(RuleArn=rule["https"], Actions=[{"Type": "forward", "TargetGroupArn": green}])
    assert fetch(f"{other.https_url}/beta/").status == 503  # eu-west-1's green has no instance
    assert fetch(f"{home.https_url}/beta/").version == "gh-100"  # us-east-1 untouched
    sandbox.reset(rebuild=False)
    with pytest.raises(RuntimeError, match="no load balancer front in eu-west-1"):
        sandbox.front_in(OTHER)
    assert "BLUEGREEN_PREVIEW_URLS" not in sandbox.environ()


def test_a_region_smoke_tests_through_its_own_load_balancer(tmp_path: Path):
    envs = copy_envs(tmp_path)
    s = Settings.from_environ(
        {
            "BLUEGREEN_PREVIEW_URL": "https://lb.example.org",
            "BLUEGREEN_PREVIEW_URLS": f"{OTHER}=https://euw1.example.org",
            "AWS_REGION": HOME,
        }
    )
    assert scoped(s, target("beta", OTHER, envs)).preview_url == "https://euw1.example.org"
    assert (
        scoped(s, target("beta", HOME, envs)).preview_url == "https://lb.example.org"
    )  # not named: the default
    for bad in ("eu-west-1", "eu-west-1=ftp://x", "=http://x", f"{OTHER}=http://a,{OTHER}=http://b"):
        with pytest.raises(UsageError, match="BLUEGREEN_PREVIEW_URLS"):
            Settings.from_environ({"BLUEGREEN_PREVIEW_URLS": bad})


# -- a wave under load ---------------------------------------------------------------------------------------
def test_users_in_both_regions_see_each_switch_in_its_own_wave_and_no_failure(
    sandbox: Sandbox,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    code, report = run_wave(sandbox, settings, monkeypatch, "--wave-bake", "1")
    err = capsys.readouterr().err
    assert code == 0, err
    assert serving(HOME) == ("green", "gh-105") and serving(OTHER) == ("green", "gh-105")
    home, other = in_region(report, HOME), in_region(report, OTHER)
    for samples in (home, other):
        assert samples and failed(samples) == []  # zero failed requests in each region
        # Every user moved once, old to new, and never back.
        assert set(versions_by_user(samples).values()) <= {("gh-100",), ("gh-100", "gh-105"), ("gh-105",)}
    # Region 1 switched first; region 2 still served the old version while wave 1 ran (its bake), and
    # switched only in its own wave.
    home_new = min(s.started for s in home if s.version == "gh-105")
    other_new = min(s.started for s in other if s.version == "gh-105")
    assert any(s.version == "gh-100" and s.started > home_new for s in other)
    assert other_new > home_new
    for region in (HOME, OTHER):
        assert fetch(f"{sandbox.front_in(region).https_url}/beta/").version == "gh-105"


def declare_failing_smoke(region: str) -> None:
    """``region``'s beta root publishes a smoke check no color passes (the path answers 200, not 418)."""
    ssm = clients_in(region).ssm
    doc = json.loads(ssm.get_parameter(Name=wiring_param("beta"))["Parameter"]["Value"])
    doc["smoke"] = {"paths": [{"path": "/beta/api/teapot", "status": 418}], "command": None}
    ssm.put_parameter(Name=wiring_param("beta"), Value=json.dumps(doc), Type="String", Overwrite=True)


def test_a_smoke_failure_in_the_second_region_leaves_it_on_the_old_version_with_no_failure(
    sandbox: Sandbox,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    declare_failing_smoke(OTHER)
    code, report = run_wave(sandbox, settings, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "GET /beta/api/teapot: HTTP 200, expected 418" in err and "the wave stopped in eu-west-1" in err
    assert serving(HOME) == ("green", "gh-105")
    assert serving(OTHER) == ("blue", "gh-100")
    home, other = in_region(report, HOME), in_region(report, OTHER)
    assert home and failed(home) == []
    assert other and failed(other) == []
    assert {s.version for s in other} == {"gh-100"}  # region 2's users never saw the new version
    # The smoke checks reached eu-west-1's green through eu-west-1's own front (its users only ever
    # reached blue there): the healthcheck and the failing path, at least.
    assert sandbox.front_in(OTHER).stats.groups["Beta-Green"] >= 2
    assert fetch(f"{sandbox.front_in(OTHER).https_url}/beta/").version == "gh-100"


# -- the bench's per-region figures (no sandbox) -------------------------------------------------------------
def test_the_regions_bench_checks_wave_order_per_deploy():
    from bgctl.bench_regions import RegionsResult, WaveOp, regions_table, waves_table

    def sample(region: str, started: float, version: str, window: int = 1) -> Sample:
        return Sample("u", f"beta@{region}", window, started, 0.01, 200, version)

    op = WaveOp("deploy gh-101 #1", 1, 0, 3.0, "gh-101", 10.0)
    result = RegionsResult("beta", (HOME, OTHER), [op])
    samples = [sample(HOME, 10.5, "gh-100"), sample(HOME, 11.0, "gh-101"), sample(OTHER, 11.5, "gh-100")]
    result.report = LoadReport([*samples, sample(OTHER, 12.5, "gh-101")], ["warm-up", op.label], 5.0, 2)
    assert (result.first_new(op, HOME), result.first_new(op, OTHER)) == (1.0, 2.5)
    assert result.in_wave_order()
    assert "new in eu-west-1 after" in waves_table(result) and "2.50 s" in waves_table(result)
    assert regions_table(result).splitlines()[2].split()[:3] == [HOME, "2", "0"]
    result.report = LoadReport([*samples, sample(OTHER, 10.2, "gh-101")], ["warm-up", op.label], 5.0, 2)
    assert not result.in_wave_order()  # eu-west-1 got the new version before us-east-1
    result.report = LoadReport(samples, ["warm-up", op.label], 5.0, 2)
    assert not result.in_wave_order()  # eu-west-1 never got it
