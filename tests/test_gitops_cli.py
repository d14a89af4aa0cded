"""The workflow's steps as Python (bgctl.ghactions and ``python -m bgctl.gitops``): affected roots with
terraform/shared, the deploy request, the CI record-and-push step, the timed run and the job summary."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bgctl.errors import UsageError
from bgctl.ghactions import (
    PRODUCTION_ENVS,
    VERSION_RE,
    Affected,
    LogLine,
    affected_roots,
    discover_roots,
    health_check_problem,
    parse_deploy_request,
    read_log,
    render_summary,
    step_timings,
)
from bgctl.gitops_cli import main
from bgctl.operations import deploy as deploy_operation
from gitrepo import Repo, git, isolated_git, make_repo

ENVS = ["beta", "prod", "staging"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolated_git(monkeypatch, tmp_path)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("BLUEGREEN_HEALTH_URL", raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# -- affected roots ---------------------------------------------------------------------------------------
def _names(affected: Affected) -> tuple[list[str], list[str]]:
    return [r.name for r in affected.shared_roots], list(affected.envs)


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["terraform/shared/main.tf"], (["shared"], [])),
        (["terraform/envs/prod/main.tf", "README.md"], ([], ["prod"])),
        (["terraform/envs/beta/active_color.auto.tfvars.json"], ([], ["beta"])),
        (["terraform/envs/beta/.terraform.lock.hcl"], ([], ["beta"])),
        (["terraform/modules/blue_green/main.tf"], ([], ENVS)),
        (["terraform/modules/shared_lookups/main.tf", "terraform/shared/iam.tf"], (["shared"], ENVS)),
        ([".terraform-version"], (["shared"], ENVS)),
        (["scripts/bgctl/cli.py", "tests/x.py", "Makefile", "terraform/envs/README.md"], ([], [])),
        (["terraform/envs/unknown/main.tf"], ([], [])),
        (None, (["shared"], ENVS)),
    ],
)
def test_affected_roots(paths, expected):
    assert _names(affected_roots(paths, ENVS)) == expected


# The real tree's layout in miniature: terraform/common linked by every root, a regional root linking its
# home root's files, a regional shared root linking terraform/shared.
LINKS = {
    "terraform/shared/versions.tf": "../common/versions.tf",
    "terraform/envs/beta/versions.tf": "../../common/versions.tf",
    "terraform/envs/prod/versions.tf": "../../common/versions.tf",
    "terraform/envs/beta/canary.tf": "../../common/canary.tf",
    "terraform/envs/prod/canary.tf": "../../common/canary.tf",
    "terraform/envs-eu-west-1/beta/main.tf": "../../envs/beta/main.tf",
    "terraform/envs-eu-west-1/beta/canary.tf": "../../envs/beta/canary.tf",
    "terraform/envs-eu-west-1/beta/versions.tf": "../../envs/beta/versions.tf",
    "terraform/shared-eu-west-1/main.tf": "../shared/main.tf",
    "terraform/shared-eu-west-1/versions.tf": "../shared/versions.tf",
}


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A terraform/ tree with symlinks as in the repository (no git needed: discovery reads the tree)."""
    top = tmp_path / "repo"
    files = [
        "terraform/common/versions.tf",
        "terraform/common/canary.tf",
        "terraform/shared/main.tf",
        "terraform/envs/beta/main.tf",
        "terraform/envs/prod/main.tf",
        "terraform/envs-eu-west-1/beta/providers.tf",
        "terraform/shared-eu-west-1/providers.tf",
    ]
    for rel in files:
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text("# x\n")
    for rel, target in LINKS.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).symlink_to(target)
    return top / "terraform"


