"""A small typed interface over python-terraform for one root module.

python-terraform 0.10.1 builds the command lines (``-var`` given as a dict becomes a temporary
``-var-file``, flags are ``IsFlagged``/``IsNotFlagged``, ``None`` drops an option). Its executor cannot
take an environment or a timeout, so ``_Terraform`` keeps the command-line builder and replaces only
``cmd``: every call runs with ``TF_IN_AUTOMATION=1``, ``-input=false``, ``-no-color``, an explicit
environment and a deadline, and returns text.

Every failure raises ``TerraformError`` carrying the tail of Terraform's stderr.

Every command also gets ``TF_CLI_CONFIG_FILE`` (the project's CLI configuration, ``bgctl.tfconfig``)
and, before anything that could reach AWS, ``bgctl.tfoverride.endpoint_problem`` decides whether the
root's provider talks to the same AWS as the process environment: a local endpoint (the sandbox) only
with the root's sandbox override aimed at it and fake keys, real AWS only without one.

``BLUEGREEN_TF_PLAN_LOG=<dir>`` keeps a copy of every plan read as JSON (what the plan guard saw);
``observe_commands()`` records each command's wall time (the Terraform benchmark reads it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform

from bgctl import REPO_ROOT
from bgctl.errors import TerraformError

DEFAULT_TIMEOUT = 900.0
STDERR_TAIL_LINES = 20
# `terraform show -json` format versions this module reads: 0.x (Terraform 1.0) and 1.x (1.1 and later).
SUPPORTED_PLAN_FORMATS = ("0.", "1.")

_AUTOMATION_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
INIT_STAMP = "bluegreen-init.json"  # in the data directory: the fingerprint of the last good init
PLAN_LOG_ENV = "BLUEGREEN_TF_PLAN_LOG"
# Commands that never reach AWS or the state backend: no endpoint check.
_OFFLINE_COMMANDS = frozenset({"show", "version", "fmt", "validate"})


@dataclass(frozen=True)
class CommandRecord:
    """One terraform command: its subcommand, root, exit code and wall time (``cached``: an init that
    was skipped because nothing it reads changed)."""

    command: str
    working_dir: Path
    returncode: int
    seconds: float
    cached: bool = False


_observers: list[list[CommandRecord]] = []
_observers_lock = threading.Lock()


@contextmanager
def observe_commands() -> Iterator[list[CommandRecord]]:
    """Collect a CommandRecord for every terraform command any TerraformRoot runs inside the block."""
    records: list[CommandRecord] = []
    with _observers_lock:
        _observers.append(records)
    try:
        yield records
    finally:
        with _observers_lock:
            _observers.remove(records)


def _notify(record: CommandRecord) -> None:
    with _observers_lock:
        for records in _observers:
            records.append(record)


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class _Terraform(Terraform):  # type: ignore[misc]  # python-terraform ships no type information
    """python-terraform with an executor that takes an environment and a timeout and returns text."""

    def __init__(self, working_dir: Path, binary: str, env: Mapping[str, str], timeout: float) -> None:
        super().__init__(working_dir=str(working_dir), terraform_bin_path=binary)
        self._env = dict(env)
        self._timeout = timeout

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        for quirk in ("capture_output", "raise_on_error", "synchronous"):
            kwargs.pop(quirk, None)
        if cmd not in _OFFLINE_COMMANDS:
            from bgctl.tfoverride import endpoint_problem

            problem = endpoint_problem(Path(self.working_dir), self._env)
            if problem:
                self.temp_var_files.clean_up()
                raise TerraformError(f"terraform {cmd} refused: {problem}")
        argv: list[str] = self.generate_cmd_string(cmd, *args, **kwargs)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                argv,
                cwd=self.working_dir,
                env=self._env,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TerraformError(
                f"terraform {cmd} in {self.working_dir} did not finish within {self._timeout:.0f}s"
            ) from exc
        except OSError as exc:
            raise TerraformError(f"cannot run terraform ({argv[0]}): {exc.strerror}") from exc
        finally:
            self.temp_var_files.clean_up()
        _notify(CommandRecord(cmd, Path(self.working_dir), proc.returncode, time.monotonic() - started))
        return proc.returncode, proc.stdout, proc.stderr


@dataclass(frozen=True)
class PlanFile:
    """A saved plan (``terraform plan -out``) and whether it changes anything (-detailed-exitcode)."""

    path: Path
    has_changes: bool


def _plan_path(planfile: PlanFile | Path) -> Path:
    return planfile.path if isinstance(planfile, PlanFile) else planfile


class TerraformRoot:
    """One Terraform root module driven through python-terraform.

    ``plugin_dir`` (a ``-plugin-dir`` layout) makes ``init`` install providers only from there, never
    from the registry. ``env`` is added to the process environment for every command; unless it names
    its own ``TF_CLI_CONFIG_FILE``, the project's CLI configuration is used.
    """

    def __init__(
        self,
        working_dir: Path,
        binary: str | Path,
        plugin_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        unset: Iterable[str] = (),
    ) -> None:
        self.working_dir = Path(working_dir)
        # A relative binary path would be resolved against the root's directory: make it absolute.
        self.binary = str(Path(binary).resolve()) if os.sep in str(binary) else str(binary)
        self.plugin_dir = Path(plugin_dir).resolve() if plugin_dir else None
        from bgctl.tfconfig import cli_config_env

        dropped = set(unset)
        full_env = {k: v for k, v in os.environ.items() if k not in dropped}
        full_env.update(_AUTOMATION_ENV)
        full_env.update(cli_config_env())
        full_env.update(env or {})
        self._tf = _Terraform(self.working_dir, self.binary, full_env, timeout)

    def __repr__(self) -> str:
        return f"TerraformRoot({str(self.working_dir)!r}, binary={self.binary!r})"

    @property
    def environ(self) -> dict[str, str]:
        """The environment every terraform command of this root runs with."""
        return dict(self._tf._env)

    def endpoint_problem(self) -> str | None:
        """Why Terraform must not run in this root with its environment (None: it may)."""
        from bgctl.tfoverride import endpoint_problem

        return endpoint_problem(self.working_dir, self._tf._env)

    def _check(self, what: str, result: tuple[int, str, str], ok: tuple[int, ...] = (0,)) -> CommandResult:
        code, out, err = result
        if code not in ok:
            raise TerraformError(
                f"terraform {what} failed in {self.working_dir} (exit {code}):\n{_tail(err or out)}"
            )
        return CommandResult(code, out, err)

    def init(self, *, backend: bool = True) -> None:
        """``terraform init``; with ``backend=False`` the state backend is not configured.

        Skipped when this working directory was initialised successfully (with the backend, if one is
        asked for) and nothing ``init`` reads has changed since: see ``_init_fingerprint``. A switch
        initialises up to three times (checks, then the switch itself); only the first one runs.
        """
        stamp = self._data_dir() / INIT_STAMP
        fingerprint = self._init_fingerprint()
        if fingerprint is not None and stamp.is_file():
            try:
                done = json.loads(stamp.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                done = {}
            if done.get("fingerprint") == fingerprint and (done.get("backend") or not backend):
                _notify(CommandRecord("init", self.working_dir, 0, 0.0, cached=True))
                return
        stamp.unlink(missing_ok=True)
        # A committed lock file is the contract between the PR's plan and the merge's apply: init may
        # verify against it but never rewrite it (a rewritten lock file would also stop the tool's own
        # commit of the color file, which needs an otherwise clean checkout).
        committed = (self.working_dir / ".terraform.lock.hcl").is_file()
        self._check(
            "init",
            self._tf.init(
                backend=backend,
                plugin_dir=str(self.plugin_dir) if self.plugin_dir else None,
                lockfile="readonly" if committed else None,
                var=None,  # python-terraform would otherwise pass an empty -var-file
                input=False,
                no_color=IsFlagged,
            ),
        )
        after = self._init_fingerprint()
        if after is not None:
            stamp.write_text(json.dumps({"fingerprint": after, "backend": backend}) + "\n", encoding="utf-8")

    def _data_dir(self) -> Path:
        data = Path(self._tf._env.get("TF_DATA_DIR") or ".terraform")
        return data if data.is_absolute() else self.working_dir / data

    def _init_fingerprint(self) -> str | None:
        """A digest of everything ``terraform init`` reads or writes, or None when not initialised.

        The root's and its local modules' ``*.tf``/``*.tf.json`` (modules as recorded in
        ``modules.json``), the dependency lock file, the backend record, the CLI configuration, the
        binary, ``-plugin-dir`` and the variables that move any of those. None also when an installed
        provider's link or directory is gone (e.g. the mirror moved).
        """
        data = self._data_dir()
        modules_json = data / "modules" / "modules.json"
        lock = self.working_dir / ".terraform.lock.hcl"
        if not (data.is_dir() and lock.is_file()):
            return None
        providers = data / "providers"
        if providers.is_dir() and any(not p.exists() for p in providers.glob("*/*/*/*/*")):
            return None
        digest = hashlib.sha256()

        def add(label: str, content: bytes) -> None:
            digest.update(f"{label}\0{len(content)}\0".encode())
            digest.update(content)

        try:
            recorded = modules_json.read_text(encoding="utf-8") if modules_json.is_file() else "{}"
            modules = json.loads(recorded).get("Modules") or []  # a root without modules has none
            dirs = sorted({str(m.get("Dir") or ".") for m in modules} | {"."})
            for rel in dirs:
                directory = (self.working_dir / rel).resolve()
                for path in sorted([*directory.glob("*.tf"), *directory.glob("*.tf.json")]):
                    add(f"{rel}/{path.name}", path.read_bytes())
            for path in (lock, modules_json, data / "terraform.tfstate"):
                add(path.name, path.read_bytes() if path.is_file() else b"")
            config = self._tf._env.get("TF_CLI_CONFIG_FILE", "")
            add("cli-config", Path(config).read_bytes() if config and Path(config).is_file() else b"")
            binary = shutil.which(self.binary) or self.binary
            stat = Path(binary).stat() if Path(binary).exists() else None
            add(
                "binary",
                f"{binary}:{stat.st_size if stat else ''}:{stat.st_mtime_ns if stat else ''}".encode(),
            )
            add("plugin-dir", str(self.plugin_dir or "").encode())
            for name in ("TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR", "TF_CLI_CONFIG_FILE"):
                add(name, self._tf._env.get(name, "").encode())
        except (OSError, ValueError):
            return None
        return digest.hexdigest()

    def plan_to_file(self, path: Path, var_overrides: Mapping[str, str] | None = None) -> PlanFile:
        """``terraform plan -out=path -detailed-exitcode``; exit 2 means the plan changes something."""
        result = self._check(
            "plan",
            self._tf.plan(
                out=str(path),
                var=dict(var_overrides) if var_overrides else None,
                detailed_exitcode=IsFlagged,
                input=False,
                no_color=IsFlagged,
            ),
            ok=(0, 2),
        )
        if not Path(path).is_file():
            raise TerraformError(f"terraform plan in {self.working_dir} wrote no plan file at {path}")
        return PlanFile(path=Path(path), has_changes=result.returncode == 2)

    def show_json(self, planfile: PlanFile | Path) -> dict[str, Any]:
        """``terraform show -json PLANFILE``, parsed (Terraform's documented JSON plan format)."""
        result = self._check(
            "show", self._tf.cmd("show", str(_plan_path(planfile)), json=IsFlagged, no_color=IsFlagged)
        )
        try:
            doc = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise TerraformError(f"terraform show -json printed no JSON ({exc.msg})") from exc
        if not isinstance(doc, dict):
            raise TerraformError("terraform show -json printed JSON that is not an object")
        version = str(doc.get("format_version", ""))
        if not version.startswith(SUPPORTED_PLAN_FORMATS):
            raise TerraformError(f"unsupported plan JSON format_version {version!r}")
        self._log_plan(result.stdout)
        return doc

    def _log_plan(self, text: str) -> None:
        """Keep the plan JSON in ``$BLUEGREEN_TF_PLAN_LOG`` (if set) as ``<root>-<ns>.json``."""
        directory = self._tf._env.get(PLAN_LOG_ENV)
        if not directory:
            return
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{self.working_dir.name}-{time.time_ns()}.json").write_text(text, encoding="utf-8")

    def show_text(self, planfile: PlanFile | Path) -> str:
        """``terraform show PLANFILE``: the human-readable plan."""
        return self._check("show", self._tf.cmd("show", str(_plan_path(planfile)), no_color=IsFlagged)).stdout

    def apply_plan(self, planfile: PlanFile | Path) -> None:
        """Apply exactly the saved plan: no variables, no new plan (Terraform rejects a stale plan)."""
        self._check(
            "apply",
            self._tf.cmd(
                "apply", str(_plan_path(planfile)), input=False, no_color=IsFlagged, auto_approve=IsFlagged
            ),
        )

    def outputs(self) -> dict[str, Any]:
        """``terraform output -json`` as ``{name: value}``."""
        result = self._check("output", self._tf.cmd("output", json=IsFlagged, no_color=IsFlagged))
        doc = json.loads(result.stdout or "{}")
        return {str(name): entry.get("value") for name, entry in doc.items()}


def _one_line(exc: TerraformError) -> str:
    """The error of a failed command on one line (the reason, with the connection failure if any)."""
    lines = [line.strip(" │╷╵") for line in exc.message.splitlines()[1:]]
    lines = [line for line in lines if line]
    error = next((ln for ln in lines if ln.startswith("Error:")), lines[0] if lines else exc.message)
    why = next((ln for ln in lines if "could not connect" in ln.lower()), "")
    reason = error.removeprefix("Error: ").rstrip(".")
    return f"{reason} ({why.rstrip(':')})" if why else reason


def try_init(root: TerraformRoot, *, backend: bool = True) -> tuple[bool, str]:
    """Initialise ``root`` (providers, and the backend unless ``backend`` is False).

    Returns (True, "") or (False, one-line reason): where Terraform must not run against the AWS this
    process talks to (``TerraformRoot.endpoint_problem``: a local endpoint without the root's sandbox
    override, a sandbox root against real AWS, real credentials against the sandbox) or the AWS provider
    cannot be installed, this is how a switch or plan learns it cannot use Terraform, before anything
    changes. ``init`` is what the switch needs first anyway, and it is cached in the root's
    ``.terraform`` directory, so nothing is downloaded twice.
    """
    problem = root.endpoint_problem()
    if problem:
        return False, problem
    # Providers first, without the backend: where they cannot be installed nothing contacts the state.
    for with_backend in (False, True) if backend else (False,):
        try:
            root.init(backend=with_backend)
        except TerraformError as exc:
            return False, f"terraform init failed in {root.working_dir}: {_one_line(exc)}"
    return True, ""


def default_binary() -> str:
    """``BLUEGREEN_TERRAFORM`` if set, else what ``scripts/terraform-bin`` picks (PATH when it matches
    ``.terraform-version``, else the pinned 1.0.3 in ``.tools``)."""
    explicit = os.environ.get("BLUEGREEN_TERRAFORM")
    if explicit:
        return explicit
    out = subprocess.run(
        [str(REPO_ROOT / "scripts" / "terraform-bin")], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "terraform"
