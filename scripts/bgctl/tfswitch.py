"""The Terraform switch driver core: plan the color change, guard it, apply exactly that saved plan.

The caller (the deploy/switch orchestrator) has already written the environment's color file
(``active_color.auto.tfvars.json``); ``plan_switch`` plans with that value, reads the plan as JSON and
refuses it unless it is a pure traffic switch. ``apply_switch`` applies the saved plan and nothing else.

A canary step is the same plan with a weight (``canary_weight`` next to ``active_color``): the guard's
policy already limits it to the traffic actions (and the color parameters, which only the final switch
moves); given the wiring, ``plan_switch`` also checks that every planned action forwards by exactly the
requested split and that the color parameters, if they move, move to its active color
(``bgctl.tfweights``).
"""

from __future__ import annotations

from pathlib import Path

from bgctl import COLORS
from bgctl.colorfile import COLOR_FILE, WEIGHT_KEY, color_file, read_active_color, read_split
from bgctl.errors import RefusedError, UsageError
from bgctl.planguard import DEFAULT_POLICY, GuardPolicy, PlanReport, guard, parse_plan
from bgctl.terraform import PlanFile, TerraformRoot
from bgctl.tfweights import check_planned_split
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Wiring


def read_color_file(root_dir: Path) -> str | None:
    """The color recorded in the root's color file, or None when the root has none."""
    if not color_file(Path(root_dir)).is_file():
        return None
    return read_active_color(Path(root_dir))


def plan_switch(
    root: TerraformRoot,
    target: str | TrafficSplit,
    planfile: Path,
    policy: GuardPolicy = DEFAULT_POLICY,
    *,
    wiring: Wiring | None = None,
) -> PlanReport:
    """Plan ``target`` (a color: all traffic to it; or a canary split) into ``planfile``, guard it,
    return the report.

    Raises PlanGuardError (naming every other change) when the plan is more than the switch, or, with
    ``wiring``, when its traffic actions do not forward by ``target``; the saved plan stays on disk for
    inspection but must not be applied.
    """
    if isinstance(target, str):
        if target not in COLORS:
            raise UsageError(f"unknown color {target!r}: expected blue or green")
        target = TrafficSplit.to(target)
    recorded = read_recorded_split(root.working_dir)
    if recorded is not None and recorded != target:
        raise RefusedError(
            f"{root.working_dir / COLOR_FILE} says {recorded.describe()!r} but the switch asked for "
            f"{target.describe()!r}; nothing was planned",
            hint=f"write {target.describe()!r} to the color file first",
        )
    overrides = {"active_color": target.active}
    if target.canary_weight:  # roots without a canary_weight variable still plan a plain switch
        overrides[WEIGHT_KEY] = str(target.canary_weight)
    plan = root.plan_to_file(planfile, overrides)
    report = guard(parse_plan(root.show_json(plan), policy))
    if wiring is not None:
        check_planned_split(report, wiring, target)
    return report


def read_recorded_split(root_dir: Path) -> TrafficSplit | None:
    """The split recorded in the root's color file, or None when the root has none."""
    if not color_file(Path(root_dir)).is_file():
        return None
    return read_split(Path(root_dir))


def apply_switch(root: TerraformRoot, planfile: Path | PlanFile) -> None:
    """Apply exactly the saved (and guarded) plan."""
    root.apply_plan(planfile)