def test_discovered_roots_carry_their_directory_and_region(linked: Path):
    roots = {r.name: r for r in discover_roots(linked)}
    assert list(roots) == ["shared", "shared-eu-west-1", "beta", "beta-eu-west-1", "prod"]
    assert roots["beta-eu-west-1"].as_json() == {
        "name": "beta-eu-west-1",
        "dir": "terraform/envs-eu-west-1/beta",
        "env": "beta",
        "region": "eu-west-1",
    }
    assert roots["shared-eu-west-1"].as_json() == {
        "name": "shared-eu-west-1",
        "dir": "terraform/shared-eu-west-1",
        "env": "",
        "region": "eu-west-1",
    }
    # Every link of a chain counts: envs-eu-west-1/beta/versions.tf -> envs/beta/versions.tf -> common.
    assert {"terraform/envs/beta/versions.tf", "terraform/common/versions.tf"} <= roots[
        "beta-eu-west-1"
    ].sources


@pytest.mark.parametrize(
    ("path", "shared", "envs"),
    [
        # A common file: every root that links it, whichever region, directly or through a chain.
        ("terraform/common/versions.tf", ["shared", "shared-eu-west-1"], ["beta", "beta-eu-west-1", "prod"]),
        ("terraform/common/canary.tf", [], ["beta", "beta-eu-west-1", "prod"]),
        # A home root's file its regional root links: both; its own file (the color file): home only.
        ("terraform/envs/beta/main.tf", [], ["beta", "beta-eu-west-1"]),
        ("terraform/envs/beta/active_color.auto.tfvars.json", [], ["beta"]),
        ("terraform/envs/prod/main.tf", [], ["prod"]),
        # A regional root's own files: that root alone.
        ("terraform/envs-eu-west-1/beta/active_color.auto.tfvars.json", [], ["beta-eu-west-1"]),
        ("terraform/envs-eu-west-1/beta/providers.tf", [], ["beta-eu-west-1"]),
        ("terraform/shared-eu-west-1/providers.tf", ["shared-eu-west-1"], []),
        # terraform/shared's main.tf is the regional shared root's too.
        ("terraform/shared/main.tf", ["shared", "shared-eu-west-1"], []),
        # Modules: every environment root in every region, no shared root.
        ("terraform/modules/blue_green/main.tf", [], ["beta", "beta-eu-west-1", "prod"]),
        ("terraform/common/README.md", [], []),
    ],
)
def test_affected_roots_follow_symlinks_into_every_region(linked: Path, path: str, shared, envs):
    assert _names(affected_roots([path], discover_roots(linked))) == (shared, envs)


def test_affected_from_git_and_into_github_output(repo: Repo, tmp_path: Path, monkeypatch, capsys):
    out = tmp_path / "gh-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    base = repo.head()
    head = repo.commit_file("terraform/shared/main.tf", "# shared\n")
    assert main(["affected", "--envs-dir", str(repo.envs_dir), "--base", base, "--head", head]) == 0
    shared = {"name": "shared", "dir": "terraform/shared", "env": "", "region": ""}
    assert json.loads(capsys.readouterr().out) == {
        "shared": True,
        "shared_roots": [shared],
        "envs": [],
        "roots": [shared],
    }
    assert _outputs(out) == {
        "shared": "true",
        "shared_roots": json.dumps([shared]),
        "envs": "[]",
        "roots": json.dumps([shared]),
    }
    out.unlink()
    # A new branch (all-zero base): every root.
    assert main(["affected", "--envs-dir", str(repo.envs_dir), "--base", "0" * 40, "--head", head]) == 0
    envs = [{"name": e, "dir": f"terraform/envs/{e}", "env": e, "region": ""} for e in ("beta", "prod")]
    assert json.loads(capsys.readouterr().out) == {
        "shared": True,
        "shared_roots": [shared],
        "envs": envs,
        "roots": [shared, *envs],
    }
    assert _outputs(out)["roots"] == json.dumps([shared, *envs])


def test_affected_from_git_follows_a_symlink_into_a_regional_root(repo: Repo, capsys):
    """A regional root that links its home root's main.tf is planned when that file changes."""
    regional = repo.work / "terraform" / "envs-eu-west-1" / "beta"
    regional.mkdir(parents=True)
    (regional / "main.tf").symlink_to("../../envs/beta/main.tf")
    git(repo.work, "add", "-A")
    git(repo.work, "commit", "-q", "-m", "beta in eu-west-1")
    base = repo.head()
    head = repo.commit_file("terraform/envs/beta/main.tf", "# beta v2\n")
    assert main(["affected", "--envs-dir", str(repo.envs_dir), "--base", base, "--head", head]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in doc["roots"]] == ["beta", "beta-eu-west-1"]
    assert doc["envs"][1] == {
        "name": "beta-eu-west-1",
        "dir": "terraform/envs-eu-west-1/beta",
        "env": "beta",
        "region": "eu-west-1",
    }


