"""ASG and SSM mutations, each one idempotent call with one job. The runner composes them."""

from __future__ import annotations

from bgctl.aws import Clients, aws_errors, put_parameter
from bgctl.bootcontract import record_color_build
from bgctl.journal import AsgSnapshot
from bgctl.state import ColorState
from bgctl.wiring import Wiring, active_color_param, active_tg_param

# Suspending these stops target tracking / step policies (alarms), scheduled actions and AZ
# rebalancing from changing the active group's size while we work. Terraform ignores
# suspended_processes and min_size, so the protection never shows as plan drift.
PROTECT_PROCESSES = ("AlarmNotification", "ScheduledActions", "AZRebalance")


def snapshot(cs: ColorState) -> AsgSnapshot:
    return AsgSnapshot(
        name=cs.asg_name, min_size=cs.min_size, desired=cs.desired, suspended=tuple(cs.suspended)
    )


def protect_asg(clients: Clients, asg_name: str, pin_min: int) -> None:
    """No scale-in or scale-out while we work: suspend scaling processes, pin min to its size."""
    with aws_errors(f"autoscaling:SuspendProcesses {asg_name}"):
        clients.autoscaling.suspend_processes(
            AutoScalingGroupName=asg_name, ScalingProcesses=list(PROTECT_PROCESSES)
        )
    set_min(clients, asg_name, pin_min)


def unprotect_asg(clients: Clients, snap: AsgSnapshot, *, min_size: int | None = None) -> None:
    """Lift protection: resume what we suspended (not what was suspended before us), set min."""
    ours = [p for p in PROTECT_PROCESSES if p not in snap.suspended]
    if ours:
        with aws_errors(f"autoscaling:ResumeProcesses {snap.name}"):
            clients.autoscaling.resume_processes(AutoScalingGroupName=snap.name, ScalingProcesses=ours)
    with aws_errors(f"autoscaling:UpdateAutoScalingGroup {snap.name}"):
        clients.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=snap.name, MinSize=snap.min_size if min_size is None else min_size
        )


def scale(clients: Clients, asg_name: str, *, desired: int, min_size: int) -> None:
    with aws_errors(f"autoscaling:UpdateAutoScalingGroup {asg_name}"):
        clients.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=asg_name, MinSize=min_size, DesiredCapacity=desired
        )


def set_min(clients: Clients, asg_name: str, min_size: int) -> None:
    with aws_errors(f"autoscaling:UpdateAutoScalingGroup {asg_name}"):
        clients.autoscaling.update_auto_scaling_group(AutoScalingGroupName=asg_name, MinSize=min_size)


def record_version(clients: Clients, wiring: Wiring, color: str, version: str | None) -> None:
    """Record the version ``color`` boots (only that color: the other keeps booting its own): its SSM
    version parameter and, with the ``version_key`` boot contract, the S3 object its instances read
    (``bgctl.bootcontract``, docs/BOOT-CONTRACT.md). ``None`` (an undo to a color that had no version)
    removes that object, so the color boots the live build again."""
    put_parameter(clients.ssm, wiring.version_parameters[color], version or "none")
    record_color_build(clients, wiring, color, version)


def record_active(clients: Clients, wiring: Wiring, color: str) -> None:
    """Mirror the active color into the two SSM parameters Terraform also writes."""
    put_parameter(clients.ssm, active_color_param(wiring.environment), color)
    put_parameter(clients.ssm, active_tg_param(wiring.environment), wiring.target_group_arns[color])
