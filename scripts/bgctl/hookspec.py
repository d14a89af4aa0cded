"""What the wiring declares about release hooks (``HookSpec``) and what a hook is told (``Release``).

Standard library only: the wiring, the colour file and the CI helpers that run with a bare python3
read this; the hooks that touch AWS live in ``bgctl.hooks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bgctl.errors import WiringError

PHASES = ("pre-switch", "post-switch")
KINDS = ("deploy_log", "cdn_static", "http_post")
CACHE_CONTROL = "public, max-age=31536000, immutable"
NUMBER = re.compile(r"gh-([0-9]+)")


@dataclass(frozen=True)
class HookSpec:
    name: str
    kind: str
    phase: str
    params: tuple[tuple[str, str], ...] = ()
    operations: tuple[str, ...] = ("deploy",)

    def param(self, key: str, default: str | None = None) -> str:
        value = dict(self.params).get(key, default)
        if value is None:
            raise WiringError(f"release hook {self.name!r} ({self.kind}) needs the parameter {key!r}")
        return value

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params if "token" not in k)
        return f"{self.name} ({self.kind}, {self.phase}{': ' + shown if shown else ''})"

    def to_doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "phase": self.phase,
            "params": dict(self.params),
            "operations": list(self.operations),
        }


def parse_hooks(env: str, doc: Any) -> tuple[HookSpec, ...]:
    """The wiring's ``release_hooks`` (absent: none); WiringError naming what is malformed."""
    if doc in (None, []):
        return ()
    if not isinstance(doc, list):
        raise WiringError(f"{env}: wiring release_hooks should be a list")
    hooks: list[HookSpec] = []
    for item in doc:
        if not isinstance(item, dict):
            raise WiringError(f"{env}: a release hook should be an object, got {item!r}")
        name, kind, phase = (str(item.get(k, "")) for k in ("name", "kind", "phase"))
        if kind not in KINDS:
            raise WiringError(
                f"{env}: release hook {name!r} has unknown kind {kind!r} (one of {', '.join(KINDS)})"
            )
        if phase not in PHASES:
            raise WiringError(
                f"{env}: release hook {name!r} has phase {phase!r}, expected {' or '.join(PHASES)}"
            )
        params = item.get("params") or {}
        operations = item.get("operations") or ["deploy"]
        hooks.append(
            HookSpec(
                name,
                kind,
                phase,
                tuple(sorted((str(k), str(v)) for k, v in params.items())),
                tuple(str(o) for o in operations),
            )
        )
    names = [h.name for h in hooks]
    if len(set(names)) != len(names):
        raise WiringError(f"{env}: release hook names must be unique, got {names}")
    return tuple(hooks)


@dataclass(frozen=True)
class Release:
    """What a hook is told about the release: the environment, the build and the color it goes to.
    ``stamp`` is fixed for the whole operation (recover included), so re-runs write the same values."""

    env: str
    version: str
    color: str
    builds_bucket: str
    builds_prefix: str
    stamp: str
    operation: str = "deploy"

    def expand(self, template: str) -> str:
        """``{env}``, ``{version}`` and ``{color}`` filled in; every other brace left as it is (JSON)."""
        for key, value in (("env", self.env), ("version", self.version), ("color", self.color)):
            template = template.replace("{" + key + "}", value)
        return template

    @property
    def number(self) -> str:
        match = NUMBER.fullmatch(self.version)
        return match.group(1) if match else self.version
