"""``plan``: what a switch (or any change to an environment root) would do, summary first.

Where Terraform's AWS provider can be installed this is a real ``terraform plan`` of the environment's
root, read as JSON and summarised. Where it cannot (offline machines, the sandbox) it says so in one line
and falls back to the API driver's dry run: the exact rule/listener actions and SSM values the switch
would change, read from the live state.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bgctl.colorfile import COLOR_FILE, read_active_color, read_split
from bgctl.context import Context, Outcome
from bgctl.errors import RefusedError, TerraformError
from bgctl.gate import color_health
from bgctl.lock import EnvLock, fenced
from bgctl.mergerule import TrafficPermission, check_merge_plan
from bgctl.operations.switch import plan_switch, switch
from bgctl.planguard import PlanReport, parse_plan
from bgctl.plansummary import SwitchSummary, summary_from_dry_run, summary_from_plan
from bgctl.state import EnvState
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
    env: Mapping[str, str] | None = None,
) -> PlanResult:
    root_dir = envs_dir / st.env
    target = color or read_active_color(root_dir)
    health = color_health(st.colors[target]) if target in st.colors else None
    root = TerraformRoot(root_dir, binary=binary, plugin_dir=plugin_dir, env=env)
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
    # Read-only: a held lock does not stop anyone from looking at the plan.
    changes = plan_switch(st, target, own_token=st.lock.token if st.lock else None).changes(envs_dir)
    summary = summary_from_dry_run(
        st.env, changes, from_color=st.active_color or "?", to_color=target, health=health
    )
    return PlanResult(summary, notice)


@dataclass(frozen=True)
class ApplyDecision:
    action: str  # "noop" | "switch" | "apply"
    reason: str


def decide_apply(report: PlanReport, *, allow_destroy: bool = False) -> ApplyDecision:
    """What merging a reviewed change to an environment root may do.

    A pure switch goes through the gated switch; infrastructure changes that leave traffic alone are
    applied as planned (destroys and replaces only with ``allow_destroy``); a plan that mixes both is
    refused, so a switch never rides along with unreviewed-looking infrastructure changes.
    """
    others = report.other_changes
    if report.traffic_changes and others:
        listed = ", ".join(c.describe() for c in others[:5]) + (" …" if len(others) > 5 else "")
        raise RefusedError(
            f"the plan mixes a traffic switch with {len(others)} other change(s): {listed}",
            hint="split it: merge the infrastructure change first, then the color file change",
        )
    if report.traffic_changes:
        return ApplyDecision("switch", "the plan is a pure traffic switch: applying it between health gates")
    if not others:
        if report.output_changes:
            return ApplyDecision("apply", "only outputs change; traffic untouched")
        return ApplyDecision("noop", "no changes")
    if report.destroys_or_replaces and not allow_destroy:
        gone = [c.address for c in (*report.replaces, *report.destroys)]
        raise RefusedError(
            f"the plan destroys or replaces {len(gone)} resource(s): {', '.join(gone[:5])}",
            hint="review the plan, then re-run with --allow-destroy",
        )
    return ApplyDecision("apply", f"{len(others)} infrastructure change(s); traffic untouched")


def apply_root(
    ctx: Context,
    root: TerraformRoot,
    *,
    allow_destroy: bool = False,
    permission: TrafficPermission | None = None,
) -> Outcome:
    """Apply the environment root as committed: the merge-to-main path of the review workflow.

    With ``permission`` (the merge-time rule: did this push change the color file?), a plan that would
    move traffic without it is refused as drift before anything is touched. The plan is made once;
    what is applied is exactly that saved plan (under the lock), or the gated switch it describes.
    """
    ok, reason = try_init(root)
    if not ok:
        raise TerraformError(f"cannot apply {ctx.env}: {reason}")
    color = read_active_color(root.working_dir)
    notes = [permission.reason] if permission is not None else []
    with tempfile.TemporaryDirectory(prefix="bluegreen-apply-") as tmp:
        planfile = root.plan_to_file(Path(tmp) / "apply.tfplan")
        report = parse_plan(root.show_json(planfile))
        if permission is not None:
            check_merge_plan(report, permission)
        decision = decide_apply(report, allow_destroy=allow_destroy)
        if decision.action == "switch":
            check_no_canary_weight(root.working_dir)
            outcome = switch(ctx, color)
            outcome.notes[:0] = notes
            return outcome
        if decision.action == "apply":
            lock = EnvLock(ctx.clients, ctx.env)
            with fenced(lock, "apply"):
                lock.check()
                root.apply_plan(planfile)
    return Outcome(ctx.env, "apply", notes=[*notes, decision.reason])


def check_no_canary_weight(root_dir: Path) -> None:
    """A merge moves traffic only by the gated switch: a canary weight in the committed color file is
    refused (canary steps run through ``deploy --canary``, which bakes and records each step)."""
    split = read_split(root_dir)
    if split.canary_weight:
        raise RefusedError(
            f"{root_dir / COLOR_FILE} asks for a canary split ({split.describe()}); a merge only switches "
            "between health gates and nothing was applied",
            hint="run canaries with `deploy VERSION --canary W1,W2`; commit the color without canary_weight",
        )
