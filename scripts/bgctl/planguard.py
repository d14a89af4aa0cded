"""The plan guard: read a Terraform plan (JSON) and refuse it unless it is a pure traffic switch.

Input is Terraform's documented JSON plan format (``terraform show -json PLANFILE``, format_version
0.x and 1.x): ``resource_changes[].{address, type, name, change: {actions, before, after,
after_unknown}}`` and ``output_changes``.

A pure switch contains only ``["update"]`` actions on the traffic resources named by the policy, each
changing only the attributes the policy allows. ``no-op`` and ``read`` are ignored. Anything else
(create, delete, replace, another type, another attribute) is an "other change" and ``guard`` refuses
the plan, naming every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgctl.errors import PlanGuardError

IGNORED_ACTIONS = (("no-op",), ("read",))
ACTIVE_COLOR_SUFFIX = "/active-color"
ACTIVE_TG_SUFFIX = "/active-target-group-arn"


@dataclass(frozen=True)
class TrafficRule:
    """One kind of resource a switch may update, and the only attributes it may change.

    ``name_suffixes``: when set, the resource's ``name`` (before or after) must end with one of them.
    """

    kind: str  # "rule" | "listener" | "ssm" (or whatever a test policy calls it)
    resource_type: str
    attributes: frozenset[str]
    name_suffixes: tuple[str, ...] = ()

    def matches(self, change: ResourceChange) -> bool:
        if change.type != self.resource_type or change.actions != ("update",):
            return False
        if self.name_suffixes and not (change.name_attr or "").endswith(self.name_suffixes):
            return False
        return bool(change.changed_attributes) and set(change.changed_attributes) <= self.attributes


@dataclass(frozen=True)
class GuardPolicy:
    """What a pure switch may change. ``DEFAULT_POLICY`` is the AWS one; tests may build their own."""

    rules: tuple[TrafficRule, ...]

    def traffic_rule(self, change: ResourceChange) -> TrafficRule | None:
        return next((rule for rule in self.rules if rule.matches(change)), None)


DEFAULT_POLICY = GuardPolicy(
    rules=(
        TrafficRule("rule", "aws_lb_listener_rule", frozenset({"action"})),
        TrafficRule("listener", "aws_lb_listener", frozenset({"default_action"})),
        # `version` is computed: the provider marks it unknown whenever `value` changes.
        TrafficRule(
            "ssm",
            "aws_ssm_parameter",
            frozenset({"value", "insecure_value", "version"}),
            name_suffixes=(ACTIVE_COLOR_SUFFIX, ACTIVE_TG_SUFFIX),
        ),
    )
)


def _has_unknown(value: Any) -> bool:
    """after_unknown mirrors ``after`` with ``true`` at every leaf that is known only after apply."""
    if value is True:
        return True
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def changed_attributes(before: Any, after: Any, after_unknown: Any) -> tuple[str, ...]:
    """Top-level attributes whose value differs or becomes unknown (sorted)."""
    b = before if isinstance(before, Mapping) else {}
    a = after if isinstance(after, Mapping) else {}
    u = after_unknown if isinstance(after_unknown, Mapping) else {}
    names = set(b) | set(a) | set(u)
    changed = {n for n in names if _has_unknown(u.get(n)) or b.get(n) != a.get(n)}
    return tuple(sorted(changed))


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    name: str
    actions: tuple[str, ...]
    before: Any
    after: Any
    changed_attributes: tuple[str, ...]
    replace_paths: tuple[str, ...] = ()

    @property
    def is_replace(self) -> bool:
        return "delete" in self.actions and "create" in self.actions

    @property
    def is_delete(self) -> bool:
        return self.actions == ("delete",)

    @property
    def is_create(self) -> bool:
        return self.actions == ("create",)

    @property
    def is_update(self) -> bool:
        return self.actions == ("update",)

    @property
    def action_label(self) -> str:
        if self.is_replace:
            return "replace"
        return "+".join(self.actions)

    @property
    def name_attr(self) -> str | None:
        """The resource's ``name`` argument (SSM parameter name), after the change if known."""
        for side in (self.after, self.before):
            if isinstance(side, Mapping) and isinstance(side.get("name"), str):
                return str(side["name"])
        return None

    def describe(self) -> str:
        """``address: action (attr, attr)``: one line for refusals and summaries."""
        attrs = ", ".join(self.replace_paths or self.changed_attributes)
        return f"{self.address}: {self.action_label}" + (f" ({attrs})" if attrs else "")


@dataclass(frozen=True)
class OutputChange:
    name: str
    actions: tuple[str, ...]
    before: Any
    after: Any
    after_unknown: bool


@dataclass(frozen=True)
class TrafficResourceChange:
    """A change the policy accepts as part of the switch, with the kind the policy gave it."""

    kind: str
    change: ResourceChange


