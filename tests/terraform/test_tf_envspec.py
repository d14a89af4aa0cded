"""load_env_specs reads the nine roots into the issue's per-environment values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bgctl import REPO_ROOT
from bgctl.envspec import EnvSpecError, load_env_spec, load_env_specs
from bgctl.errors import UsageError

NINE = {"beta", "prod", "staging", "gpu", "wintest", "winstaging", "winprod", "aarch64staging", "aarch64prod"}


def test_all_nine_environments_load() -> None:
    specs = load_env_specs()
    assert set(specs) == NINE
    assert all(s.active_color in ("blue", "green") for s in specs.values())
    assert all(s.min_size == 0 for s in specs.values())


def test_prod_switches_the_listener_default_actions() -> None:
    prod = load_env_spec("prod")
    assert prod.routing == "listener_default"
    assert prod.max_size == 40
    assert prod.mixed_instances and prod.instance_types
    assert prod.cpu_autoscaling and prod.cpu_target is not None
    assert prod.path_patterns == () and prod.rule_priority is None and not prod.http_rule
    assert prod.min_healthy >= 2


@pytest.mark.parametrize(
    ("env", "pattern", "max_size"), [("beta", "/beta*", 10), ("staging", "/staging*", 4)]
)
def test_beta_and_staging_are_standard(env: str, pattern: str, max_size: int) -> None:
    spec = load_env_spec(env)
    assert spec.max_size == max_size
    assert spec.path_patterns == (pattern,)
    assert spec.routing == "path_rule"
    assert not spec.http_rule  # compiler-explorer/infra routes on HTTPS only (adopt.auto.tfvars.json)
    assert load_env_spec(env, fresh_account=True).http_rule  # a fresh account: HTTP and HTTPS
    assert not spec.mixed_instances and not spec.cpu_autoscaling
    assert spec.sqs_autoscaling == (env == "beta")  # beta scales on its colored compilation queues
    assert spec.os == "linux" and spec.architecture == "x86_64"


def test_gpu() -> None:
    gpu = load_env_spec("gpu")
    assert gpu.max_size == 4
    assert gpu.mixed_instances
    assert gpu.instance_types == ("g4dn.xlarge", "g4dn.2xlarge")
    assert gpu.on_demand_base_capacity == 1
    assert gpu.cpu_autoscaling and gpu.cpu_target == 25.0
    assert gpu.path_patterns == ("/gpu*",)


def test_windows() -> None:
    specs = load_env_specs()
    for env in ("wintest", "winstaging", "winprod"):
        assert specs[env].os == "windows"
        assert 300 <= specs[env].health_check_grace_period <= 500
        assert all(p.startswith("/win") for p in specs[env].path_patterns)
    assert specs["winprod"].health_check_grace_period == 500
    assert specs["winprod"].mixed_instances and specs["winprod"].cpu_autoscaling
    assert not specs["wintest"].mixed_instances and not specs["winstaging"].cpu_autoscaling


def test_aarch64() -> None:
    specs = load_env_specs()
    for env in ("aarch64staging", "aarch64prod"):
        spec = specs[env]
        assert spec.architecture == "arm64"
        assert spec.sqs_autoscaling and spec.sqs_target == 3.0
        assert spec.path_patterns == (f"/{env}*",)


def test_unknown_environment_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown environment 'qa'"):
        load_env_spec("qa")


def test_a_non_literal_setting_is_named(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "terraform", tmp_path / "terraform")
    main = tmp_path / "terraform" / "envs" / "beta" / "main.tf"
    main.write_text(main.read_text().replace("asg_max_size              = 10", "asg_max_size = local.max"))
    with pytest.raises(EnvSpecError, match="beta: module input 'asg_max_size' must be a literal"):
        load_env_specs(tmp_path / "terraform" / "envs")


def test_root_variables_come_from_the_adopt_file_unless_fresh() -> None:
    """What differs between the two accounts is a root variable: compiler-explorer/infra's values from
    adopt.auto.tfvars.json, a fresh account's from the variables' defaults."""
    ce, fresh = load_env_spec("prod"), load_env_spec("prod", fresh_account=True)
    assert (ce.boot_contract, ce.boot_version_key) == ("version_key", "version/release")
    assert fresh.boot_contract == "user_data"
    assert ce.instance_name_prefix == "ce-" and fresh.instance_name_prefix == ""
    assert [h.name for h in ce.release_hooks] == ["versionslog", "cdn", "live-version", "sentry"]
    assert fresh.release_hooks == ()
    # Capacity is literal in main.tf: the same in both accounts.
    assert (ce.max_size, ce.min_healthy, ce.cpu_target) == (
        fresh.max_size,
        fresh.min_healthy,
        fresh.cpu_target,
    )
    assert (ce.unhealthy_threshold, ce.load_balancing_algorithm) == (3, "least_outstanding_requests")


def test_an_unresolvable_root_variable_is_named(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "terraform", tmp_path / "terraform")
    variables = tmp_path / "terraform" / "envs" / "beta" / "variables.tf"
    text = variables.read_text()
    start = text.index('variable "boot_contract" {')
    end = text.index("}\n", start) + 2
    variables.write_text(text[:start] + 'variable "boot_contract" {\n  type = string\n}\n' + text[end:])
    (tmp_path / "terraform" / "envs" / "beta" / "adopt.auto.tfvars.json").unlink()
    with pytest.raises(
        EnvSpecError, match=r"input 'boot_contract' = var\.boot_contract, which has no default"
    ):
        load_env_spec("beta", tmp_path / "terraform" / "envs")
