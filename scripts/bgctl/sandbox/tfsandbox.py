"""The sandbox built by Terraform: the real roots applied to moto, for the CLI's Terraform driver.

``build_terraform_sandbox()`` (or ``TerraformSandbox(...).start()``):

1. checks that Terraform and the hashicorp/aws provider are usable here (``bgctl.tfconfig``), else
   raises ``TerraformUnavailable`` with a one-line reason (callers skip with it);
2. starts an empty sandbox in a child process (``bgctl.sandbox.serve``: moto with the fidelity fixes
   on 127.0.0.1, answering as account 052730242331 so the roots' ``allowed_account_ids`` check really
   runs, and the instances' loopback health server);
3. seeds what the roots expect to exist already (terraform/README.md, "Who owns what"): the VPC, its
   ``Tier=private`` and ``Tier=public`` subnets, the builds bucket (with the sample builds) and the log
   bucket, an imported ``godbolt.org`` certificate (ISSUED) and one AMI per name pattern and
   architecture the roots ask for;
4. copies ``terraform/`` into a working directory and writes each root's sandbox override
   (``bgctl.tfoverride``: local backend, every endpoint on the moto server, fake keys);
5. applies ``shared``, then ``envs/prod`` (it owns the listeners), then the path environments
   concurrently;
6. does what the deploy tool would have done on a live system: records the active color's version
   (``gh-100``, the other ``none``) and scales the active color to its initial capacity.

``environ()`` and ``envs_dir`` are what the CLI needs: with them ``scripts/bluegreen.py --env beta
switch green --via terraform`` plans and applies the working copy's root against the sandbox.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl import REPO_ROOT, other_color
from bgctl.envspec import ADOPT_FILE
from bgctl.sandbox.network import PUBLIC_SUBNETS, SUBNETS, VPC_CIDR, VPC_NAME
from bgctl.sandbox.preview import preview_secret
from bgctl.sandbox.samplebuilds import ACTIVE_VERSION, BUILDS_BUCKET, NO_VERSION, build_keys
from bgctl.sandbox.serve import DEFAULT_ACCOUNT
from bgctl.sandbox.server import FAKE_AWS_ENV, REAL_AWS_VARS, REGION, require_loopback_url, sandbox_environ
from bgctl.sandbox.topology import initial_capacity, serving_min
from bgctl.wiring import version_param

if TYPE_CHECKING:
    from bgctl.envspec import EnvSpec
    from bgctl.sandbox.clients import SandboxClients
    from bgctl.terraform import TerraformRoot

TERRAFORM_DIR = REPO_ROOT / "terraform"
LOGS_BUCKET = "compiler-explorer-logs"
CERT_DOMAIN = "godbolt.org"
AMI_STAMP = "20250601000000"  # packer's timestamp: RFC 3339 without separators
SHARED_ROOT = "shared"
PROD_ENV = "prod"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
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
# The child process
# --------------------------------------------------------------------------------------------------
@dataclass
class SandboxProcess:
    """``python -m bgctl.sandbox.serve`` as a child: moto and the health server on 127.0.0.1."""

    account: str = DEFAULT_ACCOUNT
    log_path: Path | None = None
    endpoint_url: str = ""
    health_url_template: str = ""
    control_url: str = ""
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)

    def start(self, timeout: float = READY_TIMEOUT) -> SandboxProcess:
        env = {k: v for k, v in os.environ.items() if k not in REAL_AWS_VARS}
        env.update(FAKE_AWS_ENV)
        env.pop("AWS_ENDPOINT_URL", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "scripts"), env.get("PYTHONPATH")]))
        log = self.log_path.open("w", encoding="utf-8") if self.log_path else None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "bgctl.sandbox.serve", "--account", self.account],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log if log is not None else subprocess.DEVNULL,
                text=True,
            )
        finally:
            if log is not None:
                log.close()  # the child holds its own descriptor
        assert self._proc.stdout is not None  # Popen with stdout=PIPE
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"the sandbox process did not report ready within {timeout:.0f}s")
        info = json.loads(line)
        self.endpoint_url = require_loopback_url(str(info["endpoint_url"]), "endpoint")
        self.health_url_template = require_loopback_url(str(info["health_url_template"]), "health URL")
        self.control_url = require_loopback_url(str(info["control_url"]), "control URL")
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()  # the child serves until its stdin closes
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if proc.stdout:
            proc.stdout.close()


# --------------------------------------------------------------------------------------------------
# Seeding: what the roots find, not create
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seeded:
    vpc_id: str
    private_subnet_ids: tuple[str, ...]
    public_subnet_ids: tuple[str, ...]
    certificate_arn: str
    amis: dict[str, str]  # AMI name -> id


def _self_signed_certificate(domain: str) -> tuple[bytes, bytes]:
    """A throw-away self-signed certificate and key (PEM) for ``domain``, for ACM ImportCertificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(domain), x509.DNSName(f"*.{domain}")]), False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass(frozen=True)
