"""Human summaries of a switch: for the terminal (``make plan``, ``--dry-run``) and for pull requests.

Both switch paths produce the same shape: a Terraform plan (``summary_from_plan``) and the API
driver's dry run (``summary_from_dry_run``, given the exact rule/listener actions and SSM values it
would change). The headline comes first, e.g. "prod: traffic blue -> green (listeners :80 and :443,
SSM active-color and active-target-group-arn), 0 other changes",

then the health of the target color, a loud flag when anything is destroyed or replaced, the traffic
changes, the other changes, and the full plan (folded in the pull-request flavour, which always stays
under GitHub's 65,535-character comment limit by truncating the plan with a pointer to the artifact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bgctl.planguard import PlanReport, ResourceChange, TrafficResourceChange

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "plan_summary.md.j2"
COMMENT_LIMIT = 65_535  # GitHub's maximum comment body
COMMENT_MARGIN = 512  # room for the truncation note and rounding
MAX_LISTED_CHANGES = 100


def comment_marker(env: str) -> str:
    """The hidden marker the workflow uses to find and update an environment's one comment."""
    return f"<!-- bluegreen-plan:{env} -->"


@dataclass(frozen=True)
class TrafficChange:
    """One exact traffic change: a listener rule or listener action, or an SSM parameter value.

    ``label`` is the short name used in the headline (``:443``, ``https``, ``active-color``).
    """

    kind: str  # "rule" | "listener" | "ssm"
    target: str
    before: str
    after: str
    label: str = ""


@dataclass(frozen=True)
class ColorHealth:
    """Health of the color traffic moves to: ``healthy`` of ``total`` instances, or unknown and why."""

    color: str
    healthy: int | None = None
    total: int | None = None
    reason: str = ""

    @classmethod
    def unknown(cls, color: str, reason: str) -> ColorHealth:
        return cls(color=color, reason=reason)

    @property
    def known(self) -> bool:
        return self.healthy is not None and self.total is not None

    @property
    def ok(self) -> bool:
        return self.known and self.total is not None and self.healthy == self.total and self.total > 0

    def describe(self) -> str:
        if self.healthy is None or self.total is None:
            return f"unknown ({self.reason or 'not checked'})"
        return f"{self.healthy}/{self.total} healthy"


@dataclass(frozen=True)
class SwitchSummary:
    env: str
    from_color: str | None
    to_color: str | None
    traffic: tuple[TrafficChange, ...]
    other_changes: tuple[str, ...]
    destroys: tuple[str, ...]
    replaces: tuple[str, ...]
    output_changes: tuple[str, ...]
    health: ColorHealth | None
    plan_text: str
    source: str  # "terraform plan" | "API dry run"

    @property
    def destroys_or_replaces(self) -> bool:
        return bool(self.destroys or self.replaces)

    def headline(self) -> str:
        others = len(self.other_changes)
        tail = f"{others} other change" + ("" if others == 1 else "s")
        moves = bool(self.from_color and self.to_color and self.from_color != self.to_color)
        if not self.traffic and not moves:
            if not others and not self.output_changes:
                stay = f" (traffic stays on {self.from_color})" if self.from_color else ""
                return f"{self.env}: no changes{stay}"
            stay = f", stays on {self.from_color}" if self.from_color else ""
            return f"{self.env}: no traffic change{stay}; {tail}"
        move = f"{self.from_color or '?'} -> {self.to_color or '?'}"
        where = f" ({_where(self.traffic)})" if self.traffic else ""
        return f"{self.env}: traffic {move}{where}, {tail}"


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _where(traffic: Iterable[TrafficChange]) -> str:
    groups: dict[str, list[str]] = {}
    for change in traffic:
        label = change.label or change.target
        if label not in groups.setdefault(change.kind, []):
            groups[change.kind].append(label)
    nouns = {"listener": ("listener", "listeners"), "rule": ("rule", "rules"), "ssm": ("SSM", "SSM")}
    parts = []
    for kind in ("listener", "rule", "ssm", *sorted(set(groups) - {"listener", "rule", "ssm"})):
        labels = groups.get(kind)
        if not labels:
            continue
        one, many = nouns.get(kind, (kind, kind))
        if kind == "listener":
            labels = sorted(labels, key=lambda s: (len(s), s))
        parts.append(f"{many if len(labels) > 1 else one} {_join(labels)}")
    return ", ".join(parts)


# --- from a Terraform plan ---------------------------------------------------------------------------

_INDEX = re.compile(r'\["([^"]+)"\]$')


def _describe_actions(actions: Any) -> str:
    if not isinstance(actions, list) or not actions:
        return "(none)"
    parts = []
    for action in actions:
        if not isinstance(action, Mapping):
            continue
        kind = str(action.get("type", "?"))
        forward = action.get("forward") or []
        groups = forward[0].get("target_group", []) if forward and isinstance(forward[0], Mapping) else []
        if kind == "forward" and action.get("target_group_arn"):
            parts.append(f"forward -> {action['target_group_arn']}")
        elif kind == "forward" and groups:
            weighted = ", ".join(f"{g.get('arn')} (weight {g.get('weight')})" for g in groups)
            parts.append(f"forward -> {weighted}")
        else:
            parts.append(kind)
    return "; ".join(parts) or "(none)"


