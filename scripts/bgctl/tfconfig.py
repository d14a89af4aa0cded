"""The project's own Terraform CLI configuration, and whether the AWS provider can be had here.

Every Terraform command the project runs (``TerraformRoot``, ``scripts/tf-validate``, the Makefile, the
Terraform sandbox) gets ``TF_CLI_CONFIG_FILE`` pointing at a file this module writes, by default the
gitignored ``.bluegreen/terraformrc``. Whatever the caller's own ``TF_CLI_CONFIG_FILE`` says (on some
machines it names a file that does not exist, which costs a warning on every command) plays no part.

Providers come from a filesystem mirror when one holds the AWS provider for this platform (looked for
at ``$BLUEGREEN_TF_MIRROR``, ``/opt/tf-plugins``, ``~/.terraform.d/plugins`` and
``/usr/share/terraform/plugins``, in that order); every provider the mirror holds is installed only
from there, the rest directly from the registry. Without a mirror installation is direct, with a
plugin cache under ``.bluegreen/`` so a provider is downloaded once.

``provider_status()`` answers "can the AWS roots really be initialised here?" by running
``terraform init -backend=false`` on a copy of ``terraform/shared/versions.tf`` (the real version
constraints) with that configuration: ``(True, how)`` or ``(False, one-line reason)``. Callers skip
with that reason; nothing pretends to have validated or applied anything.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bgctl import REPO_ROOT

MIRROR_ENV = "BLUEGREEN_TF_MIRROR"
CLI_CONFIG_ENV = "TF_CLI_CONFIG_FILE"
DEFAULT_MIRRORS = (
    Path("/opt/tf-plugins"),
    Path("~/.terraform.d/plugins"),
    Path("/usr/share/terraform/plugins"),
)
CONFIG_DIR = REPO_ROOT / ".bluegreen"
CONFIG_NAME = "terraformrc"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
VERSIONS_TF = REPO_ROOT / "terraform" / "shared" / "versions.tf"
PROBE_TIMEOUT = 180.0
# Terraform's roots need use_lockfile (1.10); the pinned 1.0.3 in .tools can only format.
MIN_TERRAFORM = (1, 10)


def platform_dir() -> str:
    """Terraform's ``OS_ARCH`` name for this machine: ``linux_amd64``, ``darwin_arm64``, ..."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


@dataclass(frozen=True)
class Mirror:
    """A filesystem mirror (unpacked layout) and the providers it holds for this platform."""

    path: Path
    providers: tuple[str, ...]  # "registry.terraform.io/hashicorp/aws", ...
    aws_versions: tuple[str, ...]


def mirror_candidates() -> list[Path]:
    explicit = os.environ.get(MIRROR_ENV)
    found = [Path(explicit)] if explicit else []
    return found + [p.expanduser() for p in DEFAULT_MIRRORS]


def read_mirror(path: Path) -> Mirror | None:
    """The providers an unpacked mirror at ``path`` holds for this platform, or None when it holds none."""
    if not path.is_dir():
        return None
    plat = platform_dir()
    providers: list[str] = []
    aws_versions: list[str] = []
    # HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE*
    for type_dir in sorted(p for p in path.glob("*/*/*") if p.is_dir()):
        address = "/".join(type_dir.relative_to(path).parts)
        versions = [
            v.name
            for v in sorted(type_dir.iterdir())
            if any((v / plat).glob(f"terraform-provider-{type_dir.name}*"))
        ]
        if versions:
            providers.append(address)
            if address == AWS_PROVIDER:
                aws_versions.extend(versions)
    if not providers:
        return None
    return Mirror(path.resolve(), tuple(providers), tuple(aws_versions))


def find_mirror() -> Mirror | None:
    """The first candidate mirror that holds the AWS provider for this platform."""
    for candidate in mirror_candidates():
        mirror = read_mirror(candidate)
        if mirror is not None and mirror.aws_versions:
            return mirror
    return None


def _hcl_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def render_cli_config(mirror: Mirror | None, cache_dir: Path) -> str:
    """The CLI configuration text: the mirror's providers from the mirror only, the rest direct."""
    lines = ["# Written by bluegreen (scripts/bgctl/tfconfig.py); regenerated on use. Do not edit."]
    if mirror is None:
        lines += [
            "# No filesystem mirror with the AWS provider was found: providers come from the registry,",
            "# downloaded once into the plugin cache.",
            f'plugin_cache_dir = "{cache_dir}"',
            "",
            "provider_installation {",
            "  direct {}",
            "}",
        ]
    else:
        lines += [
            f"# Filesystem mirror {mirror.path}: {', '.join(mirror.providers)}",
            "",
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror.path}"',
            f"    include = {_hcl_list(mirror.providers)}",
            "  }",
            "  direct {",
            f"    exclude = {_hcl_list(mirror.providers)}",
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: concurrent processes (parallel applies, pytest next to make) never read half a file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    Path(tmp).replace(path)


