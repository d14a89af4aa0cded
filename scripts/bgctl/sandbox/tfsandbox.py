"""The sandbox built by Terraform: the real roots applied to moto, for the CLI's Terraform driver.

``build_terraform_sandbox()`` (or ``TerraformSandbox(...).start()``):

1. checks that Terraform and the hashicorp/aws provider are usable here (``bgctl.tfconfig``), else
   raises ``TerraformUnavailable`` with a one-line reason (callers skip with it);
2. starts an empty sandbox in a child process (``bgctl.sandbox.tfprocess``: moto with the fidelity
   fixes on 127.0.0.1, answering as account 052730242331 so the roots' ``allowed_account_ids`` check
   really runs, and the instances' loopback health server, which answers for every region built);
3. seeds what the roots expect to exist already (``bgctl.sandbox.tfseed``; terraform/README.md, "Who
   owns what"): the VPC, its ``Tier=private`` and ``Tier=public`` subnets, the builds bucket (with the
   sample builds) and the log bucket, an imported ``godbolt.org`` certificate (ISSUED) and one AMI per
   name pattern and architecture the roots ask for; in each extra region (``regions``) the same but the
   (global) builds bucket, in that region;
4. copies ``terraform/`` into a working directory and writes each root's sandbox override
   (``bgctl.tfoverride``: local backend, every endpoint on the moto server, fake keys);
5. applies the shared roots (``shared``, ``shared-<region>``), then the prod roots (they own the
   listeners), then the path environments, two roots at a time, every region in the same moto server;
6. does what the deploy tool would have done on a live system: records the active color's version
   (``gh-100``, the other ``none``) and scales the active color to its initial capacity.

``environ()`` and ``envs_dir`` are what the CLI needs: with them ``scripts/bluegreen.py --env beta
switch green --via terraform`` (add ``--region eu-west-1`` for that region's root) plans and applies the
working copy's root against the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl import REPO_ROOT
from bgctl.envspec import ADOPT_FILE
from bgctl.sandbox.serve import DEFAULT_ACCOUNT
from bgctl.sandbox.server import REAL_AWS_VARS, REGION, sandbox_environ
from bgctl.sandbox.tfprocess import READY_TIMEOUT, STOP_TIMEOUT, SandboxProcess
from bgctl.sandbox.tfseed import (
    AMI_STAMP,
    CERT_DOMAIN,
    LOGS_BUCKET,
    AmiWanted,
    Seeded,
    _self_signed_certificate,
    _source_image,
    after_apply,
    amis_wanted,
    seed,
)

if TYPE_CHECKING:
    from bgctl.sandbox.clients import SandboxClients
    from bgctl.terraform import TerraformRoot

# Re-exported: callers and tests import them from here, where they lived before the split.
__all__ = [
    "AMI_STAMP",
    "CERT_DOMAIN",
    "LOGS_BUCKET",
    "READY_TIMEOUT",
    "STOP_TIMEOUT",
    "AmiWanted",
    "SandboxProcess",
    "Seeded",
    "TerraformSandbox",
    "TerraformUnavailable",
    "_self_signed_certificate",
    "_source_image",
    "after_apply",
    "amis_wanted",
    "apply_waves",
    "build_terraform_sandbox",
    "cli_sandbox",
    "seed",
    "serve_until_interrupted",
    "working_copy",
]

TERRAFORM_DIR = REPO_ROOT / "terraform"
SHARED_ROOT = "shared"
PROD_ENV = "prod"
ROOT_TIMEOUT = 900.0  # per terraform command (the shared ALB alone takes about 75 s here)
POLL_INTERVAL = "0.2"


class TerraformUnavailable(RuntimeError):
    """Terraform or the AWS provider is not usable on this machine; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Timing:
    step: str
    seconds: float


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --------------------------------------------------------------------------------------------------
# The working copy and the applies
# --------------------------------------------------------------------------------------------------
def working_copy(dest: Path, source: Path = TERRAFORM_DIR, *, adopt: bool = False) -> Path:
    """Copy ``terraform/`` to ``dest`` without working files; return ``dest``. Without ``adopt`` the
    roots' ``adopt.auto.tfvars.json`` stay behind: the copy describes a fresh account, the one the
    sandbox is (terraform/README.md, "Two accounts"); with it, compiler-explorer/infra's."""
    patterns = [".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan"]
    if not adopt:
        patterns.append(ADOPT_FILE)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*patterns))
    return dest


