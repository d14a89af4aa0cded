"""Helpers for the load balancer front's tests: plain HTTP requests, and a color brought up by hand."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from bgctl.sandbox import Sandbox
from bgctl.sandbox.front import TARGET_GROUP_HEADER
from bgctl.sandbox.health import VERSION_HEADER
from bgctl.wiring import version_param


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def version(self) -> str | None:
        return self.headers.get(VERSION_HEADER)

    @property
    def group(self) -> str | None:
        return self.headers.get(TARGET_GROUP_HEADER)

    def json(self) -> Any:
        return json.loads(self.body)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    timeout: float = 10.0,
) -> Answer:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read())


def bring_up(sandbox: Sandbox, env: str, color: str, version: str, count: int = 1) -> list[str]:
    """Record ``version`` for ``env``'s ``color`` and launch ``count`` instances of it."""
    sandbox.clients.ssm.put_parameter(
        Name=version_param(env, color), Value=version, Type="String", Overwrite=True
    )
    sandbox.clients.autoscaling.set_desired_capacity(
        AutoScalingGroupName=f"{env}-{color}", DesiredCapacity=count
    )
    ids = sandbox.instance_ids(env, color)
    for iid in ids:  # the health server pins an instance's version when it first sees it
        assert sandbox.health.lookup(iid) is not None
    return ids
