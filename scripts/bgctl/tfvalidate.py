"""``make tf-validate``: ``terraform init -backend=false && terraform validate`` for every root.

Runs on a temporary copy of ``terraform/`` (nothing is written into the tree: no ``.terraform``, no
lock files) with the project's CLI configuration (``bgctl.tfconfig``). Where Terraform or the AWS
provider is missing it prints one line saying why and exits 0, without pretending to have validated
anything. Roots are validated concurrently (one per CPU); each prints its verdict and its time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bgctl import REPO_ROOT
from bgctl.tfconfig import cli_config_env, provider_status

TERRAFORM_DIR = REPO_ROOT / "terraform"
TIMEOUT = 300.0


@dataclass(frozen=True)
class Verdict:
    root: str
    ok: bool
    seconds: float
    output: str


def root_names(terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """``shared``, ``envs/<env>`` for every environment, then per extra region its ``shared-<region>``
    and ``envs-<region>/<env>`` roots (bgctl.regions), as paths relative to ``terraform/``."""
    from bgctl.regions import regional_dirs, regional_shared_roots

    envs = sorted(p.name for p in (terraform_dir / "envs").iterdir() if (p / "main.tf").is_file())
    regional = [
        f"{d.name}/{p.name}"
        for d in regional_dirs(terraform_dir / "envs").values()
        for p in sorted(d.iterdir())
        if (p / "main.tf").is_file()
    ]
    shared = [p.name for p in regional_shared_roots(terraform_dir).values()]
    return ["shared", *(f"envs/{e}" for e in envs), *shared, *regional]


def copy_tree(source: Path, dest: Path) -> Path:
    """Copy ``terraform/`` without working files (``.terraform``, lock files, state, plans)."""
    shutil.copytree(
        source,
        dest,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan"),
    )
    return dest


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def validate_root(binary: str, root_dir: Path, name: str, env: dict[str, str]) -> Verdict:
    started = time.monotonic()
    try:
        init = _run([binary, "init", "-backend=false", "-input=false", "-no-color"], root_dir, env)
        if init.returncode != 0:
            return Verdict(name, False, time.monotonic() - started, init.stderr or init.stdout)
        check = _run([binary, "validate", "-no-color"], root_dir, env)
    except subprocess.TimeoutExpired:
        return Verdict(name, False, time.monotonic() - started, f"timed out after {TIMEOUT:.0f}s")
    return Verdict(name, check.returncode == 0, time.monotonic() - started, check.stdout + check.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from bgctl.terraform import default_binary

    parser = argparse.ArgumentParser(prog="tf-validate", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="roots validated at once")
    args = parser.parse_args(argv)
    binary = default_binary()
    ok, how = provider_status(binary)
    if not ok:
        print(f"tf-validate: skipped: {how}")
        return 0
    print(f"tf-validate: {how}")
    env = {**os.environ, **cli_config_env(), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bluegreen-validate-") as tmp:
        work = copy_tree(TERRAFORM_DIR, Path(tmp) / "terraform")
        names = root_names(work)
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            verdicts = list(pool.map(lambda n: validate_root(binary, work / n, n, env), names))
    failed = 0
    for v in verdicts:
        print(f"  {'ok ' if v.ok else 'FAIL'} terraform/{v.root:<20} {v.seconds:5.1f}s")
        if not v.ok:
            failed += 1
            print("\n".join(f"       {line}" for line in v.output.strip().splitlines()))
    total = time.monotonic() - started
    print(f"tf-validate: {len(verdicts) - failed}/{len(verdicts)} roots valid in {total:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
