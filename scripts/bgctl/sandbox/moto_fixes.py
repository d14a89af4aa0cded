"""Six fidelity fixes for moto, applied in-process (the sandbox runs moto in a thread of this process).

1. Scale-in leaves stale targets. moto deregisters terminated instances from target groups only when
   they are terminated through the EC2 TerminateInstances API. An ASG that scales in (set_desired_capacity,
   update_auto_scaling_group, terminate_instance_in_auto_scaling_group) terminates them internally and
   they stay registered as "healthy" forever. Real AWS deregisters them (state "draining", then gone).
   Fix: every internal terminate also notifies the load balancer backend.

2. Target health is always "healthy". moto reports every registered running instance as healthy. Real
   ALBs probe ``/healthcheck``; in the sandbox the same answers come from the loopback health server.
   Fix: a hook (set by the Sandbox) may override the state of an otherwise healthy target, e.g.
   "unhealthy" while a failure is injected, or "initial" to model an instance still warming up.

3. Launch template tags leak into version 1. CreateLaunchTemplate's own ``TagSpecifications`` (resource
   type ``launch-template``: tags of the template) are copied by moto into version 1's
   ``LaunchTemplateData.TagSpecifications``, where AWS keeps only the instance/volume/... tags of the
   ``LaunchTemplateData`` request. Terraform then reads a ``tag_specifications`` block it never wrote,
   and every plan after apply wants to update the launch template (and, through ``latest_version``,
   the ASG). Fix: the template's own tags stay on the template.

4. Scaling policies lose ``Enabled``. moto's DescribePolicies omits ``Enabled`` (AWS: true unless the
   policy was put with ``Enabled=false``) and returns an empty ``PredictiveScalingConfiguration`` for
   policies that have none. Terraform reads ``enabled = false`` and an empty predictive block, and
   every plan after apply wants to update each policy. Fix: the policy keeps the ``Enabled`` it was
   put with (default true) and has no predictive configuration unless one was given.

5. An update wipes the mixed instances policy. moto's UpdateAutoScalingGroup replaces the group's
   ``MixedInstancesPolicy`` with whatever the request carries, so any update that omits it (the deploy
   tool's ``MinSize``/``DesiredCapacity`` updates) deletes the policy; AWS leaves parameters a request
   omits unchanged. Terraform then plans to put the policy back on both colors of prod, and the plan
   guard refuses the switch. Fix: an update without a policy, launch template or launch configuration
   keeps the policy it had.

6. A mixed-instances group stays below its desired capacity. moto splits the capacity above the
   on-demand base into on-demand and spot parts and truncates each (base 2, 25 % on-demand above it,
   desired 3: ``int(2.25) + int(0.75)`` = 2 instances). AWS always fills the desired capacity; the
   split only decides which instances are spot. Stock moto hid this behind 5 (the first update turned
   the group into a plain one). Fix: after a capacity change a mixed group is topped up to
   ``ceil(desired / weight)`` instances.

With 3, 4 and 5 a plan right after ``terraform apply``, and after the deploy tool has scaled and
protected the groups, is empty against the sandbox, as it is on AWS; the plan guard (which refuses any
plan that is more than the switch) depends on that.

7. Targets of a group no rule forwards to read "healthy". A real ALB checks only target groups that a
   listener's default action or rule forwards to; the others' targets read ``unused``
   (``Target.NotInUse``). Fix: a healthy target whose group no current listener action references is
   reported ``unused``, so "the load balancer vouches for it" means what it means on AWS.

moto's backends are process-global, so the hook is too: one Sandbox per process (as with moto itself).
Every patch checks moto's internals and skips itself with a warning when those have changed. Fixes 3
to 7 can be turned off for a while (``stock("launch_template_tags")``) so a test can show that stock
moto still needs them.
"""

from __future__ import annotations

import copy
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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


SWITCHABLE_FIXES = (
    "launch_template_tags",
    "scaling_policy_enabled",
    "update_keeps_mixed_instances",
    "mixed_instances_count",
    "unrouted_targets_unused",
)
_stock: set[str] = set()


@contextmanager
def stock(*names: str) -> Iterator[None]:
    """Behave like stock moto for the named switchable fixes inside the block (for tests)."""
    unknown = set(names) - set(SWITCHABLE_FIXES)
    if unknown:
        raise ValueError(f"unknown fix(es) {sorted(unknown)}: one of {', '.join(SWITCHABLE_FIXES)}")
    with _lock:
        added = set(names) - _stock
        _stock.update(added)
    try:
        yield
    finally:
        with _lock:
            _stock.difference_update(added)


def _active(name: str) -> bool:
    return name not in _stock


