"""Traffic drivers: put an environment's traffic where a ``TrafficSplit`` says.

- ``ApiDriver``: ``modify_rule`` on each of the environment's rules (path environments) or
  ``modify_listener`` on the HTTPS and HTTP listeners (prod), HTTPS first, then the two SSM parameters,
  then the committed color file so a later ``terraform apply`` converges instead of reverting.
- ``TerraformDriver``: rewrite the color file, ``terraform plan -out``, refuse the plan unless it is a
  pure switch (the plan guard) that forwards by exactly the split, apply exactly that saved plan. A
  canary step is the same with ``canary_weight`` in the color file: the module renders the weighted,
  sticky forward (terraform/modules/blue_green/canary.tf).

Both are idempotent: applying the split already in place changes nothing, which ``recover`` relies on.
Both call ``fence`` (the lock check) before their first change.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from bgctl.asg import record_active
from bgctl.aws import Clients, aws_errors
from bgctl.colorfile import read_split, write_split
from bgctl.errors import TerraformError
from bgctl.terraform import TerraformRoot, try_init
from bgctl.tfswitch import apply_switch, plan_switch
from bgctl.traffic import TrafficSplit, carriers, forward_actions
from bgctl.wiring import Wiring

Fence = Callable[[], None]


def _no_fence() -> None:
    return None


class TrafficDriver(Protocol):
    name: str
    supports_weights: bool  # can apply a canary's weighted split

    def check_available(self, env: str) -> None:
        """Raise before any mutation when this driver cannot run here."""

    def apply(self, wiring: Wiring, split: TrafficSplit, *, fence: Fence = _no_fence) -> None:
        """Make every carrier of the environment forward by ``split`` (idempotent)."""


class ApiDriver:
    name = "api"
    supports_weights = True

    def __init__(self, clients: Clients, envs_dir: Path) -> None:
        self.clients = clients
        self.envs_dir = envs_dir

    def check_available(self, env: str) -> None:
        return None

    def apply(self, wiring: Wiring, split: TrafficSplit, *, fence: Fence = _no_fence) -> None:
        elb = self.clients.elbv2
        actions = forward_actions(wiring, split, stickiness_seconds=wiring.canary.stickiness_seconds)
        for carrier in carriers(wiring):
            if carrier.kind == "listener":
                with aws_errors(f"elbv2:ModifyListener ({carrier.key})"):
                    elb.modify_listener(ListenerArn=carrier.arn, DefaultActions=actions)
            else:
                with aws_errors(f"elbv2:ModifyRule ({carrier.key})"):
                    elb.modify_rule(RuleArn=carrier.arn, Actions=actions)
        record_active(self.clients, wiring, split.active)
        write_split(self.envs_dir / wiring.environment, split)


class TerraformDriver:
    """Move traffic by planning and applying the environment's root with the new color file (a canary
    step's weight included)."""

    name = "terraform"
    supports_weights = True

    def __init__(
        self,
        envs_dir: Path,
        binary: str,
        plugin_dir: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.envs_dir = envs_dir
        self.binary = binary
        self.plugin_dir = plugin_dir
        self.env = env  # the AWS settings Terraform runs with (those of the tool's own clients)

    def _root(self, env: str) -> TerraformRoot:
        return TerraformRoot(
            self.envs_dir / env, binary=self.binary, plugin_dir=self.plugin_dir, env=self.env
        )

    def check_available(self, env: str) -> None:
        ok, reason = try_init(self._root(env))
        if not ok:
            raise TerraformError(
                f"the terraform switch driver cannot run here: {reason}",
                hint="use --via api (the API driver also records the color file for Terraform)",
            )

    def apply(self, wiring: Wiring, split: TrafficSplit, *, fence: Fence = _no_fence) -> None:
        root_dir = self.envs_dir / wiring.environment
        previous = read_split(root_dir)
        write_split(root_dir, split)
        try:
            root = self._root(wiring.environment)
            root.init(backend=True)
            with tempfile.TemporaryDirectory(prefix="bluegreen-plan-") as tmp:
                planfile = Path(tmp) / "switch.tfplan"
                plan_switch(root, split, planfile, wiring=wiring)
                fence()
                apply_switch(root, planfile)
        except BaseException:
            write_split(root_dir, previous)
            raise
