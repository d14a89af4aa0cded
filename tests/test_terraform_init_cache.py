"""``TerraformRoot.init`` runs ``terraform init`` only when something init reads changed since the last
successful init in that working directory (a switch used to initialise three times)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bgctl import REPO_ROOT
from bgctl.terraform import INIT_STAMP, TerraformRoot, default_binary, observe_commands, try_init

pytestmark = pytest.mark.terraform

FIXTURE_ROOT = Path(__file__).parent / "fixtures" / "tfroot_null"
PLUGIN_DIR = Path(os.environ.get("BLUEGREEN_TF_PLUGIN_DIR") or REPO_ROOT / ".tools" / "plugins")


@pytest.fixture
def root(tmp_path) -> TerraformRoot:
    binary = default_binary()
    if not (shutil.which(binary) or Path(binary).is_file()):
        pytest.skip("no Terraform binary: run `make setup`")
    if not (PLUGIN_DIR / "registry.terraform.io/hashicorp/null/2.1.2").is_dir():
        pytest.skip(f"null provider not in {PLUGIN_DIR}: run `make setup`")
    work = tmp_path / "root"
    shutil.copytree(FIXTURE_ROOT, work)
    return TerraformRoot(work, binary, plugin_dir=PLUGIN_DIR)


def _inits(root: TerraformRoot, *, backend: bool = True) -> list[bool]:
    """Run init once; return the ``cached`` flag of each init it reported."""
    with observe_commands() as records:
        root.init(backend=backend)
    return [r.cached for r in records if r.command == "init"]


def test_a_second_init_is_skipped_and_a_backend_init_covers_a_providers_only_one(root):
    assert _inits(root) == [False]
    assert (root.working_dir / ".terraform" / INIT_STAMP).is_file()
    assert _inits(root) == [True]
    assert _inits(root, backend=False) == [True]


def test_a_providers_only_init_does_not_stand_for_a_backend_init(root):
    assert _inits(root, backend=False) == [False]
    assert _inits(root, backend=False) == [True]
    assert _inits(root, backend=True) == [False]
    assert _inits(root, backend=True) == [True]


def test_try_init_runs_init_once_per_working_directory(root):
    with observe_commands() as first:
        assert try_init(root) == (True, "")
    with observe_commands() as second:
        assert try_init(root) == (True, "")
    assert [r.cached for r in first if r.command == "init"] == [False, False]
    assert [r.cached for r in second if r.command == "init"] == [True, True]


@pytest.mark.parametrize(
    "change",
    [
        "edit a .tf file",
        "add a .tf.json file",
        "remove the lock file",
        "remove .terraform",
        "other CLI config",
    ],
)
def test_anything_init_reads_changing_makes_it_run_again(root, tmp_path, change):
    assert _inits(root) == [False]
    work = root.working_dir
    if change == "edit a .tf file":
        main = work / "main.tf"
        main.write_text(main.read_text() + "\n# changed\n")
    elif change == "add a .tf.json file":
        (work / "extra.tf.json").write_text('{"locals": {"extra": 1}}\n')
    elif change == "remove the lock file":
        (work / ".terraform.lock.hcl").unlink()
    elif change == "remove .terraform":
        shutil.rmtree(work / ".terraform")
    else:
        config = tmp_path / "other.tfrc"
        config.write_text("# another CLI configuration\n")
        root = TerraformRoot(
            work, root.binary, plugin_dir=PLUGIN_DIR, env={"TF_CLI_CONFIG_FILE": str(config)}
        )
    assert _inits(root) == [False]
    assert _inits(root) == [True]


def test_a_color_file_change_does_not_make_init_run(root):
    assert _inits(root) == [False]
    (root.working_dir / "active_color.auto.tfvars.json").write_text('{"active_color": "green"}\n')
    assert _inits(root) == [True]


def test_a_failed_init_leaves_no_stamp(root):
    assert _inits(root) == [False]
    (root.working_dir / "main.tf").write_text('resource "null_resource" "x" {\n  nonsense = \n}\n')
    with pytest.raises(Exception, match="init"):
        root.init()
    assert not (root.working_dir / ".terraform" / INIT_STAMP).exists()
