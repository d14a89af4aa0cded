"""What the wiring declares about preview routes and smoke tests (standard library only).

A **preview route** is a listener rule per color (Terraform, ``modules/blue_green/preview.tf``) that
forwards a request carrying ``X-Bluegreen-Color: <color>`` (plus the preview secret header, and/or from
an admin CIDR) to that color's target group, whatever ``active_color`` says. The wiring publishes::

    "preview": {"header": "X-Bluegreen-Color", "secret_header": "X-Bluegreen-Preview-Key",
                "secret_parameter": "/compiler-explorer/preview-secret", "source_cidrs": [],
                "rule_priorities": {"blue": 8, "green": 9}}        # null: no preview route
    "smoke": {"paths": [{"path": "/beta/api/compilers", "status": 200}], "command": null}

``bgctl.smoke`` runs the checks through the route before traffic moves to a new color.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bgctl import COLORS
from bgctl.errors import WiringError

PREVIEW_HEADER = "X-Bluegreen-Color"
SECRET_HEADER = "X-Bluegreen-Preview-Key"  # noqa: S105 - a header name; its value lives in SSM


@dataclass(frozen=True)
class SmokePath:
    """One GET through the preview route and the status it must answer."""

    path: str
    status: int = 200

    def to_doc(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status}


@dataclass(frozen=True)
class SmokeSpec:
    paths: tuple[SmokePath, ...] = ()
    command: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {"paths": [p.to_doc() for p in self.paths], "command": self.command}


@dataclass(frozen=True)
class Preview:
    header: str = PREVIEW_HEADER
    secret_header: str | None = SECRET_HEADER
    secret_parameter: str | None = None
    source_cidrs: tuple[str, ...] = ()
    rule_priorities: dict[str, int] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "secret_header": self.secret_header,
            "secret_parameter": self.secret_parameter,
            "source_cidrs": list(self.source_cidrs),
            "rule_priorities": dict(self.rule_priorities),
        }


def parse_preview(env: str, doc: Any) -> Preview | None:
    """The wiring's ``preview`` (absent or null: no preview route); WiringError when malformed."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise WiringError(f"{env}: wiring preview should be an object or null")
    priorities = doc.get("rule_priorities") or {}
    if not isinstance(priorities, dict) or sorted(priorities) != sorted(COLORS):
        raise WiringError(f"{env}: wiring preview.rule_priorities needs blue and green")
    secret_parameter = doc.get("secret_parameter")
    cidrs = tuple(str(c) for c in doc.get("source_cidrs") or ())
    if not secret_parameter and not cidrs:
        raise WiringError(f"{env}: wiring preview is unrestricted (no secret_parameter, no source_cidrs)")
    return Preview(
        header=str(doc.get("header") or PREVIEW_HEADER),
        secret_header=str(doc.get("secret_header") or SECRET_HEADER) if secret_parameter else None,
        secret_parameter=str(secret_parameter) if secret_parameter else None,
        source_cidrs=cidrs,
        rule_priorities={str(c): int(p) for c, p in priorities.items()},
    )


def parse_smoke(env: str, doc: Any) -> SmokeSpec:
    """The wiring's ``smoke`` (absent: the built-in /healthcheck only)."""
    if doc is None:
        return SmokeSpec()
    if not isinstance(doc, dict):
        raise WiringError(f"{env}: wiring smoke should be an object")
    paths: list[SmokePath] = []
    for item in doc.get("paths") or ():
        if not isinstance(item, dict) or not str(item.get("path", "")).startswith("/"):
            raise WiringError(
                f"{env}: a smoke path should be {{'path': '/...', 'status': 200}}, got {item!r}"
            )
        status = item.get("status")
        paths.append(SmokePath(str(item["path"]), int(status) if status is not None else 200))
    command = doc.get("command")
    return SmokeSpec(tuple(paths), str(command) if command else None)
