"""The Terraform adapter end to end with a real binary and the null provider (no network).

Under `make pytest` BLUEGREEN_TERRAFORM and BLUEGREEN_TF_PLUGIN_DIR are set and the test must run.
Outside make they default to scripts/terraform-bin and .tools/plugins; when either is missing the
tests skip and say why. The pinned 1.0.3 from .tools also runs when it differs from the default one,
so both plan JSON formats (0.2 and 1.x) go through the same code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bgctl import REPO_ROOT
from bgctl.errors import PlanGuardError, RefusedError, TerraformError
from bgctl.planguard import GuardPolicy, TrafficRule
from bgctl.plansummary import render_summary, summary_from_plan
from bgctl.terraform import TerraformRoot, default_binary, try_init
from bgctl.tfswitch import COLOR_FILE, apply_switch, plan_switch

pytestmark = pytest.mark.terraform

FIXTURE_ROOT = Path(__file__).parent / "fixtures" / "tfroot_null"
NULL_PROVIDER = Path("registry.terraform.io", "hashicorp", "null", "2.1.2")


def _default_binary() -> str | None:
    return default_binary()


def _binaries() -> list[str]:
    found: list[str] = []
    for candidate in (_default_binary(), str(REPO_ROOT / ".tools" / "bin" / "terraform")):
        if candidate and candidate not in found and (shutil.which(candidate) or Path(candidate).is_file()):
            found.append(candidate)
    return found or ["<none>"]


PLUGIN_DIR = Path(os.environ.get("BLUEGREEN_TF_PLUGIN_DIR") or REPO_ROOT / ".tools" / "plugins")


@pytest.fixture(params=_binaries())
def binary(request) -> str:
    path = request.param
    if path == "<none>":
        pytest.skip("no Terraform binary: set BLUEGREEN_TERRAFORM or run `make setup`")
    if not (PLUGIN_DIR / NULL_PROVIDER).is_dir():
        pytest.skip(f"null provider 2.1.2 not in {PLUGIN_DIR}: run `make setup`")
    return path


@pytest.fixture
def root(binary, tmp_path) -> TerraformRoot:
    work = tmp_path / "root"
    shutil.copytree(FIXTURE_ROOT, work)
    tf = TerraformRoot(work, binary, plugin_dir=PLUGIN_DIR, env={"TF_DATA_DIR": str(work / ".terraform")})
    tf.init(backend=True)  # no backend block: local state in the copy
    # Bootstrap (creates null_resource.asg): not a switch, so applied directly.
    first = tf.plan_to_file(tmp_path / "bootstrap.tfplan")
    assert first.has_changes
    tf.apply_plan(first)
    assert tf.outputs() == {"active_color": "blue"}
    return tf


def _write_color(root: TerraformRoot, color: str) -> None:
    (root.working_dir / COLOR_FILE).write_text(json.dumps({"active_color": color}) + "\n")


def _asg_id(root: TerraformRoot) -> str:
    state = json.loads((root.working_dir / "terraform.tfstate").read_text())
    (res,) = [r for r in state["resources"] if r["type"] == "null_resource"]
    return str(res["instances"][0]["attributes"]["id"])


def test_switch_plans_guards_and_applies_exactly_the_saved_plan(root, tmp_path):
    asg_before = _asg_id(root)
    _write_color(root, "green")
    planfile = tmp_path / "switch.tfplan"
    report = plan_switch(root, "green", planfile)
    assert report.is_pure_switch and report.has_changes
    assert report.other_changes == ()
    assert [o.name for o in report.output_changes] == ["active_color"]
    assert report.colors() == ("blue", "green")

    summary = summary_from_plan("tfroot", report, root.show_text(planfile))
    text = render_summary(summary)
    assert text.splitlines()[0] == "tfroot: traffic blue -> green, 0 other changes"
    assert "active_color" in text

    _write_color(root, "blue")  # the saved plan is what gets applied, not the files on disk
    apply_switch(root, planfile)
    assert root.outputs() == {"active_color": "green"}
    assert _asg_id(root) == asg_before

    again = root.plan_to_file(tmp_path / "again.tfplan", {"active_color": "green"})
    assert not again.has_changes  # -detailed-exitcode: 0


def test_a_plan_that_replaces_the_asg_is_refused_and_named(root, tmp_path):
    asg_before = _asg_id(root)
    (root.working_dir / "asg.auto.tfvars.json").write_text('{"asg_generation": "2"}\n')
    _write_color(root, "green")
    # Even a policy that accepts updates of null_resource triggers refuses a replacement.
    policy = GuardPolicy(rules=(TrafficRule("asg", "null_resource", frozenset({"triggers"})),))
    with pytest.raises(PlanGuardError) as err:
        plan_switch(root, "green", tmp_path / "bad.tfplan", policy)
    assert "null_resource.asg: replace (triggers)" in err.value.message
    assert "1 replaced" in err.value.message
    assert root.outputs() == {"active_color": "blue"}
    assert _asg_id(root) == asg_before


def test_color_file_mismatch_and_invalid_color(root, tmp_path):
    with pytest.raises(RefusedError, match="says 'blue'"):
        plan_switch(root, "green", tmp_path / "x.tfplan")
    with pytest.raises(TerraformError, match=r'must be "blue" or "green"'):
        root.plan_to_file(tmp_path / "y.tfplan", {"active_color": "purple"})


def test_try_init_says_in_one_line_why_terraform_cannot_run(binary, tmp_path):
    probe = tmp_path / "aws"
    probe.mkdir()
    (probe / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'
    )
    ok, reason = try_init(TerraformRoot(probe, binary, plugin_dir=PLUGIN_DIR), backend=False)
    assert not ok  # the AWS provider is not in the plugin directory (and no registry is reachable)
    assert reason.startswith(f"terraform init failed in {probe}: ") and "\n" not in reason
    missing_ok, missing_reason = try_init(TerraformRoot(probe, "/nonexistent/terraform"))
    assert not missing_ok
    assert "cannot run terraform" in missing_reason
    null_root = tmp_path / "null"
    shutil.copytree(FIXTURE_ROOT, null_root)
    assert try_init(TerraformRoot(null_root, binary, plugin_dir=PLUGIN_DIR)) == (True, "")
