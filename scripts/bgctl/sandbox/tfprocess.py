"""The Terraform sandbox's child process: ``python -m bgctl.sandbox.serve`` (moto with the fidelity fixes
and the instances' health server on 127.0.0.1), started and stopped from the parent (bgctl.sandbox.tfsandbox).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bgctl import REPO_ROOT
from bgctl.sandbox.serve import DEFAULT_ACCOUNT
from bgctl.sandbox.server import FAKE_AWS_ENV, REAL_AWS_VARS, require_loopback_url

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


@dataclass
class SandboxProcess:
    """``python -m bgctl.sandbox.serve`` as a child: moto and the health server on 127.0.0.1."""

    account: str = DEFAULT_ACCOUNT
    log_path: Path | None = None
    regions: Sequence[str] = ()  # extra regions whose instances the health server answers for too
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
                [
                    sys.executable,
                    "-m",
                    "bgctl.sandbox.serve",
                    "--account",
                    self.account,
                    *(["--regions", ",".join(self.regions)] if self.regions else []),
                ],
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
