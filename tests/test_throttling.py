"""Throttling: with 20% of AWS calls answered by a throttling error, deploy, switch and rollback succeed.

moto cannot throttle, so a small injected double stands at botocore's send step and answers a seeded
20% of requests with the service's own throttling error; botocore's standard retry mode does the rest.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

from bgctl.aws import make_clients
from bgtest import copy_envs, make_context, ops

THROTTLE = {
    # protocol -> (status, body)
    "query": (
        400,
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        b"<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>",
    ),
    "ec2": (
        503,
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded"
        b"</Message></Error></Errors><RequestID>x</RequestID></Response>",
    ),
    "json": (400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}'),
    "rest-xml": (
        503,
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    ),
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object):
        yield self.body


class Throttler:
    def __init__(self, rate: float, seed: int = 20) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.calls = 0
        self.throttled = 0

    def attach(self, client) -> None:
        protocol = client.meta.service_model.protocol
        status, body = THROTTLE[protocol]

        def before_send(request, **_):
            self.calls += 1
            if self.rng.random() >= self.rate:
                return None
            self.throttled += 1
            headers = {"Content-Type": "application/x-amz-json-1.1" if protocol == "json" else "text/xml"}
            return AWSResponse(request.url, status, headers, _Raw(body))

        client.meta.events.register("before-send", before_send)


@pytest.fixture
def fast_backoff(monkeypatch):
    """Keep botocore's retry logic, shrink its sleeps (the test is about correctness, not waiting)."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0.001)


def test_deploy_switch_rollback_survive_20_percent_throttling(sandbox, tmp_path: Path, fast_backoff):
    envs_dir = copy_envs(tmp_path)
    clients = make_clients()
    throttler = Throttler(0.2)
    for client in (clients.autoscaling, clients.elbv2, clients.ssm, clients.s3, clients.ec2):
        throttler.attach(client)
    ctx = make_context(sandbox, envs_dir, clients=clients)

    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    ops.rollback(ctx)
    ops.switch(ctx, "green")

    st = ctx.reader.read_one("beta")
    assert st.routing.color == "green" and st.ssm_color == "green"
    assert st.lock is None and st.journal is None
    assert throttler.calls > 50
    assert 0.1 < throttler.throttled / throttler.calls < 0.3, (throttler.throttled, throttler.calls)
