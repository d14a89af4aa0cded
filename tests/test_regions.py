"""Issue 17: one environment in several regions, deployed in waves (moto serving us-east-1 and
eu-west-1 at once; beta and prod have roots in both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from bgctl.aws import Clients, make_clients
from bgctl.cli import main
from bgctl.context import Context
from bgctl.errors import LockHeldError, UsageError
from bgctl.history import HistoryStore
from bgctl.lock import EnvLock
from bgctl.operations.waves import SKIPPED, WaveStopped, deploy_waves
from bgctl.regions import Target, target, targets_of
from bgctl.sandbox.alarms import alarm_names, fire
from bgctl.sandbox.regions import build_region
from bgctl.settings import Settings
from bgtest import HardKill, RecordingReporter, asg, copy_envs, make_context, ops, param

HOME, OTHER = "us-east-1", "eu-west-1"


def clients_in(region: str) -> Clients:
    return make_clients(boto3.Session(region_name=region))


@pytest.fixture
def regions(sandbox, tmp_path: Path) -> Path:
    """Both regions built; returns the (home) envs directory of a private copy of the roots."""
    build_region(sandbox, OTHER)
    return copy_envs(tmp_path)


@pytest.fixture
def settings(sandbox, regions: Path) -> Settings:
    return Settings.from_environ(
        {**sandbox.environ(), "BLUEGREEN_ENVS_DIR": str(regions), "BLUEGREEN_POLL_INTERVAL": "0.05"}
    )


def run(capsys, settings, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=settings)
    out, err = capsys.readouterr()
    return code, out, err


def region_ctx(sandbox, envs_dir: Path, t: Target, **kw: Any) -> Context:
    ctx = make_context(sandbox, t.envs_dir, t.env, clients=clients_in(t.region), **kw)
    ctx.region, ctx.region_flag = t.region, t.flag
    return ctx


def serving(region: str, env: str = "beta") -> tuple[str | None, str | None]:
    """(active color, the version it runs) in ``region``."""
    c = clients_in(region)
    color = param(c, f"/compiler-explorer/{env}/active-color")
    return color, param(c, f"/compiler-explorer/{env}/{color}/version")


def untouched(region: str, env: str = "beta") -> None:
    c = clients_in(region)
    assert serving(region, env) == ("blue", "gh-100")
    assert asg(c, f"{env}-green")["DesiredCapacity"] == 0
    assert param(c, f"/compiler-explorer/{env}/lock") is None


# -- the region model -----------------------------------------------------------------------------------
def test_home_region_comes_from_the_root_and_extra_regions_from_envs_dirs(tmp_path):
    envs = copy_envs(tmp_path)
    assert [(t.region, t.home) for t in targets_of("beta", envs)] == [(HOME, True), (OTHER, False)]
    assert [t.region for t in targets_of("staging", envs)] == [HOME]
    assert target("beta", None, envs).envs_dir == envs
    assert target("beta", OTHER, envs).root == envs.parent / f"envs-{OTHER}" / "beta"
    with pytest.raises(UsageError, match=r"staging has no root in eu-west-1 \(its regions: us-east-1\)"):
        target("staging", OTHER, envs)
    with pytest.raises(UsageError, match="unknown region 'mars-1'"):
        target("beta", "mars-1", envs)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--env", "staging", "--region", OTHER, "status"], "staging has no root in eu-west-1"),
        (["--env", "beta", "status", "--region", "nowhere"], "unknown region 'nowhere'"),
        (
            ["--env", "beta", "deploy", "gh-105", "--regions", "us-east-1,ap-south-1"],
            "beta has no root in ap",
        ),
        (
            ["--env", "beta", "deploy", "gh-105", "--resume"],
            "--resume, --wave-bake and --wave-id go with --regions",
        ),
        (["--env", "beta", "rollback", "--regions", "eu-west-1,eu-west-1"], "names a region twice"),
    ],
)
def test_bad_regions_are_one_line_exit_2_before_any_aws_call(capsys, tmp_path, argv, needle):
    dead = Settings(envs_dir=copy_envs(tmp_path), endpoint_url="http://127.0.0.1:9", region=HOME)
    code, _, err = run(capsys, dead, *argv)
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) <= 2  # the message (and at most its hint)


def test_status_in_a_region_and_status_all_one_row_per_env_and_region(regions, settings, capsys):
    code, out, _ = run(capsys, settings, "--env", "beta", "--region", OTHER, "status")
    assert code == 0 and "Blue-Green Status for beta" in out
    code, out, _ = run(capsys, settings, "status", "--all")
    assert code == 0, out
    rows = {line.split()[0] for line in out.splitlines()[2:] if line and not line.startswith("(")}
    assert {"beta", "prod", "staging", "beta@eu-west-1", "prod@eu-west-1"} <= rows
    code, out, _ = run(capsys, settings, "status", "--all", "--region", OTHER, "--json")
    docs = json.loads(out)["environments"]
    assert code == 0 and set(docs) == {"beta@eu-west-1", "prod@eu-west-1"}
    assert docs["beta@eu-west-1"]["region"] == OTHER


def test_status_all_names_a_region_with_roots_but_nothing_deployed(sandbox, tmp_path, capsys):
    envs = copy_envs(tmp_path)
    s = Settings.from_environ({**sandbox.environ(), "BLUEGREEN_ENVS_DIR": str(envs)})
    code, out, _ = run(capsys, s, "status", "--all")
    assert code == 0
    assert "(eu-west-1: beta, prod have roots here but nothing is deployed yet)" in out


# -- waves -------------------------------------------------------------------------------------------------
def test_deploy_in_waves_reaches_every_region_with_one_wave_id(regions, settings, capsys):
    code, out, err = run(
        capsys, settings, "--env", "beta", "deploy", "gh-105", "--regions", f"{HOME},{OTHER}", "--no-commit"
    )
    assert code == 0, err
    assert serving(HOME) == ("green", "gh-105") and serving(OTHER) == ("green", "gh-105")
    records = [HistoryStore(clients_in(r).ssm, "beta").recent(1)[0] for r in (HOME, OTHER)]
    assert records[0].wave and records[0].wave == records[1].wave
    assert [r.region for r in records] == [HOME, OTHER]
    assert f"{OTHER:<16} done" in out
    # each region keeps its own color file
    assert json.loads(
        (regions.parent / f"envs-{OTHER}" / "beta" / "active_color.auto.tfvars.json").read_text()
    ) == {"active_color": "green"}
    code, out, _ = run(
        capsys, settings, "--env", "beta", "rollback", "--regions", f"{OTHER},{HOME}", "--no-commit", "--json"
    )
    doc = json.loads(out)  # one JSON document for the whole wave
    assert code == 0 and [r["state"] for r in doc["regions"]] == ["done", "done"]
    assert serving(HOME)[0] == "blue" and serving(OTHER)[0] == "blue"


def test_a_wave_failing_in_the_second_region_leaves_the_first_on_the_new_version(regions, settings, capsys):
    other = EnvLock(clients_in(OTHER), "beta")  # another operator's deploy holds eu-west-1
    other.acquire("deploy")
    other.abandon()
    code, _, err = run(
        capsys, settings, "--env", "beta", "deploy", "gh-105", "--regions", f"{HOME},{OTHER}", "--no-commit"
    )
    assert code == 1
    assert serving(HOME) == ("green", "gh-105")
    assert serving(OTHER) == ("blue", "gh-100")
    assert asg(clients_in(OTHER), "beta-green")["DesiredCapacity"] == 0
    assert "the wave stopped in eu-west-1" in err
    assert f"deploy gh-105 --regions {HOME},{OTHER} --resume" in err
    assert f"rollback --regions {HOME}" in err


def test_a_health_failure_in_the_second_region_is_undone_there_only(sandbox, regions):
    envs = regions
    targets = [target("beta", r, envs) for r in (HOME, OTHER)]

    def fail_new_instances() -> None:
        c = clients_in(OTHER)
        for inst in asg(c, "beta-green")["Instances"]:
            sandbox.fail_instance(inst["InstanceId"])

    def make(t: Target) -> Context:
        hooks = {"verify-health": fail_new_instances} if t.region == OTHER else {}
        return region_ctx(sandbox, envs, t, reporter=RecordingReporter(on_step=hooks), health_timeout=1.5)

    with pytest.raises(WaveStopped) as stopped:
        deploy_waves(targets, make, "gh-105", skip_confirmation=True)
    assert [r.state for r in stopped.value.report.regions] == ["done", "failed"]
    assert serving(HOME) == ("green", "gh-105")
    sandbox.heal()
    untouched(OTHER)


def test_a_canary_wave_watches_each_regions_own_alarms(sandbox, regions):
    """Each region's module creates its own alarms: eu-west-1's firing mid-bake rolls back eu-west-1
    only, after us-east-1's canary baked quietly and switched."""
    envs = regions
    targets = [target("beta", r, envs) for r in (HOME, OTHER)]
    latency = alarm_names("beta")["green"][2]

    def make(t: Target) -> Context:
        hooks = (
            {"bake": lambda: fire(sandbox.endpoint_url, latency, region=OTHER)} if t.region == OTHER else {}
        )
        return region_ctx(sandbox, envs, t, reporter=RecordingReporter(on_step=hooks))

    with pytest.raises(WaveStopped) as stopped:
        deploy_waves(targets, make, "gh-105", skip_confirmation=True, canary=(10,), bake_seconds=2)
    assert [r.state for r in stopped.value.report.regions] == ["done", "failed"]
    assert f"alarm {latency} is ALARM" in stopped.value.report.regions[1].detail
    assert serving(HOME) == ("green", "gh-105")
    assert serving(OTHER)[0] == "blue"
    assert param(clients_in(OTHER), "/compiler-explorer/beta/lock") is None