@dataclass(frozen=True)
class PlanReport:
    format_version: str
    traffic_changes: tuple[TrafficResourceChange, ...]
    other_changes: tuple[ResourceChange, ...]
    output_changes: tuple[OutputChange, ...]
    policy: GuardPolicy = field(default=DEFAULT_POLICY, repr=False)

    @property
    def destroys(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.other_changes if c.is_delete)

    @property
    def replaces(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.other_changes if c.is_replace)

    @property
    def has_destroys(self) -> bool:
        return bool(self.destroys)

    @property
    def has_replaces(self) -> bool:
        return bool(self.replaces)

    @property
    def destroys_or_replaces(self) -> bool:
        return self.has_destroys or self.has_replaces

    @property
    def has_changes(self) -> bool:
        return bool(self.traffic_changes or self.other_changes or self.output_changes)

    @property
    def is_pure_switch(self) -> bool:
        return not self.other_changes

    def colors(self) -> tuple[str | None, str | None]:
        """(from, to) colors: the SSM active-color parameter's values, else an ``active_color`` output."""
        for tc in self.traffic_changes:
            ch = tc.change
            if (ch.name_attr or "").endswith(ACTIVE_COLOR_SUFFIX):
                return _ssm_value(ch.before), _ssm_value(ch.after)
        for out in self.output_changes:
            if out.name == "active_color" and not out.after_unknown:
                return _str_or_none(out.before), _str_or_none(out.after)
        return None, None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ssm_value(side: Any) -> str | None:
    if not isinstance(side, Mapping):
        return None
    for key in ("insecure_value", "value"):
        if isinstance(side.get(key), str) and side[key]:
            return str(side[key])
    return None


def _actions(change: Mapping[str, Any]) -> tuple[str, ...]:
    actions = change.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise PlanGuardError(f"plan JSON: change has no valid actions list: {actions!r}")
    return tuple(actions)


def _replace_paths(change: Mapping[str, Any]) -> tuple[str, ...]:
    paths = change.get("replace_paths") or []
    return tuple(".".join(str(step) for step in path) for path in paths if isinstance(path, list))


def parse_plan(doc: Mapping[str, Any], policy: GuardPolicy = DEFAULT_POLICY) -> PlanReport:
    """Classify every resource change of a JSON plan as traffic (policy allows it) or other."""
    if not isinstance(doc, Mapping) or "format_version" not in doc:
        raise PlanGuardError("not a Terraform JSON plan (no format_version)")
    traffic: list[TrafficResourceChange] = []
    other: list[ResourceChange] = []
    for raw in doc.get("resource_changes") or []:
        change = raw.get("change") or {}
        actions = _actions(change)
        if actions in IGNORED_ACTIONS:
            continue
        rc = ResourceChange(
            address=str(raw.get("address", "?")),
            type=str(raw.get("type", "?")),
            name=str(raw.get("name", "?")),
            actions=actions,
            before=change.get("before"),
            after=change.get("after"),
            changed_attributes=changed_attributes(
                change.get("before"), change.get("after"), change.get("after_unknown")
            ),
            replace_paths=_replace_paths(change),
        )
        rule = policy.traffic_rule(rc)
        if rule is None:
            other.append(rc)
        else:
            traffic.append(TrafficResourceChange(kind=rule.kind, change=rc))
    outputs: list[OutputChange] = []
    for name, change in sorted((doc.get("output_changes") or {}).items()):
        actions = _actions(change)
        if actions in IGNORED_ACTIONS:
            continue
        outputs.append(
            OutputChange(
                name=str(name),
                actions=actions,
                before=change.get("before"),
                after=change.get("after"),
                after_unknown=_has_unknown(change.get("after_unknown")),
            )
        )
    return PlanReport(
        format_version=str(doc["format_version"]),
        traffic_changes=tuple(traffic),
        other_changes=tuple(other),
        output_changes=tuple(outputs),
        policy=policy,
    )


def load_plan(path: Path, policy: GuardPolicy = DEFAULT_POLICY) -> PlanReport:
    """Read a JSON plan file (``terraform show -json`` output) and parse it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanGuardError(f"cannot read plan JSON {path}: {exc}") from exc
    return parse_plan(doc, policy)


def guard(report: PlanReport) -> PlanReport:
    """Return the report if it is a pure switch; else raise PlanGuardError listing every other change."""
    if report.is_pure_switch:
        return report
    lines = [f"  - {c.describe()}" for c in report.other_changes]
    flags = []
    if report.has_destroys:
        flags.append(f"{len(report.destroys)} destroyed")
    if report.has_replaces:
        flags.append(f"{len(report.replaces)} replaced")
    flag = f" ({', '.join(flags)})" if flags else ""
    raise PlanGuardError(
        f"the plan changes more than the traffic switch: {len(report.other_changes)} other "
        f"change(s){flag}; nothing was applied:\n" + "\n".join(lines),
        hint="review and apply those changes on their own (make plan ENV=...), then switch again",
    )
