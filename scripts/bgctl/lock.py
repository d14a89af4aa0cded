"""The per-environment lock, with the operation's journal inside it, and fencing.

``/compiler-explorer/{env}/lock`` is created with ``Overwrite=False``, so taking it is atomic. Its value
says who holds it (user, host, pid, since), a random token, and the operation's journal (see
``bgctl.journal``): one write both locks the environment and records, ahead of any change, what the
operation intends.

**Fencing.** While an operation holds the lock, every mutating AWS call made through its clients first
confirms that the lock still carries its token (a botocore ``before-parameter-build`` hook, so no call
can forget). A process whose lock was taken away (``recover`` after its host vanished, a forced
unlock) stops at its next mutating call with ``LostLockError`` and changes nothing more.

Format: ``schema_version`` 2 (see CHANGELOG.md).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bgctl.aws import Clients, delete_parameter, error_code, get_parameter, put_parameter
from bgctl.errors import AwsError, BlueGreenError, LockHeldError, RefusedError
from bgctl.journal import Journal
from bgctl.wiring import param_name

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

LOCK_SCHEMA = 2
READ_PREFIXES = ("Describe", "Get", "List", "Head")
MIN_LOCK_ID = 6


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


class LostLockError(BlueGreenError):
    """This process no longer holds the environment's lock: it must stop without touching anything."""


@dataclass(frozen=True)
class LockInfo:
    holder: str
    operation: str
    since: str
    token: str
    host: str = ""
    pid: int = 0
    journal: Journal | None = None
    readable: bool = True

    @property
    def lock_id(self) -> str:
        """What ``recover --force-unlock LOCK_ID`` takes (a prefix of the token, like a git hash)."""
        return self.token[:8]

    def describe(self) -> str:
        doing = self.journal.describe() if self.journal else self.operation
        return f"{self.holder} ({doing}) since {self.since}"

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

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema_version": LOCK_SCHEMA,
                "holder": self.holder,
                "operation": self.operation,
                "since": self.since,
                "token": self.token,
                "host": self.host,
                "pid": self.pid,
                "journal": self.journal.to_doc() if self.journal else None,
            },
            sort_keys=True,
        )


