"""Does a guarded Terraform plan move traffic to exactly the split that was asked for?

The plan guard (``bgctl.planguard``) decides *what* a switch plan may touch: the traffic actions and the
two SSM color parameters. A canary step adds *how*: every planned rule action or listener default
action must forward by the requested ``TrafficSplit`` (a plain forward for weight 0; a weighted forward
to both colors, sticky for the wiring's ``canary.stickiness_seconds``, otherwise), and the color
parameters may only move to the split's active color. A canary step leaves them alone (its active color
does not change); only the final switch moves them.

Input is Terraform's JSON plan (``after`` of each change): an action is ``{"type": "forward",
"target_group_arn": ..., "forward": [{"target_group": [{"arn", "weight"}], "stickiness": [...]}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bgctl.errors import PlanGuardError
from bgctl.planguard import ACTIVE_COLOR_SUFFIX, ACTIVE_TG_SUFFIX, PlanReport
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Wiring

ACTION_ATTRIBUTES = {"rule": "action", "listener": "default_action"}


def _forward_of(actions: Any) -> Mapping[str, Any] | None:
    if not isinstance(actions, list):
        return None
    forwards = [a for a in actions if isinstance(a, Mapping) and a.get("type") == "forward"]
    return forwards[0] if len(forwards) == 1 else None


def color_by_name(arn: str) -> str | None:
    """The color of a target group the module named (``Beta-Blue``, ``Prod-Green``), from its ARN."""
    name = arn.rsplit(":targetgroup/", 1)[-1].split("/", 1)[0]
    color = name.rsplit("-", 1)[-1].lower()
    return color if color in ("blue", "green") and name != arn else None


def planned_split(
    actions: Any, wiring: Wiring | None, *, prefer: str | None = None
) -> tuple[TrafficSplit | None, int | None]:
    """(the split a planned action list forwards by, its stickiness in seconds or None); (None, None)
    when it is not one forward to the environment's own target groups (without a wiring: to target
    groups named like the module's)."""
    color_of = wiring.color_of_target_group if wiring is not None else color_by_name
    forward = _forward_of(actions)
    if forward is None:
        return None, None
    blocks = forward.get("forward") or []
    groups: list[Any] = []
    stickiness: int | None = None
    if blocks and isinstance(blocks[0], Mapping):
        groups = list(blocks[0].get("target_group") or [])
        sticky = (blocks[0].get("stickiness") or [{}])[0]
        if isinstance(sticky, Mapping) and sticky.get("enabled"):
            stickiness = int(sticky.get("duration") or 0)
    if not groups and forward.get("target_group_arn"):
        groups = [{"arn": forward["target_group_arn"], "weight": 1}]
    weights: dict[str, int] = {}
    for group in groups:
        color = color_of(str(group.get("arn") if isinstance(group, Mapping) else ""))
        if color is None:
            return None, None
        weights[color] = weights.get(color, 0) + int(group.get("weight") or 0)
    try:
        return TrafficSplit.from_weights(weights, prefer=prefer), stickiness
    except ValueError:
        return None, None


def planned_move(report: PlanReport) -> tuple[str | None, str | None]:
    """(before, after) of the plan's first traffic action, described (``blue``, ``blue 90% / green
    10%``): what a canary step's plan summary shows, having no color parameter change to read."""
    for tc in report.traffic_changes:
        if tc.kind in ACTION_ATTRIBUTES:
            attribute = ACTION_ATTRIBUTES[tc.kind]
            sides = [
                s.get(attribute) if isinstance(s, Mapping) else None
                for s in (tc.change.before, tc.change.after)
            ]
            before, _ = planned_split(sides[0], None)
            after, _ = planned_split(sides[1], None, prefer=before.active if before else None)
            return (before.describe() if before else None, after.describe() if after else None)
    return None, None


def split_problems(report: PlanReport, wiring: Wiring, split: TrafficSplit) -> list[str]:
    """Every way the report's traffic changes differ from ``split`` ([] when they realise it)."""
    problems: list[str] = []
    for tc in report.traffic_changes:
        change = tc.change
        if tc.kind in ACTION_ATTRIBUTES:
            after = change.after if isinstance(change.after, Mapping) else {}
            found, sticky = planned_split(after.get(ACTION_ATTRIBUTES[tc.kind]), wiring, prefer=split.active)
            if found != split:
                shown = found.describe() if found else "not a forward to this environment's colors"
                problems.append(f"{change.address}: forwards {shown}, not {split.describe()}")
            elif split.canary_weight and sticky != wiring.canary.stickiness_seconds:
                problems.append(
                    f"{change.address}: the weighted forward's stickiness is {sticky or 'off'}, not "
                    f"{wiring.canary.stickiness_seconds}s"
                )
        else:
            name = change.name_attr or ""
            value = _value(change.after)
            if name.endswith(ACTIVE_COLOR_SUFFIX) and value != split.active:
                problems.append(f"{change.address}: sets {value!r}, not {split.active!r}")
            if name.endswith(ACTIVE_TG_SUFFIX) and value != wiring.target_group_arns[split.active]:
                problems.append(f"{change.address}: sets {value!r}, not {split.active}'s target group")
    return problems


def _value(side: Any) -> str | None:
    if not isinstance(side, Mapping):
        return None
    for key in ("insecure_value", "value"):
        if isinstance(side.get(key), str) and side[key]:
            return str(side[key])
    return None


def check_planned_split(report: PlanReport, wiring: Wiring, split: TrafficSplit) -> PlanReport:
    """Return the report when its traffic changes realise ``split``; else raise PlanGuardError."""
    problems = split_problems(report, wiring, split)
    if not problems:
        return report
    raise PlanGuardError(
        f"the plan does not move {wiring.environment}'s traffic to {split.describe()}; nothing was "
        "applied:\n" + "\n".join(f"  - {p}" for p in problems),
        hint="check the color file (active_color, canary_weight) and the module's traffic actions",
    )
