"""Issue 17: the real CLI in a child process, killed with SIGKILL during a wave (between regions and
inside the second one), then recover (per region) and --resume."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from bgctl.aws import make_clients
from bgctl.history import HistoryStore
from bgctl.sandbox.regions import build_region
from bgtest import copy_envs, param
from test_process_signals import run, start, wait_for

HOME, OTHER = "us-east-1", "eu-west-1"
WAVE = ["--env", "beta", "deploy", "gh-105", "--regions", f"{HOME},{OTHER}", "--no-commit"]


def serving(region: str) -> tuple[str | None, str | None]:
    c = make_clients(boto3.Session(region_name=region))
    color = param(c, "/compiler-explorer/beta/active-color")
    return color, param(c, f"/compiler-explorer/beta/{color}/version")


def wave_of(region: str) -> str:
    return HistoryStore(make_clients(boto3.Session(region_name=region)).ssm, "beta").recent(1)[0].wave


@pytest.fixture
def child_env(sandbox, tmp_path: Path) -> dict[str, str]:
    build_region(sandbox, OTHER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(sandbox.environ())
    env.update(
        {
            "BLUEGREEN_ENVS_DIR": str(copy_envs(tmp_path)),
            "BLUEGREEN_POLL_INTERVAL": "0.1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def test_kill_9_between_waves_then_resume(sandbox, child_env):
    proc = start(child_env, *WAVE, "--skip-confirmation", "--wave-bake", "60")
    wait_for(proc, "[wave-bake]", timeout=90)
    proc.kill()
    proc.wait(timeout=30)
    assert serving(HOME) == ("green", "gh-105")
    assert serving(OTHER) == ("blue", "gh-100")
    status = run(child_env, "status", "--all")
    assert status.returncode == 0, status.stdout + status.stderr  # nothing half-done anywhere
    resumed = run(child_env, *WAVE, "--skip-confirmation", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{HOME:<16} already serving it" in resumed.stdout
    assert serving(OTHER) == ("green", "gh-105")
    assert wave_of(HOME) == wave_of(OTHER) != ""


def test_kill_9_inside_the_second_region_then_recover_there_and_resume(sandbox, child_env):
    proc = start(child_env, *WAVE, "--skip-confirmation", "--health-timeout", "60")
    wait_for(proc, f"{OTHER} (2/2)", timeout=90)
    sandbox.fail_color("beta", "green", "error")  # holds eu-west-1's new color in its health gate
    wait_for(proc, "[verify-health]")
    proc.kill()
    proc.wait(timeout=30)
    sandbox.heal()
    other = make_clients(boto3.Session(region_name=OTHER))
    assert param(other, "/compiler-explorer/beta/lock") is not None
    assert param(make_clients(), "/compiler-explorer/beta/lock") is None  # us-east-1 finished, unlocked
    status = run(child_env, "--env", "beta", "--region", OTHER, "status")
    assert "bluegreen --env beta --region eu-west-1 recover" in status.stdout
    recovered = run(child_env, "--env", "beta", "--region", OTHER, "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert param(other, "/compiler-explorer/beta/lock") is None
    resumed = run(child_env, *WAVE, "--skip-confirmation", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert serving(HOME) == ("green", "gh-105") and serving(OTHER) == ("green", "gh-105")