def parse_lock(text: str | None) -> LockInfo | None:
    """The lock record, or None when there is no lock. An unreadable record is still a lock (one nobody
    may take over silently): it comes back with ``readable`` False."""
    if text is None:
        return None
    try:
        doc = json.loads(text)
        journal = Journal.from_doc(doc["journal"]) if doc.get("journal") else None
        return LockInfo(
            holder=str(doc["holder"]),
            operation=str(doc["operation"]),
            since=str(doc["since"]),
            token=str(doc["token"]),
            host=str(doc.get("host", "")),
            pid=int(doc.get("pid", 0)),
            journal=journal,
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return LockInfo(
            holder=f"unreadable lock value {text[:60]!r}", operation="?", since="?", token="", readable=False
        )


def held_error(env: str, held: LockInfo | None) -> LockHeldError:
    """The refusal a second mutating command gets, naming the holder."""
    holder = held.describe() if held else "another operation (released just now: retry)"
    return LockHeldError(
        f"{env} is locked by {holder}",
        hint=f"wait for it to finish; only if that process is gone: bluegreen --env {env} recover",
    )


class EnvLock:
    """Take, update, hand over and release the lock of one environment; fence its clients meanwhile."""

    def __init__(self, clients: Clients, env: str) -> None:
        self.clients = clients
        self.ssm: SSMClient = clients.ssm
        self.env = env
        self.name = lock_param(env)
        self.info: LockInfo | None = None
        self._fenced: list[tuple[Any, str]] = []

    def current(self) -> LockInfo | None:
        return parse_lock(get_parameter(self.ssm, self.name))

    def _new_info(self, operation: str, journal: Journal | None) -> LockInfo:
        return LockInfo(
            holder=whoami(),
            operation=operation,
            since=now_iso(),
            token=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            journal=journal,
        )

    def acquire(self, operation: str, journal: Journal | None = None) -> LockInfo:
        """Take the lock (atomic create) with ``journal`` inside; fence the clients."""
        info = self._new_info(operation, journal)
        try:
            self.ssm.put_parameter(Name=self.name, Value=info.to_json(), Type="String", Overwrite=False)
        except ClientError as exc:
            if error_code(exc) == "ParameterAlreadyExists":
                raise held_error(self.env, self.current()) from exc
            raise AwsError(f"taking the lock failed: {error_code(exc)}", code=error_code(exc)) from exc
        self._hold(info)
        return info

    def take_over(self, expected: LockInfo, operation: str) -> LockInfo:
        """Take over the lock of a dead operation (``recover``), keeping its journal under a new token,
        so that the old process, should it still run somewhere, is fenced out at its next call."""
        held = self.current()
        if held is None or held.token != expected.token:
            raise LockHeldError(
                f"{self.env}: the lock changed while recovering (now: "
                f"{held.describe() if held else 'none'}); nothing was done",
                hint=f"bluegreen --env {self.env} status",
            )
        info = replace(self._new_info(operation, expected.journal), since=now_iso())
        put_parameter(self.ssm, self.name, info.to_json())
        if (self.current() or held).token != info.token:
            raise LockHeldError(f"{self.env}: another process took the lock over at the same time")
        self._hold(info)
        return info

    def update(self, journal: Journal) -> None:
        """Rewrite the journal inside the lock (the write-ahead record of a traffic move)."""
        if self.info is None:
            raise LostLockError(f"{self.env}: journal update without holding the lock")
        self.check()
        info = replace(self.info, journal=journal)
        put_parameter(self.ssm, self.name, info.to_json())
        self.info = info

    def check(self) -> None:
        """The fence: raise LostLockError unless the lock still carries our token."""
        if self.info is None:
            return
        held = parse_lock(get_parameter(self.ssm, self.name))
        if held is None or held.token != self.info.token:
            now = held.describe() if held else "nobody"
            raise LostLockError(
                f"{self.env}: this {self.info.operation} lost its lock (now held by {now}); "
                "it stopped before its next change and touched nothing more",
                hint=f"bluegreen --env {self.env} status",
            )

    def release(self) -> None:
        """Release the lock if we still hold it (never delete someone else's)."""
        self._unfence()
        if self.info is None:
            return
        held = self.current()
        if held is not None and held.token == self.info.token:
            delete_parameter(self.ssm, self.name)
        self.info = None

    def abandon(self) -> None:
        """Stop fencing and forget the lock *without* releasing it (it stays for ``recover``)."""
        self._unfence()
        self.info = None

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove a stale lock named by its ID; refuse a live holder on this host or a different lock."""
        held = self.current()
        if held is None:
            raise RefusedError(f"{self.env} is not locked: nothing to unlock")
        if len(lock_id) < MIN_LOCK_ID or not (held.token.startswith(lock_id) or not held.readable):
            raise RefusedError(
                f"{self.env}'s lock has ID {held.lock_id or '(unreadable)'}, not {lock_id!r}: "
                f"it is {held.describe()}; nothing was removed",
                hint=f"check bluegreen --env {self.env} status, then pass the lock ID it shows",
            )
        if held.alive_here():
            raise LockHeldError(
                f"{self.env}: the holder {held.describe()} is still running on this host; not unlocking",
                hint="wait for it, or interrupt it (it restores a safe state itself)",
            )
        delete_parameter(self.ssm, self.name)
        return held

    # -- fencing ---------------------------------------------------------------------------------
    def _hold(self, info: LockInfo) -> None:
        self.info = info
        self._unfence()
        fenced = (self.clients.autoscaling, self.clients.elbv2, self.clients.ssm, self.clients.s3)
        for client in (*fenced, *(c for c in (self.clients.dynamodb,) if c is not None)):
            unique = f"bluegreen-fence-{id(self)}"
            client.meta.events.register("before-parameter-build", self._before_call, unique_id=unique)
            self._fenced.append((client, unique))

    def _unfence(self) -> None:
        for client, unique in self._fenced:
            client.meta.events.unregister("before-parameter-build", unique_id=unique)
        self._fenced = []

    def _before_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if str(model.name).startswith(READ_PREFIXES) or params.get("Name") == self.name:
            return
        self.check()


@contextmanager
def fenced(lock: EnvLock, operation: str, journal: Journal | None = None) -> Iterator[LockInfo]:
    """Hold the lock for a short operation that has nothing to journal beyond its intent (cleanup,
    shutdown, apply): released whatever happens, unless the lock was lost."""
    info = lock.acquire(operation, journal)
    try:
        yield info
    finally:
        lock.release()