class AmiWanted:
    name: str
    architecture: str
    windows: bool


def amis_wanted(envs_dir: Path, env_names: Iterable[str]) -> list[AmiWanted]:
    """One AMI per (name pattern, architecture) the roots ask for, named like a packer build."""
    from bgctl.envspec import load_env_spec, module_call

    wanted: dict[tuple[str, str], AmiWanted] = {}
    for env in env_names:
        spec = load_env_spec(env, envs_dir)
        pattern = str(module_call(envs_dir / env)["ami_name_pattern"])
        name = pattern.replace("*", AMI_STAMP)
        wanted[(name, spec.architecture)] = AmiWanted(name, spec.architecture, spec.os == "windows")
    return sorted(wanted.values(), key=lambda a: a.name)


def _source_image(clients: SandboxClients, architecture: str, windows: bool) -> str:
    """One of moto's built-in images with that architecture (copy_image keeps it; register_image
    ignores the architecture it is given)."""
    filters: list[Any] = [{"Name": "architecture", "Values": [architecture]}]
    if windows:
        filters.append({"Name": "platform", "Values": ["windows"]})
    images = clients.ec2.describe_images(Filters=filters)["Images"]
    if not windows:
        images = [i for i in images if i.get("Platform") != "windows"]
    if not images:
        raise RuntimeError(
            f"moto has no built-in {architecture} {'Windows ' if windows else ''}image to copy"
        )
    return str(sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"])


def seed(clients: SandboxClients, envs_dir: Path, env_names: Sequence[str]) -> Seeded:
    """Create the pre-existing pieces in an empty moto (terraform/README.md, "Who owns what")."""
    ec2 = clients.ec2
    vpc_id = ec2.create_vpc(
        CidrBlock=VPC_CIDR,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": VPC_NAME}]}],
    )["Vpc"]["VpcId"]

    def subnets(specs: Sequence[tuple[str, str]], tier: str) -> tuple[str, ...]:
        return tuple(
            ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=az,
                TagSpecifications=[
                    {
                        "ResourceType": "subnet",
                        "Tags": [{"Key": "Tier", "Value": tier}, {"Key": "Name", "Value": f"{tier}-{az}"}],
                    }
                ],
            )["Subnet"]["SubnetId"]
            for cidr, az in specs
        )

    private = subnets(SUBNETS, "private")
    public = subnets(PUBLIC_SUBNETS, "public")
    for bucket in (BUILDS_BUCKET, LOGS_BUCKET):
        clients.s3.create_bucket(Bucket=bucket)
    for key, body in build_keys(env_names).items():
        content_type = "application/json" if key.endswith(".json") else "application/x-xz"
        clients.s3.put_object(Bucket=BUILDS_BUCKET, Key=key, Body=body, ContentType=content_type)
    # The preview routes' secret (preview.tf reads it): an operator creates it once, outside Terraform.
    wanted = {s.preview_secret_parameter for s in _specs(envs_dir, env_names) if s.preview_secret_parameter}
    for name in sorted(wanted):
        preview_secret(clients, name)
    cert_pem, key_pem = _self_signed_certificate(CERT_DOMAIN)
    cert_arn = clients.acm.import_certificate(Certificate=cert_pem, PrivateKey=key_pem)["CertificateArn"]
    amis: dict[str, str] = {}
    for ami in amis_wanted(envs_dir, env_names):
        source = _source_image(clients, ami.architecture, ami.windows)
        amis[ami.name] = ec2.copy_image(
            Name=ami.name,
            SourceImageId=source,
            SourceRegion=REGION,
            Description=f"sandbox {ami.architecture}",
        )["ImageId"]
    return Seeded(vpc_id, private, public, str(cert_arn), amis)


