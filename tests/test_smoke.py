"""Smoke tests before the switch (issue 15): through the preview route of the sandbox's load balancer
front, after the health gate, before traffic moves; a failure undoes the deploy like a failing gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from albtest import bring_up, fetch
from bgctl.errors import HealthGateError, WiringError
from bgctl.history import HistoryStore
from bgctl.preview import SECRET_HEADER, parse_preview, parse_smoke
from bgctl.smoke import SmokeRunner, SmokeTestError, env_prefix
from bgctl.wiring import parse_wiring, wiring_param
from bgtest import RecordingReporter, asg, copy_envs, make_context, ops, param, rule_target


@pytest.fixture
def envs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = copy_envs(tmp_path)
    monkeypatch.setenv("BLUEGREEN_ENVS_DIR", str(path))
    return path


def declare_smoke(sandbox: Any, env: str, smoke: dict[str, Any]) -> None:
    """What a root's ``smoke_paths`` / ``smoke_command`` inputs publish in the wiring."""
    name = wiring_param(env)
    doc = json.loads(sandbox.clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])
    doc["smoke"] = smoke
    sandbox.clients.ssm.put_parameter(Name=name, Value=json.dumps(doc), Type="String", Overwrite=True)


def secret(sandbox: Any, wiring: Any) -> str:
    reply = sandbox.clients.ssm.get_parameter(Name=wiring.preview.secret_parameter, WithDecryption=True)
    return str(reply["Parameter"]["Value"])


# -- the preview route itself ---------------------------------------------------------------------
def test_the_preview_route_reaches_the_idle_color_only_with_the_secret(sandbox: Any) -> None:
    bring_up(sandbox, "beta", "green", "gh-105")
    wiring = sandbox.resources["beta"].wiring
    assert wiring.preview is not None and wiring.preview.rule_priorities == {"blue": 99, "green": 100}
    url = f"{sandbox.front.https_url}/beta/api/compilers"
    key = secret(sandbox, wiring)
    assert fetch(url).version == "gh-100"  # users: the active color
    assert fetch(url, headers={"X-Bluegreen-Color": "green"}).version == "gh-100"  # no secret: no preview
    wrong = {"X-Bluegreen-Color": "green", SECRET_HEADER: "guess"}
    assert fetch(url, headers=wrong).version == "gh-100"
    preview = {"X-Bluegreen-Color": "green", SECRET_HEADER: key}
    assert fetch(url, headers=preview).version == "gh-105"
    assert fetch(f"{sandbox.front.http_url}/beta/", headers=preview).version == "gh-105"  # both listeners
    # prod's preview rules sit after every path rule: a beta path still goes to beta
    prod = {"X-Bluegreen-Color": "green", SECRET_HEADER: key}
    assert fetch(f"{sandbox.front.https_url}/", headers=prod).status == 503  # prod green has no instance
    assert fetch(f"{sandbox.front.https_url}/beta/", headers=prod).version == "gh-105"


def test_wiring_preview_and_smoke_parse_and_refuse_an_unrestricted_route() -> None:
    assert parse_preview("beta", None) is None
    with pytest.raises(WiringError, match="unrestricted"):
        parse_preview("beta", {"rule_priorities": {"blue": 1, "green": 2}})
    with pytest.raises(WiringError, match="blue and green"):
        parse_preview("beta", {"secret_parameter": "/x", "rule_priorities": {"blue": 1}})
    with pytest.raises(WiringError, match="smoke path"):
        parse_smoke("beta", {"paths": [{"path": "api"}]})
    assert parse_smoke("beta", {"paths": [{"path": "/a"}]}).paths[0].status == 200


def test_env_prefix() -> None:
    def wiring(routing: str, patterns: list[str]) -> Any:
        return type("W", (), {"is_default_action": routing == "listener_default", "path_patterns": patterns})

    assert env_prefix(wiring("path_rule", ["/beta*"])) == "/beta/"
    assert env_prefix(wiring("path_rule", ["/winprod/*"])) == "/winprod/"
    assert env_prefix(wiring("listener_default", [])) == "/"


# -- in a deploy --------------------------------------------------------------------------------------
def test_deploy_smoke_tests_the_new_color_before_the_switch(sandbox: Any, envs_dir: Path) -> None:
    declare_smoke(
        sandbox, "beta", {"paths": [{"path": "/beta/api/compilers", "status": 200}], "command": None}
    )
    reporter = RecordingReporter()
    ctx = make_context(sandbox, envs_dir, reporter=reporter)
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    steps = reporter.steps
    assert steps.index("verify-health") < steps.index("smoke-test") < steps.index("switch")
    (note,) = [n for n in outcome.notes if n.startswith("smoke test")]
    assert note.startswith("smoke test of green: 2/2 passed (GET /beta/healthcheck: 200 gh-105")
    assert "GET /beta/api/compilers: 200" in note
    (record,) = HistoryStore(ctx.clients.ssm, "beta").recent(1)
    assert record.outcome == "done" and "smoke test of green: 2/2 passed" in record.detail
    plan_steps = [a.step for a in outcome.plan.actions] if outcome.plan else []
    assert "smoke-test" in plan_steps