def test_kill_between_waves_then_resume_keeps_the_wave(sandbox, regions):
    envs = regions
    targets = [target("beta", r, envs) for r in (HOME, OTHER)]

    def make(t: Target) -> Context:
        kill = "wave-bake" if t.region == HOME else None
        return region_ctx(sandbox, envs, t, reporter=RecordingReporter(kill_at=kill))

    with pytest.raises(HardKill):
        deploy_waves(targets, make, "gh-105", wave_bake=0.1, skip_confirmation=True)
    assert serving(HOME) == ("green", "gh-105")
    untouched(OTHER)
    first = HistoryStore(clients_in(HOME).ssm, "beta").recent(1)[0].wave
    report = deploy_waves(
        targets, lambda t: region_ctx(sandbox, envs, t), "gh-105", resume=True, skip_confirmation=True
    )
    assert [r.state for r in report.regions] == [SKIPPED, "done"]
    assert report.wave == first
    assert HistoryStore(clients_in(OTHER).ssm, "beta").recent(1)[0].wave == first
    assert serving(OTHER) == ("green", "gh-105")


def test_kill_inside_the_second_region_then_recover_there_and_resume(sandbox, regions):
    from bgtest import mark_holder_dead

    envs = regions
    targets = [target("beta", r, envs) for r in (HOME, OTHER)]

    def make(t: Target) -> Context:
        kill = "switch" if t.region == OTHER else None
        return region_ctx(sandbox, envs, t, reporter=RecordingReporter(kill_at=kill))

    with pytest.raises(HardKill):
        deploy_waves(targets, make, "gh-105", skip_confirmation=True)
    c = clients_in(OTHER)
    assert param(c, "/compiler-explorer/beta/lock") is not None  # eu-west-1's own lock and journal
    assert param(clients_in(HOME), "/compiler-explorer/beta/lock") is None
    mark_holder_dead(c, "beta")
    ops.recover(region_ctx(sandbox, envs, targets[1]))
    assert param(c, "/compiler-explorer/beta/lock") is None
    report = deploy_waves(
        targets, lambda t: region_ctx(sandbox, envs, t), "gh-105", resume=True, skip_confirmation=True
    )
    assert report.regions[0].state == SKIPPED
    assert serving(HOME) == ("green", "gh-105") and serving(OTHER) == ("green", "gh-105")


