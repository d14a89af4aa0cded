"""Per-environment settings, read from the Terraform roots in ``terraform/envs`` (never a second copy).

Each root ``terraform/envs/<env>/`` calls the ``blue_green`` module with literal arguments and records
its active color in ``active_color.auto.tfvars.json``. ``load_env_specs`` parses them (python-hcl2) into
``EnvSpec`` values that the sandbox, the contract tests and the CLI share. Inputs a root does not pass
take the module's declared defaults (read from the module's ``variables.tf``).

An argument may also be exactly ``var.<name>``, a variable of the root itself: what differs between a
fresh account and compiler-explorer/infra's (terraform/README.md, "Two accounts"). Its value is what
Terraform would use: the root's ``*.auto.tfvars.json`` files in lexical order over the variable's
default. ``fresh_account=True`` leaves ``adopt.auto.tfvars.json`` out: the account the sandbox builds.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgctl import REPO_ROOT
from bgctl.colorfile import COLOR_FILE, read_active_color
from bgctl.errors import BlueGreenError, UsageError, WiringError
from bgctl.hookspec import HookSpec, parse_hooks

ENVS_DIR = REPO_ROOT / "terraform" / "envs"
MODULE_NAME = "blue_green"
# The root's description of compiler-explorer/infra's account (terraform/README.md, "Two accounts").
ADOPT_FILE = "adopt.auto.tfvars.json"
_VAR_REF = re.compile(r"^\$\{var\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)\}$")
__all__ = [
    "ADOPT_FILE",
    "COLOR_FILE",
    "ENVS_DIR",
    "EnvSpec",
    "EnvSpecError",
    "environment_names",
    "is_literal",
    "load_env_spec",
    "load_env_specs",
    "load_hcl_dir",
    "load_hcl_file",
    "module_call",
    "module_variables",
    "root_variable_values",
]


class EnvSpecError(BlueGreenError):
    """An environment root cannot be read into an EnvSpec (missing module call, non-literal setting)."""


def environment_names(envs_dir: Path = ENVS_DIR) -> list[str]:
    """The environments: every directory under terraform/envs that holds a root module (sorted)."""
    if not envs_dir.is_dir():
        return []
    return sorted(p.name for p in envs_dir.iterdir() if p.is_dir() and (p / "main.tf").is_file())


@dataclass(frozen=True)
class EnvSpec:
    name: str
    root: Path
    routing: str  # "path_rule" | "listener_default"
    path_patterns: tuple[str, ...]  # () for listener_default
    rule_priority: int | None  # None for listener_default
    http_rule: bool  # path envs: also a rule on the HTTP listener
    min_size: int
    max_size: int
    min_healthy: int
    instance_type: str
    instance_types: tuple[str, ...]  # mixed-instances overrides; () when not mixed
    mixed_instances: bool
    on_demand_base_capacity: int
    on_demand_percentage: int
    health_check_grace_period: int
    cpu_autoscaling: bool
    cpu_target: float | None
    sqs_autoscaling: bool
    sqs_target: float | None
    os: str  # "linux" | "windows"
    architecture: str  # "x86_64" | "arm64"
    active_color: str
    protected: bool = False  # production: typed confirmation before any change (module input)
    unhealthy_threshold: int = 2
    load_balancing_algorithm: str = "round_robin"
    default_cooldown: int | None = None
    instance_name_prefix: str = ""  # the Name tag: <prefix><env>-<color>
    boot_contract: str = "user_data"  # or "version_key" (docs/BOOT-CONTRACT.md)
    boot_version_key: str | None = None  # e.g. version/release
    release_hooks: tuple[HookSpec, ...] = ()  # none unless the root declares them
    # Preview routes and smoke tests (modules/blue_green/preview.tf, bgctl.preview)
    preview_priorities: dict[str, int] | None = None  # color -> rule priority; None: no preview rules
    preview_secret_parameter: str | None = None
    preview_source_cidrs: tuple[str, ...] = ()
    smoke_paths: tuple[tuple[str, int], ...] = ()  # (path, status)
    smoke_command: str | None = None


# --------------------------------------------------------------------------------------------------
# HCL access (python-hcl2), shared with the contract tests
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _parse_hcl(text: str) -> str:
    """Parse HCL text to JSON (cached by content: the contract tests parse copies of the same files)."""
    import hcl2

    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)
    return json.dumps(hcl2.loads(text, serialization_options=options))


def load_hcl_file(path: Path) -> dict[str, Any]:
    """Parse one .tf file: strings without their quotes, expressions as ``"${...}"``, no comments."""
    text = path.read_text(encoding="utf-8")
    try:
        doc: dict[str, Any] = json.loads(_parse_hcl(text))
    except Exception as exc:  # the HCL parser raises lark's many error types; re-raised with the path
        raise EnvSpecError(f"{path}: cannot parse HCL ({exc})") from exc
    return doc


def load_hcl_dir(directory: Path) -> dict[str, list[Any]]:
    """Parse every ``*.tf`` file of a module directory; block lists of the same kind are concatenated."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, blocks in load_hcl_file(path).items():
            merged.setdefault(kind, []).extend(blocks if isinstance(blocks, list) else [blocks])
    return merged