def install() -> bool:
    """Apply every fix once per process; return False (with a warning) if moto's internals differ."""
    global _installed  # noqa: PLW0603 - once per process
    with _lock:
        if _installed:
            return True
        try:
            from moto.autoscaling.models import FakeAutoScalingGroup, FakeScalingPolicy
            from moto.autoscaling.responses import AutoScalingResponse
            from moto.ec2.models.instances import InstanceBackend
            from moto.ec2.models.launch_templates import LaunchTemplateBackend
            from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends
        except ImportError as exc:
            warnings.warn(f"sandbox: moto fixes not applied ({exc})", stacklevel=2)
            return False
        if not (
            hasattr(InstanceBackend, "terminate_instances")
            and hasattr(FakeTargetGroup, "health_for")
            and hasattr(FakeTargetGroup, "deregister_terminated_instances")
            and hasattr(LaunchTemplateBackend, "create_launch_template")
            and hasattr(AutoScalingResponse, "put_scaling_policy")
            and hasattr(FakeAutoScalingGroup, "update")
            and hasattr(FakeAutoScalingGroup, "set_desired_capacity")
            and hasattr(FakeAutoScalingGroup, "replace_autoscaling_group_instances")
        ):
            warnings.warn("sandbox: moto internals changed; fixes not applied", stacklevel=2)
            return False
        _patch_terminate(InstanceBackend, elbv2_backends)
        _patch_health(FakeTargetGroup, FakeHealthStatus)
        _patch_launch_template_tags(LaunchTemplateBackend)
        _patch_scaling_policy(AutoScalingResponse, FakeScalingPolicy)
        _patch_group_update(FakeAutoScalingGroup)
        _patch_mixed_instances_count(FakeAutoScalingGroup)
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
        if _active("unrouted_targets_unused") and self.arn not in _routed_target_groups(self.arn):
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


def _patch_launch_template_tags(backend: Any) -> None:
    original = backend.create_launch_template

    def create_launch_template(
        self: Any, name: str, description: str, template_data: dict[str, Any], tag_spec: dict[str, Any]
    ) -> Any:
        if _active("launch_template_tags") and "launch-template" in (tag_spec or {}):
            specs = template_data.get("TagSpecifications") or []
            kept = [s for s in specs if s.get("ResourceType") != "launch-template"]
            template_data = {k: v for k, v in template_data.items() if k != "TagSpecifications"}
            if kept:
                template_data["TagSpecifications"] = kept
        return original(self, name, description, template_data, tag_spec)

    backend.create_launch_template = create_launch_template


def _patch_scaling_policy(response: Any, policy_class: Any) -> None:
    original_put = response.put_scaling_policy
    original_init = policy_class.__init__

    def put_scaling_policy(self: Any) -> Any:
        result = original_put(self)
        if _active("scaling_policy_enabled"):
            policy = self.autoscaling_backend.policies.get(self._get_param("PolicyName"))
            if policy is not None:
                policy.enabled = self._get_bool_param("Enabled", True)
        return result

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if _active("scaling_policy_enabled") and not self.predictive_scaling_configuration:
            self.predictive_scaling_configuration = None

    response.put_scaling_policy = put_scaling_policy
    policy_class.__init__ = init


def _patch_group_update(group_class: Any) -> None:
    original = group_class.update

    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend calls update() with keywords only; a positional call is left alone.
        chosen = ("launch_config_name", "launch_template", "mixed_instances_policy")
        if (
            _active("update_keeps_mixed_instances")
            and not args
            and self.mixed_instances_policy
            and not any(kwargs.get(name) for name in chosen)
        ):
            # moto stores the spec with both LaunchTemplateId and LaunchTemplateName and rejects that
            # on input: hand it back by id (it resolves and stores both again).
            policy = copy.deepcopy(self.mixed_instances_policy)
            spec = policy.get("LaunchTemplate", {}).get("LaunchTemplateSpecification", {})
            if spec.get("LaunchTemplateId"):
                spec.pop("LaunchTemplateName", None)
            kwargs["mixed_instances_policy"] = policy
        return original(self, *args, **kwargs)

    group_class.update = update


def _patch_mixed_instances_count(group_class: Any) -> None:
    original = group_class.set_desired_capacity

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        original(self, new_capacity)
        policy = self.mixed_instances_policy or {}
        overrides = (policy.get("LaunchTemplate") or {}).get("Overrides") or []
        if not (_active("mixed_instances_count") and overrides):
            return
        weight_text = str(overrides[0].get("WeightedCapacity") or "1")
        weight = max(1, int(weight_text)) if weight_text.isdigit() else 1
        wanted = math.ceil((self.desired_capacity or 0) / weight)
        missing = wanted - len(self.active_instances())
        if missing > 0:
            self.replace_autoscaling_group_instances(missing, self.get_propagated_tags())
            backend = self.autoscaling_backend
            if self.name in backend.autoscaling_groups:  # as moto does after its own launches
                backend.update_attached_elbs(self.name)
                backend.update_attached_target_groups(self.name)

    group_class.set_desired_capacity = set_desired_capacity


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
