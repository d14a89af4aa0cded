"""The switch as designed, end to end: the real roots applied to moto by Terraform, then deploy,
rollback and switch through the CLI's Terraform driver (bgctl.sandbox.tfe2e, what `make e2e` runs).

Needs Terraform >= 1.10 and the hashicorp/aws provider (a filesystem mirror or the registry, see
bgctl.tfconfig); elsewhere every test here skips with the one-line reason. The module builds shared,
prod and beta once (about 2.5 minutes on a 2-core machine); ``BLUEGREEN_TF_E2E_ALL=1`` builds all nine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bgctl import REPO_ROOT
from bgctl.envspec import environment_names
from bgctl.sandbox.snapshot import describe, diff
from bgctl.sandbox.tfe2e import E2E, E2E_ENVS, fixture_name, plan_shape
from bgctl.sandbox.tfsandbox import TerraformUnavailable, build_terraform_sandbox
from bgctl.tfoverride import OVERRIDE_FILE

pytestmark = pytest.mark.tf_e2e

PLANS = REPO_ROOT / "tests" / "fixtures" / "plans"


@pytest.fixture(scope="module")
def tf_build(tmp_path_factory):
    """(E2E runner, topology described right after the build) for one Terraform-built sandbox."""
    envs = tuple(environment_names()) if os.environ.get("BLUEGREEN_TF_E2E_ALL") == "1" else E2E_ENVS
    lines: list[str] = []
    try:
        sandbox = build_terraform_sandbox(
            envs, workdir=tmp_path_factory.mktemp("tfsandbox"), log=lines.append
        )
    except TerraformUnavailable as exc:
        pytest.skip(f"Terraform sandbox: {exc.reason}")
    try:
        built = describe(sandbox.clients, sandbox.env_names)
        yield E2E(sandbox, tmp_path_factory.mktemp("plans"), log=lines.append), built
    finally:
        sandbox.stop()
        print("\n".join(lines))  # per-step timings (shown with -s or on failure)


def test_the_plan_of_every_root_is_empty_right_after_the_build(tf_build):
    e2e, _ = tf_build
    e2e.check_build()


def test_the_boto3_sandbox_is_the_topology_terraform_builds(tf_build, sandbox_readonly):
    """Names, tags, rules and priorities, listener actions, SSM names and value shapes, ASG limits: the
    fast sandbox every other test uses imitates the roots exactly."""
    e2e, built = tf_build
    fast = describe(sandbox_readonly.clients, e2e.sandbox.env_names)
    differences = diff(fast, built)
    assert not differences, "boto3 sandbox != Terraform:\n" + "\n".join(differences)


@pytest.fixture(scope="module")
def operations_run(tf_build) -> dict[str, BaseException | None]:
    """Deploy, rollback and switch on beta and prod, the two environments at once."""
    e2e, _ = tf_build
    return e2e.run_envs(E2E_ENVS)


@pytest.mark.parametrize("env", E2E_ENVS)
def test_deploy_rollback_switch_through_the_terraform_driver(tf_build, operations_run, env):
    e2e, _ = tf_build
    failure = operations_run[env]
    if failure is not None:
        raise failure  # E2EFailure names what it saw
    fresh = json.loads(e2e.plans[f"{env}-deploy"].read_text(encoding="utf-8"))
    committed = json.loads((PLANS / fixture_name(env)).read_text(encoding="utf-8"))
    assert plan_shape(fresh) == plan_shape(committed), (
        "the switch plan changed: make e2e ARGS=--update-fixtures"
    )


def _cli(e2e: E2E, envs_dir, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environ = {**e2e.sandbox.child_environ(), "BLUEGREEN_ENVS_DIR": str(envs_dir), **extra}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bluegreen.py"), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no override", "AWS_ENDPOINT_URL points at a local endpoint"),
        ("real credentials", "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not the sandbox's fake keys"),
        ("other endpoint", "elsewhere than AWS_ENDPOINT_URL"),
    ],
)
def test_the_terraform_driver_refuses_before_any_change(tf_build, tmp_path, change, expected):
    e2e, _ = tf_build
    envs_dir = tmp_path / "envs"
    shutil.copytree(e2e.sandbox.envs_dir / "beta", envs_dir / "beta", symlinks=True)
    extra: dict[str, str] = {}
    if change == "no override":
        (envs_dir / "beta" / OVERRIDE_FILE).unlink()
    elif change == "real credentials":
        extra = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-the-fake-one"}
    else:
        path = envs_dir / "beta" / OVERRIDE_FILE
        path.write_text(path.read_text().replace(e2e.sandbox.endpoint_url, "http://127.0.0.1:9"))
    before = e2e.observed("beta")
    target = "blue" if before["SSM active-color"] == "green" else "green"
    proc = _cli(e2e, envs_dir, "--env", "beta", "switch", target, "--via", "terraform", **extra)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the terraform switch driver cannot run here" in proc.stderr
    assert expected in proc.stderr
    assert e2e.observed("beta") == before


@pytest.mark.parametrize("env", ["beta"])
def test_a_canary_step_and_its_promotion_through_the_terraform_driver(tf_build, operations_run, env):
    """Issue 16: canary_weight planned and applied by Terraform: a sticky 90/10 forward on both rules with
    the color parameters untouched, then the promotion; each plan is the traffic only, each re-plan empty."""
    e2e, _ = tf_build
    if operations_run[env] is not None:
        pytest.skip(f"{env}'s deploy/rollback/switch failed (reported by its own test)")
    e2e.canary(env)
