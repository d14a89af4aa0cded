"""The sandbox's load balancer data plane: an HTTP front on 127.0.0.1 that routes like the ALB moto holds.

moto keeps the load balancer as records only; nothing answers a request sent *through* it. ``AlbFront``
does, on two loopback ports standing for the ALB's listeners (HTTP :80 and HTTPS :443; **both speak
plain HTTP**: the certificate and TLS are not emulated). For every request it

1. reads the listener's rules as moto holds them *right now* (``albsource``: moto's backend in this
   process, microseconds; a rule change is seen by the very next request),
2. picks the rule (``albrules``: priority order, path/host/header/method/query/source-ip conditions,
   the default rule last) and its terminal action,
3. answers ``fixed-response`` and ``redirect`` itself, and for ``forward`` picks a target group (by
   weight; with ``TargetGroupStickinessConfig`` the ``AWSALBTG`` cookie binds the user to a group),
   then a **healthy** target of it (round robin; health as ``DescribeTargetHealth`` reports it at that
   instant, so ``moto_fixes`` and the health server's injected failures apply; ``unhealthy``,
   ``draining``, ``initial``, ``unused`` targets receive nothing), and proxies the request to that
   instance's site on the health server (``/i/{instance_id}/app/<path>``).

As an ALB answers: no healthy target 503, a target that resets or refuses 502, one that does not answer
within ``target_timeout`` 504, no matching action 404 (the topology's default action is a 404
fixed-response anyway). Those answers carry ``Server: awselb/2.0``; proxied ones carry the instance's
headers plus ``X-Sandbox-Target`` and ``X-Sandbox-Target-Group`` (sandbox only, to see where a request
went).

Source IP: every client here is 127.0.0.1. For ``source-ip`` conditions a request may name the address
it stands for in ``X-Sandbox-Source-Ip`` (trusted by the sandbox front only, never forwarded; a real
ALB uses the TCP peer and ignores headers). ``X-Forwarded-For``/``-Proto``/``-Port`` are set as an ALB
sets them.

Differences from an ALB, on purpose or for now: health has no lag (a real ALB notices a failure after
``UnhealthyThresholdCount`` x ``HealthCheckIntervalSeconds``, 20 s in this topology, and a group that a
switch starts forwarding to goes ``unused`` -> ``initial`` -> ``healthy``); a group with no healthy target
answers 503 (a real ALB "fails open" and routes to all registered targets when none is healthy); target
stickiness (``AWSALB``, group attribute ``stickiness.enabled``) is not emulated; ``authenticate-*``
actions answer 501.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bgctl.sandbox.albrules import (
    REDIRECT_CODES,
    STICKY_COOKIE,
    STICKY_COOKIE_CORS,
    STICKY_COOKIE_MAX_AGE,
    Forward,
    RequestView,
    Rule,
    StickyCodec,
    first_match,
    redirect_location,
    terminal_action,
)
from bgctl.sandbox.albsource import AlbSource, TargetView
from bgctl.sandbox.server import LOOPBACK, require_loopback_url

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

SOURCE_IP_HEADER = "X-Sandbox-Source-Ip"
TARGET_HEADER = "X-Sandbox-Target"
TARGET_GROUP_HEADER = "X-Sandbox-Target-Group"
LB_SERVER = "awselb/2.0"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
REASONS = {
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


@dataclass(frozen=True)
class Listener:
    """One ALB listener the front stands in for: its name, the ALB port, the protocol it models."""

    name: str  # "http" | "https"
    port: int  # 80 | 443: the listener moto holds
    protocol: str  # "HTTP" | "HTTPS" (served as plain HTTP on loopback)


LISTENERS = (Listener("http", 80, "HTTP"), Listener("https", 443, "HTTPS"))


@dataclass
class FrontStats:
    """What the front answered, by status and by target group name (thread-safe snapshot)."""

    statuses: Counter[int] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)
    lb_answers: Counter[str] = field(default_factory=Counter)  # why the front answered itself
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int, group: str | None = None, reason: str | None = None) -> None:
        with self._lock:
            self.statuses[status] += 1
            if group:
                self.groups[group] += 1
            if reason:
                self.lb_answers[reason] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "groups": dict(sorted(self.groups.items())),
                "lb_answers": dict(sorted(self.lb_answers.items())),
            }

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def group_name(target_group_arn: str) -> str:
    """``Beta-Green`` from a target group ARN."""
    return target_group_arn.rsplit(":targetgroup/", 1)[-1].split("/", 1)[0]


class AlbFront:
    """The loopback front for one ALB; ``start()`` serves both listeners from a background thread."""

    def __init__(
        self,
        source: AlbSource,
        target_base_url: str,
        *,
        ports: Mapping[str, int] | None = None,
        target_timeout: float = 4.0,
        seed: int | None = None,
        trust_source_ip_header: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.target_base_url = require_loopback_url(target_base_url.rstrip("/"), "target URL")
        self.target_timeout = target_timeout
        self.trust_source_ip_header = trust_source_ip_header
        self.stats = FrontStats()
        self._ports = dict(ports or {})
        self._bound: dict[str, int] = {}
        self._clock = clock
        self._rng = random.Random(seed)  # noqa: S311 - choosing a target group, not a secret
        self._codec = StickyCodec(None if seed is None else seed.to_bytes(8, "big") * 4)
        self._round_robin: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> AlbFront:
        """Serve both listeners (idempotent); returns self."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="sandbox-alb-front", daemon=True)
        self._thread.start()
        ready.wait(10)
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=15)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (bounded: a few seconds at most)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):  # stopping goes on whatever the shutdown said
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None
        self._bound = {}

    def __enter__(self) -> AlbFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        import aiohttp
        from aiohttp import web

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, enable_cleanup_closed=True),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        for listener in LISTENERS:
            app = web.Application(client_max_size=1024**2)
            app.router.add_route("*", "/{tail:.*}", self._handler(listener))
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, LOOPBACK, self._ports.get(listener.name, 0))
            await site.start()
            self._runners.append(runner)
            self._bound[listener.name] = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- where it listens --------------------------------------------------------------------------

    def port(self, listener: str) -> int:
        if listener not in self._bound:
            raise RuntimeError("the load balancer front is not running")
        return self._bound[listener]

    def url(self, listener: str) -> str:
        """``http://127.0.0.1:PORT`` of the listener called ``listener`` ("http" or "https")."""
        return f"http://{LOOPBACK}:{self.port(listener)}"

    @property
    def http_url(self) -> str:
        """The ALB's HTTP :80 listener."""
        return self.url("http")

    @property
    def https_url(self) -> str:
        """The ALB's HTTPS :443 listener (plain HTTP on loopback)."""
        return self.url("https")

    @property
    def running(self) -> bool:
        return bool(self._bound)

    # -- one request -------------------------------------------------------------------------------

    def _handler(self, listener: Listener) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                return await self._route(listener, request)
            except Exception as exc:  # noqa: BLE001 - an ALB answers 500 rather than dropping the client
                return self._lb_answer(500, f"front error: {type(exc).__name__}: {exc}")

        return handle

    async def _read(self, read: Callable[..., Any], *args: Any) -> Any:
        if self.source.blocking:
            return await asyncio.to_thread(read, *args)
        return read(*args)

    def _view(self, request: web.Request) -> RequestView | None:
        source_ip = request.remote or LOOPBACK
        claimed = request.headers.get(SOURCE_IP_HEADER)
        if claimed and self.trust_source_ip_header:
            try:
                source_ip = str(ipaddress.ip_address(claimed.strip()))
            except ValueError:
                return None
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        return RequestView(
            method=request.method,
            path=request.rel_url.raw_path,
            query=request.rel_url.raw_query_string,
            host=request.host,
            headers=headers,
            source_ip=source_ip,
        )

    async def _route(  # noqa: PLR0911 - one answer per kind of action
        self, listener: Listener, request: web.Request
    ) -> web.StreamResponse:
        view = self._view(request)
        if view is None:
            return self._lb_answer(400, f"{SOURCE_IP_HEADER} is not an IP address")
        rules: list[Rule] | None = await self._read(self.source.rules, listener.port)
        if rules is None:
            return self._lb_answer(503, f"no listener on :{listener.port}")
        rule = first_match(rules, view)
        action = terminal_action(rule) if rule is not None else None
        if action is None:
            return self._lb_answer(404, "no rule matched")
        kind = str(action.get("Type"))
        if kind == "fixed-response":
            return self._fixed(action.get("FixedResponseConfig") or {})
        if kind == "redirect":
            return self._redirect(listener, view, action.get("RedirectConfig") or {})
        if kind == "forward":
            return await self._forward(listener, request, view, Forward.of(action))
        return self._lb_answer(501, f"{kind} is not emulated")

    def _fixed(self, config: Mapping[str, Any]) -> web.Response:
        from aiohttp import web

        status = int(config.get("StatusCode") or 200)
        self.stats.record(status, reason="fixed-response")
        return web.Response(
            status=status,
            body=str(config.get("MessageBody") or "").encode(),
            headers={"Content-Type": str(config.get("ContentType") or "text/plain"), "Server": LB_SERVER},
        )

    def _redirect(self, listener: Listener, view: RequestView, config: Mapping[str, Any]) -> web.Response:
        from aiohttp import web

        _protocol, host, port, path, query = redirect_location(
            config,
            protocol=listener.protocol,
            host=view.host,
            port=listener.port,
            path=view.path,
            query=view.query,
        )
        # The ALB's ports map onto the front's loopback ports (always plain http there).
        target = next((x for x in LISTENERS if x.port == port), None)
        if target is not None and self._bound.get(target.name):
            port = self._bound[target.name]
        location = f"http://{host}:{port}{path}" + (f"?{query}" if query else "")
        status = REDIRECT_CODES.get(str(config.get("StatusCode")), 302)
        self.stats.record(status, reason="redirect")
        return web.Response(status=status, headers={"Location": location, "Server": LB_SERVER})

    def _lb_answer(self, status: int, why: str) -> web.Response:
        from aiohttp import web

        title = f"{status} {REASONS.get(status, '')}".strip()
        body = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
        )
        self.stats.record(status, reason=why.split(":", 1)[0])
        return web.Response(
            status=status,
            body=body.encode(),
            headers={"Content-Type": "text/html", "Server": LB_SERVER, "X-Sandbox-Reason": why[:200]},
        )

    async def _healthy(self, target_group_arn: str) -> list[str] | None:
        targets: list[TargetView] | None = await self._read(self.source.targets, target_group_arn)
        if targets is None:
            return None
        return sorted(t.instance_id for t in targets if t.state == "healthy")

    def _pick(self, target_group_arn: str, healthy: list[str]) -> str:
        turn = self._round_robin.get(target_group_arn, 0)
        self._round_robin[target_group_arn] = turn + 1
        return healthy[turn % len(healthy)]

    async def _forward(
        self, listener: Listener, request: web.Request, view: RequestView, forward: Forward
    ) -> web.StreamResponse:
        now = self._clock()
        group: str | None = None
        healthy: list[str] | None = None
        if forward.sticky:
            bound = self._codec.decode(request.cookies.get(STICKY_COOKIE), now)
            if bound is not None and bound in forward.arns():
                healthy = await self._healthy(bound)
                group = bound if healthy else None
        if group is None:
            group = forward.choose(self._rng)
            if group is None:
                return self._lb_answer(503, "no target group with weight")
            healthy = await self._healthy(group)
        if not healthy:
            return self._lb_answer(503, f"no healthy target in {group_name(group)}")
        instance_id = self._pick(group, healthy)
        response = await self._proxy(listener, request, view, instance_id, group)
        if forward.sticky and response.status < 500:
            value = self._codec.encode(group, now + forward.stickiness_seconds)
            response.set_cookie(STICKY_COOKIE, value, max_age=STICKY_COOKIE_MAX_AGE, path="/")
            response.set_cookie(
                STICKY_COOKIE_CORS,
                value,
                max_age=STICKY_COOKIE_MAX_AGE,
                path="/",
                samesite="None",
                secure=True,
            )
        return response

    async def _proxy(
        self, listener: Listener, request: web.Request, view: RequestView, instance_id: str, group: str
    ) -> web.StreamResponse:
        import aiohttp
        from aiohttp import web

        session = self._session
        if session is None:
            return self._lb_answer(503, "front stopping")
        url = f"{self.target_base_url}/i/{instance_id}/app{view.path}"
        if view.query:
            url += f"?{view.query}"
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != SOURCE_IP_HEADER.lower()
        }
        forwarded_for = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded_for}, {view.source_ip}" if forwarded_for else view.source_ip
        headers["X-Forwarded-Proto"] = listener.protocol.lower()
        headers["X-Forwarded-Port"] = str(listener.port)
        headers["X-Amzn-Trace-Id"] = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
        body = await request.read()
        try:
            async with session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=self.target_timeout
                ),  # read per request: tests may raise it
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                answer_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        except TimeoutError:
            return self._lb_answer(504, f"target {instance_id} did not answer in {self.target_timeout:g}s")
        except aiohttp.ClientError as exc:
            return self._lb_answer(502, f"target {instance_id}: {type(exc).__name__}")
        response = web.Response(status=status, body=payload)
        for name, value in answer_headers:
            response.headers.add(name, value)
        response.headers[TARGET_HEADER] = instance_id
        response.headers[TARGET_GROUP_HEADER] = group_name(group)
        self.stats.record(status, group=group_name(group))
        return response