def test_affected_runs_with_a_bare_python_before_setup(repo: Repo):
    """The changes job runs it with the runner's python3, before `make setup`: standard library only."""
    base = repo.head()
    repo.commit_file("terraform/envs/prod/main.tf", "# prod v2\n")
    scripts = Path(__file__).parents[1] / "scripts"
    code = (
        f"import sys; sys.path.insert(0, {str(scripts)!r})\n"
        "for name in ('boto3', 'botocore', 'click', 'jinja2', 'hcl2', 'yaml'): sys.modules[name] = None\n"
        "from bgctl.gitops import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, "affected", "--envs-dir", str(repo.envs_dir), "--base", base],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        cwd=repo.work,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["name"] for r in json.loads(proc.stdout)["roots"]] == ["prod"]


def test_may_move_traffic_cli(repo: Repo, tmp_path: Path, monkeypatch, capsys):
    out = tmp_path / "gh-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    base = repo.head()
    head = repo.commit_color("prod", "green")
    argv = ["may-move-traffic", "--envs-dir", str(repo.envs_dir), "--env", "prod", "--base", base]
    assert main([*argv, "--head", head]) == 0
    assert "prod: may move traffic: this push changed" in capsys.readouterr().out
    assert _outputs(out) == {"allowed": "true"}


# -- the deploy request ------------------------------------------------------------------------------------
def test_deploy_request_checks_its_inputs():
    request = parse_deploy_request(" prod ", "gh-124", "3", ENVS)
    assert (request.env, request.capacity, request.github_environment) == ("prod", 3, "production")
    beta = parse_deploy_request("beta", "gh-1", "", ENVS)
    assert (beta.capacity, beta.github_environment) == (None, "")
    for env, version, capacity, what in [
        ("nope", "gh-1", "", "unknown environment"),
        ("beta", "v1", "", "malformed version"),
        ("beta", "gh-1; rm -rf /", "", "malformed version"),
        ("beta", "gh-1", "0", "capacity"),
        ("beta", "gh-1", "two", "capacity"),
    ]:
        with pytest.raises(UsageError, match=what):
            parse_deploy_request(env, version, capacity, ENVS)


def test_the_version_pattern_is_the_orchestrators():
    assert VERSION_RE.pattern == deploy_operation.VERSION_RE.pattern
    assert set(PRODUCTION_ENVS) >= set(deploy_operation.PROD_ENVS)


def test_a_deploy_needs_a_covering_health_check(repo: Repo, tmp_path: Path, monkeypatch, capsys):
    assert "not set" in (health_check_problem(None) or "")
    assert "names no instance" in (health_check_problem("http://lb.example/healthcheck") or "")
    assert health_check_problem("http://{private_ip}/healthcheck") is None
    argv = ["deploy-request", "--envs-dir", str(repo.envs_dir), "--env", "prod", "--version", "gh-124"]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(argv) == 2
    assert (
        "::error title=prod%3A no covering health check::BLUEGREEN_HEALTH_URL is not set"
        in capsys.readouterr().out
    )
    out = tmp_path / "gh-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("BLUEGREEN_HEALTH_URL", "http://{private_ip}/healthcheck")
    assert main([*argv, "--capacity", "4"]) == 0
    assert _outputs(out) == {
        "env": "prod",
        "version": "gh-124",
        "capacity": "4",
        "github_environment": "production",
        "regions": '[""]',  # the home region only
    }


# -- recording in CI: commit the bot's color file and push it --------------------------------------------
def test_ci_record_commits_one_bot_commit_and_pushes_it_over_a_concurrent_merge(
    repo: Repo, monkeypatch, capsys
):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "octo")
    monkeypatch.setenv("GITHUB_RUN_ID", "7")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    # Someone merges while the deploy runs.
    other = repo.clone(repo.work.parent / "other")
    other.commit_file("README.md", "merged meanwhile\n")
    other.push()
    repo.write_color("prod", "green")  # make deploy left this
    argv = [
        "record",
        "--envs-dir",
        str(repo.envs_dir),
        "--env",
        "prod",
        "--version",
        "gh-124",
        "--live",
        "green",
    ]
    assert main([*argv, "--push"]) == 0
    out = capsys.readouterr().out
    assert "committed" in out and "pushed" in out
    git(repo.work, "fetch", "-q", "origin")
    assert git(repo.work, "rev-parse", "origin/main") == repo.head()
    message = repo.log("origin/main")
    assert message.startswith("prod: traffic blue → green (deploy gh-124)")
    assert "By: octo via GitHub Actions run 7" in message
    assert "Run: https://github.example/o/r/actions/runs/7" in message
    assert git(repo.work, "log", "--format=%s", "-3", "origin/main").splitlines() == [
        "prod: traffic blue → green (deploy gh-124)",
        "change",
        "initial",
    ]
    # Run again (a retried step): nothing moved since, nothing to commit or push.
    assert main([*argv, "--push"]) == 0
    assert "no traffic move to commit" in capsys.readouterr().out
    assert git(repo.work, "rev-list", "--count", "origin/main") == "3"


