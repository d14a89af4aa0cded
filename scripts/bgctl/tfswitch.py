"""The Terraform switch driver core: plan the color change, guard it, apply exactly that saved plan.

The caller (the deploy/switch orchestrator) has already written the environment's color file
(``active_color.auto.tfvars.json``); ``plan_switch`` plans with that value, reads the plan as JSON and
refuses it unless it is a pure traffic switch. ``apply_switch`` applies the saved plan and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from bgctl import COLORS
from bgctl.colorfile import COLOR_FILE, color_file, read_active_color
from bgctl.errors import RefusedError, UsageError
from bgctl.planguard import DEFAULT_POLICY, GuardPolicy, PlanReport, guard, parse_plan
from bgctl.terraform import PlanFile, TerraformRoot


def read_color_file(root_dir: Path) -> str | None:
    """The color recorded in the root's color file, or None when the root has none."""
    if not color_file(Path(root_dir)).is_file():
        return None
    return read_active_color(Path(root_dir))


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