def test_each_region_has_its_own_lock(sandbox, regions):
    envs = regions
    held = EnvLock(clients_in(OTHER), "beta")
    held.acquire("deploy")
    held.abandon()
    home = region_ctx(sandbox, envs, target("beta", HOME, envs))
    assert ops.deploy(home, "gh-105", skip_confirmation=True).version == "gh-105"  # another region: allowed
    with pytest.raises(LockHeldError):
        ops.deploy(region_ctx(sandbox, envs, target("beta", OTHER, envs)), "gh-105", skip_confirmation=True)
    assert serving(OTHER) == ("blue", "gh-100")


def test_the_deploy_workflow_request_lists_one_wave_per_region():
    from bgctl.envspec import ENVS_DIR
    from bgctl.gitops_cli import _wave_regions

    assert _wave_regions("beta", "", ENVS_DIR) == [""]
    assert _wave_regions("beta", f"{HOME},{OTHER}", ENVS_DIR) == [HOME, OTHER]
    with pytest.raises(UsageError, match="staging has no root in eu-west-1"):
        _wave_regions("staging", f"{HOME},{OTHER}", ENVS_DIR)
    with pytest.raises(UsageError, match="unknown region"):
        _wave_regions("beta", "us-east-1,moon", ENVS_DIR)


def test_a_region_failing_its_wave_bake_stops_the_wave_before_the_next(sandbox, regions):
    envs = regions
    targets = [target("beta", r, envs) for r in (HOME, OTHER)]

    def fail_home_green() -> None:
        for inst in asg(clients_in(HOME), "beta-green")["Instances"]:
            sandbox.fail_instance(inst["InstanceId"])

    def make(t: Target) -> Context:
        hooks = {"wave-bake": fail_home_green} if t.region == HOME else {}
        return region_ctx(sandbox, envs, t, reporter=RecordingReporter(on_step=hooks))

    with pytest.raises(WaveStopped) as stopped:
        deploy_waves(targets, make, "gh-105", wave_bake=0.1, skip_confirmation=True)
    home, other = stopped.value.report.regions
    assert home.state == "done" and "failed the gate during the bake" in home.detail
    assert other.state == "not started" and other.detail == "untouched"
    assert f"rollback --regions {HOME}" in stopped.value.message
    sandbox.heal()
    assert serving(HOME) == ("green", "gh-105")
    untouched(OTHER)


def test_sandbox_up_builds_only_regions_that_have_roots():
    from bgctl.cli.sandbox import _extra_regions

    assert _extra_regions(None) == ()
    assert _extra_regions(f"{HOME},{OTHER}") == (OTHER,)
    with pytest.raises(UsageError, match="no roots for region ap-south-1"):
        _extra_regions("ap-south-1")
