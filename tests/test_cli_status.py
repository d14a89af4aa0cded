"""status, validate, deploy list and usage errors, through the CLI entry against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgctl.aws import make_clients
from bgctl.cli import main
from bgctl.colorfile import write_active_color
from bgctl.wiring import active_color_param, parse_wiring, wiring_param
from bgtest import copy_envs, without_preview_routes


@pytest.fixture
def envs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = copy_envs(tmp_path)
    monkeypatch.setenv("BLUEGREEN_ENVS_DIR", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def wiring_of(env: str):
    clients = make_clients()
    text = clients.ssm.get_parameter(Name=wiring_param(env))["Parameter"]["Value"]
    return clients, parse_wiring(env, text)


# -- status --------------------------------------------------------------------------------------------
def test_status_shows_the_design_document_layout(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "--env", "beta", "status")
    assert code == 0
    assert "Blue-Green Status for beta:" in out
    assert "Active Color: blue" in out
    assert "Inactive Color: green" in out
    assert "  blue (ACTIVE):" in out
    assert "    ASG Name: beta-blue" in out
    assert "    Desired/Min/Max: 1/1/10" in out
    assert "    ASG Health: 1/1 healthy" in out
    assert "    Target Group: 1/1 healthy ✅" in out
    assert "    HTTP Health: 1/1 healthy ✅" in out
    assert "    Version: gh-100" in out
    assert "    Desired/Min/Max: 0/0/10" in out
    assert "    Target Group: 0/0 healthy ❓" in out
    assert "    HTTP Health: 0/0 healthy ⚪" in out
    assert "DRIFT" not in out


def test_status_without_health_url_reports_skipped_with_reason(sandbox, envs_dir, capsys, monkeypatch):
    monkeypatch.delenv("BLUEGREEN_HEALTH_URL")
    code, out, _ = run(capsys, "--env", "beta", "status")
    assert code == 0
    assert "HTTP Health: skipped (not running on admin node: set BLUEGREEN_HEALTH_URL) ℹ️" in out


def test_status_never_contacts_private_addresses_under_a_local_endpoint(
    sandbox, envs_dir, capsys, monkeypatch
):
    monkeypatch.setenv("BLUEGREEN_HEALTH_URL", "http://{private_ip}/healthcheck")
    code, out, _ = run(capsys, "--env", "beta", "status", "--detailed")
    assert code == 0
    assert "local endpoint: refusing to contact non-loopback 10." in out


def test_status_detailed_lists_each_instance(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "--env", "prod", "status", "--detailed")
    assert code == 0
    lines = [line for line in out.splitlines() if line.strip().startswith("- i-")]
    assert len(lines) == 2
    for line in lines:
        assert "InService asg=Healthy tg=healthy http=HTTP 200" in line
        assert " 10." in line  # the private address is shown, never contacted
        assert line.rstrip().endswith("ms")


def test_status_json_has_stable_keys(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "--env", "beta", "status", "--json")
    assert code == 0
    top = json.loads(out)
    assert top["schema_version"] == 2
    doc = top["environments"]["beta"]
    assert doc["environment"] == "beta"
    assert doc["active_color"] == "blue"
    assert doc["load_balancer_color"] == "blue"
    assert doc["ssm_active_color"] == "blue"
    assert doc["traffic"] == doc["file_traffic"] == {"active": "blue", "canary_weight": 0}
    assert doc["drift"] == [] and doc["attention"] == []
    blue = doc["colors"]["blue"]
    assert blue["active"] is True
    assert blue["asg_health"] == {"healthy": 1, "total": 1}
    assert blue["target_health"] == {"healthy": 1, "total": 1, "unused": 0}
    assert blue["http_health"]["healthy"] == 1
    assert blue["version"] == "gh-100"
    assert set(blue["instances"][0]) == {
        "id",
        "address",
        "lifecycle_state",
        "asg_health",
        "target_health",
        "http",
    }


def test_status_all_has_one_row_per_environment(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "status", "--all")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line and not line.startswith("(")}
    assert set(rows) == {
        "beta",
        "prod",
        "staging",
        "gpu",
        "wintest",
        "winstaging",
        "winprod",
        "aarch64staging",
        "aarch64prod",
    }
    assert "*gh-100 2/2 tg 2/2" in rows["prod"]
    assert all(row.rstrip().endswith("✅") for row in rows.values())


def test_status_all_json(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "status", "--all", "--json")
    assert code == 0
    doc = json.loads(out)["environments"]
    assert len(doc) == 9
    blue = {"active": "blue", "canary_weight": 0}
    # the same keys whatever the routing type: only "kind" says rule or listener
    assert doc["prod"]["routes"] == {
        "https": {"kind": "listener", "found": True, "traffic": blue},
        "http": {"kind": "listener", "found": True, "traffic": blue},
    }
    assert doc["beta"]["routes"]["https"] == {"kind": "rule", "found": True, "traffic": blue}


def test_status_shows_drift_loudly(sandbox, envs_dir, capsys):
    make_clients().ssm.put_parameter(
        Name=active_color_param("beta"), Value="green", Type="String", Overwrite=True
    )
    code, out, _ = run(capsys, "--env", "beta", "status")
    assert code == 1  # drift: scripts can trust the exit code
    assert "⚠️  DRIFT: SSM says green but the load balancer routes to blue" in out
    assert "Active Color: blue" in out  # what actually serves wins
    assert run(capsys, "--env", "beta", "status", "--no-fail")[0] == 0


# -- validate ------------------------------------------------------------------------------------------
def test_validate_clean_environment(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "--env", "prod", "validate")
    assert code == 0, out
    assert out.startswith("✅ prod:")


def test_validate_reports_ssm_drift_with_fix(sandbox, envs_dir, capsys):
    make_clients().ssm.put_parameter(
        Name=active_color_param("beta"), Value="green", Type="String", Overwrite=True
    )
    code, out, _ = run(capsys, "--env", "beta", "validate")
    assert code == 1
    assert "SSM active-color says green but the load balancer routes to blue" in out
    assert "fix: bluegreen --env beta switch blue" in out


def test_validate_reports_color_file_drift_with_fix(sandbox, envs_dir, capsys):
    write_active_color(envs_dir / "staging", "green")
    code, out, _ = run(capsys, "--env", "staging", "validate")
    assert code == 1
    assert "committed color file says green but the load balancer routes to blue" in out
    assert 'fix: set active_color to "blue" in terraform/envs/staging/active_color.auto.tfvars.json' in out


def test_validate_reports_a_missing_target_group_and_every_other_problem(sandbox, envs_dir, capsys):
    without_preview_routes(sandbox, "gpu")  # a rule forwarding to a group keeps it from being deleted
    clients, wiring = wiring_of("gpu")
    clients.elbv2.delete_target_group(TargetGroupArn=wiring.target_group_arns["green"])
    make_clients().ssm.put_parameter(
        Name=active_color_param("gpu"), Value="green", Type="String", Overwrite=True
    )
    code, out, _ = run(capsys, "--env", "gpu", "validate")
    assert code == 1
    assert "2 problem(s)" in out or "problem(s)" in out
    assert f"green target group {wiring.target_group_arns['green']} does not exist" in out
    assert "fix: terraform -chdir=terraform/envs/gpu apply" in out
    assert "SSM active-color says green" in out  # listed too: not only the first problem


def test_validate_reports_missing_wiring(sandbox, envs_dir, capsys):
    make_clients().ssm.delete_parameter(Name=wiring_param("wintest"))
    code, out, _ = run(capsys, "--env", "wintest", "validate")
    assert code == 1
    assert "wiring parameter /compiler-explorer/wintest/wiring not found" in out


def test_validate_reports_stale_lock_and_unfinished_journal(sandbox, envs_dir, capsys):
    ssm = make_clients().ssm
    lock = {
        "holder": "alice@admin pid 1",
        "operation": "deploy",
        "since": "2026-01-01T00:00:00Z",
        "token": "t",
    }
    ssm.put_parameter(Name="/compiler-explorer/beta/lock", Value=json.dumps(lock), Type="String")
    code, out, _ = run(capsys, "--env", "beta", "validate")
    assert code == 1
    assert "lock t held by alice@admin pid 1 (deploy)" in out
    assert "with no journal" in out
    assert "fix: bluegreen --env beta recover --force-unlock t" in out


def test_validate_reports_leftover_protection(sandbox, envs_dir, capsys):
    make_clients().autoscaling.suspend_processes(
        AutoScalingGroupName="beta-blue", ScalingProcesses=["AlarmNotification"]
    )
    code, out, _ = run(capsys, "--env", "beta", "validate")
    assert code == 1
    assert "beta-blue still has scaling protection (AlarmNotification suspended)" in out
    assert "resume-processes --auto-scaling-group-name beta-blue" in out


# -- deploy list -----------------------------------------------------------------------------------------
def test_deploy_list_newest_first_marks_running_versions(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "--env", "beta", "deploy", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Available builds for beta (newest first):"
    versions = [line.split()[0] for line in lines[1:]]
    numbers = [int(v.removeprefix("gh-")) for v in versions]
    assert numbers == sorted(numbers, reverse=True)
    assert versions[0] == "gh-105"
    (marked,) = [line for line in lines if "←" in line]
    assert marked.split()[0] == "gh-100" and "blue (ACTIVE)" in marked


def test_deploy_list_by_branch(sandbox, envs_dir, capsys):
    code, out, _ = run(capsys, "--env", "beta", "deploy", "list", "--branch", "release")
    assert code == 0
    rows = out.splitlines()[1:]
    assert rows and all(" release " in row for row in rows)


# -- bad input: one line, exit 2, no AWS call -------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--env", "nosuch", "status"], "unknown environment 'nosuch' (one of: aarch64prod"),
        (["--env", "beta", "deploy", "1.2.3"], "malformed version '1.2.3': expected gh-<build number>"),
        (["--env", "beta", "frobnicate"], "No such command 'frobnicate'. (commands: apply, canary, cleanup"),
        (["--env", "beta", "status", "--bogus"], "No such option '--bogus'. (valid: --all, --detailed"),
        (["status"], "--env is required (one of: aarch64prod, aarch64staging, beta"),
        (["--env", "beta", "switch", "red"], "unknown color 'red'"),
    ],
)
def test_bad_input_is_one_line_exit_2_without_aws(aws_env, capsys, monkeypatch, argv, needle):
    def no_aws(*args, **kwargs):
        raise AssertionError("an AWS client was created for bad input")

    monkeypatch.setattr("bgctl.aws.make_clients", no_aws)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert needle in err[0]
    if "nosuch" in argv:
        assert "beta" in err[0] and "prod" in err[0]
