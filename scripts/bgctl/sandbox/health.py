"""A loopback HTTP server standing in for the instances' ``/healthcheck``.

moto gives instances private 10.x/172.31.x addresses and nothing may ever be sent there, so in the
sandbox every instance is reached through one server on 127.0.0.1::

    http://127.0.0.1:{port}/i/{instance_id}/healthcheck   -> 200 JSON {"status": "ok", "version": ...}
    http://127.0.0.1:{port}/i/{instance_id}/version       -> 200 text: the version
    http://127.0.0.1:{port}/i/{instance_id}/app/<any path> -> 200 JSON {"version", "instance", "color", ...}
                                                              and X-Bluegreen-Version: what the site serves

``/app`` is the instance's web site: the load balancer front (``bgctl.sandbox.front``) forwards every
request it routes to an instance there, with any method and path.

The version an instance runs is the one recorded for its color (``/compiler-explorer/{env}/{color}/version``)
when the server first sees the instance, pinned afterwards, the way a real instance keeps the build it
booted with. Failures are injected per instance or per environment and color, from Python
(``HealthServer.fail_instance`` ...) or over HTTP (``POST /control``, JSON body, for other processes).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from bgctl import COLORS
from bgctl.sandbox.moto_fixes import TARGET_STATES, TargetState
from bgctl.sandbox.server import LOOPBACK, require_loopback_url
from bgctl.wiring import version_param

if TYPE_CHECKING:
    from bgctl.sandbox.clients import SandboxClients

FAILURE_MODES = ("error", "drop", "hang")
"""``error``: HTTP 500. ``drop``: the connection is reset without an answer (like a refused port).
``hang``: the connection is held open without an answer for ``hang_seconds`` (a client timeout)."""

# What the load balancer reports for a target whose /healthcheck fails in each mode.
_TARGET_STATE_FOR_FAILURE = {
    "error": TargetState(
        "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [500]"
    ),
    "drop": TargetState("unhealthy", "Target.FailedHealthChecks", "Health checks failed"),
    "hang": TargetState("unhealthy", "Target.Timeout", "Request timed out"),
}


class _Server(ThreadingHTTPServer):
    # Probes arrive 16 at a time (HttpChecker's pool); the socketserver default backlog of 5 drops SYNs,
    # and each dropped one costs the client a 1 s retransmit.
    request_queue_size = 128


_PATH = re.compile(r"^/i/(?P<instance_id>[A-Za-z0-9-]+)/(?P<leaf>healthcheck|version)/?$")
_APP_PATH = re.compile(r"^/i/(?P<instance_id>[A-Za-z0-9-]+)/app(?P<rest>/.*)?$")
VERSION_HEADER = "X-Bluegreen-Version"
INSTANCE_HEADER = "X-Bluegreen-Instance"
COLOR_HEADER = "X-Bluegreen-Color"


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    environment: str
    color: str
    version: str


Directory = Callable[[], Mapping[str, InstanceInfo]]
"""Returns every instance currently in service somewhere, with the version its color records now."""


def health_url(template: str, instance_id: str) -> str:
    """Fill ``{instance_id}`` into a loopback-only template; refuse any other host."""
    return require_loopback_url(template.format(instance_id=instance_id), "health URL")


def aws_directory(clients: SandboxClients) -> Directory:
    """A Directory reading the ASGs (tags Environment/Color) and the per-color version parameters."""

    def snapshot() -> dict[str, InstanceInfo]:
        members: list[tuple[str, str, str]] = []
        for page in clients.autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
            for group in page["AutoScalingGroups"]:
                tags = {t.get("Key"): t.get("Value") for t in group.get("Tags", [])}
                env, color = tags.get("Environment"), tags.get("Color")
                if not env or color not in COLORS:
                    continue
                members.extend((i["InstanceId"], env, color) for i in group.get("Instances", []))
        names = sorted({version_param(env, color) for _, env, color in members})
        versions: dict[str, str] = {}
        for start in range(0, len(names), 10):
            reply = clients.ssm.get_parameters(Names=names[start : start + 10])
            versions.update({p["Name"]: p["Value"] for p in reply["Parameters"]})
        return {
            iid: InstanceInfo(iid, env, color, versions.get(version_param(env, color), "unknown"))
            for iid, env, color in members
        }

    return snapshot


class HealthServer:
    """The stand-in for every sandbox instance's web server, on 127.0.0.1 (port 0: a free port)."""

    def __init__(self, directory: Directory, *, port: int = 0, hang_seconds: float = 5.0) -> None:
        self._directory = directory
        self._more_directories: dict[str, Directory] = {}  # other regions' instances, by region
        self._port = port
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stopping = threading.Event()
        self._pinned: dict[str, InstanceInfo] = {}
        self._gone: set[str] = set()
        self._instance_failures: dict[str, str] = {}
        self._color_failures: dict[tuple[str, str], str] = {}
        self._target_states: dict[str, TargetState] = {}
        self.failures_affect_targets = True
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0
        self.app_requests = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving (idempotent); return the URL template with an ``{instance_id}`` placeholder."""
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _Server((LOOPBACK, self._port), _handler_for(self))
            self._httpd.daemon_threads = True
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="sandbox-health", daemon=True
            )
            self._thread.start()
        return self.url_template

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("health server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url_template(self) -> str:
        return f"{self.base_url}/i/{{instance_id}}/healthcheck"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/control"

    # -- controls ----------------------------------------------------------------------------------

    def fail_instance(self, instance_id: str, mode: str = "error") -> None:
        with self._lock:
            self._instance_failures[instance_id] = _check_mode(mode)

    def fail_color(self, environment: str, color: str, mode: str = "error") -> None:
        """Every instance of ``environment``'s ``color`` fails, including ones launched later."""
        if color not in COLORS:
            raise ValueError(f"unknown color {color!r}")
        with self._lock:
            self._color_failures[(environment, color)] = _check_mode(mode)

    def heal(self, instance_id: str | None = None) -> None:
        """Clear one instance's failure, or every injected failure."""
        with self._lock:
            if instance_id is None:
                self._instance_failures.clear()
                self._color_failures.clear()
            else:
                self._instance_failures.pop(instance_id, None)

    def set_version(self, instance_id: str, version: str) -> None:
        """Make a (known) instance report ``version``, e.g. to simulate a bad boot."""
        info = self.lookup(instance_id)
        if info is None:
            raise KeyError(instance_id)
        with self._lock:
            self._pinned[instance_id] = InstanceInfo(info.instance_id, info.environment, info.color, version)

    def reset(self) -> None:
        """Forget failures and pinned versions (after the AWS side was reset)."""
        with self._lock:
            self._instance_failures.clear()
            self._color_failures.clear()
            self._target_states.clear()
            self._pinned.clear()
            self._gone.clear()
            self.requests = 0
            self.app_requests = 0

    def set_target_state(self, instance_id: str, state: str | None, reason: str | None = None) -> None:
        """Make the load balancer report ``state`` (e.g. "initial") for a registered, running target;
        None returns it to what the injected failures imply."""
        with self._lock:
            if state is None:
                self._target_states.pop(instance_id, None)
                return
            if state not in TARGET_STATES:
                raise ValueError(f"unknown target state {state!r}: one of {', '.join(TARGET_STATES)}")
            self._target_states[instance_id] = TargetState(state, reason)

    def target_state(self, instance_id: str, tags: Mapping[str, str]) -> TargetState | None:
        """The moto target-health hook: an explicit state, else "unhealthy" while /healthcheck fails."""
        with self._lock:
            if instance_id in self._target_states:
                return self._target_states[instance_id]
            if not self.failures_affect_targets:
                return None
            mode = self._instance_failures.get(instance_id) or self._color_failures.get(
                (tags.get("Environment", ""), tags.get("Color", ""))
            )
        return _TARGET_STATE_FOR_FAILURE[mode] if mode else None

    def forget(self, instance_ids: list[str]) -> None:
        """These instances were terminated: from now on their connections are reset."""
        with self._lock:
            self._gone.update(instance_ids)

    def add_directory(self, name: str, directory: Directory) -> None:
        """Answer for ``directory``'s instances too (another region's, under its name); replaces an
        earlier one of that name."""
        with self._refresh_lock:
            self._more_directories[name] = directory

    def drop_directories(self) -> None:
        """Answer for the first directory's instances only again (after the other regions were reset)."""
        with self._refresh_lock:
            self._more_directories.clear()

    def _everyone(self) -> dict[str, InstanceInfo]:
        found = dict(self._directory())
        for more in list(self._more_directories.values()):
            found.update(more())
        return found

    def pinned(self) -> dict[str, InstanceInfo]:
        with self._lock:
            return dict(self._pinned)

    # -- lookup ------------------------------------------------------------------------------------

    def lookup(self, instance_id: str) -> InstanceInfo | None:
        """The instance's pinned info; on a miss, refresh from the directory and pin what is new."""
        with self._lock:
            if instance_id in self._pinned:
                return self._pinned[instance_id]
        with self._refresh_lock:
            with self._lock:
                if instance_id in self._pinned:
                    return self._pinned[instance_id]
            current = self._everyone()
            with self._lock:
                for iid, info in current.items():
                    self._pinned.setdefault(iid, info)
                self._gone.update(iid for iid in self._pinned if iid not in current)
                self._gone.difference_update(current)
                return self._pinned.get(instance_id)

    def failure_for(self, info: InstanceInfo) -> str | None:
        with self._lock:
            if info.instance_id in self._gone:
                return "drop"
            return self._instance_failures.get(info.instance_id) or self._color_failures.get(
                (info.environment, info.color)
            )

    def control(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Apply one control command (the body of ``POST /control``)."""
        action = command.get("action")
        if action == "fail":
            self.fail_instance(str(command["instance_id"]), str(command.get("mode", "error")))
        elif action == "fail_color":
            self.fail_color(
                str(command["environment"]), str(command["color"]), str(command.get("mode", "error"))
            )
        elif action == "heal":
            iid = command.get("instance_id")
            self.heal(str(iid) if iid else None)
        elif action == "set_version":
            self.set_version(str(command["instance_id"]), str(command["version"]))
        elif action == "target_state":
            state = command.get("state")
            self.set_target_state(str(command["instance_id"]), str(state) if state else None)
        elif action == "reset":
            self.reset()
        else:
            raise ValueError(
                f"unknown action {action!r}: fail, fail_color, heal, set_version, target_state, reset"
            )
        return {"ok": True, "action": action}

    def wait_stopping(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _check_mode(mode: str) -> str:
    if mode not in FAILURE_MODES:
        raise ValueError(f"unknown failure mode {mode!r}: one of {', '.join(FAILURE_MODES)}")
    return mode


def send_control(control_url: str, command: Mapping[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """POST a control command to a health server in another process (loopback only)."""
    import urllib.request

    require_loopback_url(control_url, "control URL")
    request = urllib.request.Request(  # noqa: S310 - loopback http only, checked above
        control_url,
        data=json.dumps(dict(command)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback, checked
        reply: dict[str, Any] = json.loads(response.read())
    return reply


def _handler_for(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "bluegreen-sandbox-health"
        # Headers and body go out in two writes: with Nagle on, a keep-alive client (the load balancer
        # front) waits for its own delayed ACK, 40 ms a request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: one line per health check would drown the demo and the test output."""

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: Mapping[str, Any]) -> None:
            self._send(status, (json.dumps(doc, sort_keys=True) + "\n").encode())

        def _reset_connection(self) -> None:
            # SO_LINGER 0: close() sends RST, so the client sees a reset instead of an answer.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        def _fail(self, failure: str | None, info: InstanceInfo) -> bool:
            """Answer as the failure mode says; False when there is none (answer normally)."""
            if failure == "drop":
                self._reset_connection()
            elif failure == "hang":
                server.wait_stopping(server.hang_seconds)
                self._reset_connection()
            elif failure == "error":
                self._json(500, {"status": "error", **asdict(info)})
            return failure is not None

        def _instance(self, instance_id: str) -> InstanceInfo | None:
            info = server.lookup(instance_id)
            if info is None:
                self._json(404, {"error": "unknown instance", "instance_id": instance_id})
            return info

        def _app(self, match: re.Match[str]) -> None:
            """The instance's site: any method, any path; the body (if any) is read and ignored."""
            server.app_requests += 1
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            info = self._instance(match["instance_id"])
            if info is None or self._fail(server.failure_for(info), info):
                return
            doc = {
                "version": info.version,
                "instance": info.instance_id,
                "environment": info.environment,
                "color": info.color,
                "method": self.command,
                "path": match["rest"] or "/",
            }
            body = b"" if self.command == "HEAD" else (json.dumps(doc, sort_keys=True) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header(VERSION_HEADER, info.version)
            self.send_header(INSTANCE_HEADER, info.instance_id)
            self.send_header(COLOR_HEADER, info.color)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            app = _APP_PATH.match(path)
            if app is not None:
                self._app(app)
                return
            server.requests += 1
            match = _PATH.match(path)
            if match is None:
                self._json(404, {"error": "unknown path", "try": "/i/{instance_id}/healthcheck"})
                return
            info = self._instance(match["instance_id"])
            if info is None or self._fail(server.failure_for(info), info):
                return
            if match["leaf"] == "version":
                self._send(200, info.version.encode(), "text/plain")
            else:
                self._json(200, {"status": "ok", **asdict(info)})

        def do_HEAD(self) -> None:
            self._other_method()

        def do_PUT(self) -> None:
            self._other_method()

        def do_PATCH(self) -> None:
            self._other_method()

        def do_DELETE(self) -> None:
            self._other_method()

        def do_OPTIONS(self) -> None:
            self._other_method()

        def _other_method(self) -> None:
            app = _APP_PATH.match(self.path.split("?", 1)[0])
            if app is not None:
                self._app(app)
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._json(405, {"error": f"{self.command} is answered only under /i/{{instance_id}}/app/"})

        def do_POST(self) -> None:
            app = _APP_PATH.match(self.path.split("?", 1)[0])
            if app is not None:
                self._app(app)
                return
            if self.path.rstrip("/") != "/control":
                self._json(404, {"error": "unknown path", "try": "/control"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                command = json.loads(self.rfile.read(length) or b"{}")
            except ValueError as exc:
                self._json(400, {"ok": False, "error": f"the control body is not JSON: {exc}"})
                return
            if not isinstance(command, dict):
                self._json(400, {"ok": False, "error": "the control body must be a JSON object"})
                return
            try:
                self._json(200, server.control(command))
            except (ValueError, KeyError) as exc:
                self._json(400, {"ok": False, "error": str(exc)})

    return Handler
