"""The wiring: what Terraform publishes about one environment, so the tool never guesses names.

Terraform's ``blue_green`` module writes one SSM String parameter per environment,
``/compiler-explorer/{env}/wiring``, holding JSON of this shape (schema_version 1)::

    {
      "schema_version": 1,
      "environment": "beta",
      "routing": "path_rule",                  # or "listener_default" (prod)
      "asg_names": {"blue": "beta-blue", "green": "beta-green"},
      "target_group_arns": {"blue": "arn:...", "green": "arn:..."},
      "listener_arns": {"https": "arn:...", "http": "arn:..."},   # "http" only where configured
      "rule_arns": {"https": "arn:...", "http": "arn:..."},       # {} for listener_default
      "path_patterns": ["/beta*"],             # [] for listener_default
      "rule_priority": 10,                     # null for listener_default
      "protected": false,                      # production: typed confirmation before any change
      "capacity": {"min_size": 0, "max_size": 4, "min_healthy": 1},
      "version_parameters": {"blue": "/compiler-explorer/beta/blue/version", "green": "..."},
      "boot": {"contract": "user_data", "version_keys": {}},     # additive, see below
      "builds": {"bucket": "compiler-explorer", "prefix": "dist/gh/", "discovery_prefix": "dist/discovery/",
                 "suffix": ".tar.xz"},                         # suffix additive: ".zip" for Windows
      "release_hooks": [],                                     # additive: bgctl.hooks
      "preview": {...} or null, "smoke": {"paths": [...], "command": null}   # bgctl.preview
    }

Additive fields (schema_version stays 1; absent means the default): ``release_hooks`` (none);
``builds.suffix`` (a build is ``<branch>/<N><suffix>``; absent: ``.tar.xz`` or ``.zip``); ``boot``, the
boot contract (docs/BOOT-CONTRACT.md): ``{"contract": "user_data", "version_keys": {}}`` when absent;
with ``"contract": "version_key"``, ``version_keys`` is ``{"live": "version/release", "blue":
"version/release.blue", "green": "version/release.green"}``: S3 keys in the builds bucket whose body is a
build's full key, the per-color ones written by ``asg.record_version``.

Parameters the Python tool owns (never in Terraform state, so never drift):
``/compiler-explorer/{env}/{color}/version``, ``.../lock``, ``.../journal``, ``.../shutdown``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bgctl import COLORS
from bgctl.errors import WiringError
from bgctl.hookspec import HookSpec, parse_hooks
from bgctl.preview import Preview, SmokeSpec, parse_preview, parse_smoke

PARAM_ROOT = "/compiler-explorer"
SCHEMA_VERSION = 1
ROUTING_KINDS = ("path_rule", "listener_default")


def param_name(env: str, leaf: str) -> str:
    """``/compiler-explorer/{env}/{leaf}``."""
    return f"{PARAM_ROOT}/{env}/{leaf}"


def wiring_param(env: str) -> str:
    return param_name(env, "wiring")


def active_color_param(env: str) -> str:
    return param_name(env, "active-color")


def active_tg_param(env: str) -> str:
    return param_name(env, "active-target-group-arn")


def version_param(env: str, color: str) -> str:
    return param_name(env, f"{color}/version")


@dataclass(frozen=True)
class Capacity:
    min_size: int
    max_size: int
    min_healthy: int


@dataclass(frozen=True)
class Builds:
    bucket: str
    prefix: str
    discovery_prefix: str
    suffix: str | None = None  # ".tar.xz" (Linux) or ".zip" (Windows); None: either


BOOT_CONTRACTS = ("user_data", "version_key")


@dataclass(frozen=True)
class Boot:
    """How an instance learns its build (docs/BOOT-CONTRACT.md)."""

    contract: str = "user_data"
    version_keys: tuple[tuple[str, str], ...] = ()  # ("live" | color, S3 key in the builds bucket)

    def key(self, which: str) -> str | None:
        """The S3 key of ``which`` (a color, or ``live``); None without the version_key contract."""
        return dict(self.version_keys).get(which)

    def to_doc(self) -> dict[str, Any]:
        return {"contract": self.contract, "version_keys": dict(self.version_keys)}


@dataclass(frozen=True)
class CanaryConfig:
    """How a canary runs here: target-group stickiness (a user stays on one version for the whole
    canary) and the CloudWatch alarms that watch each color during a bake."""

    stickiness_seconds: int = 3600
    alarms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def alarms_of(self, color: str) -> tuple[str, ...]:
        return self.alarms.get(color, ())


def _canary(env: str, doc: Any) -> CanaryConfig:
    if doc is None:
        return CanaryConfig()
    if not isinstance(doc, dict):
        raise WiringError(f"{env}: wiring canary should be an object")
    alarms = doc.get("alarms") or {}
    return CanaryConfig(
        stickiness_seconds=int(doc.get("stickiness_seconds", 3600)),
        alarms={str(c): tuple(str(a) for a in names) for c, names in alarms.items()},
    )


@dataclass(frozen=True)
class Wiring:
    environment: str
    routing: str
    asg_names: dict[str, str]
    target_group_arns: dict[str, str]
    listener_arns: dict[str, str]
    rule_arns: dict[str, str]
    path_patterns: tuple[str, ...]
    rule_priority: int | None
    capacity: Capacity
    version_parameters: dict[str, str]
    builds: Builds
    protected: bool = False
    release_hooks: tuple[HookSpec, ...] = ()
    boot: Boot = Boot()
    canary: CanaryConfig = field(default_factory=CanaryConfig)
    preview: Preview | None = None  # the per-color preview rules (bgctl.preview); None: none
    smoke: SmokeSpec = field(default_factory=SmokeSpec)

    @property
    def is_default_action(self) -> bool:
        return self.routing == "listener_default"

    def color_of_target_group(self, arn: str) -> str | None:
        for color, tg in self.target_group_arns.items():
            if tg == arn:
                return color
        return None

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "environment": self.environment,
                "routing": self.routing,
                "asg_names": self.asg_names,
                "target_group_arns": self.target_group_arns,
                "listener_arns": self.listener_arns,
                "rule_arns": self.rule_arns,
                "path_patterns": list(self.path_patterns),
                "rule_priority": self.rule_priority,
                "protected": self.protected,
                "release_hooks": [h.to_doc() for h in self.release_hooks],
                "canary": {
                    "stickiness_seconds": self.canary.stickiness_seconds,
                    "alarms": {c: list(a) for c, a in self.canary.alarms.items()},
                },
                "preview": self.preview.to_doc() if self.preview else None,
                "smoke": self.smoke.to_doc(),
                "capacity": {
                    "min_size": self.capacity.min_size,
                    "max_size": self.capacity.max_size,
                    "min_healthy": self.capacity.min_healthy,
                },
                "version_parameters": self.version_parameters,
                "boot": self.boot.to_doc(),
                "builds": {
                    "bucket": self.builds.bucket,
                    "prefix": self.builds.prefix,
                    "discovery_prefix": self.builds.discovery_prefix,
                    **({"suffix": self.builds.suffix} if self.builds.suffix else {}),
                },
            },
            sort_keys=True,
        )


def _boot(doc: dict[str, Any], env: str) -> Boot:
    boot = doc.get("boot")
    if boot is None:
        return Boot()
    if not isinstance(boot, dict):
        raise WiringError(f"{env}: wiring 'boot' should be dict, got {type(boot).__name__}")
    contract = str(boot.get("contract", "user_data"))
    if contract not in BOOT_CONTRACTS:
        raise WiringError(
            f"{env}: wiring boot contract {contract!r} is not one of {', '.join(BOOT_CONTRACTS)}"
        )
    keys = boot.get("version_keys") or {}
    if not isinstance(keys, dict):
        raise WiringError(f"{env}: wiring boot version_keys should be dict, got {type(keys).__name__}")
    if contract == "version_key":
        missing = [k for k in ("live", *COLORS) if not keys.get(k)]
        if missing:
            raise WiringError(f"{env}: wiring boot version_keys has no entry for {', '.join(missing)}")
    return Boot(contract, tuple(sorted((str(k), str(v)) for k, v in keys.items())))


def _require(doc: dict[str, Any], key: str, kind: type, env: str) -> Any:
    if key not in doc:
        raise WiringError(f"{env}: wiring parameter lacks {key!r}")
    value = doc[key]
    if not isinstance(value, kind):
        raise WiringError(f"{env}: wiring {key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


def _color_map(doc: dict[str, Any], key: str, env: str) -> dict[str, str]:
    value = _require(doc, key, dict, env)
    missing = [c for c in COLORS if not value.get(c)]
    if missing:
        raise WiringError(f"{env}: wiring {key!r} has no entry for {', '.join(missing)}")
    return {c: str(value[c]) for c in COLORS}


def parse_wiring(env: str, text: str) -> Wiring:
    """Parse and check the wiring JSON; raise WiringError naming the first malformed field."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WiringError(f"{env}: wiring parameter is not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict):
        raise WiringError(f"{env}: wiring parameter is not a JSON object")
    schema = doc.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise WiringError(f"{env}: wiring schema_version {schema!r} is not {SCHEMA_VERSION}")
    routing = _require(doc, "routing", str, env)
    if routing not in ROUTING_KINDS:
        raise WiringError(f"{env}: wiring routing {routing!r} is not one of {', '.join(ROUTING_KINDS)}")
    listeners = {k: str(v) for k, v in _require(doc, "listener_arns", dict, env).items() if v}
    if "https" not in listeners:
        raise WiringError(f"{env}: wiring has no HTTPS listener ARN")
    rules = {k: str(v) for k, v in _require(doc, "rule_arns", dict, env).items() if v}
    if routing == "path_rule" and "https" not in rules:
        raise WiringError(f"{env}: path_rule wiring has no HTTPS rule ARN")
    cap = _require(doc, "capacity", dict, env)
    builds = _require(doc, "builds", dict, env)
    priority = doc.get("rule_priority")
    return Wiring(
        environment=_require(doc, "environment", str, env),
        routing=routing,
        asg_names=_color_map(doc, "asg_names", env),
        target_group_arns=_color_map(doc, "target_group_arns", env),
        listener_arns=listeners,
        rule_arns=rules,
        path_patterns=tuple(str(p) for p in _require(doc, "path_patterns", list, env)),
        rule_priority=int(priority) if priority is not None else None,
        capacity=Capacity(
            min_size=int(cap.get("min_size", 0)),
            max_size=int(cap["max_size"]),
            min_healthy=int(cap.get("min_healthy", 1)),
        ),
        version_parameters=_color_map(doc, "version_parameters", env),
        protected=bool(doc.get("protected", False)),
        release_hooks=parse_hooks(env, doc.get("release_hooks")),
        boot=_boot(doc, env),
        canary=_canary(env, doc.get("canary")),
        preview=parse_preview(env, doc.get("preview")),
        smoke=parse_smoke(env, doc.get("smoke")),
        builds=Builds(
            bucket=str(builds["bucket"]),
            prefix=str(builds.get("prefix", "dist/gh/")),
            discovery_prefix=str(builds.get("discovery_prefix", "dist/discovery/")),
            suffix=str(builds["suffix"]) if builds.get("suffix") else None,
        ),
    )