def test_a_failing_smoke_test_undoes_the_deploy_and_names_the_check(sandbox: Any, envs_dir: Path) -> None:
    declare_smoke(sandbox, "beta", {"paths": [{"path": "/beta/api/teapot", "status": 418}]})
    ctx = make_context(sandbox, envs_dir)
    w = parse_wiring("beta", param(ctx.clients, wiring_param("beta")))
    with pytest.raises(SmokeTestError, match=r"GET /beta/api/teapot: HTTP 200, expected 418") as caught:
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert isinstance(caught.value, HealthGateError)  # same exit code and treatment as a failed gate
    for arn in w.rule_arns.values():  # traffic never moved
        assert rule_target(ctx.clients, arn) == w.target_group_arns["blue"]
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 0
    assert param(ctx.clients, w.version_parameters["green"]) != "gh-105"
    assert param(ctx.clients, "/compiler-explorer/beta/lock") is None
    (record,) = HistoryStore(ctx.clients.ssm, "beta").recent(1)
    assert record.outcome == "undone" and "expected 418" in record.detail


def test_the_smoke_command_gets_the_preview_url_and_headers(sandbox: Any, envs_dir: Path) -> None:
    command = (
        'test "$BLUEGREEN_SMOKE_VERSION" = gh-105 && '
        'case "$BLUEGREEN_SMOKE_URL" in http://127.0.0.1:*/beta/) ;; *) exit 5;; esac && '
        'printf "%s" "$BLUEGREEN_SMOKE_HEADERS" | grep -q "^X-Bluegreen-Color: green$" && '
        'printf "%s" "$BLUEGREEN_SMOKE_HEADERS" | grep -q "^X-Bluegreen-Preview-Key: ."'
    )
    declare_smoke(sandbox, "beta", {"paths": [], "command": command})
    outcome = ops.deploy(make_context(sandbox, envs_dir), "gh-105", skip_confirmation=True)
    assert any("command: exit 0" in n for n in outcome.notes)


def test_a_failing_smoke_command_refuses_the_switch(sandbox: Any, envs_dir: Path) -> None:
    declare_smoke(sandbox, "beta", {"paths": [], "command": "echo compilers missing >&2; exit 3"})
    with pytest.raises(SmokeTestError, match="command: exit 3 compilers missing"):
        ops.deploy(make_context(sandbox, envs_dir), "gh-105", skip_confirmation=True)


def test_no_request_leaves_loopback_and_skips_say_why(sandbox: Any, envs_dir: Path) -> None:
    """Against the sandbox a preview URL elsewhere is skipped, never contacted; no URL: skipped."""
    ctx = make_context(sandbox, envs_dir, preview_url="http://10.0.0.5")
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert any("refusing to contact non-loopback 10.0.0.5" in n for n in outcome.notes)
    ctx = make_context(sandbox, envs_dir, preview_url=None)
    w = parse_wiring("beta", param(ctx.clients, wiring_param("beta")))
    report = SmokeRunner(ctx.clients, ctx.settings).run(w, "green", "gh-105")
    assert report.skipped == "no preview URL: set BLUEGREEN_PREVIEW_URL" and report.results == ()


def test_switch_smoke_tests_the_color_and_rollback_does_not(sandbox: Any, envs_dir: Path) -> None:
    reporter = RecordingReporter()
    ctx = make_context(sandbox, envs_dir, reporter=reporter)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    rolled = ops.rollback(ctx)
    assert not any(n.startswith("smoke test") for n in rolled.notes)  # the emergency path stays short
    declare_smoke(sandbox, "beta", {"paths": [{"path": "/beta/api/teapot", "status": 418}]})
    with pytest.raises(SmokeTestError, match="expected 418"):
        ops.switch(ctx, "green")
    w = parse_wiring("beta", param(ctx.clients, wiring_param("beta")))
    for arn in w.rule_arns.values():
        assert rule_target(ctx.clients, arn) == w.target_group_arns["blue"]
    assert asg(ctx.clients, "beta-green")["DesiredCapacity"] == 1  # a refused switch scales nothing
    forced = ops.switch(ctx, "green", force=True)  # the operator's override skips the smoke test too
    assert forced.to_color == "green"
    declare_smoke(sandbox, "beta", {"paths": []})
    ops.rollback(ctx)
    switched = ops.switch(ctx, "green")
    assert any(n.startswith("smoke test of green: 1/1 passed") for n in switched.notes)
