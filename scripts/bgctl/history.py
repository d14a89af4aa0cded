"""Deployment history: one record per finished operation, kept by SSM's parameter history.

Each operation that changed (or tried to change) an environment overwrites
``/compiler-explorer/{env}/history`` with one JSON record when it ends; SSM keeps the previous
versions of a parameter (up to 100), so ``GetParameterHistory`` is the log, newest last, at the cost of
one write per operation and no extra storage to manage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bgctl.aws import aws_errors, put_parameter
from bgctl.wiring import param_name

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

HISTORY_SCHEMA = 1


def history_param(env: str) -> str:
    return param_name(env, "history")


@dataclass(frozen=True)
class HistoryRecord:
    env: str
    operation: str
    outcome: str  # "done" | "undone" | "switched back" | "failed" | "recovered" | "abandoned"
    started: str
    finished: str
    holder: str
    from_traffic: str | None = None
    to_traffic: str | None = None
    version: str | None = None
    duration_s: float | None = None
    detail: str = ""
    id: str = ""
    region: str = ""  # the region acted in (the record itself lives in that region's SSM)
    wave: str = ""  # a multi-region deploy's wave ID: the same on every region's record of that deploy

    def describe(self) -> str:
        move = ""
        if self.from_traffic and self.to_traffic and self.from_traffic != self.to_traffic:
            move = f" {self.from_traffic} -> {self.to_traffic}"
        version = f" {self.version}" if self.version else ""
        took = f" in {self.duration_s:.0f}s" if self.duration_s is not None else ""
        wave = f" (wave {self.wave})" if self.wave else ""
        return f"{self.finished} {self.operation}{version}{move}: {self.outcome}{took} by {self.holder}{wave}"

    def to_json(self) -> str:
        return json.dumps({"schema_version": HISTORY_SCHEMA, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HistoryRecord | None:
        try:
            doc = json.loads(text)
            doc.pop("schema_version", None)
            known = set(cls.__dataclass_fields__)
            return cls(**{k: v for k, v in doc.items() if k in known})
        except (json.JSONDecodeError, TypeError, AttributeError):
            return None


class HistoryStore:
    def __init__(self, ssm: SSMClient, env: str) -> None:
        self.ssm = ssm
        self.env = env
        self.name = history_param(env)

    def append(self, record: HistoryRecord) -> None:
        put_parameter(self.ssm, self.name, record.to_json())

    def recent(self, limit: int = 10) -> list[HistoryRecord]:
        """The last ``limit`` records, newest first (empty when nothing was ever recorded)."""
        from botocore.exceptions import ClientError

        from bgctl.aws import error_code

        records: list[HistoryRecord] = []
        kwargs: dict[str, Any] = {"Name": self.name, "MaxResults": 50}
        with aws_errors(f"ssm:GetParameterHistory {self.name}"):
            while True:
                try:
                    page = self.ssm.get_parameter_history(**kwargs)
                except ClientError as exc:
                    if error_code(exc) == "ParameterNotFound":
                        return []
                    raise
                for item in page.get("Parameters", []):
                    record = HistoryRecord.from_json(item.get("Value", ""))
                    if record is not None:
                        records.append(record)
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return list(reversed(records))[:limit]