def _specs(envs_dir: Path, env_names: Sequence[str]) -> list[EnvSpec]:
    from bgctl.envspec import load_env_spec

    return [load_env_spec(name, envs_dir) for name in env_names]


def after_apply(clients: SandboxClients, specs: Iterable[EnvSpec]) -> None:
    """What the deploy tool owns on a live system: versions per color, the active color's capacity and
    its serving minimum (Terraform creates both groups at min 0; the first deploy raises it)."""
    for spec in specs:
        active = spec.active_color
        for color, value in ((active, ACTIVE_VERSION), (other_color(active), NO_VERSION)):
            clients.ssm.put_parameter(
                Name=version_param(spec.name, color), Value=value, Type="String", Overwrite=True
            )
        clients.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=f"{spec.name}-{active}",
            MinSize=serving_min(spec),
            DesiredCapacity=initial_capacity(spec),
        )


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


def apply_waves(env_names: Sequence[str]) -> list[list[str]]:
    """Roots (relative to ``terraform/``) in apply order: shared, prod, then the path environments."""
    paths = sorted(e for e in env_names if e != PROD_ENV)
    return [[SHARED_ROOT], [f"envs/{PROD_ENV}"], [f"envs/{e}" for e in paths]]


@dataclass
class TerraformSandbox:
    """The Terraform-built sandbox; see the module docstring. Use as a context manager or start/stop."""

    envs: Sequence[str] = ("beta",)
    workdir: Path | None = None
    binary: str | None = None
    jobs: int = 2
    account: str = DEFAULT_ACCOUNT
    keep: bool = False
    log: Log = _quiet
    timings: list[Timing] = field(default_factory=list)
    seeded: Seeded | None = None
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
            self._process = SandboxProcess(self.account, log_path=self.workdir / "sandbox.log").start()
            self._clients = make_clients(self.endpoint_url)
        envs = self.env_names
        with self.timed("copy terraform/ and write overrides"):
            working_copy(self.terraform_dir)
            for root in [r for wave in apply_waves(envs) for r in wave]:
                write_override(self.terraform_dir / root, self.endpoint_url)
        with self.timed("seed pre-existing pieces"):
            self.seeded = seed(self.clients, self.envs_dir, envs)
        for wave in apply_waves(envs):
            if wave:
                self._apply_wave(wave)
        with self.timed("versions + active capacity (the tool's part)"):
            after_apply(self.clients, [load_env_spec(e, self.envs_dir) for e in envs])

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
        return [r for wave in apply_waves(self.env_names) for r in wave]

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
    envs: Sequence[str], *, log: Log = _quiet, binary: str | None = None
) -> Iterator[TerraformSandbox]:
    """The Terraform sandbox for ``sandbox up --tf`` / ``sandbox demo --tf``: built on entry, stopped on
    exit. Where Terraform or the AWS provider is missing it raises TerraformError (exit 1) with the
    one-line reason and the way out, before anything starts."""
    from bgctl.errors import TerraformError

    sandbox = TerraformSandbox(envs=tuple(envs), binary=binary, log=log)
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
    workdir: Path | None = None,
    jobs: int = 2,
    log: Log = _quiet,
    keep: bool = False,
) -> TerraformSandbox:
    """Start moto, seed it, apply the roots for ``envs`` (plus shared and prod) from a working copy of
    ``terraform/``; return the running sandbox. Raises TerraformUnavailable (one-line ``reason``) where
    Terraform or the AWS provider is missing. The caller stops it (``stop()`` or ``with``)."""
    return TerraformSandbox(envs=tuple(envs), workdir=workdir, jobs=jobs, log=log, keep=keep).start()
