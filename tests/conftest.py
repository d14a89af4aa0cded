"""Shared fixtures.

Safety first: every test runs with fake AWS credentials, no profile, no instance metadata, and a socket
guard that refuses any connection outside 127.0.0.0/8 (moto's instances have 10.x addresses; nothing may
ever be sent there, nor to AWS).

The sandbox: one moto server and one health server per test session (``sandbox_session``); the
function-scoped ``sandbox`` fixture empties moto and rebuilds the nine-environment topology for each
test (about 1 s), and points ``AWS_ENDPOINT_URL`` / ``BLUEGREEN_HEALTH_URL`` at it, so CLI code under
test runs unchanged against it. Tests that only read use ``sandbox_readonly``, which skips the rebuild
when the previous test left the topology untouched.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from bgctl.envspec import EnvSpec
from bgctl.sandbox import Sandbox, load_specs
from bgctl.sandbox.server import FAKE_AWS_ENV, REAL_AWS_VARS

# --------------------------------------------------------------------------------------------------
# Network guard (autouse): loopback and unix sockets only
# --------------------------------------------------------------------------------------------------
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _require_loopback(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConnectionRefusedError(f"test network guard: refusing a connection to {address!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _require_loopback(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _require_loopback(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Resolve only loopback names and address literals: no DNS query leaves the machine."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name != "localhost":
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise socket.gaierror(f"test network guard: not resolving {name!r}") from None
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def loopback_only_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse, in this process, every TCP connection that does not go to 127.0.0.0/8 or ::1, and every
    name lookup other than ``localhost`` (subprocesses are covered by the fake AWS environment)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


# --------------------------------------------------------------------------------------------------
# Fake AWS
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fake credentials and region; no profile, no config files, no IMDS, and a dead endpoint by default
    (127.0.0.1:9, the discard port) so a client the test forgot to aim at the sandbox fails fast."""
    for name in REAL_AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws") / "none"
    env = {
        **FAKE_AWS_ENV,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BLUEGREEN_HEALTH_URL", raising=False)
    return env


# --------------------------------------------------------------------------------------------------
# Environment specs and the sandbox
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def env_specs() -> dict[str, EnvSpec]:
    """The nine environments, parsed from terraform/envs."""
    return load_specs()


@pytest.fixture(scope="session")
def sandbox_session(env_specs: dict[str, EnvSpec]) -> Iterator[Sandbox]:
    """One moto server and one health server for the whole session (topology not built yet)."""
    sandbox = Sandbox(env_specs, hang_seconds=2.0)
    sandbox.start(build=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _point_environ_at(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.environ().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sandbox(sandbox_session: Sandbox, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A freshly built topology for all environments; the process environment points at it.
    The test may change anything (AWS state, injected failures)."""
    sandbox_session.reset(rebuild=True)
    _point_environ_at(sandbox_session, monkeypatch)
    return sandbox_session


# Sandbox generation that sandbox_readonly built last; any other build or reset since makes it stale.
_readonly_generation: dict[int, int] = {}


@pytest.fixture
def sandbox_readonly(
    sandbox_session: Sandbox, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Sandbox:
    """Like ``sandbox`` but shared by consecutive read-only tests: rebuilt whenever anything else built or
    reset the sandbox since (``sandbox``, a synthetic build). Contract: the test changes nothing (no AWS
    writes, no injected failures)."""
    key = id(sandbox_session)
    if _readonly_generation.get(key) != sandbox_session.generation:
        sandbox_session.reset(rebuild=True)
        _readonly_generation[key] = sandbox_session.generation
    _point_environ_at(sandbox_session, monkeypatch)
    return sandbox_session
