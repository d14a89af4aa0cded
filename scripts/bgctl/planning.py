"""``plan``: what a switch (or any change to an environment root) would do, summary first.

Where Terraform's AWS provider can be installed this is a real ``terraform plan`` of the environment's
root, read as JSON and summarised. Where it cannot (offline machines, the sandbox) it says so in one line
and falls back to the API driver's dry run: the exact rule/listener actions and SSM values the switch
would change, read from the live state.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from bgctl.colorfile import read_active_color
from bgctl.orchestrate import color_health
from bgctl.planguard import parse_plan
from bgctl.plansummary import SwitchSummary, summary_from_dry_run, summary_from_plan
from bgctl.state import EnvState
from bgctl.switching import planned_changes
from bgctl.terraform import TerraformRoot, try_init


@dataclass(frozen=True)
class PlanResult:
    summary: SwitchSummary
    notice: str | None  # set when we fell back to the API dry run


def plan_env(
    st: EnvState,
    envs_dir: Path,
    *,
    color: str | None,
    binary: str,
    plugin_dir: str | None = None,
) -> PlanResult:
    root_dir = envs_dir / st.env
    target = color or read_active_color(root_dir)
    health = color_health(st.colors[target]) if target in st.colors else None
    root = TerraformRoot(root_dir, binary=binary, plugin_dir=plugin_dir)
    available, reason = try_init(root)
    if available:
        with tempfile.TemporaryDirectory(prefix="bluegreen-plan-") as tmp:
            planfile = root.plan_to_file(Path(tmp) / "plan.tfplan", {"active_color": target})
            report = parse_plan(root.show_json(planfile))
            text = root.show_text(planfile)
        return PlanResult(summary_from_plan(st.env, report, text, health=health), None)
    notice = (
        f"terraform plan unavailable here ({reason}): showing the API driver's dry run from the live state"
    )
    changes = planned_changes(st, target, envs_dir)
    summary = summary_from_dry_run(
        st.env, changes, from_color=st.active_color or "?", to_color=target, health=health
    )
    return PlanResult(summary, notice)
