"""Read what an environment is doing, for many environments at once, in batched AWS calls.

The call count grows with environments, not instances: SSM parameters are read ten at a time, one
``DescribeAutoScalingGroups`` call covers fifty groups, rules and listeners are described in batches,
and target health (the one per-target-group call) is queried concurrently.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bgctl import COLORS, other_color
from bgctl.aws import Clients, aws_errors, chunks, error_code, get_parameters, paginate
from bgctl.colorfile import read_split
from bgctl.errors import AwsError, WiringError
from bgctl.health import HttpChecker, HttpResult, Target
from bgctl.history import HistoryRecord, history_param
from bgctl.journal import Journal
from bgctl.lock import LockInfo, lock_param, parse_lock
from bgctl.regions import flag_of
from bgctl.shutdown import ShutdownRecord, shutdown_param
from bgctl.traffic import Routing, TrafficSplit, carriers, split_of_actions
from bgctl.wiring import (
    Wiring,
    active_color_param,
    active_tg_param,
    param_name,
    parse_wiring,
    version_param,
    wiring_param,
)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    private_ip: str | None
    lifecycle_state: str
    asg_health: str
    target_health: str | None  # None: not registered in the target group
    target_reason: str | None
    http: HttpResult

    @property
    def in_service_healthy(self) -> bool:
        return self.lifecycle_state == "InService" and self.asg_health == "Healthy"


@dataclass(frozen=True)
class ColorState:
    color: str
    asg_name: str
    target_group_arn: str
    asg_exists: bool
    tg_exists: bool
    desired: int = 0
    min_size: int = 0
    max_size: int = 0
    suspended: tuple[str, ...] = ()
    instances: tuple[Instance, ...] = ()
    version: str | None = None
    # Target health as the load balancer reports it, per registered target id.
    targets: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def asg_healthy(self) -> int:
        return sum(1 for i in self.instances if i.in_service_healthy)

    @property
    def tg_total(self) -> int:
        return len(self.targets)

    @property
    def tg_healthy(self) -> int:
        return sum(1 for state, _ in self.targets.values() if state == "healthy")

    @property
    def tg_unused(self) -> int:
        return sum(1 for state, _ in self.targets.values() if state == "unused")

    @property
    def http_results(self) -> list[HttpResult]:
        return [i.http for i in self.instances if i.lifecycle_state == "InService"]

    @property
    def http_ok(self) -> int:
        return sum(1 for r in self.http_results if r.ok)

    @property
    def http_skip_reason(self) -> str | None:
        skipped = [r.detail for r in self.http_results if r.skipped]
        return skipped[0] if skipped else None

    @property
    def empty(self) -> bool:
        return self.desired == 0 and self.min_size == 0 and not self.instances


@dataclass(frozen=True)
class EnvState:
    env: str
    wiring: Wiring | None
    wiring_error: str | None
    ssm_color: str | None
    ssm_tg_arn: str | None
    file_split: TrafficSplit | None
    routing: Routing
    colors: dict[str, ColorState]
    lock: LockInfo | None
    shutdown: ShutdownRecord | None
    last: HistoryRecord | None = None
    canary_request: str | None = None  # an operator's promote/abort for a baking canary (bgctl.canary)
    region_flag: str = ""  # " --region R" outside the environment's home region: hints name it (issue 17)

    @property
    def journal(self) -> Journal | None:
        """The journal of the operation holding the lock (running, or dead and waiting for recover)."""
        return self.lock.journal if self.lock else None

    @property
    def file_color(self) -> str | None:
        return self.file_split.active if self.file_split else None

    @property
    def split(self) -> TrafficSplit | None:
        """Where the load balancer sends traffic (one value for every carrier), else None."""
        return self.routing.split

    @property
    def active_color(self) -> str | None:
        """The color traffic reaches (a canary's base): the load balancer's, else what SSM records."""
        split = self.routing.split
        return split.active if split else self.ssm_color

    @property
    def inactive_color(self) -> str | None:
        active = self.active_color
        return None if active is None else other_color(active)

    @property
    def drift(self) -> list[str]:
        """Human-readable disagreements between the color file, SSM and the load balancer."""
        found: list[str] = []
        lb = self.routing.split
        if self.routing.missing:
            found.append(f"load balancer: {', '.join(self.routing.missing)} not found")
        elif lb is None and self.routing.routes:
            found.append(f"load balancer routes inconsistently ({self.routing.describe()})")
        if self.ssm_color and lb and self.ssm_color != lb.active:
            found.append(f"SSM says {self.ssm_color} but the load balancer routes to {lb.describe()}")
        if self.wiring and self.ssm_color and self.ssm_tg_arn:
            expected = self.wiring.target_group_arns.get(self.ssm_color)
            if expected != self.ssm_tg_arn:
                found.append("SSM active-target-group-arn does not match SSM active-color")
        if self.file_split and lb and self.file_split != lb:
            found.append(
                f"committed color file says {self.file_split.describe()} but the load balancer routes "
                f"to {lb.describe()}"
            )
        if self.ssm_color is None and self.wiring is not None:
            found.append("SSM active-color parameter is missing")
        return found


class StateReader:
    """Reads EnvState for a set of environments with batched calls."""

    def __init__(self, clients: Clients, checker: HttpChecker, *, envs_dir: Path) -> None:

        self.clients = clients
        self.checker = checker
        self.envs_dir = envs_dir

    # -- batches -----------------------------------------------------------------------------------
    def _parameters(self, envs: list[str]) -> dict[str, str]:
        names: list[str] = []
        for env in envs:
            names += [wiring_param(env), active_color_param(env), active_tg_param(env)]
            names += [
                lock_param(env),
                shutdown_param(env),
                history_param(env),
                param_name(env, "canary-request"),
            ]
            names += [version_param(env, c) for c in COLORS]
        return get_parameters(self.clients.ssm, names)

    def _groups(self, names: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(names, 50):
            with aws_errors("autoscaling:DescribeAutoScalingGroups"):
                groups = paginate(
                    self.clients.autoscaling,
                    "describe_auto_scaling_groups",
                    "AutoScalingGroups",
                    AutoScalingGroupNames=batch,
                )
            found.update({g["AutoScalingGroupName"]: g for g in groups})
        return found

    def _addresses(self, instance_ids: list[str]) -> dict[str, str | None]:
        addresses: dict[str, str | None] = {}
        for batch in chunks(instance_ids, 500):
            try:
                reservations = paginate(
                    self.clients.ec2, "describe_instances", "Reservations", InstanceIds=batch
                )
            except ClientError as exc:
                if error_code(exc) == "InvalidInstanceID.NotFound":
                    continue  # terminated between the two calls: no address to show
                raise AwsError(
                    f"ec2:DescribeInstances failed: {error_code(exc)}", code=error_code(exc)
                ) from exc
            for reservation in reservations:
                for inst in reservation.get("Instances", []):
                    addresses[inst["InstanceId"]] = inst.get("PrivateIpAddress")
        return addresses

    def _target_health(self, arn: str) -> dict[str, tuple[str, str | None]] | None:
        """Target id -> (state, reason); None when the target group does not exist."""
        try:
            resp = self.clients.elbv2.describe_target_health(TargetGroupArn=arn)
        except ClientError as exc:
            if error_code(exc) == "TargetGroupNotFound":
                return None
            raise AwsError(
                f"elbv2:DescribeTargetHealth failed: {error_code(exc)}", code=error_code(exc)
            ) from exc
        result: dict[str, tuple[str, str | None]] = {}
        for desc in resp.get("TargetHealthDescriptions", []):
            health = desc.get("TargetHealth", {})
            result[desc["Target"]["Id"]] = (str(health.get("State", "unknown")), health.get("Reason"))
        return result

    def _describe(self, kind: str, arns: list[str]) -> list[Any]:
        elb = self.clients.elbv2
        if kind == "rule":
            return list(elb.describe_rules(RuleArns=arns)["Rules"])
        return list(elb.describe_listeners(ListenerArns=arns)["Listeners"])

    def _describe_each(self, kind: str, arns: list[str]) -> tuple[dict[str, Any], set[str]]:
        """Describe rules or listeners by ARN in one call, falling back to one by one to find the missing."""
        missing_code = "RuleNotFound" if kind == "rule" else "ListenerNotFound"
        arn_key = "RuleArn" if kind == "rule" else "ListenerArn"
        found: dict[str, Any] = {}
        missing: set[str] = set()
        for batch in chunks(sorted(set(arns)), 20):
            try:
                found.update({item[arn_key]: item for item in self._describe(kind, batch)})
                continue
            except ClientError as exc:
                if error_code(exc) not in (missing_code, "ValidationError"):
                    raise AwsError(f"elbv2 describe {kind}s failed: {error_code(exc)}") from exc
            for arn in batch:
                try:
                    found.update({item[arn_key]: item for item in self._describe(kind, [arn])})
                except ClientError as exc:
                    if error_code(exc) not in (missing_code, "ValidationError"):
                        raise AwsError(f"elbv2 describe {kind}s failed: {error_code(exc)}") from exc
                    missing.add(arn)
        return found, missing

    # -- assembly ----------------------------------------------------------------------------------
    def read(
        self, envs: Iterable[str], *, probe_http: bool = True, addresses: bool | None = None
    ) -> dict[str, EnvState]:
        """Read ``envs``. Private addresses (the one call that grows with instances) are fetched only
        when ``addresses`` is True, or by default when the HTTP probes need ``{private_ip}``."""
        want_addresses = addresses if addresses is not None else probe_http and self.checker.uses_private_ip
        envs = list(envs)
        params = self._parameters(envs)
        wirings: dict[str, Wiring] = {}
        errors: dict[str, str] = {}
        for env in envs:
            text = params.get(wiring_param(env))
            if text is None:
                errors[env] = f"wiring parameter {wiring_param(env)} not found"
                continue
            try:
                wirings[env] = parse_wiring(env, text)
            except WiringError as exc:
                errors[env] = exc.message

        groups = self._groups([n for w in wirings.values() for n in w.asg_names.values()])
        # DescribeTargetHealth only where targets can be: a color whose ASG has no instance registers
        # none (its group's leftovers drain within the deregistration delay). A missing ASG still gets
        # the call, to tell whether its target group exists.
        tg_arns = sorted(
            {
                w.target_group_arns[c]
                for w in wirings.values()
                for c in COLORS
                if groups.get(w.asg_names[c], {"Instances": [None]}).get("Instances")
            }
        )
        with ThreadPoolExecutor(max_workers=16) as pool:
            health_list = list(pool.map(self._target_health, tg_arns))
        tg_health: dict[str, dict[str, tuple[str, str | None]] | None] = dict(
            zip(tg_arns, health_list, strict=True)
        )
        rules, missing_rules = self._describe_each(
            "rule", [a for w in wirings.values() for a in w.rule_arns.values()]
        )
        listeners, missing_listeners = self._describe_each(
            "listener",
            [a for w in wirings.values() if w.is_default_action for a in w.listener_arns.values()],
        )
        instance_ids = [i["InstanceId"] for g in groups.values() for i in g.get("Instances", [])]
        found_addresses = self._addresses(instance_ids) if instance_ids and want_addresses else {}

        targets: list[Target] = []
        for env, wired in wirings.items():
            for color in COLORS:
                group = groups.get(wired.asg_names[color], {})
                targets += [
                    Target(i["InstanceId"], found_addresses.get(i["InstanceId"]), env, color)
                    for i in group.get("Instances", [])
                    if i.get("LifecycleState") == "InService"
                ]
        http = self.checker.probe_all(targets) if probe_http else {}

        states: dict[str, EnvState] = {}
        for env in envs:
            w: Wiring | None = wirings.get(env)
            colors: dict[str, ColorState] = {}
            routing = Routing(routes={})
            if w is not None:
                for color in COLORS:
                    colors[color] = self._color_state(
                        w, color, groups, tg_health, found_addresses, http, params
                    )
                routing = self._routing(
                    w, rules, missing_rules, listeners, missing_listeners, params.get(active_color_param(env))
                )
            states[env] = EnvState(
                env=env,
                wiring=w,
                wiring_error=errors.get(env),
                ssm_color=params.get(active_color_param(env)),
                ssm_tg_arn=params.get(active_tg_param(env)),
                file_split=self._file_split(env),
                routing=routing,
                colors=colors,
                lock=parse_lock(params.get(lock_param(env))),
                shutdown=ShutdownRecord.parse(params.get(shutdown_param(env))),
                last=HistoryRecord.from_json(params.get(history_param(env)) or ""),
                canary_request=params.get(param_name(env, "canary-request")),
                region_flag=flag_of(self.envs_dir),
            )
        return states

    def read_one(self, env: str, *, probe_http: bool = True, addresses: bool | None = None) -> EnvState:
        return self.read([env], probe_http=probe_http, addresses=addresses)[env]

    def _file_split(self, env: str) -> TrafficSplit | None:
        try:
            return read_split(self.envs_dir / env)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _color_state(
        w: Wiring,
        color: str,
        groups: dict[str, dict[str, Any]],
        tg_health: dict[str, dict[str, tuple[str, str | None]] | None],
        addresses: dict[str, str | None],
        http: dict[str, HttpResult],
        params: dict[str, str],
    ) -> ColorState:
        name = w.asg_names[color]
        arn = w.target_group_arns[color]
        group = groups.get(name)
        health = tg_health.get(arn, {}) if group is not None else tg_health.get(arn)
        version = params.get(w.version_parameters[color]) or None
        if group is None:
            return ColorState(
                color, name, arn, asg_exists=False, tg_exists=health is not None, version=version
            )
        targets = health or {}
        instances = tuple(
            Instance(
                instance_id=i["InstanceId"],
                private_ip=addresses.get(i["InstanceId"]),
                lifecycle_state=str(i.get("LifecycleState", "")),
                asg_health=str(i.get("HealthStatus", "")),
                target_health=targets.get(i["InstanceId"], (None, None))[0],
                target_reason=targets.get(i["InstanceId"], (None, None))[1],
                http=http.get(i["InstanceId"], HttpResult(ok=None, detail="not InService")),
            )
            for i in sorted(group.get("Instances", []), key=lambda i: str(i["InstanceId"]))
        )
        return ColorState(
            color=color,
            asg_name=name,
            target_group_arn=arn,
            asg_exists=True,
            tg_exists=health is not None,
            desired=int(group.get("DesiredCapacity", 0)),
            min_size=int(group.get("MinSize", 0)),
            max_size=int(group.get("MaxSize", 0)),
            suspended=tuple(sorted(p["ProcessName"] for p in group.get("SuspendedProcesses", []))),
            instances=instances,
            version=version if version not in ("", "none") else None,
            targets=targets,
        )

    @staticmethod
    def _routing(
        w: Wiring,
        rules: dict[str, Any],
        missing_rules: set[str],
        listeners: dict[str, Any],
        missing_listeners: set[str],
        ssm_color: str | None,
    ) -> Routing:
        """The split each carrier forwards by: prod's listener default actions, or the path rules."""
        routes: dict[str, TrafficSplit | None] = {}
        missing: list[str] = []
        for carrier in carriers(w):
            found, gone, key = (
                (listeners, missing_listeners, "DefaultActions")
                if carrier.kind == "listener"
                else (rules, missing_rules, "Actions")
            )
            if carrier.arn in gone or carrier.arn not in found:
                missing.append(carrier.label)
                continue
            routes[carrier.label] = split_of_actions(found[carrier.arn].get(key, []), w, prefer=ssm_color)
        return Routing(routes=routes, missing=tuple(missing))
