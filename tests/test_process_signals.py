"""The real CLI in a child process: SIGINT, SIGTERM and SIGKILL mid-deploy, and two concurrent deploys."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bgctl import REPO_ROOT
from bgctl.aws import make_clients
from bgtest import asg, copy_envs, param

ENTRY = str(REPO_ROOT / "scripts" / "bluegreen.py")


@pytest.fixture
def child_env(sandbox, tmp_path: Path) -> dict[str, str]:
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


def start(env: dict[str, str], *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, ENTRY, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 30.0) -> str:
    """Read the child's output until ``marker`` appears; return what was read."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (proc.poll() is not None and not select.select([proc.stdout], [], [], 0)[0]):
            raise AssertionError(f"{marker!r} not seen; output so far:\n{seen}")
        ready, _, _ = select.select([proc.stdout], [], [], min(remaining, 0.5))
        if ready:
            line = proc.stdout.readline()
            seen += line
    return seen


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, ENTRY, *argv], check=False, env=env, capture_output=True, text=True, timeout=120
    )


def assert_safe(serving: str = "blue") -> None:
    clients = make_clients()
    for name in ("beta-blue", "beta-green"):
        assert asg(clients, name)["SuspendedProcesses"] == [], name
    assert asg(clients, "beta-green")["MinSize"] == 0
    assert param(clients, "/compiler-explorer/beta/lock") is None
    assert param(clients, "/compiler-explorer/beta/active-color") == serving


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_deploy_restores_and_exits_130(sandbox, child_env, signum):
    sandbox.fail_color("beta", "green", "error")  # hold the deploy in its health gate
    proc = start(
        child_env, "--env", "beta", "deploy", "gh-105", "--skip-confirmation", "--health-timeout", "60"
    )
    wait_for(proc, "[verify-health]")
    wait_for(proc, "…")  # it is polling
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert_safe()
    assert asg(make_clients(), "beta-green")["DesiredCapacity"] == 0


def test_kill_9_mid_deploy_then_recover(sandbox, child_env):
    sandbox.fail_color("beta", "green", "error")
    proc = start(
        child_env, "--env", "beta", "deploy", "gh-105", "--skip-confirmation", "--health-timeout", "60"
    )
    wait_for(proc, "[verify-health]")
    proc.kill()
    proc.wait(timeout=30)
    status = run(child_env, "--env", "beta", "status")
    assert "Unfinished deploy gh-105 (blue -> green)" in status.stdout
    assert "(its process is gone)" in status.stdout
    assert "bluegreen --env beta recover" in status.stdout
    validate = run(child_env, "--env", "beta", "validate")
    assert validate.returncode == 1
    assert "fix: bluegreen --env beta recover" in validate.stdout
    recovered = run(child_env, "--env", "beta", "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "undoing the interrupted deploy" in recovered.stdout
    assert "✅ beta: recover done" in recovered.stdout and "undone" in recovered.stdout
    assert_safe()


def test_two_concurrent_deploys_exactly_one_proceeds(sandbox, child_env):
    sandbox.fail_color("beta", "green", "error")
    first = start(
        child_env, "--env", "beta", "deploy", "gh-105", "--skip-confirmation", "--health-timeout", "60"
    )
    wait_for(first, "[verify-health]")
    second = run(child_env, "--env", "beta", "deploy", "gh-104", "--skip-confirmation")
    assert second.returncode == 1
    recover = run(child_env, "--env", "beta", "recover")  # must not take over a live operation
    assert recover.returncode == 1
    assert "is still running on this host" in recover.stderr
    assert "beta is locked by" in second.stderr and f"pid {first.pid} (deploy gh-105" in second.stderr
    sandbox.heal()
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert "✅ beta: deploy done (blue -> green, version gh-105)" in out
    assert param(make_clients(), "/compiler-explorer/beta/green/version") == "gh-105"
