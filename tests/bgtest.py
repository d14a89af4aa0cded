"""Helpers for the operation tests: a Context on the sandbox, recording reporter, scripted prompter."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgctl.aws import Clients, make_clients
from bgctl.context import Context, NoPrompter
from bgctl.envspec import ENVS_DIR
from bgctl.health import HttpChecker
from bgctl.settings import Settings
from bgctl.state import StateReader
from bgctl.switching import ApiDriver


class HardKill(BaseException):
    """Simulates kill -9: not an Exception nor KeyboardInterrupt, so no cleanup handler runs."""


@dataclass
class RecordingReporter:
    events: list[tuple[str, str]] = field(default_factory=list)
    interrupt_at: str | None = None
    kill_at: str | None = None
    # step name -> something that happens (once) when that step starts: another operator, a fault
    on_step: dict[str, Any] = field(default_factory=dict)

    def _maybe_stop(self, name: str) -> None:
        """A signal arrives once: stop at the first time the step starts, not again during cleanup."""
        if name == self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt(name)
        if name == self.kill_at:
            self.kill_at = None
            raise HardKill(name)

    def step(self, name: str, message: str) -> None:
        self.events.append(("step", name))
        hook = self.on_step.pop(name, None)
        if hook is not None:
            hook()
        self._maybe_stop(name)

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def warn(self, message: str) -> None:
        self.events.append(("warn", message))

    def progress(self, message: str) -> None:
        self.events.append(("progress", message))

    @property
    def steps(self) -> list[str]:
        return [name for kind, name in self.events if kind == "step"]


@dataclass
class ScriptedPrompter:
    """Answers from a script; records the questions."""

    confirms: list[bool] = field(default_factory=list)
    choices: list[int] = field(default_factory=list)
    typed_answers: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    # Runs while the question is open (the operator is away from the keyboard)
    meanwhile: Any = None

    def _wait(self) -> None:
        if self.meanwhile is not None:
            hook, self.meanwhile = self.meanwhile, None
            hook()

    def confirm(self, message: str) -> bool:
        self.asked.append(message)
        self._wait()
        return self.confirms.pop(0)

    def choose(self, message: str, options: int) -> int:
        self.asked.append(message)
        self._wait()
        return self.choices.pop(0)

    def typed(self, message: str, expected: str) -> bool:
        self.asked.append(message)
        return self.typed_answers.pop(0) == expected


def copy_envs(tmp_path: Path) -> Path:
    """A private copy of the Terraform tree (roots and the modules they point at); returns its envs."""
    target = tmp_path / "terraform"
    shutil.copytree(ENVS_DIR.parent, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return target / "envs"


def _front_url(sandbox: Any) -> str | None:
    front = getattr(sandbox, "_front", None)
    return str(front.https_url) if front is not None else None


def make_context(
    sandbox: Any,
    envs_dir: Path,
    env: str = "beta",
    *,
    reporter: Any = None,
    prompter: Any = None,
    clients: Clients | None = None,
    **overrides: Any,
) -> Context:
    clients = clients or make_clients()
    settings = Settings(
        envs_dir=envs_dir,
        health_url=sandbox.health_url_template,
        # Smoke tests go through the sandbox's load balancer front, where there is one.
        preview_url=overrides.pop("preview_url", _front_url(sandbox)),
        endpoint_url=sandbox.endpoint_url,
        health_timeout=overrides.pop("health_timeout", 4.0),
        verify_timeout=overrides.pop("verify_timeout", 2.0),
        poll_interval=overrides.pop("poll_interval", 0.05),
    )
    return Context(
        env=env,
        clients=clients,
        reader=StateReader(clients, HttpChecker.of(settings), envs_dir=envs_dir),
        driver=ApiDriver(clients, envs_dir),
        reporter=reporter or RecordingReporter(),
        prompter=prompter or NoPrompter(),
        settings=settings,
        # Protected (production) environments ask for their name typed; the tests of that set this False.
        assume_yes=overrides.pop("assume_yes", True),
    )


def lock_record(clients: Clients, env: str) -> Any:
    """The parsed lock (with its journal), or None."""
    from bgctl.lock import parse_lock

    return parse_lock(param(clients, f"/compiler-explorer/{env}/lock"))


def asg(clients: Clients, name: str) -> dict[str, Any]:
    groups = clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return dict(groups["AutoScalingGroups"][0])


def rule_target(clients: Clients, rule_arn: str) -> str:
    rule = clients.elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]
    return str(rule["Actions"][0]["TargetGroupArn"])


def param(clients: Clients, name: str) -> str | None:
    found = clients.ssm.get_parameters(Names=[name])["Parameters"]
    return str(found[0]["Value"]) if found else None


def mark_holder_dead(clients: Clients, env: str) -> None:
    """Make the lock's holder a process that has exited: what a kill -9 leaves behind on this host."""
    import json
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    name = f"/compiler-explorer/{env}/lock"
    doc = json.loads(clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])
    doc["pid"] = int(child.stdout)
    clients.ssm.put_parameter(Name=name, Value=json.dumps(doc), Type="String", Overwrite=True)


class _Operations:
    """The operations under one name, as the tests call them."""

    from bgctl.operations.cleanup import cleanup, shutdown
    from bgctl.operations.deploy import DISCOVERY_REFUSAL, deploy
    from bgctl.operations.recover import force_unlock, recover
    from bgctl.operations.switch import rollback, switch


ops = _Operations


def hold_lock(env: str, operation: str = "deploy") -> Any:
    """Take ``env``'s lock as another operation would (its own clients, so no fence lands on ours)."""
    from bgctl.lock import EnvLock

    lock = EnvLock(make_clients(), env)
    info = lock.acquire(operation)
    lock.abandon()
    return info


def without_preview_routes(sandbox: Any, env: str = "beta") -> None:
    """An environment whose root declares no preview routes: no rule forwards to its idle color, so the
    load balancer does not health-check it (its targets read ``unused``)."""
    import json

    from bgctl.wiring import wiring_param

    elbv2 = sandbox.clients.elbv2
    w = sandbox.resources[env].wiring
    for listener in set(w.listener_arns.values()):
        for rule in elbv2.describe_rules(ListenerArn=listener)["Rules"]:
            tags = elbv2.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]["Tags"]
            if {"Key": "Purpose", "Value": "preview"} in tags and {
                "Key": "Environment",
                "Value": env,
            } in tags:
                elbv2.delete_rule(RuleArn=rule["RuleArn"])
    doc = json.loads(sandbox.clients.ssm.get_parameter(Name=wiring_param(env))["Parameter"]["Value"])
    doc["preview"] = None
    sandbox.clients.ssm.put_parameter(
        Name=wiring_param(env), Value=json.dumps(doc), Type="String", Overwrite=True
    )