def test_ci_record_refuses_when_live_and_the_file_disagree(repo: Repo, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    repo.write_color("prod", "green")
    code = main(["record", "--envs-dir", str(repo.envs_dir), "--env", "prod", "--live", "blue", "--push"])
    captured = capsys.readouterr()
    assert code == 1
    assert "::error title=prod%3A live color and color file disagree::" in captured.out
    assert "routes to blue but" in captured.err
    assert git(repo.work, "rev-list", "--count", "origin/main") == "1"


def test_ci_record_reads_the_live_color_from_status_json(repo: Repo, tmp_path: Path, capsys):
    status = tmp_path / "after.json"
    status.write_text(json.dumps({"load_balancer_color": "green", "active_color": "green"}))
    repo.write_color("prod", "green")
    argv = ["record", "--envs-dir", str(repo.envs_dir), "--env", "prod", "--status-json", str(status)]
    assert main(argv) == 0
    assert repo.log().startswith("prod: traffic blue → green (deploy)")


def test_ci_record_never_records_blind(repo: Repo, tmp_path: Path, capsys):
    status = tmp_path / "after.json"
    status.write_text("")  # the status step failed
    argv = ["record", "--envs-dir", str(repo.envs_dir), "--env", "prod", "--status-json", str(status)]
    assert main(argv) == 0  # nothing moved: nothing to check
    repo.write_color("prod", "green")
    assert main(argv) == 1
    assert "not recording blind" in capsys.readouterr().err
    assert repo.log().strip() == "initial"


def test_drift_cli_reports_an_unpushed_switch(repo: Repo, monkeypatch, capsys):
    repo.commit_color("prod", "green")
    argv = ["drift", "--envs-dir", str(repo.envs_dir), "--env", "prod", "--live", "green"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert out.startswith("prod: unpushed: ")
    assert f"git -C {repo.work} push origin main" in out
    assert main([*argv, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["kind"] == "unpushed"
    assert main(["drift", "--envs-dir", str(repo.envs_dir), "--env", "prod"]) == 2  # live unknown


# -- the timed run and the job summary ----------------------------------------------------------------------
FAKE_DEPLOY = textwrap.dedent(
    """
    import sys, time
    for step in ("protect", "deploy-inactive", "verify-health", "switch", "verify-switch", "cleanup"):
        print(f"▶ [{step}] doing {step}", flush=True)
        time.sleep(0.05)
    print("✅ prod: deploy done (blue -> green, version gh-124)")
    print("  replaced nothing")
    sys.exit(int(sys.argv[1]))
    """
)


@pytest.mark.parametrize("code", [0, 1])
def test_run_logs_timed_lines_and_passes_the_exit_code(tmp_path: Path, capsys, code):
    script = tmp_path / "fake.py"
    script.write_text(FAKE_DEPLOY)
    log = tmp_path / "deploy.log"
    assert main(["run", "--log", str(log), "--", sys.executable, str(script), str(code)]) == code
    assert "▶ [switch] doing switch" in capsys.readouterr().out
    lines = read_log(log)
    assert [ln.text for ln in lines][-2:] == [
        "✅ prod: deploy done (blue -> green, version gh-124)",
        "  replaced nothing",
    ]
    assert all(a.at <= b.at for a, b in itertools.pairwise(lines))
    steps = step_timings(lines)
    assert [s.name for s in steps] == [
        "protect",
        "deploy-inactive",
        "verify-health",
        "switch",
        "verify-switch",
        "cleanup",
    ]
    assert all(s.seconds >= 0.04 for s in steps[:-1])


def _status(active: str, green_version: str | None, green_desired: int) -> dict:
    def color(version, desired, active_):
        return {
            "active": active_,
            "version": version,
            "desired": desired,
            "asg_health": {"healthy": desired, "total": desired},
            "target_health": {"healthy": desired, "total": desired},
        }

    return {
        "environment": "prod",
        "active_color": active,
        "drift": [],
        "colors": {
            "blue": color("gh-123", 2, active == "blue"),
            "green": color(green_version, green_desired, active == "green"),
        },
    }


def test_the_summary_shows_the_outcome_table_and_timings(tmp_path: Path, monkeypatch, capsys):
    lines = [
        LogLine(0.0, "make deploy ..."),
        LogLine(1.0, "▶ [protect] protecting prod-blue"),
        LogLine(2.5, "▶ [verify-health] waiting for 2 healthy green instance(s) running gh-124"),
        LogLine(190.0, "▶ [switch] switching prod traffic to green via terraform"),
        LogLine(200.0, "✅ prod: deploy done (blue -> green, version gh-124)"),
    ]
    text = render_summary(
        env="prod",
        operation="deploy",
        version="gh-124",
        exit_code=0,
        lines=lines,
        before=_status("blue", None, 0),
        after=_status("green", "gh-124", 2),
        record="committed 0123456789ab on main: prod: traffic blue → green (deploy gh-124)",
        run="https://github.example/o/r/actions/runs/7",
    )
    assert text.startswith("## ✅ prod: deploy gh-124: traffic blue → green\n")
    assert "| traffic | blue | green |" in text
    assert (
        "| green | -, desired 0, healthy 0/0, targets 0/0 "
        "| gh-124 **(active)**, desired 2, healthy 2/2, targets 2/2 |" in text
    )
    assert "| verify-health | +2.5 s | 3 min 08 s |" in text
    assert "| switch | +3 min 10 s | 10.0 s |" in text
    assert "| **total** | | **3 min 20 s** | |" in text
    assert "| color file | | committed 0123456789ab on main" in text
    # Through the CLI, appended to $GITHUB_STEP_SUMMARY.
    log = tmp_path / "deploy.log"
    log.write_text("".join(f"{ln.at}\t{ln.text}\n" for ln in lines))
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(_status("blue", None, 0)))
    after.write_text("not json: the status step failed")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    argv = ["summary", "--env", "prod", "--version", "gh-124", "--exit-code", "1", "--log", str(log)]
    assert main([*argv, "--before", str(before), "--after", str(after), "--write"]) == 0
    written = summary.read_text()
    assert written == capsys.readouterr().out
    assert written.startswith("## ❌ prod: deploy gh-124: traffic blue → ?")


def test_shared_apply_of_a_region_without_a_shared_root_is_a_usage_error(capsys):
    """`make shared-apply REGION=R` plans terraform/shared-R; a region without one fails before Terraform."""
    assert main(["shared-apply", "--region", "ap-south-1"]) == 2
    assert "no shared root for region ap-south-1" in capsys.readouterr().err
    assert main(["shared-apply", "--region", "nowhere"]) == 2
    assert "unknown region 'nowhere'" in capsys.readouterr().err
    assert main(["shared-apply", "--region", "eu-west-1", "--root", "terraform/shared"]) == 2