def apply_waves(
    env_names: Sequence[str], regional: Mapping[str, Sequence[str]] | None = None
) -> list[list[str]]:
    """Roots (relative to ``terraform/``) in apply order: the shared roots, the prod roots (they own
    each region's listeners), then the path environments. ``regional``: per extra region, the
    environments to build there (``shared-<region>`` and ``envs-<region>/<env>``)."""
    regional = regional or {}
    shared = [SHARED_ROOT, *(f"shared-{r}" for r in regional)]
    prods = [
        f"envs/{PROD_ENV}",
        *(f"envs-{r}/{PROD_ENV}" for r, envs in regional.items() if PROD_ENV in envs),
    ]
    paths = [f"envs/{e}" for e in sorted(e for e in env_names if e != PROD_ENV)]
    for region, envs in regional.items():
        paths += [f"envs-{region}/{e}" for e in sorted(e for e in envs if e != PROD_ENV)]
    return [shared, prods, paths]


@dataclass
class TerraformSandbox:
    """The Terraform-built sandbox; see the module docstring. Use as a context manager or start/stop."""

    envs: Sequence[str] = ("beta",)
    regions: Sequence[str] = ()  # extra regions: their shared root and their roots of ``envs`` (and prod)
    workdir: Path | None = None
    binary: str | None = None
    jobs: int = 2
    account: str = DEFAULT_ACCOUNT
    keep: bool = False
    log: Log = _quiet
    timings: list[Timing] = field(default_factory=list)
    seeded: Seeded | None = None
    regional_seeded: dict[str, Seeded] = field(default_factory=dict)
    _process: SandboxProcess | None = field(default=None, repr=False)
    _clients: SandboxClients | None = field(default=None, repr=False)
    _own_workdir: bool = field(default=False, repr=False)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> TerraformSandbox:
        from bgctl.envspec import environment_names
        from bgctl.terraform import default_binary
        from bgctl.tfconfig import provider_status

        known = environment_names(TERRAFORM_DIR / "envs")
        unknown = sorted(set(self.envs) - set(known))
        if unknown:
            raise ValueError(f"unknown environment(s) {', '.join(unknown)}: one of {', '.join(known)}")
        for region in self.regions:
            from bgctl.regions import regional_dir, shared_root

            if not (shared_root(TERRAFORM_DIR, region) / "main.tf").is_file():
                raise ValueError(f"no shared root for {region}: {shared_root(TERRAFORM_DIR, region)}")
            if PROD_ENV not in environment_names(regional_dir(TERRAFORM_DIR / "envs", region)):
                raise ValueError(f"no prod root in {region} (it owns the region's listeners)")
        self.binary = self.binary or default_binary()
        with self.timed("provider check"):
            ok, reason = provider_status(self.binary)
        if not ok:
            raise TerraformUnavailable(reason)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="bluegreen-tfsandbox-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._build()
        except BaseException:
            self.stop()
            raise
        return self

    def _build(self) -> None:
        from bgctl.envspec import load_env_spec
        from bgctl.sandbox.clients import make_clients
        from bgctl.tfoverride import write_override

        assert self.workdir is not None  # set by start()
        with self.timed("start moto + health server"):
            log = self.workdir / "sandbox.log"
            self._process = SandboxProcess(self.account, log_path=log, regions=tuple(self.regions)).start()
            self._clients = make_clients(self.endpoint_url)
        envs = self.env_names
        with self.timed("copy terraform/ and write overrides"):
            working_copy(self.terraform_dir)
            regional = self.regional_env_names
            for root in self.roots():
                write_override(self.terraform_dir / root, self.endpoint_url)
        with self.timed("seed pre-existing pieces"):
            self.seeded = seed(self.clients, self.envs_dir, envs)
            for region, names in regional.items():
                self.regional_seeded[region] = seed(
                    self.region_clients(region),
                    self.region_envs_dir(region),
                    names,
                    region=region,
                    logs_bucket=self.region_logs_bucket(region),
                )
        for wave in apply_waves(envs, regional):
            if wave:
                self._apply_wave(wave)
        with self.timed("versions + active capacity (the tool's part)"):
            after_apply(self.clients, [load_env_spec(e, self.envs_dir) for e in envs])
            for region, names in regional.items():
                specs = [load_env_spec(e, self.region_envs_dir(region)) for e in names]
                after_apply(self.region_clients(region), specs)

    def _apply_wave(self, roots: Sequence[str]) -> None:
        def apply_one(name: str) -> Timing:
            started = time.monotonic()
            root = self.root(name)
            root.init(backend=True)
            root.apply_plan(root.plan_to_file(self.terraform_dir / name / "build.tfplan"))
            return Timing(f"apply {name}", time.monotonic() - started)

        started = time.monotonic()
        with ThreadPoolExecutor(max(1, min(self.jobs, len(roots)))) as pool:
            done = list(pool.map(apply_one, roots))
        for timing in done:
            self.log(f"  {timing.step:<48} {timing.seconds:6.1f}s")
        if len(roots) > 1:
            self.timings.extend(done)
        self._record(f"apply {', '.join(roots)}", time.monotonic() - started)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        self._clients = None
        if self._own_workdir and not self.keep and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TerraformSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- timings -----------------------------------------------------------------------------------
    def _record(self, step: str, seconds: float) -> None:
        self.timings.append(Timing(step, seconds))
        self.log(f"{step:<50} {seconds:6.1f}s")

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self._record(step, time.monotonic() - started)

    # -- what callers use --------------------------------------------------------------------------
    @property
    def env_names(self) -> list[str]:
        """The environments applied (prod always: it owns the listeners the others hang rules on)."""
        return sorted({PROD_ENV, *self.envs})

    @property
    def regional_env_names(self) -> dict[str, list[str]]:
        """Per extra region, the environments built there: those of ``env_names`` with a root in
        ``terraform/envs-<region>`` (prod always: it owns the region's listeners)."""
        from bgctl.envspec import environment_names
        from bgctl.regions import regional_dir

        found: dict[str, list[str]] = {}
        for region in self.regions:
            have = environment_names(regional_dir(TERRAFORM_DIR / "envs", region))
            found[region] = [e for e in self.env_names if e in have]
        return found

    def region_envs_dir(self, region: str) -> Path:
        """The working copy's ``envs-<region>`` directory (``--region`` finds it beside ``envs``)."""
        return self.terraform_dir / f"envs-{region}"

    def region_logs_bucket(self, region: str) -> str:
        """The logs bucket the region's shared root names (``region.auto.tfvars.json``)."""
        values = json.loads((TERRAFORM_DIR / f"shared-{region}" / "region.auto.tfvars.json").read_text())
        return str(values.get("logs_bucket") or f"{LOGS_BUCKET}-{region}")

    def region_clients(self, region: str) -> SandboxClients:
        """Clients of the sandbox in ``region`` (the home region's are ``clients``)."""
        if region == REGION:
            return self.clients
        from bgctl.sandbox.regions import region_clients

        return region_clients(self.endpoint_url, region)

    @property
    def terraform_dir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("the Terraform sandbox has not been started")
        return self.workdir / "terraform"

    @property
    def envs_dir(self) -> Path:
        """The working copy's ``envs`` directory: ``BLUEGREEN_ENVS_DIR`` for the CLI."""
        return self.terraform_dir / "envs"

    @property
    def process(self) -> SandboxProcess:
        if self._process is None:
            raise RuntimeError("the Terraform sandbox is not running")
        return self._process

    @property
    def endpoint_url(self) -> str:
        return self.process.endpoint_url

    @property
    def health_url_template(self) -> str:
        return self.process.health_url_template

    @property
    def control_url(self) -> str:
        return self.process.control_url

    @property
    def clients(self) -> SandboxClients:
        if self._clients is None:
            raise RuntimeError("the Terraform sandbox is not running")
        return self._clients

    def environ(self) -> dict[str, str]:
        """Environment for the CLI (a child process, or os.environ of this one): the sandbox's endpoint
        and fake keys, the working copy as ``BLUEGREEN_ENVS_DIR``, the project's Terraform. Remove
        ``REAL_AWS_VARS`` and ``BLUEGREEN_TF_PLUGIN_DIR`` from the environment it is merged into."""
        from bgctl.tfconfig import cli_config_env

        env = sandbox_environ(self.endpoint_url, self.health_url_template)
        env.update(cli_config_env())
        env["BLUEGREEN_ENVS_DIR"] = str(self.envs_dir)
        env["BLUEGREEN_TERRAFORM"] = str(self.binary)
        env["BLUEGREEN_POLL_INTERVAL"] = POLL_INTERVAL
        env["BLUEGREEN_HEALTH_CONTROL_URL"] = self.control_url
        return env

    def child_environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) without real-AWS variables or the null-provider plugin dir,
        plus ``environ()``: a complete environment for ``scripts/bluegreen.py`` as a subprocess."""
        drop = {*REAL_AWS_VARS, "BLUEGREEN_TF_PLUGIN_DIR"}
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in drop}
        env.update(self.environ())
        return env

    def env_file(self, path: Path | None = None) -> Path:
        """``export`` lines for other shells (default ``.sandbox/env``), like ``Sandbox.env_file``."""
        target = path or REPO_ROOT / ".sandbox" / "env"
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            "# Written by the bluegreen Terraform sandbox; valid while it runs. Usage: source .sandbox/env"
        ]
        lines += [f"unset {' '.join(sorted({*REAL_AWS_VARS, 'BLUEGREEN_TF_PLUGIN_DIR'}))}"]
        lines += [f"export {name}='{value}'" for name, value in sorted(self.environ().items())]
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return target

    def root(self, name: str) -> TerraformRoot:
        """The working copy's root ``name`` (``shared``, ``envs/beta``) aimed at this sandbox."""
        from bgctl.terraform import TerraformRoot

        return TerraformRoot(
            self.terraform_dir / name,
            str(self.binary),
            env=self.environ(),
            unset=(*REAL_AWS_VARS, "BLUEGREEN_TF_PLUGIN_DIR"),
            timeout=ROOT_TIMEOUT,
        )

    def roots(self) -> list[str]:
        return [r for wave in apply_waves(self.env_names, self.regional_env_names) for r in wave]

    def replan_has_changes(self, name: str) -> bool:
        """``terraform plan -detailed-exitcode`` of the root as it is on disk: True when not empty."""
        with tempfile.TemporaryDirectory(prefix="bluegreen-replan-") as tmp:
            return self.root(name).plan_to_file(Path(tmp) / "replan.tfplan").has_changes


