"""``validate``: every problem with an environment's setup, each with the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from bgctl import COLORS, other_color
from bgctl.asg import PROTECT_PROCESSES
from bgctl.aws import Clients, error_code
from bgctl.capacity import CapacityPolicy
from bgctl.errors import AwsError
from bgctl.state import EnvState, StateReader


@dataclass(frozen=True)
class Problem:
    message: str
    fix: str


def _tg_exists(clients: Clients, arn: str) -> bool:
    try:
        clients.elbv2.describe_target_groups(TargetGroupArns=[arn])
    except ClientError as exc:
        if error_code(exc) in ("TargetGroupNotFound", "ValidationError"):
            return False
        raise AwsError(f"elbv2:DescribeTargetGroups failed: {error_code(exc)}", code=error_code(exc)) from exc
    return True


def problems_of(st: EnvState, clients: Clients) -> list[Problem]:  # noqa: PLR0912 (one check per line)
    env = st.env
    cli = f"bluegreen --env {env}{st.region_flag}"
    region = st.region_flag.removeprefix(" --region ")
    apply = f"terraform -chdir=terraform/envs{'-' + region if region else ''}/{env} apply"
    if st.wiring is None:
        return [
            Problem(
                st.wiring_error or "wiring missing", f"{apply} (publishes /compiler-explorer/{env}/wiring)"
            )
        ]
    w = st.wiring
    found: list[Problem] = []
    for color in COLORS:
        cs = st.colors[color]
        if not _tg_exists(clients, cs.target_group_arn):
            found.append(Problem(f"{color} target group {cs.target_group_arn} does not exist", apply))
        if not cs.asg_exists:
            found.append(Problem(f"{color} ASG {cs.asg_name} does not exist", apply))
        ours = sorted(set(cs.suspended) & set(PROTECT_PROCESSES))
        if ours and not st.journal:
            found.append(
                Problem(
                    f"{color} ASG {cs.asg_name} still has scaling protection ({', '.join(ours)} suspended)",
                    f"aws autoscaling resume-processes --auto-scaling-group-name {cs.asg_name} "
                    f"--scaling-processes {' '.join(ours)}",
                )
            )
    for where in st.routing.missing:
        found.append(Problem(f"{where} of {env} not found on the load balancer", apply))
    split = st.routing.split
    lb = split.active if split else None
    if not st.routing.missing and split is None and st.routing.routes:
        found.append(
            Problem(f"load balancer routes inconsistently: {st.routing.describe()}", f"{cli} switch COLOR")
        )
    if st.ssm_color is None:
        found.append(Problem("SSM active-color parameter is missing", apply))
    elif lb and st.ssm_color != lb:
        found.append(
            Problem(
                f"SSM active-color says {st.ssm_color} but the load balancer routes to "
                f"{split.describe() if split else lb}",
                f"{cli} switch {lb}  (records what actually serves), "
                f"or {cli} switch {st.ssm_color} to move traffic",
            )
        )
    if st.ssm_color and st.ssm_tg_arn != w.target_group_arns.get(st.ssm_color):
        found.append(
            Problem(
                "SSM active-target-group-arn does not match active-color",
                f"{cli} switch {lb or st.ssm_color}",
            )
        )
    if st.file_color is None:
        found.append(
            Problem(
                f"terraform/envs/{env}/active_color.auto.tfvars.json missing or invalid",
                f'write {{"active_color": "{lb or "blue"}"}} to it and commit',
            )
        )
    elif split and st.file_split != split:
        found.append(
            Problem(
                f"committed color file says {st.file_split.describe() if st.file_split else '?'} but the "
                f"load balancer routes to {split.describe()} (a terraform apply would move traffic)",
                f'set active_color to "{lb}" in terraform/envs/{env}/active_color.auto.tfvars.json '
                "and commit, "
                f"or {cli} switch {st.file_color}",
            )
        )
    lock = st.lock
    if lock is not None and lock.alive_here() is not True:
        if lock.journal is not None:
            found.append(
                Problem(
                    f"unfinished {lock.journal.describe()} since {lock.since} by {lock.holder}"
                    + (" (its process is gone)" if lock.alive_here() is False else " (on another host)"),
                    f"{cli} recover",
                )
            )
        else:
            found.append(
                Problem(
                    f"lock {lock.lock_id or '(unreadable)'} held by {lock.describe()} with no journal",
                    f"{cli} recover --force-unlock {lock.lock_id or 'LOCK_ID'} (if that process is gone)",
                )
            )
    active = lb or st.ssm_color
    if active and not st.shutdown:
        cs = st.colors[active]
        if cs.asg_exists and cs.asg_healthy == 0:
            found.append(
                Problem(
                    f"active color {active} has no healthy instances: {env} is down",
                    f"{cli} deploy VERSION (or {cli} rollback)",
                )
            )
        if active and cs.version is None:
            found.append(Problem(f"no version recorded for active color {active}", f"{cli} deploy VERSION"))
    if active and lock is None and not st.shutdown:
        found += _capacity_problems(st, active, cli)
    return found


def _capacity_problems(st: EnvState, active: str, cli: str) -> list[Problem]:
    """The capacity rule: the serving color's min at least the floor; a warm standby held (min=desired)."""
    found: list[Problem] = []
    policy = CapacityPolicy.of(st.wiring) if st.wiring else None
    serving, standby = st.colors[active], st.colors[other_color(active)]
    if policy and serving.asg_exists and serving.min_size < policy.floor:
        found.append(
            Problem(
                f"serving color {active} has min {serving.min_size}, below the {policy.floor} healthy "
                f"instance(s) {st.env} needs: its scaling policies may take it lower",
                f"aws autoscaling update-auto-scaling-group --auto-scaling-group-name {serving.asg_name} "
                f"--min-size {policy.serving_min}",
            )
        )
    if standby.asg_exists and standby.desired > 0 and standby.min_size < standby.desired:
        found.append(
            Problem(
                f"standby {standby.color} is not held for rollback (min {standby.min_size} < desired "
                f"{standby.desired}): its scaling policies may scale it in while it carries no traffic",
                f"aws autoscaling update-auto-scaling-group --auto-scaling-group-name {standby.asg_name} "
                f"--min-size {standby.desired} (or {cli} cleanup to let it go)",
            )
        )
    return found


def validate_env(clients: Clients, reader: StateReader, env: str) -> list[Problem]:
    from bgctl.gitdrift import drift_for_state

    st = reader.read_one(env)
    found = problems_of(st, clients)
    git = drift_for_state(reader.envs_dir, st)
    if git is not None and git.drifted:
        found.append(Problem(f"{git.kind}: {git.message}", git.fix_text or f"commit {git.env}'s color file"))
    return found
