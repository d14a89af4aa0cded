"""HTTP ``/healthcheck`` probes of instances through a configurable URL template.

The template (``BLUEGREEN_HEALTH_URL``, read into ``Settings``) may use ``{instance_id}``,
``{private_ip}``, ``{env}`` and ``{color}``, e.g. ``http://{private_ip}/healthcheck`` on an admin node
inside the VPC. Where no template is configured the check reports "skipped" with the reason. Against a
local endpoint (the sandbox) only loopback addresses are ever contacted: a template that resolves
elsewhere is skipped, never sent.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from bgctl.settings import Settings, is_loopback

SKIP_REASON = "not running on admin node: set BLUEGREEN_HEALTH_URL"


@dataclass(frozen=True)
class HttpResult:
    """One probe. ``ok`` is None when the probe was skipped (``detail`` says why)."""

    ok: bool | None
    status: int | None = None
    latency_ms: float | None = None
    detail: str = ""
    body: str = ""

    @property
    def skipped(self) -> bool:
        return self.ok is None


@dataclass(frozen=True)
class Target:
    instance_id: str
    private_ip: str | None
    env: str
    color: str


class HttpChecker:
    """Probe instances concurrently. ``template`` None means every probe is skipped."""

    def __init__(
        self,
        template: str | None,
        *,
        timeout: float = 3.0,
        loopback_only: bool,
        skip_reason: str = SKIP_REASON,
    ) -> None:
        self.template = template
        self.timeout = timeout
        self.loopback_only = loopback_only
        self.skip_reason = skip_reason

    @classmethod
    def of(cls, settings: Settings) -> HttpChecker:
        return cls(settings.health_url, loopback_only=settings.local_endpoint)

    @property
    def uses_private_ip(self) -> bool:
        return self.template is not None and "{private_ip}" in self.template

    def url_for(self, target: Target) -> str | None:
        if self.template is None:
            return None
        return self.template.format(
            instance_id=target.instance_id,
            private_ip=target.private_ip or "",
            env=target.env,
            color=target.color,
        )

    def probe(self, target: Target) -> HttpResult:
        url = self.url_for(target)
        if url is None:
            return HttpResult(ok=None, detail=self.skip_reason)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            return HttpResult(ok=None, detail=f"health URL {url!r} is not http(s)")
        if self.loopback_only and not is_loopback(host):
            return HttpResult(ok=None, detail=f"local endpoint: refusing to contact non-loopback {host}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310 (scheme checked)
                body = resp.read(512).decode("utf-8", "replace")
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            latency = (time.monotonic() - started) * 1000
            return HttpResult(ok=False, status=exc.code, latency_ms=latency, detail=f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            latency = (time.monotonic() - started) * 1000
            reason = getattr(exc, "reason", exc)
            return HttpResult(ok=False, latency_ms=latency, detail=f"unreachable: {reason}")
        latency = (time.monotonic() - started) * 1000
        return HttpResult(
            ok=status == 200, status=status, latency_ms=latency, detail=f"HTTP {status}", body=body.strip()
        )

    def probe_all(self, targets: Iterable[Target]) -> dict[str, HttpResult]:
        items = list(targets)
        if not items:
            return {}
        if self.template is None:
            return {t.instance_id: HttpResult(ok=None, detail=self.skip_reason) for t in items}
        with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
            results = list(pool.map(self.probe, items))
        return {t.instance_id: r for t, r in zip(items, results, strict=True)}