def serve_until_interrupted(sandbox: TerraformSandbox) -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM, or until the sandbox process exits; then return.

    For ``sandbox up`` in the foreground; call from the main thread. The caller stops the sandbox."""
    import signal
    import threading

    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5) and sandbox.process.alive:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def cli_sandbox(
    envs: Sequence[str], *, log: Log = _quiet, binary: str | None = None, regions: Sequence[str] = ()
) -> Iterator[TerraformSandbox]:
    """The Terraform sandbox for ``sandbox up --tf`` / ``sandbox demo --tf``: built on entry, stopped on
    exit. Where Terraform or the AWS provider is missing it raises TerraformError (exit 1) with the
    one-line reason and the way out, before anything starts."""
    from bgctl.errors import TerraformError

    sandbox = TerraformSandbox(envs=tuple(envs), regions=tuple(regions), binary=binary, log=log)
    try:
        sandbox.start()
    except TerraformUnavailable as exc:
        raise TerraformError(
            f"cannot build the sandbox with Terraform here: {exc.reason}",
            hint="without TF=1 the sandbox is built with boto3 and needs neither Terraform nor the provider",
        ) from exc
    try:
        yield sandbox
    finally:
        sandbox.stop()


def build_terraform_sandbox(
    envs: Sequence[str] = ("beta",),
    *,
    regions: Sequence[str] = (),
    workdir: Path | None = None,
    jobs: int = 2,
    log: Log = _quiet,
    keep: bool = False,
) -> TerraformSandbox:
    """Start moto, seed it, apply the roots for ``envs`` (plus shared and prod; in each of ``regions``
    too: its shared root and its roots of those environments) from a working copy of ``terraform/``;
    return the running sandbox. Raises TerraformUnavailable (one-line ``reason``) where
    Terraform or the AWS provider is missing. The caller stops it (``stop()`` or ``with``)."""
    return TerraformSandbox(
        envs=tuple(envs), regions=tuple(regions), workdir=workdir, jobs=jobs, log=log, keep=keep
    ).start()
