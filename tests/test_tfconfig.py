"""The project's Terraform CLI configuration (bgctl.tfconfig) and `make tf-validate`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bgctl import REPO_ROOT, tfconfig
from bgctl.tfconfig import Mirror, platform_dir, read_mirror, render_cli_config


def _fake_provider(mirror, address: str, version: str, plat: str | None = None) -> None:
    kind = address.rsplit("/", 1)[-1]
    target = mirror / address / version / (plat or platform_dir())
    target.mkdir(parents=True)
    binary = target / f"terraform-provider-{kind}_v{version}_x5"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)


def test_read_mirror_lists_providers_for_this_platform_only(tmp_path):
    _fake_provider(tmp_path, "registry.terraform.io/hashicorp/aws", "5.100.0")
    _fake_provider(tmp_path, "registry.terraform.io/hashicorp/aws", "5.90.0", plat="windows_386")
    _fake_provider(tmp_path, "registry.terraform.io/hashicorp/null", "3.2.4")
    (tmp_path / "registry.terraform.io" / "hashicorp" / "empty" / "1.0.0").mkdir(parents=True)
    mirror = read_mirror(tmp_path)
    assert mirror is not None
    assert mirror.providers == ("registry.terraform.io/hashicorp/aws", "registry.terraform.io/hashicorp/null")
    assert mirror.aws_versions == ("5.100.0",)
    assert read_mirror(tmp_path / "missing") is None


def test_find_mirror_prefers_the_environment_variable_and_needs_the_aws_provider(tmp_path, monkeypatch):
    only_null, with_aws = tmp_path / "a", tmp_path / "b"
    _fake_provider(only_null, "registry.terraform.io/hashicorp/null", "3.2.4")
    _fake_provider(with_aws, "registry.terraform.io/hashicorp/aws", "5.100.0")
    monkeypatch.setattr(tfconfig, "DEFAULT_MIRRORS", (only_null, with_aws))
    monkeypatch.delenv(tfconfig.MIRROR_ENV, raising=False)
    found = tfconfig.find_mirror()
    assert found is not None and found.path == with_aws.resolve()
    monkeypatch.setattr(tfconfig, "DEFAULT_MIRRORS", (only_null,))
    assert tfconfig.find_mirror() is None
    monkeypatch.setenv(tfconfig.MIRROR_ENV, str(with_aws))
    assert tfconfig.mirror_candidates()[0] == with_aws


def test_cli_config_with_a_mirror_installs_its_providers_from_it_only(tmp_path):
    mirror = Mirror(tmp_path, ("registry.terraform.io/hashicorp/aws",), ("5.100.0",))
    text = render_cli_config(mirror, tmp_path / "cache")
    assert f'path    = "{tmp_path}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert "plugin_cache_dir" not in text  # the unpacked mirror is symlinked, never copied


def test_cli_config_without_a_mirror_is_direct_with_a_cache(tmp_path):
    text = render_cli_config(None, tmp_path / "cache")
    assert "filesystem_mirror" not in text
    assert "direct {}" in text
    assert f'plugin_cache_dir = "{tmp_path / "cache"}"' in text


def test_ensure_cli_config_writes_once_and_terraform_accepts_it(tmp_path):
    path = tfconfig.ensure_cli_config(tmp_path)
    assert path == (tmp_path / "terraformrc").resolve()
    stamp = path.stat().st_mtime_ns
    assert tfconfig.ensure_cli_config(tmp_path) == path
    assert path.stat().st_mtime_ns == stamp  # unchanged text: not rewritten
    ok, _ = tfconfig.provider_status()
    if not ok:
        return
    proc = subprocess.run(
        ["terraform", "version"],
        env={**os.environ, "TF_CLI_CONFIG_FILE": str(path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "problems with the CLI configuration" not in proc.stderr


def test_provider_status_names_a_missing_or_old_binary_in_one_line():
    ok, reason = tfconfig.provider_status("/nonexistent/terraform")
    assert not ok and reason == "no Terraform binary ('/nonexistent/terraform' is not on PATH)"
    old = REPO_ROOT / ".tools" / "bin" / "terraform"
    if not old.is_file():
        pytest.skip("no pinned Terraform 1.0.3 in .tools")
    ok, reason = tfconfig.provider_status(str(old))
    assert not ok and "older than 1.10" in reason and "\n" not in reason


def test_tf_validate_skips_in_one_line_without_a_usable_terraform():
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "tf-validate")],
        env={**os.environ, "BLUEGREEN_TERRAFORM": "/nonexistent/terraform"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert (
        proc.stdout == "tf-validate: skipped: no Terraform binary ('/nonexistent/terraform' is not on PATH)\n"
    )
