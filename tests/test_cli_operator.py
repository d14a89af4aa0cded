"""Issue 14: the operator's tool. The installed command, --version, --env anywhere, did-you-mean,
deploy without a version and `deploy latest`, protected environments, exit codes, --json on every
command, history, and local usage checks before any AWS call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bgctl import REPO_ROOT, __version__
from bgctl.cli import main
from bgctl.settings import Settings
from bgtest import ScriptedPrompter, asg, copy_envs, make_context, ops, param


@pytest.fixture
def settings(sandbox, tmp_path: Path) -> Settings:
    return Settings.from_environ(
        {
            **sandbox.environ(),
            "BLUEGREEN_ENVS_DIR": str(copy_envs(tmp_path)),
            "BLUEGREEN_POLL_INTERVAL": "0.05",
        }
    )


def run(capsys, settings, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=settings)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_matches_pyproject(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bluegreen, version {__version__}"
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject


def test_the_installed_command_and_the_script_under_the_system_python():
    launcher = REPO_ROOT / ".venv" / "bin" / "bluegreen"
    if not launcher.is_file():
        pytest.skip("make setup has not written .venv/bin/bluegreen here")
    proc = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and __version__ in proc.stdout
    # scripts/bluegreen.py started by a Python without the dependencies re-runs itself in the venv
    bare = os.environ.get("BLUEGREEN_TEST_BARE_PYTHON", "/usr/bin/python3")
    if not Path(bare).is_file():
        pytest.skip(f"no bare python at {bare}")
    proc = subprocess.run(
        [bare, str(REPO_ROOT / "scripts" / "bluegreen.py"), "--version"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert __version__ in proc.stdout


def test_env_after_the_command_and_did_you_mean(sandbox_readonly, settings, capsys):
    code, out, _ = run(capsys, settings, "status", "--env", "beta")
    assert code == 0 and "Blue-Green Status for beta:" in out
    code, _, err = run(capsys, settings, "--env", "betta", "status")
    assert code == 2 and "did you mean 'beta'?" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, settings, "--env", "beta", "switch", "gren")
    assert code == 2 and "did you mean 'green'?" in err


def test_capacity_outside_the_limits_is_a_usage_error_before_any_aws_call(capsys, tmp_path):
    dead = Settings(envs_dir=copy_envs(tmp_path), endpoint_url="http://127.0.0.1:9", region="us-east-1")
    code, _, err = run(capsys, dead, "--env", "beta", "deploy", "gh-105", "--capacity", "9999")
    assert code == 2
    assert "--capacity 9999 is outside 1..10 for beta" in err  # the dead endpoint was never contacted


def test_no_region_is_one_line_with_the_fix(capsys, tmp_path, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    bare = Settings(envs_dir=copy_envs(tmp_path), endpoint_url="http://127.0.0.1:9")
    # The region defaults to the environment's home region, from its root: here a root naming none.
    providers = bare.envs_dir / "beta" / "providers.tf"
    providers.write_text(providers.read_text().replace('region              = "us-east-1"', ""))
    code, _, err = run(capsys, bare, "--env", "beta", "status")
    assert code == 1
    assert err.splitlines()[0] == "❌ no AWS region configured"
    assert "set AWS_REGION" in err and "Traceback" not in err


def test_deploy_without_a_version_redeploys_what_the_active_color_runs(sandbox, tmp_path):
    ctx = make_context(sandbox, copy_envs(tmp_path))
    outcome = ops.deploy(ctx, None, skip_confirmation=True)
    assert outcome.version == "gh-100"
    assert any("redeploying gh-100 (what blue runs) on fresh instances" in n for n in outcome.notes)
    assert param(ctx.clients, "/compiler-explorer/beta/green/version") == "gh-100"


def test_deploy_latest_resolves_the_newest_build_first(sandbox, tmp_path):
    ctx = make_context(sandbox, copy_envs(tmp_path))
    dry = ops.deploy(ctx, "latest", dry_run=True)
    assert dry.version == "gh-105"
    assert any("'latest' resolved to gh-105" in n for n in dry.notes)


def test_protected_environments_need_the_name_typed_or_yes(sandbox, tmp_path):
    envs = copy_envs(tmp_path)
    ctx = make_context(
        sandbox, envs, "prod", assume_yes=False, prompter=ScriptedPrompter(typed_answers=["beta"])
    )
    with pytest.raises(Exception, match="deploy of protected prod not confirmed; nothing changed"):
        ops.deploy(ctx, "gh-104", skip_confirmation=False)
    assert "prod is a protected (production) environment" in ctx.prompter.asked[0]
    assert asg(ctx.clients, "prod-green")["DesiredCapacity"] == 0
    ctx.prompter = ScriptedPrompter(typed_answers=["prod"])
    ops.deploy(ctx, "gh-104")
    # cleanup of a production standby says what rollback capacity is lost
    ctx.prompter = ScriptedPrompter(typed_answers=["no"])
    with pytest.raises(Exception, match="not confirmed"):
        ops.cleanup(ctx)
    assert (
        "It removes the rollback capacity: 2 warm instance(s) of gh-100 in prod-blue" in ctx.prompter.asked[0]
    )
    assert asg(ctx.clients, "prod-blue")["DesiredCapacity"] == 2
    # beta is not protected: no question
    beta = make_context(sandbox, envs, "beta", assume_yes=False)
    ops.deploy(beta, "gh-105", skip_confirmation=True)


def test_yes_confirms_a_protected_environment_from_the_command_line(sandbox, settings, capsys):
    code, _, err = run(capsys, settings, "--env", "prod", "deploy", "gh-104", "--skip-confirmation")
    assert code == 1 and "deploy of protected prod not confirmed" in err and "--yes" in err
    code, out, _ = run(capsys, settings, "--env", "prod", "deploy", "gh-104", "--skip-confirmation", "--yes")
    assert code == 0 and "✅ prod: deploy done (blue -> green, version gh-104)" in out


def test_json_on_every_command(sandbox, settings, capsys):
    code, out, err = run(
        capsys, settings, "--env", "beta", "deploy", "gh-105", "--skip-confirmation", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)  # stdout is exactly one JSON document; progress went to stderr
    assert doc["schema_version"] == 1 and doc["operation"] == "deploy"
    assert (doc["from"], doc["to"]) == (
        {"active": "blue", "canary_weight": 0},
        {"active": "green", "canary_weight": 0},
    )
    assert {c["kind"] for c in doc["changes"]} >= {"rule", "ssm", "version", "asg", "file"}
    assert set(doc["timings"]) >= {"protect", "verify-health", "switch", "cleanup"}
    assert "▶ [switch]" in err
    for argv in (
        ["validate"],
        ["deploy", "list"],
        ["history"],
        ["plan", "--color", "blue"],
        ["rollback", "--dry-run"],
        ["cleanup"],
    ):
        code, out, err = run(capsys, settings, "--env", "beta", *argv, "--json")
        assert code == 0 and "schema_version" in json.loads(out), (argv, err)
    # a refusal is JSON too (and still exit 1)
    code, out, _ = run(capsys, settings, "--env", "beta", "switch", "blue", "--json")
    doc = json.loads(out)
    assert (
        code == 1
        and doc["error"]["exit_code"] == 1
        and "refusing to switch beta to blue" in doc["error"]["message"]
    )


def test_history_lists_operations_newest_first(sandbox, settings, capsys):
    run(capsys, settings, "--env", "beta", "deploy", "gh-105", "--skip-confirmation")
    run(capsys, settings, "--env", "beta", "rollback")
    code, out, _ = run(capsys, settings, "--env", "beta", "history", "-n", "5")
    assert code == 0
    lines = [line.strip() for line in out.splitlines()[1:]]
    assert "rollback" in lines[0] and "green -> blue: done" in lines[0]
    assert "deploy gh-105 blue -> green: done" in lines[1]
    code, out, _ = run(capsys, settings, "--env", "beta", "status")
    assert "Last operation:" in out and "rollback" in out


def test_status_exit_code_and_all_table_only_ticks_healthy(sandbox, settings, capsys):
    assert run(capsys, settings, "status", "--all")[0] == 0
    sandbox.clients.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="gpu-blue", MinSize=0, DesiredCapacity=0
    )
    code, out, _ = run(capsys, settings, "status", "--all")
    assert code == 1
    gpu = next(line for line in out.splitlines() if line.startswith("gpu "))
    assert "✅" not in gpu and "serves traffic with no healthy instance" in gpu
    assert run(capsys, settings, "status", "--all", "--no-fail")[0] == 0


def test_ctrl_c_at_a_prompt_exits_130(sandbox, settings, monkeypatch, capsys):
    import click

    def abort(*_a, **_k):
        raise click.Abort

    monkeypatch.setattr(click, "prompt", abort)
    code, _, err = run(capsys, settings, "--env", "prod", "deploy", "gh-105")
    assert code == 130 and "interrupted" in err
    assert param(make_context(sandbox, settings.envs_dir).clients, "/compiler-explorer/prod/lock") is None


def test_entry_point_runs_as_a_module_free_script():
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bluegreen.py"), "history", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "--limit" in proc.stdout
