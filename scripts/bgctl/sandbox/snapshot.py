"""A comparable description of the blue-green topology as AWS (moto) reports it.

``describe(clients, envs)`` reads, through the API only, what the tool and the roots care about and
replaces every generated identifier (ARNs, ids, account numbers) by the name of what it points at, so
the topology the fast boto3 sandbox builds (``topology.build_topology``) and the one Terraform builds
from the real roots (``tfsandbox``) can be compared with ``==``, and a difference reads as a diff:

    shared: load balancer (name, scheme, type, subnet tiers), listeners (port, protocol, TLS policy)
    per environment:
      target groups   name, port, protocol, target type, health check, tags
      launch templates name, tags
      ASGs            name, min/max/desired, health check type and grace, target groups, launch
                      template (name, version) or mixed-instances overrides and distribution, subnet
                      tiers, tags (with PropagateAtLaunch)
      routing         rules (the environment's and its preview rules): "port:priority" -> priority,
                      conditions (the preview secret as <secret>), forward target, tags; and
                      listeners' default actions (prod)
      SSM             every parameter under /compiler-explorer/{env}/: name -> value shape (colors and
                      versions as they are, ARNs as names, the wiring JSON with ARNs as names)

``diff(a, b)`` lists the paths where two descriptions differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bgctl.preview import SECRET_HEADER
from bgctl.wiring import PARAM_ROOT

if TYPE_CHECKING:
    from bgctl.sandbox.clients import SandboxClients

LOAD_BALANCER_NAME = "compiler-explorer"
_ARN = re.compile(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[^\s\"]+")


class Names:
    """ARN -> readable name, filled while describing (target groups, listeners, rules)."""

    def __init__(self) -> None:
        self.by_arn: dict[str, str] = {}

    def add(self, arn: str, name: str) -> None:
        self.by_arn[arn] = name

    def of(self, value: Any) -> Any:
        """``value`` with every known ARN replaced by its name and any other ARN by ``<arn:service>``."""
        if isinstance(value, str):
            if value in self.by_arn:
                return self.by_arn[value]
            return _ARN.sub(lambda m: self.by_arn.get(m.group(0), f"<arn:{m.group(0).split(':')[2]}>"), value)
        if isinstance(value, Mapping):
            return {k: self.of(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.of(v) for v in value]
        return value


def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or []}


def _subnet_tiers(clients: SandboxClients, subnet_ids: Iterable[str]) -> list[str]:
    ids = [s for s in subnet_ids if s]
    if not ids:
        return []
    subnets = clients.ec2.describe_subnets(SubnetIds=ids)["Subnets"]
    return sorted({_tags(s.get("Tags")).get("Tier", "?") for s in subnets})


def _actions(names: Names, actions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    shown = []
    for action in sorted(actions, key=lambda a: int(a.get("Order", 1))):
        item: dict[str, Any] = {"type": action["Type"]}
        if action["Type"] == "forward":
            groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
                {"TargetGroupArn": action.get("TargetGroupArn")}
            ]
            item["target_groups"] = sorted(names.of(g["TargetGroupArn"]) for g in groups)
        elif action["Type"] == "fixed-response":
            item["status"] = action.get("FixedResponseConfig", {}).get("StatusCode")
        shown.append(item)
    return shown


def _shared(clients: SandboxClients, names: Names) -> tuple[dict[str, Any], dict[int, str]]:
    elbv2 = clients.elbv2
    (lb,) = elbv2.describe_load_balancers(Names=[LOAD_BALANCER_NAME])["LoadBalancers"]
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    by_port: dict[int, str] = {}
    shown_listeners = {}
    for listener in listeners:
        port = int(listener["Port"])
        by_port[port] = listener["ListenerArn"]
        names.add(listener["ListenerArn"], f"listener:{port}")
        shown_listeners[str(port)] = {
            "protocol": listener["Protocol"],
            "ssl_policy": listener.get("SslPolicy"),
        }
    subnet_ids = [az.get("SubnetId", "") for az in lb.get("AvailabilityZones", [])]
    shared = {
        "load_balancer": {
            "name": lb["LoadBalancerName"],
            # moto leaves Scheme unset when CreateLoadBalancer omits it (Terraform's internal = false);
            # AWS reports its default, internet-facing.
            "scheme": lb.get("Scheme") or "internet-facing",
            "type": lb.get("Type"),
            "subnet_tiers": _subnet_tiers(clients, subnet_ids),
        },
        "listeners": shown_listeners,
    }
    return shared, by_port


def _target_groups(clients: SandboxClients, names: Names, env: str) -> dict[str, Any]:
    elbv2 = clients.elbv2
    groups = [
        g
        for page in elbv2.get_paginator("describe_target_groups").paginate()
        for g in page["TargetGroups"]
        if g["TargetGroupName"].lower().startswith(f"{env}-")
    ]
    if not groups:
        return {}
    tags = {
        d["ResourceArn"]: _tags(d.get("Tags"))
        for d in elbv2.describe_tags(ResourceArns=[g["TargetGroupArn"] for g in groups])["TagDescriptions"]
    }
    shown = {}
    for g in groups:
        names.add(g["TargetGroupArn"], f"tg:{g['TargetGroupName']}")
        shown[g["TargetGroupName"]] = {
            "port": g.get("Port"),
            "protocol": g.get("Protocol"),
            "target_type": g.get("TargetType"),
            "health_check": {
                "path": g.get("HealthCheckPath"),
                "protocol": g.get("HealthCheckProtocol"),
                "interval": g.get("HealthCheckIntervalSeconds"),
                "timeout": g.get("HealthCheckTimeoutSeconds"),
                "healthy": g.get("HealthyThresholdCount"),
                "unhealthy": g.get("UnhealthyThresholdCount"),
                "matcher": g.get("Matcher", {}).get("HttpCode"),
            },
            "tags": tags.get(g["TargetGroupArn"], {}),
        }
    return shown


def _launch_templates(clients: SandboxClients, env: str) -> dict[str, Any]:
    found = clients.ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [f"{env}-*"]}]
    )
    return {t["LaunchTemplateName"]: {"tags": _tags(t.get("Tags"))} for t in found["LaunchTemplates"]}


def _lt_name(clients: SandboxClients, spec: Mapping[str, Any]) -> str:
    if spec.get("LaunchTemplateName"):
        return str(spec["LaunchTemplateName"])
    found = clients.ec2.describe_launch_templates(LaunchTemplateIds=[spec["LaunchTemplateId"]])
    return str(found["LaunchTemplates"][0]["LaunchTemplateName"])


def _asgs(clients: SandboxClients, names: Names, env: str) -> dict[str, Any]:
    groups = clients.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{env}-blue", f"{env}-green"]
    )
    shown = {}
    for g in groups["AutoScalingGroups"]:
        item: dict[str, Any] = {
            "min": g["MinSize"],
            "max": g["MaxSize"],
            "desired": g["DesiredCapacity"],
            "health_check_type": g.get("HealthCheckType"),
            "health_check_grace_period": g.get("HealthCheckGracePeriod"),
            "target_groups": sorted(names.of(a) for a in g.get("TargetGroupARNs", [])),
            "subnet_tiers": _subnet_tiers(clients, (g.get("VPCZoneIdentifier") or "").split(",")),
            "tags": {t["Key"]: [t.get("Value"), bool(t.get("PropagateAtLaunch"))] for t in g.get("Tags", [])},
        }
        if "MixedInstancesPolicy" in g:
            policy = g["MixedInstancesPolicy"]
            lt = policy["LaunchTemplate"]
            dist = policy.get("InstancesDistribution", {})
            item["mixed_instances"] = {
                "launch_template": _lt_name(clients, lt["LaunchTemplateSpecification"]),
                "version": lt["LaunchTemplateSpecification"].get("Version"),
                "overrides": [o.get("InstanceType") for o in lt.get("Overrides", [])],
                "on_demand_base_capacity": dist.get("OnDemandBaseCapacity"),
                "on_demand_percentage_above_base_capacity": dist.get("OnDemandPercentageAboveBaseCapacity"),
                "spot_allocation_strategy": dist.get("SpotAllocationStrategy"),
            }
        else:
            plain = g["LaunchTemplate"]
            item["launch_template"] = {"name": _lt_name(clients, plain), "version": plain.get("Version")}
        shown[g["AutoScalingGroupName"]] = item
    return shown


def _routing(clients: SandboxClients, names: Names, env: str, listeners: Mapping[int, str]) -> dict[str, Any]:
    elbv2 = clients.elbv2
    rules: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for port, arn in sorted(listeners.items()):
        listener = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]
        actions = _actions(names, listener.get("DefaultActions", []))
        if any(a.get("target_groups", [""])[0].lower().startswith(f"tg:{env}-") for a in actions):
            defaults[str(port)] = actions
        for rule in elbv2.describe_rules(ListenerArn=arn)["Rules"]:
            if rule.get("IsDefault"):
                continue
            forward = _actions(names, rule.get("Actions", []))
            if not any(a.get("target_groups", [""])[0].lower().startswith(f"tg:{env}-") for a in forward):
                continue
            names.add(rule["RuleArn"], f"rule:{port}:{rule['Priority']}")
            tags = elbv2.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"]
            rules[f"{port}:{rule['Priority']}"] = {  # the environment's rule and its preview rules
                "priority": int(rule["Priority"]),
                "conditions": sorted(_condition(c) for c in rule.get("Conditions", [])),
                "actions": forward,
                "tags": _tags(tags[0].get("Tags") if tags else []),
            }
    return {"rules": rules, "listener_defaults": defaults}


_CONDITION_CONFIGS = {
    "path-pattern": "PathPatternConfig",
    "host-header": "HostHeaderConfig",
    "source-ip": "SourceIpConfig",
    "http-request-method": "HttpRequestMethodConfig",
}


def _condition(c: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A rule condition as (field, values); an http-header one as (field, (name, values...)), the
    preview secret's value shown as ``<secret>`` (each sandbox draws its own)."""
    field = str(c["Field"])
    if field == "http-header":
        config = c.get("HttpHeaderConfig", {})
        name = str(config.get("HttpHeaderName", ""))
        values = ["<secret>"] if name.lower() == SECRET_HEADER.lower() else config.get("Values", [])
        return field, (name, *(str(v) for v in values))
    values = c.get(_CONDITION_CONFIGS.get(field, ""), {}).get("Values") or c.get("Values", [])
    return field, tuple(str(v) for v in values)


