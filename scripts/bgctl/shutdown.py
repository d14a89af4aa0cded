"""The deliberate-shutdown record: ``/compiler-explorer/{env}/shutdown``, written by ``shutdown`` and
removed by the next successful deploy, so ``status`` and ``validate`` can tell "down on purpose" from
"down"."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bgctl.wiring import param_name


def shutdown_param(env: str) -> str:
    return param_name(env, "shutdown")


@dataclass(frozen=True)
class ShutdownRecord:
    by: str
    at: str
    reason: str

    def describe(self) -> str:
        return f"shut down on purpose by {self.by} at {self.at} ({self.reason})"

    def to_json(self) -> str:
        return json.dumps({"by": self.by, "at": self.at, "reason": self.reason}, sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> ShutdownRecord | None:
        if text is None:
            return None
        try:
            doc = json.loads(text)
            return cls(str(doc.get("by", "?")), str(doc.get("at", "?")), str(doc.get("reason", "")))
        except (json.JSONDecodeError, AttributeError):
            return cls("?", "?", f"unreadable record {text[:60]!r}")
