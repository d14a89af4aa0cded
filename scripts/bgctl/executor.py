"""The real executor of a plan's simple actions: one AWS mutation each (the dry run's counterpart is
``Plan.changes``). Waits, traffic moves, verification and hooks need the runner's state and live there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bgctl.asg import protect_asg, record_version, scale, set_min, unprotect_asg
from bgctl.aws import Clients, delete_parameter, put_parameter
from bgctl.builds import copy_discovery
from bgctl.lock import now_iso, whoami
from bgctl.plan import (
    ClearShutdown,
    CopyDiscovery,
    Protect,
    RecordShutdown,
    RecordVersion,
    Scale,
    SetMin,
    Unprotect,
)
from bgctl.shutdown import ShutdownRecord
from bgctl.wiring import Wiring

Mutation = Callable[[Any, Clients, Wiring], None]


def _copy_discovery(a: CopyDiscovery, clients: Clients, w: Wiring) -> None:
    copy_discovery(clients, w, a.env, a.source_env, a.version)


def _protect(a: Protect, clients: Clients, w: Wiring) -> None:
    protect_asg(clients, a.before.name, a.before.desired)


def _record_version(a: RecordVersion, clients: Clients, w: Wiring) -> None:
    record_version(clients, w, a.color, a.after)


def _scale(a: Scale, clients: Clients, w: Wiring) -> None:
    scale(clients, a.before.name, desired=a.desired, min_size=a.min_size)


def _unprotect(a: Unprotect, clients: Clients, w: Wiring) -> None:
    unprotect_asg(clients, a.before, min_size=a.min_size)


def _set_min(a: SetMin, clients: Clients, w: Wiring) -> None:
    set_min(clients, a.asg, a.after)


def _clear_shutdown(a: ClearShutdown, clients: Clients, w: Wiring) -> None:
    delete_parameter(clients.ssm, a.parameter)


def _record_shutdown(a: RecordShutdown, clients: Clients, w: Wiring) -> None:
    put_parameter(clients.ssm, a.parameter, ShutdownRecord(whoami(), now_iso(), a.reason).to_json())


MUTATIONS: dict[type, Mutation] = {
    CopyDiscovery: _copy_discovery,
    Protect: _protect,
    RecordVersion: _record_version,
    Scale: _scale,
    Unprotect: _unprotect,
    SetMin: _set_min,
    ClearShutdown: _clear_shutdown,
    RecordShutdown: _record_shutdown,
}


def mutate(action: Any, clients: Clients, wiring: Wiring) -> bool:
    """Execute ``action`` if it is a simple mutation; False when the runner must handle it."""
    handler = MUTATIONS.get(type(action))
    if handler is None:
        return False
    handler(action, clients, wiring)
    return True