def _side(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def traffic_change_from_resource(kind: str, change: ResourceChange) -> TrafficChange:
    """Describe one accepted traffic resource change in the shape the API dry run uses."""
    before, after = _side(change.before), _side(change.after)
    index = _INDEX.search(change.address)
    if kind == "listener":
        port = after.get("port") or before.get("port")
        arn = before.get("arn") or change.address
        return TrafficChange(
            "listener",
            f"listener :{port} {arn}",
            _describe_actions(before.get("default_action")),
            _describe_actions(after.get("default_action")),
            label=f":{port}",
        )
    if kind == "rule":
        proto = index.group(1) if index else change.name
        arn = before.get("arn") or change.address
        return TrafficChange(
            "rule",
            f"{proto} rule {arn}",
            _describe_actions(before.get("action")),
            _describe_actions(after.get("action")),
            label=proto,
        )
    if kind == "ssm":
        name = change.name_attr or change.address
        return TrafficChange(
            "ssm",
            f"SSM {name}",
            str(before.get("insecure_value") or before.get("value") or ""),
            str(after.get("insecure_value") or after.get("value") or ""),
            label=name.rsplit("/", 1)[-1],
        )
    attrs = ", ".join(change.changed_attributes)
    return TrafficChange(kind, change.address, f"({attrs})", "(updated)", label=change.address)


def _traffic_from_report(changes: Iterable[TrafficResourceChange]) -> tuple[TrafficChange, ...]:
    return tuple(traffic_change_from_resource(tc.kind, tc.change) for tc in changes)


def summary_from_plan(
    env: str,
    report: PlanReport,
    plan_text: str,
    *,
    health: ColorHealth | None = None,
    from_color: str | None = None,
    to_color: str | None = None,
) -> SwitchSummary:
    """Summary of a Terraform plan; colors come from the plan's SSM active-color unless given, else
    (a canary step, which leaves the color parameters alone) from the traffic actions' forwards."""
    from bgctl.tfweights import planned_move

    plan_from, plan_to = report.colors()
    if plan_from is None and plan_to is None:
        plan_from, plan_to = planned_move(report)
    return SwitchSummary(
        env=env,
        from_color=from_color or plan_from,
        to_color=to_color or plan_to,
        traffic=_traffic_from_report(report.traffic_changes),
        other_changes=tuple(c.describe() for c in report.other_changes),
        destroys=tuple(c.address for c in report.destroys),
        replaces=tuple(c.address for c in report.replaces),
        output_changes=tuple(o.name for o in report.output_changes),
        health=health,
        plan_text=plan_text,
        source="terraform plan",
    )


def summary_from_dry_run(
    env: str,
    traffic: Sequence[TrafficChange],
    *,
    from_color: str,
    to_color: str,
    health: ColorHealth | None = None,
    plan_text: str = "",
) -> SwitchSummary:
    """Summary of the API driver's dry run: exactly the actions and values it would change."""
    return SwitchSummary(
        env=env,
        from_color=from_color,
        to_color=to_color,
        traffic=tuple(traffic),
        other_changes=(),
        destroys=(),
        replaces=(),
        output_changes=(),
        health=health,
        plan_text=plan_text,
        source="API dry run",
    )


# --- rendering ---------------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _render(
    summary: SwitchSummary,
    *,
    markdown: bool,
    plan_text: str,
    truncated: bool = False,
    artifact_url: str = "",
    artifact_name: str = "",
) -> str:
    shown = summary.other_changes[:MAX_LISTED_CHANGES]
    template = _environment().get_template(TEMPLATE)
    return (
        template.render(
            markdown=markdown,
            marker=comment_marker(summary.env),
            s=summary,
            headline=summary.headline(),
            other_shown=shown,
            other_hidden=len(summary.other_changes) - len(shown),
            plan_text=plan_text.rstrip("\n"),
            plan_lines=summary.plan_text.count("\n") + (1 if summary.plan_text else 0),
            fence=_fence(plan_text),
            truncated=truncated,
            artifact_url=artifact_url,
            artifact_name=artifact_name,
        ).rstrip("\n")
        + "\n"
    )


def render_summary(summary: SwitchSummary) -> str:
    """The terminal flavour: headline first, then health, flags, changes and the full plan."""
    return _render(summary, markdown=False, plan_text=summary.plan_text)


def _truncate_lines(text: str, budget: int) -> str:
    if budget <= 0:
        return ""
    cut = text[:budget]
    return cut[: cut.rfind("\n")] if "\n" in cut else cut


def render_pr_comment(
    summary: SwitchSummary,
    *,
    artifact_url: str,
    artifact_name: str = "the plan artifact",
    limit: int = COMMENT_LIMIT,
) -> str:
    """The pull-request flavour (markdown, full plan folded); always shorter than ``limit``."""
    kwargs: dict[str, Any] = {"markdown": True, "artifact_url": artifact_url, "artifact_name": artifact_name}
    body = _render(summary, plan_text=summary.plan_text, **kwargs)
    if len(body) < limit:
        return body
    skeleton = _render(summary, plan_text="", truncated=True, **kwargs)
    budget = limit - len(skeleton) - COMMENT_MARGIN
    while True:
        text = _truncate_lines(summary.plan_text, budget)
        body = _render(summary, plan_text=text, truncated=True, **kwargs)
        if len(body) < limit or budget <= 0:
            return body if len(body) < limit else body[: limit - 1]
        budget -= len(body) - limit + COMMENT_MARGIN
