"""The deployment journal: a durable record in SSM of a mutating operation's progress.

Every step that changes AWS writes what it changed (and what it was before) *before* moving on, so an
operation killed outright (kill -9, a lost machine) can be completed or undone by ``recover`` from any
machine. The journal lives beside the lock: ``/compiler-explorer/{env}/journal``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bgctl.aws import delete_parameter, get_parameter, put_parameter
from bgctl.lock import now_iso, whoami
from bgctl.wiring import param_name

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


def journal_param(env: str) -> str:
    return param_name(env, "journal")


@dataclass
class AsgSnapshot:
    """What an ASG looked like before we touched it."""

    name: str
    min_size: int
    desired: int
    suspended: list[str] = field(default_factory=list)


@dataclass
class Journal:
    env: str
    operation: str
    from_color: str
    to_color: str
    lock_token: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    holder: str = field(default_factory=whoami)
    started: str = field(default_factory=now_iso)
    step: str = "prepare"
    version: str | None = None
    previous_version: str | None = None  # the target color's version before we recorded ours
    via: str = "api"
    protected: AsgSnapshot | None = None  # the active ASG before protection
    inactive: AsgSnapshot | None = None  # the target ASG before scaling
    traffic_switched: bool = False
    done_steps: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Journal:
        doc = dict(doc)
        for key in ("protected", "inactive"):
            if doc.get(key) is not None:
                doc[key] = AsgSnapshot(**doc[key])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})


class JournalStore:
    def __init__(self, ssm: SSMClient, env: str) -> None:
        self.ssm = ssm
        self.env = env
        self.name = journal_param(env)

    def load(self) -> Journal | None:
        text = get_parameter(self.ssm, self.name)
        if text is None:
            return None
        return Journal.from_dict(json.loads(text))

    def save(self, journal: Journal, step: str | None = None) -> None:
        if step is not None:
            journal.step = step
            if step not in journal.done_steps:
                journal.done_steps.append(step)
        put_parameter(self.ssm, self.name, journal.to_json(), overwrite=True)

    def close(self) -> None:
        delete_parameter(self.ssm, self.name)
