"""Release hooks (issue 13): the deployment log (DynamoDB), static files to the CDN bucket (S3), and
HTTP notifications (a loopback HTTP double standing in for Sentry, GitHub and the router), declared in
the wiring, run in order around the switch, idempotent, re-run by recover."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bgctl.errors import HealthGateError, WiringError
from bgctl.history import HistoryStore
from bgctl.hooks import HookRunner
from bgctl.hookspec import Release, parse_hooks
from bgctl.wiring import wiring_param
from bgtest import HardKill, RecordingReporter, copy_envs, make_context, mark_holder_dead, ops, param

CDN = "test-cdn"
TABLE = "versionslog"


class Receiver:
    """A loopback HTTP server that records POSTs and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.status = 201
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), json.loads(body or b"null")))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _static_archive() -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as archive:
        for name, content in (("main.css", b"body{}"), ("js/app.js", b"run()")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return data.getvalue()


def declare_hooks(sandbox: Any, env: str, hooks: list[dict[str, Any]]) -> None:
    """What a root's ``release_hooks`` input publishes: the hooks in the environment's wiring."""
    clients = sandbox.clients
    name = wiring_param(env)
    doc = json.loads(clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])
    doc["release_hooks"] = hooks
    clients.ssm.put_parameter(Name=name, Value=json.dumps(doc), Type="String", Overwrite=True)


