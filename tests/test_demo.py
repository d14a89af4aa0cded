"""`make demo` (scripts/bluegreen.py sandbox demo) runs end to end in its own process."""

from __future__ import annotations

import os
import subprocess
import sys

from bgctl import REPO_ROOT
from bgctl.sandbox.server import REAL_AWS_VARS


def test_demo_walks_through_deploy_rollback_and_switch():
    color_files = sorted((REPO_ROOT / "terraform" / "envs").glob("*/active_color.auto.tfvars.json"))
    before = {p: p.read_text() for p in color_files}
    env = {k: v for k, v in os.environ.items() if k not in REAL_AWS_VARS and not k.startswith("AWS_")}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bluegreen.py"), "sandbox", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "✅ beta: deploy done (blue -> green, version gh-105)" in out
    assert "✅ beta: rollback done (green -> blue, version gh-100)" in out
    assert "✅ beta: switch done (blue -> green, version gh-105)" in out
    assert "prod: traffic blue -> green (listeners :80 and :443" in out
    assert "refusing to switch prod to green: green has no healthy instances" in proc.stderr
    assert "canary step 1/2: baking green at 10% for 1s" in out + proc.stderr
    assert "✅ wintest: deploy done (blue -> green, version gh-104)" in out
    assert "Next: `make sandbox` keeps a sandbox running" in out
    # Users loaded the load balancer front while deploy, rollback and switch moved beta's traffic.
    assert "traffic total:" in proc.stderr and " req/s  beta: " in proc.stderr
    assert "during 3 traffic moves, 0 failed requests, 0 mixed-version sessions" in out
    # The committed color files are never touched by the sandbox.
    assert {p: p.read_text() for p in color_files} == before
