"""The per-environment lock: one SSM parameter created without overwrite, so taking it is atomic.

The value records who holds it, where, since when and for what, plus a token that the journal of an
interrupted operation carries so that ``recover`` (and only it) can take the lock over.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from bgctl.aws import delete_parameter, error_code, get_parameter
from bgctl.errors import AwsError, LockHeldError
from bgctl.wiring import param_name

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


def lock_param(env: str) -> str:
    return param_name(env, "lock")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True)
class LockInfo:
    holder: str
    operation: str
    since: str
    token: str
    host: str = ""
    pid: int = 0

    def describe(self) -> str:
        return f"{self.holder} ({self.operation}) since {self.since}"

    def alive_here(self) -> bool | None:
        """True/False when the holder ran on this host (its pid is or is not running); None elsewhere."""
        if not self.host or self.host != socket.gethostname() or self.pid <= 0:
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def parse_lock(text: str | None) -> LockInfo | None:
    if text is None:
        return None
    try:
        doc = json.loads(text)
        return LockInfo(
            holder=str(doc["holder"]),
            operation=str(doc["operation"]),
            since=str(doc["since"]),
            token=str(doc["token"]),
            host=str(doc.get("host", "")),
            pid=int(doc.get("pid", 0)),
        )
    except (json.JSONDecodeError, KeyError, TypeError):
        return LockInfo(holder=f"unreadable lock value {text[:60]!r}", operation="?", since="?", token="")


def held_error(env: str, held: LockInfo | None) -> LockHeldError:
    """The refusal a second mutating command gets, naming the holder."""
    holder = held.describe() if held else "another operation (released just now: retry)"
    return LockHeldError(
        f"{env} is locked by {holder}",
        hint=f"wait for it to finish; only if that process is gone: bluegreen --env {env} recover",
    )


class EnvLock:
    """Acquire/release the lock of one environment."""

    def __init__(self, ssm: SSMClient, env: str) -> None:
        self.ssm = ssm
        self.env = env
        self.name = lock_param(env)
        self.info: LockInfo | None = None

    def current(self) -> LockInfo | None:
        return parse_lock(get_parameter(self.ssm, self.name))

    def acquire(self, operation: str, *, token: str | None = None) -> LockInfo:
        info = LockInfo(
            holder=whoami(),
            operation=operation,
            since=now_iso(),
            token=token or uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        try:
            self.ssm.put_parameter(
                Name=self.name, Value=json.dumps(asdict(info)), Type="String", Overwrite=False
            )
        except ClientError as exc:
            if error_code(exc) == "ParameterAlreadyExists":
                raise held_error(self.env, self.current()) from exc
            raise AwsError(f"taking the lock failed: {error_code(exc)}", code=error_code(exc)) from exc
        self.info = info
        return info

    def take_over(self, token: str, operation: str) -> LockInfo:
        """Take over a lock left by a dead operation whose journal carries ``token``."""
        held = self.current()
        if held is not None and held.token != token:
            raise LockHeldError(
                f"{self.env} is locked by {held.describe()}, not by the interrupted operation",
                hint="wait for that operation to finish",
            )
        if held is not None:
            delete_parameter(self.ssm, self.name)
        return self.acquire(operation, token=token)

    def release(self) -> None:
        """Release the lock if we still hold it (never delete someone else's)."""
        if self.info is None:
            return
        held = self.current()
        if held is not None and held.token == self.info.token:
            delete_parameter(self.ssm, self.name)
        self.info = None

    def force_unlock(self) -> LockInfo | None:
        held = self.current()
        if held is not None:
            delete_parameter(self.ssm, self.name)
        return held
