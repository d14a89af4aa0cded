"""A moto server on loopback: the AWS the sandbox talks to.

moto is a development dependency, imported only inside the functions that need it, so importing
``bgctl`` (or this module) never requires it.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bgctl.settings import is_loopback

REGION = "us-east-1"
LOOPBACK = "127.0.0.1"

# Credentials and region that can only ever work against moto.
FAKE_AWS_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for credentials
}
# Variables that could point boto3 at a real account or a real profile; removed from a sandbox env.
REAL_AWS_VARS: tuple[str, ...] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


is_loopback_host = is_loopback  # one definition of "loopback" for the tool and its sandbox


def require_loopback_url(url: str, what: str = "URL") -> str:
    """Return ``url`` unchanged, or raise ValueError when its host is not a loopback address."""
    host = urlsplit(url.replace("{", "").replace("}", "")).hostname
    if not is_loopback_host(host):
        raise ValueError(f"sandbox {what} must point at 127.0.0.0/8, got {url!r}")
    return url


def sandbox_environ(endpoint_url: str, health_url_template: str | None = None) -> dict[str, str]:
    """The environment variables a process needs to talk to the sandbox instead of AWS."""
    env = dict(FAKE_AWS_ENV)
    env["AWS_ENDPOINT_URL"] = require_loopback_url(endpoint_url, "endpoint")
    if health_url_template is not None:
        env["BLUEGREEN_HEALTH_URL"] = require_loopback_url(health_url_template, "health URL template")
    return env


def apply_environ(environ: MutableMapping[str, str], values: dict[str, str]) -> None:
    """Point ``environ`` at the sandbox: set ``values`` and drop anything naming a real account."""
    for name in REAL_AWS_VARS:
        environ.pop(name, None)
    environ.update(values)


@dataclass
class MotoServer:
    """A moto server in a thread of this process, bound to 127.0.0.1 on a free port."""

    port: int = 0
    _server: Any = field(default=None, repr=False)
    endpoint_url: str = ""

    def start(self) -> str:
        """Start the server (idempotent) and return its endpoint URL."""
        if self._server is not None:
            return self.endpoint_url
        from moto.server import ThreadedMotoServer

        # One access-log line per API call would drown the demo and the test output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def reset(self) -> None:
        """Forget every resource in every backend (moto's own reset endpoint; slow on a loaded machine)."""
        url = require_loopback_url(f"{self.endpoint_url}/moto-api/reset", "endpoint")
        request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback only, checked above
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            response.read()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self.endpoint_url = ""

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_moto_server(port: int = 0) -> MotoServer:
    """Start a moto server on 127.0.0.1 (``port`` 0: a free port); ``.endpoint_url`` says where."""
    server = MotoServer(port=port)
    server.start()
    return server
