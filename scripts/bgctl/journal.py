"""The deployment journal: what a mutating operation is doing, durable in SSM while it runs.

The journal travels *inside the lock record* (``/compiler-explorer/{env}/lock``, see ``bgctl.lock``): the
lock is taken with the journal already in it, so taking the lock and writing ahead what the operation
intends is one atomic SSM write. The journal holds everything needed to finish or undo the operation
from any machine after a kill -9:

- ``from_split`` / ``intended``: where traffic was, and where it is being moved (written *before* every
  traffic move, switch-backs included: a switch-back rewrites ``intended`` and adds the color it
  rejected to ``rejected``, which no later step may ever complete onto);
- ``protected`` / ``inactive``: the two ASGs as they were before the operation touched them, so an undo
  restores exactly that (every step is idempotent, so no per-step progress needs recording);
- ``version`` / ``previous_version``: the build being deployed and what the target color recorded before.

Format: ``schema_version`` 2 (see CHANGELOG.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from bgctl.traffic import TrafficSplit

JOURNAL_SCHEMA = 2


@dataclass(frozen=True)
class AsgSnapshot:
    """What an ASG looked like before we touched it."""

    name: str
    min_size: int
    desired: int
    suspended: tuple[str, ...] = ()

    def to_doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "min_size": self.min_size,
            "desired": self.desired,
            "suspended": list(self.suspended),
        }

    @classmethod
    def from_doc(cls, doc: Any) -> AsgSnapshot | None:
        if not doc:
            return None
        return cls(
            name=str(doc["name"]),
            min_size=int(doc["min_size"]),
            desired=int(doc["desired"]),
            suspended=tuple(str(p) for p in doc.get("suspended", ())),
        )


def _split_or_none(doc: Any) -> TrafficSplit | None:
    return TrafficSplit.from_doc(doc) if doc else None


@dataclass(frozen=True)
class Journal:
    """One operation's intent and the state it must restore; immutable (each change is a new value)."""

    env: str
    operation: str
    from_split: TrafficSplit | None = None
    intended: TrafficSplit | None = None
    target_color: str | None = None
    version: str | None = None
    previous_version: str | None = None
    protected: AsgSnapshot | None = None
    inactive: AsgSnapshot | None = None
    rejected: tuple[str, ...] = ()
    via: str = "api"
    stamp: str = ""  # when the operation was decided (release hooks write it, so re-runs match)
    canary: tuple[int, ...] = ()  # the canary's weights, if the operation shifts traffic in steps
    bake_until: str = ""  # the current bake's end (status shows the time left)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def moves_traffic(self) -> bool:
        return self.intended is not None and self.intended != self.from_split

    def switching_back(self, rejected: str) -> Journal:
        """The write-ahead record of a switch-back: traffic returns to where it was; ``rejected`` is
        never completed onto."""
        return replace(self, intended=self.from_split, rejected=(*self.rejected, rejected))

    def describe(self) -> str:
        """One line: what this operation does."""
        parts = [self.operation]
        if self.version:
            parts.append(self.version)
        if self.from_split and self.intended and self.from_split != self.intended:
            parts.append(f"({self.from_split.describe()} -> {self.intended.describe()})")
        elif self.rejected and self.intended:
            parts.append(f"(switching back to {self.intended.describe()})")
        elif self.target_color:
            parts.append(f"({self.target_color})")
        if self.rejected:
            parts.append(f"[rejected {', '.join(self.rejected)}]")
        return " ".join(parts)

    def to_doc(self) -> dict[str, Any]:
        return {
            "schema_version": JOURNAL_SCHEMA,
            "id": self.id,
            "env": self.env,
            "operation": self.operation,
            "from": self.from_split.to_doc() if self.from_split else None,
            "intended": self.intended.to_doc() if self.intended else None,
            "target_color": self.target_color,
            "version": self.version,
            "previous_version": self.previous_version,
            "protected": self.protected.to_doc() if self.protected else None,
            "inactive": self.inactive.to_doc() if self.inactive else None,
            "rejected": list(self.rejected),
            "via": self.via,
            "stamp": self.stamp,
            "canary": list(self.canary),
            "bake_until": self.bake_until,
        }

    @classmethod
    def from_doc(cls, doc: Any) -> Journal:
        """Parse a journal; ValueError (naming what is wrong) for anything malformed."""
        if not isinstance(doc, dict):
            raise ValueError("journal is not a JSON object")  # noqa: TRY004 (a parse error, like the rest)
        if doc.get("schema_version") != JOURNAL_SCHEMA:
            raise ValueError(f"journal schema_version {doc.get('schema_version')!r} is not {JOURNAL_SCHEMA}")
        try:
            return cls(
                env=str(doc["env"]),
                operation=str(doc["operation"]),
                from_split=_split_or_none(doc.get("from")),
                intended=_split_or_none(doc.get("intended")),
                target_color=doc.get("target_color"),
                version=doc.get("version"),
                previous_version=doc.get("previous_version"),
                protected=AsgSnapshot.from_doc(doc.get("protected")),
                inactive=AsgSnapshot.from_doc(doc.get("inactive")),
                rejected=tuple(str(c) for c in doc.get("rejected", ())),
                via=str(doc.get("via", "api")),
                stamp=str(doc.get("stamp", "")),
                canary=tuple(int(w) for w in doc.get("canary", ())),
                bake_until=str(doc.get("bake_until", "")),
                id=str(doc.get("id", "")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"journal lacks or mistypes {exc}") from exc
