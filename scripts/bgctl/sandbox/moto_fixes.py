"""Two fidelity fixes for moto, applied in-process (the sandbox runs moto in a thread of this process).

1. Scale-in leaves stale targets. moto deregisters terminated instances from target groups only when
   they are terminated through the EC2 TerminateInstances API. An ASG that scales in (set_desired_capacity,
   update_auto_scaling_group, terminate_instance_in_auto_scaling_group) terminates them internally and
   they stay registered as "healthy" forever. Real AWS deregisters them (state "draining", then gone).
   Fix: every internal terminate also notifies the load balancer backend.

2. Target health is always "healthy". moto reports every registered running instance as healthy. Real
   ALBs probe ``/healthcheck``; in the sandbox the same answers come from the loopback health server.
   Fix: a hook (set by the Sandbox) may override the state of an otherwise healthy target, e.g.
   "unhealthy" while a failure is injected, or "initial" to model an instance still warming up.

3. Targets of a group no rule forwards to read "healthy". A real ALB checks only target groups that a
   listener's default action or rule forwards to; the others' targets read ``unused``
   (``Target.NotInUse``). Fix: a healthy target whose group no current listener action references is
   reported ``unused``, so "the load balancer vouches for it" means what it means on AWS.

moto's backends are process-global, so the hook is too: one Sandbox per process (as with moto itself).
Both patches check moto's internals and skip themselves with a warning when those have changed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TARGET_STATES = ("initial", "healthy", "unhealthy", "unused", "draining", "unavailable")


@dataclass(frozen=True)
class TargetState:
    state: str
    reason: str | None = None
    description: str | None = None


TargetHealthHook = Callable[[str, Mapping[str, str]], TargetState | None]
"""Called with (instance id, the instance's tags) for a target moto would call healthy."""

_lock = threading.Lock()
_installed = False
_hook: TargetHealthHook | None = None
_on_terminate: Callable[[list[str]], None] | None = None


def set_target_health_hook(hook: TargetHealthHook | None) -> None:
    global _hook  # noqa: PLW0603 - moto's backends are process-global; so is this hook
    _hook = hook


def set_terminate_listener(listener: Callable[[list[str]], None] | None) -> None:
    """Called with the ids of instances moto terminates (so the health server stops answering for them)."""
    global _on_terminate  # noqa: PLW0603 - process-global, like moto's backends
    _on_terminate = listener


def install() -> bool:
    """Apply both fixes once per process; return False (with a warning) if moto's internals differ."""
    global _installed  # noqa: PLW0603 - once per process
    with _lock:
        if _installed:
            return True
        try:
            from moto.ec2.models.instances import InstanceBackend
            from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends
        except ImportError as exc:
            warnings.warn(f"sandbox: moto fixes not applied ({exc})", stacklevel=2)
            return False
        if not (
            hasattr(InstanceBackend, "terminate_instances")
            and hasattr(FakeTargetGroup, "health_for")
            and hasattr(FakeTargetGroup, "deregister_terminated_instances")
        ):
            warnings.warn("sandbox: moto internals changed; fixes not applied", stacklevel=2)
            return False
        _patch_terminate(InstanceBackend, elbv2_backends)
        _patch_health(FakeTargetGroup, FakeHealthStatus)
        _installed = True
        return True


def _patch_terminate(instance_backend: Any, elbv2_backends: Any) -> None:
    original = instance_backend.terminate_instances

    def terminate_instances(self: Any, instance_ids: list[str]) -> Any:
        result = original(self, instance_ids)
        # Idempotent: the EC2 API path notifies as well; a target is only moved once.
        elbv2_backends[self.account_id][self.region_name].notify_terminate_instances(list(instance_ids))
        listener = _on_terminate
        if listener is not None:
            listener(list(instance_ids))
        return result

    instance_backend.terminate_instances = terminate_instances


def _patch_health(target_group: Any, health_status: Any) -> None:
    original = target_group.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        status = original(self, target, ec2_backend)
        if status.status != "healthy":
            return status
        if self.arn not in _routed_target_groups(self.arn):
            return health_status(
                str(status.instance_id),
                status.port,
                status.health_check_port,
                "unused",
                "Target.NotInUse",
                "Target group is not configured to receive traffic from the load balancer",
            )
        hook = _hook
        if hook is None:
            return status
        instance_id = str(status.instance_id)
        tags = dict(getattr(ec2_backend, "tags", {}).get(instance_id, {}))
        override = hook(instance_id, tags)
        if override is None:
            return status
        return health_status(
            instance_id,
            status.port,
            status.health_check_port,
            override.state,
            override.reason,
            override.description,
        )

    target_group.health_for = health_for


def _routed_target_groups(tg_arn: str) -> set[str]:
    """Target groups some listener default action or rule of the group's region forwards to."""
    from moto.elbv2.models import elbv2_backends

    parts = tg_arn.split(":")
    backend = elbv2_backends[parts[4]][parts[3]]
    routed: set[str] = set()
    for balancer in list(backend.load_balancers.values()):
        for listener in list(balancer.listeners.values()):
            actions = list(listener.default_actions)
            for rule in list(listener.rules.values()):
                actions += list(rule.actions)
            for action in actions:
                if getattr(action, "type", None) == "forward":
                    routed.update(backend._get_target_group_arns_from(action_data=action.data))
    return routed