@pytest.fixture
def hooked(sandbox: Any, receiver: Receiver) -> Any:
    clients = sandbox.clients
    clients.s3.create_bucket(Bucket=CDN)
    bucket = sandbox.builds_bucket
    clients.s3.put_object(Bucket=bucket, Key="dist/gh/main/gh-105.static.tar.xz", Body=_static_archive())
    sandbox.clients.ssm.put_parameter(Name="/test/sentry-token", Value="s3cret", Type="SecureString")
    boto = __import__("boto3").client("dynamodb", endpoint_url=sandbox.endpoint_url, region_name="us-east-1")
    boto.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "buildId", "KeyType": "HASH"},
            {"AttributeName": "timestamp", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "buildId", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    declare_hooks(
        sandbox,
        "beta",
        [
            {"name": "versionslog", "kind": "deploy_log", "phase": "pre-switch", "params": {"table": TABLE}},
            {"name": "static", "kind": "cdn_static", "phase": "pre-switch", "params": {"bucket": CDN}},
            {
                "name": "sentry",
                "kind": "http_post",
                "phase": "post-switch",
                "params": {
                    "url": receiver.url + "/sentry/{version}/deploys/",
                    "token_parameter": "/test/sentry-token",
                },
            },
            {
                "name": "now-live",
                "kind": "http_post",
                "phase": "post-switch",
                "operations": ["deploy", "rollback"],
                "params": {"url": receiver.url + "/live", "body": '{"env": "{env}", "color": "{color}"}'},
            },
        ],
    )
    return boto


def test_hooks_parse_and_refuse_what_they_cannot_run():
    hooks = parse_hooks(
        "beta", [{"name": "a", "kind": "deploy_log", "phase": "pre-switch", "params": {"table": "t"}}]
    )
    assert hooks[0].describe() == "a (deploy_log, pre-switch: table=t)"
    with pytest.raises(WiringError, match="unknown kind 'rsync'"):
        parse_hooks("beta", [{"name": "a", "kind": "rsync", "phase": "pre-switch"}])
    with pytest.raises(WiringError, match="phase 'later'"):
        parse_hooks("beta", [{"name": "a", "kind": "deploy_log", "phase": "later"}])


def test_a_deploy_runs_its_hooks_in_order_around_the_switch(sandbox, hooked, receiver, tmp_path: Path):
    reporter = RecordingReporter()
    ctx = make_context(sandbox, copy_envs(tmp_path), reporter=reporter)
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    steps = reporter.steps
    assert steps.index("verify-health") < steps.index("pre-switch") < steps.index("switch")
    assert steps.index("verify-switch") < steps.index("post-switch") < steps.index("cleanup")
    # the deployment log, once
    items = hooked.scan(TableName=TABLE)["Items"]
    assert [(i["env"]["S"], i["version"]["S"], i["color"]["S"]) for i in items] == [
        ("beta", "gh-105", "green")
    ]
    # the static files, long-cached
    head = sandbox.clients.s3.head_object(Bucket=CDN, Key="js/app.js")
    assert head["CacheControl"].startswith("public, max-age=31536000")
    # the HTTP calls, with the token from SSM
    paths = [p for p, _, _ in receiver.requests]
    assert paths == ["/sentry/gh-105/deploys/", "/live"]
    assert receiver.requests[0][1]["Authorization"] == "Bearer s3cret"
    assert receiver.requests[1][2] == {"env": "beta", "color": "green"}
    assert any(n.startswith("static: 2 static file(s)") for n in outcome.notes)
    # a rollback runs only the hooks declared for it
    ops.rollback(ctx)
    assert [p for p, _, _ in receiver.requests][-1] == "/live" and len(receiver.requests) == 3


def test_hooks_are_idempotent(sandbox, hooked):
    wiring_doc = json.loads(param(sandbox.clients, wiring_param("beta")))
    hooks = parse_hooks("beta", wiring_doc["release_hooks"])
    clients = make_context(sandbox, Path()).clients
    release = Release(
        "beta", "gh-105", "green", sandbox.builds_bucket, "dist/gh/", stamp="2026-12-01T00:00:00Z"
    )
    runner = HookRunner(clients)
    for _ in range(2):
        runner.run(hooks[0], release)
        result = runner.run(hooks[1], release)
    assert len(hooked.scan(TableName=TABLE)["Items"]) == 1
    assert result == "static: 0 static file(s) to s3://test-cdn/ (2 already there)"


def test_a_failing_pre_switch_hook_undoes_the_deploy(sandbox, hooked, tmp_path: Path):
    sandbox.clients.s3.delete_object(Bucket=sandbox.builds_bucket, Key="dist/gh/main/gh-105.static.tar.xz")
    ctx = make_context(sandbox, copy_envs(tmp_path))
    with pytest.raises(Exception, match=r"release hook static failed|no static archive"):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    state = ctx.reader.read_one("beta")
    assert state.routing.color == "blue" and state.lock is None
    assert state.colors["green"].desired == 0


def test_a_failing_post_switch_hook_never_moves_traffic_back(sandbox, hooked, receiver, tmp_path: Path):
    receiver.status = 500
    ctx = make_context(sandbox, copy_envs(tmp_path))
    outcome = ops.deploy(ctx, "gh-105", skip_confirmation=True)
    state = ctx.reader.read_one("beta")
    assert state.routing.color == "green" and state.lock is None
    assert any("release hook sentry" in n and "HTTP 500" in n for n in outcome.notes)
    last = HistoryStore(ctx.clients.ssm, "beta").recent(1)[0]
    assert last.outcome == "done, hooks failed" and "HTTP 500" in last.detail


def test_recover_reruns_the_post_switch_hooks(sandbox, hooked, receiver, tmp_path: Path):
    envs = copy_envs(tmp_path)
    ctx = make_context(sandbox, envs, reporter=RecordingReporter(kill_at="post-switch"))
    with pytest.raises(HardKill):
        ops.deploy(ctx, "gh-105", skip_confirmation=True)
    assert receiver.requests == []
    mark_holder_dead(ctx.clients, "beta")
    ops.recover(make_context(sandbox, envs))
    assert [p for p, _, _ in receiver.requests] == ["/sentry/gh-105/deploys/", "/live"]
    assert len(hooked.scan(TableName=TABLE)["Items"]) == 1  # the pre-switch log was not written twice


def test_status_detailed_lists_the_hooks(sandbox, hooked, tmp_path: Path):
    from bgctl.render import status_text

    ctx = make_context(sandbox, copy_envs(tmp_path))
    text = status_text(ctx.reader.read_one("beta"), detailed=True)
    assert (
        "Release hooks: versionslog (deploy_log, pre-switch: table=versionslog), static (cdn_static" in text
    )
    assert "s3cret" not in text


def test_no_hooks_no_extra_steps(sandbox, tmp_path: Path):
    reporter = RecordingReporter()
    ops.deploy(
        make_context(sandbox, copy_envs(tmp_path), reporter=reporter), "gh-105", skip_confirmation=True
    )
    assert "pre-switch" not in reporter.steps and "post-switch" not in reporter.steps
    _ = HealthGateError