def ensure_cli_config(directory: Path | None = None) -> Path:
    """Write the CLI configuration (when it changed) and return its path.

    ``directory`` defaults to ``.bluegreen/`` in the repository; where that cannot be written (a
    read-only checkout) a per-user temporary directory is used instead.
    """
    targets = [directory] if directory is not None else [CONFIG_DIR]
    targets.append(Path(tempfile.gettempdir()) / f"bluegreen-{os.getuid()}")
    mirror = find_mirror()
    error: OSError | None = None
    for target in targets:
        path = target / CONFIG_NAME
        try:
            _write_if_changed(path, render_cli_config(mirror, target / "plugin-cache"))
            if mirror is None:
                (target / "plugin-cache").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            error = exc
            continue
        return path.resolve()
    raise OSError(f"cannot write the Terraform CLI configuration: {error}")


def cli_config_env() -> dict[str, str]:
    """``{"TF_CLI_CONFIG_FILE": <the project's configuration>}`` for a Terraform process."""
    return {CLI_CONFIG_ENV: str(ensure_cli_config())}


# --------------------------------------------------------------------------------------------------
# Is Terraform with the AWS provider usable here?
# --------------------------------------------------------------------------------------------------
def terraform_version(binary: str) -> tuple[int, ...] | None:
    """``(1, 11, 4)`` for the binary, or None when it cannot be run."""
    try:
        out = subprocess.run(
            [binary, "version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, **cli_config_env(), "CHECKPOINT_DISABLE": "1"},
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.splitlines()[0] if out else ""
    if not first.startswith("Terraform v"):
        return None
    try:
        return tuple(int(part) for part in first.removeprefix("Terraform v").split("-")[0].split("."))
    except ValueError:
        return None


_status_cache: dict[str, tuple[bool, str]] = {}


def provider_status(binary: str | None = None) -> tuple[bool, str]:
    """Whether the AWS roots can be initialised here: ``(True, how)`` or ``(False, one-line reason)``.

    Cached per binary for the life of the process (the probe costs an ``init``).
    """
    from bgctl.terraform import default_binary

    tf = binary or default_binary()
    if tf in _status_cache:
        return _status_cache[tf]
    _status_cache[tf] = result = _probe(tf)
    return result


def _probe(tf: str) -> tuple[bool, str]:
    resolved = shutil.which(tf) or (tf if Path(tf).is_file() else None)
    if resolved is None:
        return False, f"no Terraform binary ({tf!r} is not on PATH)"
    version = terraform_version(resolved)
    if version is None:
        return False, f"{resolved} does not run as Terraform"
    shown = ".".join(map(str, version))
    if version[:2] < MIN_TERRAFORM:
        wanted = ".".join(map(str, MIN_TERRAFORM))
        return False, f"Terraform {shown} ({resolved}) is older than {wanted}, which the roots need"
    mirror = find_mirror()
    env = {**os.environ, **cli_config_env(), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    with tempfile.TemporaryDirectory(prefix="bluegreen-tfprobe-") as tmp:
        shutil.copy(VERSIONS_TF, Path(tmp) / "versions.tf")
        try:
            proc = subprocess.run(
                [resolved, "init", "-backend=false", "-input=false", "-no-color"],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"terraform init could not install hashicorp/aws within {PROBE_TIMEOUT:.0f}s"
    if proc.returncode != 0:
        where = f"the mirror at {mirror.path}" if mirror else "the registry (no filesystem mirror found)"
        error = next((ln.strip(" │╷╵") for ln in proc.stderr.splitlines() if "Error:" in ln), "")
        detail = f": {error.strip(' │╷╵').removeprefix('Error: ')}" if error else ""
        return False, f"the hashicorp/aws provider cannot be installed from {where}{detail}"
    how = f"mirror {mirror.path} (aws {', '.join(mirror.aws_versions)})" if mirror else "registry"
    return True, f"Terraform {shown}, hashicorp/aws from {how}"


if __name__ == "__main__":
    # `python -m bgctl.tfconfig`: write the configuration, print its path (for the Makefile).
    print(ensure_cli_config())