def _parameters(clients: SandboxClients, names: Names, env: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    paginator = clients.ssm.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=f"{PARAM_ROOT}/{env}/", Recursive=True):
        for p in page["Parameters"]:
            value: Any = p["Value"]
            if p["Name"].endswith("/wiring"):
                value = json.loads(value)
            found[p["Name"]] = {"type": p.get("Type"), "value": names.of(value)}
    return found


def describe(clients: SandboxClients, envs: Iterable[str]) -> dict[str, Any]:
    """The comparable description of the shared pieces and of every environment in ``envs``."""
    names = Names()
    shared, listeners = _shared(clients, names)
    described: dict[str, Any] = {"shared": shared}
    for env in sorted(envs):
        tgs = _target_groups(clients, names, env)  # first: the others refer to target groups by name
        described[env] = {
            "target_groups": tgs,
            "launch_templates": _launch_templates(clients, env),
            "asgs": _asgs(clients, names, env),
            "routing": _routing(clients, names, env, listeners),
        }
    for env in sorted(envs):  # after routing: rule and listener ARNs have names now
        described[env]["parameters"] = _parameters(clients, names, env)
    return described


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Every path where ``a`` and ``b`` differ, as ``path: a-value != b-value``."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                out.append(f"{sub}: missing != {b[key]!r}")
            elif key not in b:
                out.append(f"{sub}: {a[key]!r} != missing")
            else:
                out.extend(diff(a[key], b[key], sub))
        return out
    if a != b:
        return [f"{path}: {a!r} != {b!r}"]
    return []
