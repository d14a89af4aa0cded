"""Switch drivers: move all of an environment's traffic to one color.

- ``ApiDriver``: ``modify_rule`` on each of the environment's rules (path environments) or
  ``modify_listener`` on the HTTPS and HTTP listeners (prod), then the two SSM parameters, then the
  committed color file so a later ``terraform apply`` converges instead of reverting.
- ``TerraformDriver``: rewrite the color file, ``terraform plan -out``, refuse the plan unless it is a
  pure switch (the plan guard), apply exactly that saved plan.

Both are idempotent: switching to the color already active changes nothing, which ``recover`` relies on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Protocol

from bgctl.aws import Clients, aws_errors
from bgctl.colorfile import read_active_color, write_active_color
from bgctl.errors import TerraformError, WiringError
from bgctl.ops import record_active
from bgctl.plansummary import TrafficChange
from bgctl.state import EnvState
from bgctl.terraform import TerraformRoot, try_init
from bgctl.tfswitch import apply_switch, plan_switch
from bgctl.wiring import Wiring, active_color_param, active_tg_param


def _forward(arn: str) -> list[Any]:
    return [{"Type": "forward", "TargetGroupArn": arn}]


def _tg_label(wiring: Wiring, arn: str | None) -> str:
    if arn is None:
        return "unknown"
    color = wiring.color_of_target_group(arn)
    name = arn.rsplit(":targetgroup/", 1)[-1].split("/", 1)[0]
    return f"forward -> {name}" + (f" ({color})" if color else " (not ours)")


def planned_changes(st: EnvState, to_color: str, envs_dir: Path) -> list[TrafficChange]:
    """Exactly what a switch of ``st`` to ``to_color`` would change, from the live state."""
    w = st.wiring
    if w is None:
        raise WiringError(st.wiring_error or f"{st.env}: no wiring")
    new_tg = w.target_group_arns[to_color]
    changes: list[TrafficChange] = []
    arns = w.listener_arns if w.is_default_action else w.rule_arns
    kind = "listener" if w.is_default_action else "rule"
    for key, arn in sorted(arns.items()):
        current_color = st.routing.paths.get(f"{key} {kind}")
        before = _tg_label(w, w.target_group_arns.get(current_color) if current_color else None)
        after = _tg_label(w, new_tg)
        if before != after:
            port = {"https": ":443", "http": ":80"}[key]
            target, label = (
                (f"listener {port} {arn}", port) if kind == "listener" else (f"{key} rule {arn}", key)
            )
            changes.append(TrafficChange(kind, target, before, after, label=label))
    for name, before_value, after_value in (
        (active_color_param(st.env), st.ssm_color, to_color),
        (active_tg_param(st.env), st.ssm_tg_arn, new_tg),
    ):
        if before_value != after_value:
            changes.append(
                TrafficChange(
                    "ssm", f"SSM {name}", str(before_value), after_value, label=name.rsplit("/", 1)[-1]
                )
            )
    if st.file_color != to_color:
        path = envs_dir / st.env / "active_color.auto.tfvars.json"
        changes.append(TrafficChange("file", str(path), str(st.file_color), to_color, label=path.name))
    return changes


class SwitchDriver(Protocol):
    name: str

    def check_available(self, env: str) -> None:
        """Raise before any mutation when this driver cannot run here."""

    def switch(self, wiring: Wiring, to_color: str) -> None:
        """Move all traffic to ``to_color`` (idempotent)."""


class ApiDriver:
    name = "api"

    def __init__(self, clients: Clients, envs_dir: Path) -> None:
        self.clients = clients
        self.envs_dir = envs_dir

    def check_available(self, env: str) -> None:
        return None

    def switch(self, wiring: Wiring, to_color: str) -> None:
        tg = wiring.target_group_arns[to_color]
        elb = self.clients.elbv2
        # HTTPS first: it carries almost all traffic; HTTP follows within the same second.
        for key in ("https", "http"):
            if wiring.is_default_action:
                arn = wiring.listener_arns.get(key)
                if arn:
                    with aws_errors(f"elbv2:ModifyListener ({key})"):
                        elb.modify_listener(ListenerArn=arn, DefaultActions=_forward(tg))
            else:
                arn = wiring.rule_arns.get(key)
                if arn:
                    with aws_errors(f"elbv2:ModifyRule ({key})"):
                        elb.modify_rule(RuleArn=arn, Actions=_forward(tg))
        record_active(self.clients, wiring, to_color)
        write_active_color(self.envs_dir / wiring.environment, to_color)


class TerraformDriver:
    """Switch by planning and applying the environment's root with the new color file."""

    name = "terraform"

    def __init__(self, envs_dir: Path, binary: str, plugin_dir: str | None = None) -> None:
        self.envs_dir = envs_dir
        self.binary = binary
        self.plugin_dir = plugin_dir

    def _root(self, env: str) -> TerraformRoot:
        return TerraformRoot(self.envs_dir / env, binary=self.binary, plugin_dir=self.plugin_dir)

    def check_available(self, env: str) -> None:
        ok, reason = try_init(self._root(env))
        if not ok:
            raise TerraformError(
                f"the terraform switch driver cannot run here: {reason}",
                hint="use --via api (the API driver also records the color file for Terraform)",
            )

    def switch(self, wiring: Wiring, to_color: str) -> None:
        root_dir = self.envs_dir / wiring.environment
        previous = read_active_color(root_dir)
        write_active_color(root_dir, to_color)
        try:
            root = self._root(wiring.environment)
            root.init(backend=True)
            with tempfile.TemporaryDirectory(prefix="bluegreen-plan-") as tmp:
                planfile = Path(tmp) / "switch.tfplan"
                plan_switch(root, to_color, planfile)
                apply_switch(root, planfile)
        except BaseException:
            write_active_color(root_dir, previous)
            raise
