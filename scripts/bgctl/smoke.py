"""Smoke tests through the preview route, after the health gate and before traffic moves.

The checks go to the load balancer (``BLUEGREEN_PREVIEW_URL``, e.g. ``https://godbolt.org``; the
sandbox sets its front's URL) with the preview headers the wiring names (``bgctl.preview``), so they
reach the new color's target group through the real listener rules while users stay on the old one:

1. built in: ``GET <env path>/healthcheck`` answers 200 and names the build being deployed (in the body
   or a response header);
2. the environment's ``smoke.paths`` (module input ``smoke_paths``): each ``GET`` answers its status;
3. the environment's ``smoke.command`` (module input ``smoke_command``), run by ``sh -c`` with
   ``BLUEGREEN_SMOKE_URL`` (the preview URL with the environment's path), ``BLUEGREEN_SMOKE_HEADERS``
   (``Name: value`` lines, the secret included) and ``BLUEGREEN_SMOKE_VERSION``; exit 0 passes.

Skipped, with the reason, when the wiring declares no preview route or no preview URL is configured.
Against a local endpoint (the sandbox) only loopback addresses are contacted: any other host is skipped,
never sent. Redirects are not followed (a 3xx is an answer like any other).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bgctl.aws import Clients, aws_errors
from bgctl.errors import HealthGateError
from bgctl.preview import SmokePath
from bgctl.settings import Settings, is_loopback
from bgctl.wiring import Wiring

REQUEST_TIMEOUT = 10.0
COMMAND_TIMEOUT = 300.0


class SmokeTestError(HealthGateError):
    """A smoke test of the new color failed: traffic does not move (undone like a failed gate)."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def describe(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass(frozen=True)
class SmokeReport:
    color: str
    results: tuple[CheckResult, ...] = ()
    skipped: str = ""  # why nothing ran ("" when the checks ran)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        if self.skipped:
            return f"⚠️  smoke test of {self.color} skipped: {self.skipped}"
        passed = len(self.results) - len(self.failed)
        shown = ", ".join(r.describe() for r in self.results)
        return f"smoke test of {self.color}: {passed}/{len(self.results)} passed ({shown})"


def env_prefix(wiring: Wiring) -> str:
    """The path the environment is served under: ``/beta/`` for ``/beta*``, ``/`` for a listener default."""
    if wiring.is_default_action or not wiring.path_patterns:
        return "/"
    head = wiring.path_patterns[0].split("*", 1)[0].split("?", 1)[0].rstrip("/")
    return f"{head}/" if head else "/"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url: str, headers: Mapping[str, str]) -> tuple[int | None, str, str]:
    """(status or None, body start plus header values, error text)."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310 (scheme checked)
    try:
        with _OPENER.open(request, timeout=REQUEST_TIMEOUT) as reply:
            text = reply.read(4096).decode("utf-8", "replace") + " " + " ".join(reply.headers.values())
            return int(reply.status), text, ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), "", ""
    except (urllib.error.URLError, OSError) as exc:
        return None, "", str(getattr(exc, "reason", exc))


@dataclass
class SmokeRunner:
    clients: Clients
    settings: Settings

    def run(self, wiring: Wiring, color: str, version: str | None) -> SmokeReport:
        preview = wiring.preview
        if preview is None:
            return SmokeReport(
                color, skipped="no preview route in the wiring (module input preview_rule_priorities)"
            )
        base = (self.settings.preview_url or "").rstrip("/")
        if not base:
            return SmokeReport(color, skipped="no preview URL: set BLUEGREEN_PREVIEW_URL")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return SmokeReport(color, skipped=f"preview URL {base!r} is not http(s)")
        if self.settings.local_endpoint and not is_loopback(parts.hostname):
            return SmokeReport(
                color, skipped=f"local endpoint: refusing to contact non-loopback {parts.hostname}"
            )
        headers = {preview.header: color}
        if preview.secret_parameter and preview.secret_header:
            with aws_errors(f"ssm:GetParameter {preview.secret_parameter}"):
                reply = self.clients.ssm.get_parameter(Name=preview.secret_parameter, WithDecryption=True)
            headers[preview.secret_header] = str(reply["Parameter"]["Value"])
        prefix = env_prefix(wiring)
        results = [self._healthcheck(f"{base}{prefix}healthcheck", headers, version)]
        results += [self._path(base, p, headers) for p in wiring.smoke.paths]
        if wiring.smoke.command:
            results.append(self._command(wiring.smoke.command, f"{base}{prefix}", headers, version))
        return SmokeReport(color, tuple(results))

    def _healthcheck(self, url: str, headers: Mapping[str, str], version: str | None) -> CheckResult:
        name = f"GET {urlsplit(url).path}"
        started = time.monotonic()
        status, text, error = _get(url, headers)
        ms = f"{(time.monotonic() - started) * 1000:.0f} ms"
        if status is None:
            return CheckResult(name, False, f"no answer ({error})")
        if status != 200:
            return CheckResult(name, False, f"HTTP {status}, expected 200")
        if version and version not in text:
            return CheckResult(name, False, f"HTTP 200 but it does not name {version}")
        return CheckResult(name, True, f"200{' ' + version if version else ''} ({ms})")

    def _path(self, base: str, path: SmokePath, headers: Mapping[str, str]) -> CheckResult:
        name = f"GET {path.path}"
        started = time.monotonic()
        status, _, error = _get(f"{base}{path.path}", headers)
        ms = f"{(time.monotonic() - started) * 1000:.0f} ms"
        if status is None:
            return CheckResult(name, False, f"no answer ({error})")
        if status != path.status:
            return CheckResult(name, False, f"HTTP {status}, expected {path.status}")
        return CheckResult(name, True, f"{status} ({ms})")

    def _command(
        self, command: str, url: str, headers: Mapping[str, str], version: str | None
    ) -> CheckResult:
        env = {
            **os.environ,
            "BLUEGREEN_SMOKE_URL": url,
            "BLUEGREEN_SMOKE_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
            "BLUEGREEN_SMOKE_VERSION": version or "",
        }
        name = "command"
        try:
            done = subprocess.run(  # the command is the environment's own (Terraform declares it)
                ["/bin/sh", "-c", command],
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return CheckResult(name, False, f"did not finish in {COMMAND_TIMEOUT:.0f}s")
        except OSError as exc:
            return CheckResult(name, False, f"could not run: {exc}")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            return CheckResult(name, False, f"exit {done.returncode} {tail[0][:200]}".rstrip())
        return CheckResult(name, True, "exit 0")


def smoke_test(clients: Clients, settings: Settings, wiring: Wiring, color: str, version: str | None) -> str:
    """Run the checks; the one-line summary, or SmokeTestError naming the failing check(s)."""
    report = SmokeRunner(clients, settings).run(wiring, color, version)
    if report.failed:
        failing = "; ".join(r.describe() for r in report.failed)
        raise SmokeTestError(
            f"{wiring.environment}: smoke test of {color} failed before traffic moved: {failing}",
            hint="the new color was undone; fix it and deploy again (checks: the wiring's smoke)",
        )
    return report.summary()
