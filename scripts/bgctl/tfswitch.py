"""The Terraform switch driver core: plan the color change, guard it, apply exactly that saved plan.

The caller (the deploy/switch orchestrator) has already written the environment's color file
(``active_color.auto.tfvars.json``); ``plan_switch`` plans with that value, reads the plan as JSON and
refuses it unless it is a pure traffic switch. ``apply_switch`` applies the saved plan and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

from bgctl import COLORS
from bgctl.errors import RefusedError, UsageError
from bgctl.planguard import DEFAULT_POLICY, GuardPolicy, PlanReport, guard, parse_plan
from bgctl.terraform import PlanFile, TerraformRoot

COLOR_FILE = "active_color.auto.tfvars.json"


def read_color_file(root_dir: Path) -> str | None:
    """The color recorded in the root's color file, or None when the root has none."""
    path = Path(root_dir) / COLOR_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("active_color")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise RefusedError(f"{path} is not a JSON object with active_color") from exc
    return str(value) if value is not None else None


def plan_switch(
    root: TerraformRoot, color: str, planfile: Path, policy: GuardPolicy = DEFAULT_POLICY
) -> PlanReport:
    """Plan ``active_color=color`` into ``planfile``, guard it, return the report.

    Raises PlanGuardError (naming every other change) when the plan is more than the switch;
    the saved plan stays on disk for inspection but must not be applied.
    """
    if color not in COLORS:
        raise UsageError(f"unknown color {color!r}: expected blue or green")
    recorded = read_color_file(root.working_dir)
    if recorded is not None and recorded != color:
        raise RefusedError(
            f"{root.working_dir / COLOR_FILE} says {recorded!r} but the switch asked for {color!r}; "
            "nothing was planned",
            hint=f"write {color!r} to the color file first",
        )
    plan = root.plan_to_file(planfile, {"active_color": color})
    report = parse_plan(root.show_json(plan), policy)
    return guard(report)


def apply_switch(root: TerraformRoot, planfile: Path | PlanFile) -> None:
    """Apply exactly the saved (and guarded) plan."""
    root.apply_plan(planfile)