def is_literal(value: object) -> bool:
    """True when ``value`` is a literal (no ``${...}`` expression anywhere inside it)."""
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, list):
        return all(is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(is_literal(v) for v in value.values())
    return True


def module_call(root: Path, name: str = MODULE_NAME) -> dict[str, Any]:
    """The arguments of ``module "<name>"`` in the root module ``root``."""
    for block in load_hcl_dir(root).get("module", []):
        if name in block:
            args: dict[str, Any] = block[name]
            return args
    raise EnvSpecError(f"{root.name}: no module {name!r} in {root}")


def module_variables(module_dir: Path) -> dict[str, dict[str, Any]]:
    """The ``variable`` blocks of a module: name -> body (description, type, default, validation)."""
    variables: dict[str, dict[str, Any]] = {}
    for block in load_hcl_dir(module_dir).get("variable", []):
        variables.update(block)
    return variables


def root_variable_values(root: Path, *, fresh_account: bool = False) -> dict[str, Any]:
    """The values Terraform gives the root's variables without ``-var``: each default, overridden by
    the root's ``*.auto.tfvars.json`` files in lexical order (``fresh_account``: without ADOPT_FILE).
    Variables with neither are absent."""
    values = {name: body["default"] for name, body in module_variables(root).items() if "default" in body}
    for path in sorted(root.glob("*.auto.tfvars.json")):
        if fresh_account and path.name == ADOPT_FILE:
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EnvSpecError(f"{root.name}: {path.name} is not readable JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise EnvSpecError(f"{root.name}: {path.name} must hold a JSON object of variable values")
        values.update(doc)
    return values


# --------------------------------------------------------------------------------------------------
# EnvSpec
# --------------------------------------------------------------------------------------------------
class _Args:
    """A module call's arguments with the module's defaults behind them; literal values, or exactly
    ``var.<name>`` of the root (resolved from ``root_values``)."""

    def __init__(
        self,
        env: str,
        args: dict[str, Any],
        variables: dict[str, dict[str, Any]],
        root_values: dict[str, Any] | None = None,
    ) -> None:
        self.env = env
        self.args = args
        self.variables = variables
        self.root_values = root_values or {}

    def raw(self, key: str) -> Any:
        if key in self.args:
            value = self.args[key]
            ref = _VAR_REF.match(value) if isinstance(value, str) else None
            if ref is None:
                return value
            if ref["name"] not in self.root_values:
                raise EnvSpecError(
                    f"{self.env}: module input {key!r} = var.{ref['name']}, which has no default and no "
                    "value in the root's *.auto.tfvars.json"
                )
            return self.root_values[ref["name"]]
        if key in self.variables and "default" in self.variables[key]:
            return self.variables[key]["default"]
        raise EnvSpecError(f"{self.env}: module input {key!r} is neither passed nor defaulted")

    def literal(self, key: str) -> Any:
        value = self.raw(key)
        if not is_literal(value):
            raise EnvSpecError(f"{self.env}: module input {key!r} must be a literal, got {value!r}")
        return value

    def string(self, key: str) -> str:
        value = self.literal(key)
        if not isinstance(value, str):
            raise EnvSpecError(f"{self.env}: module input {key!r} must be a string, got {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        value = self.literal(key)
        if not isinstance(value, bool):
            raise EnvSpecError(f"{self.env}: module input {key!r} must be true or false, got {value!r}")
        return value

    def number(self, key: str) -> float:
        value = self.literal(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EnvSpecError(f"{self.env}: module input {key!r} must be a number, got {value!r}")
        return float(value)

    def integer(self, key: str) -> int:
        value = self.number(key)
        if value != int(value):
            raise EnvSpecError(f"{self.env}: module input {key!r} must be a whole number, got {value!r}")
        return int(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.literal(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise EnvSpecError(f"{self.env}: module input {key!r} must be a list of strings, got {value!r}")
        return tuple(value)

    def optional_integer(self, key: str) -> int | None:
        return None if self.literal(key) is None else self.integer(key)

    def optional_string(self, key: str) -> str | None:
        return None if self.literal(key) is None else self.string(key)

    def hooks(self, key: str) -> tuple[HookSpec, ...]:
        try:
            return parse_hooks(self.env, self.literal(key))
        except WiringError as exc:
            raise EnvSpecError(f"{self.env}: module input {key!r}: {exc.message}") from exc


def _spec_from_root(root: Path, *, fresh_account: bool = False) -> EnvSpec:
    call = module_call(root)
    source = call.get("source")
    if not isinstance(source, str):
        raise EnvSpecError(f"{root.name}: module {MODULE_NAME!r} has no literal source")
    values = root_variable_values(root, fresh_account=fresh_account)
    a = _Args(root.name, call, module_variables((root / source).resolve()), values)
    routing = a.string("routing")
    path_rule = routing == "path_rule"
    mixed = a.boolean("use_mixed_instances_policy")
    cpu = a.boolean("enable_autoscaling_policy")
    sqs = a.boolean("enable_sqs_autoscaling")
    return EnvSpec(
        name=root.name,
        root=root,
        routing=routing,
        path_patterns=a.strings("path_patterns") if path_rule else (),
        rule_priority=a.integer("rule_priority") if path_rule else None,
        http_rule=path_rule and a.boolean("http_rule") and a.raw("http_listener_arn") is not None,
        min_size=a.integer("asg_min_size"),
        max_size=a.integer("asg_max_size"),
        min_healthy=a.integer("min_healthy_instances"),
        instance_type=a.string("instance_type"),
        instance_types=a.strings("mixed_instance_types") if mixed else (),
        mixed_instances=mixed,
        on_demand_base_capacity=a.integer("on_demand_base_capacity"),
        on_demand_percentage=a.integer("on_demand_percentage_above_base_capacity"),
        health_check_grace_period=a.integer("health_check_grace_period"),
        cpu_autoscaling=cpu,
        cpu_target=a.number("cpu_target") if cpu else None,
        sqs_autoscaling=sqs,
        sqs_target=a.number("sqs_messages_per_instance") if sqs else None,
        os=a.string("os"),
        architecture=a.string("architecture"),
        active_color=read_active_color(root),
        protected=a.boolean("protected"),
        unhealthy_threshold=a.integer("unhealthy_threshold"),
        load_balancing_algorithm=a.string("load_balancing_algorithm"),
        default_cooldown=a.optional_integer("default_cooldown"),
        instance_name_prefix=a.string("instance_name_prefix"),
        boot_contract=a.string("boot_contract"),
        boot_version_key=a.optional_string("boot_version_key"),
        release_hooks=a.hooks("release_hooks"),
        **_preview_fields(a),
    )


def _preview_fields(a: _Args) -> dict[str, Any]:
    priorities = a.literal("preview_rule_priorities")
    if priorities is not None and (
        not isinstance(priorities, dict) or not all(isinstance(v, int) for v in priorities.values())
    ):
        raise EnvSpecError(f"{a.env}: preview_rule_priorities must be {{blue = N, green = M}}")
    paths = a.literal("smoke_paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, dict) and "path" in p for p in paths):
        raise EnvSpecError(f"{a.env}: smoke_paths must be a list of {{path, status}}")
    secret = a.literal("preview_secret_parameter")
    command = a.literal("smoke_command")
    return {
        "preview_priorities": {str(k): int(v) for k, v in priorities.items()} if priorities else None,
        "preview_secret_parameter": str(secret) if secret else None,
        "preview_source_cidrs": a.strings("preview_source_cidrs"),
        "smoke_paths": tuple((str(p["path"]), int(p.get("status", 200))) for p in paths),
        "smoke_command": str(command) if command else None,
    }


def load_env_specs(envs_dir: Path = ENVS_DIR, *, fresh_account: bool = False) -> dict[str, EnvSpec]:
    """Every environment under ``envs_dir``, keyed by name (sorted). ``fresh_account``: as the roots
    describe a fresh account, without their ADOPT_FILE (what the sandbox builds)."""
    return {
        name: _spec_from_root(envs_dir / name, fresh_account=fresh_account)
        for name in environment_names(envs_dir)
    }


def load_env_spec(name: str, envs_dir: Path = ENVS_DIR, *, fresh_account: bool = False) -> EnvSpec:
    """One environment; UsageError naming the known environments when ``name`` is not one."""
    names = environment_names(envs_dir)
    if name not in names:
        raise UsageError(
            f"unknown environment {name!r}: expected one of {', '.join(names) or '(none found)'}",
            hint=f"environments are the directories of {envs_dir}",
        )
    return _spec_from_root(envs_dir / name, fresh_account=fresh_account)
