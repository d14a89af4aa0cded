"""Per-environment settings, read from the Terraform roots in ``terraform/envs`` (never a second copy).

Each root ``terraform/envs/<env>/`` calls the ``blue_green`` module with literal arguments and records
its active color in ``active_color.auto.tfvars.json``. ``load_env_specs`` parses them (python-hcl2) into
``EnvSpec`` values that the sandbox, the contract tests and the CLI share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bgctl import REPO_ROOT

ENVS_DIR = REPO_ROOT / "terraform" / "envs"
COLOR_FILE = "active_color.auto.tfvars.json"


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
