"""``make e2e``: the switch as designed, a CLI-driven ``terraform apply`` of ``active_color`` guarded by
the plan check, end to end against moto.

1. Build the Terraform sandbox (``tfsandbox``): shared -> prod -> beta (``--all``: all nine roots).
2. The plan of every root right after the build is empty (``terraform plan -detailed-exitcode``).
3. For beta and prod, through ``scripts/bluegreen.py ... --via terraform`` as a subprocess:
   ``deploy`` (blue -> green), ``rollback`` (-> blue), ``switch green`` (-> green). After each:
   the CLI exited 0; boto3 sees every listener rule (or prod's listeners' default action) forward to
   the expected color's target group and both SSM color parameters agree, as does the working copy's
   color file; exactly one plan went through the plan guard, it is a pure switch between the expected
   colors (two traffic actions, two SSM parameters, nothing else); the re-plan is empty.
4. ``validate`` passes for each environment.

The plans the guard saw are kept (``--plans-dir``, default a temporary directory);
``--update-fixtures`` copies the first switch plan of each environment into ``tests/fixtures/plans``.
Every step prints its wall time. Exit 0: passed; 1: failed; 0 with one "skipped:" line where Terraform
or the AWS provider is not available.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bgctl import REPO_ROOT, other_color
from bgctl.colorfile import read_active_color, read_split
from bgctl.planguard import PlanReport, guard, parse_plan
from bgctl.sandbox.tfsandbox import TerraformSandbox, TerraformUnavailable, Timing
from bgctl.terraform import PLAN_LOG_ENV
from bgctl.traffic import TrafficSplit, carriers, split_of_actions
from bgctl.wiring import Wiring, active_color_param, active_tg_param, parse_wiring, wiring_param

FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "plans"
E2E_ENVS = ("beta", "prod")
DEPLOY_VERSIONS = {"prod": "gh-104"}  # prod has compiler discovery for every build but the newest
DEFAULT_VERSION = "gh-105"
CLI_TIMEOUT = 600.0


class E2EFailure(AssertionError):
    """An end-to-end check failed; the message says which and shows what was seen."""


@dataclass(frozen=True)
class Operation:
    name: str  # deploy | rollback | switch
    args: tuple[str, ...]
    from_color: str
    to_color: str


def operations(env: str) -> list[Operation]:
    """deploy (blue -> green), rollback (-> blue), switch green: from the roots' committed blue."""
    version = DEPLOY_VERSIONS.get(env, DEFAULT_VERSION)
    return [
        Operation("deploy", ("deploy", version, "--skip-confirmation", "--yes"), "blue", "green"),
        Operation("rollback", ("rollback", "--yes"), "green", "blue"),
        Operation("switch", ("switch", "green", "--yes"), "blue", "green"),
    ]


def fixture_name(env: str) -> str:
    """The plan-guard fixture holding a real switch plan of ``env`` (blue -> green)."""
    return f"tf_switch_{env}.json"


def plan_shape(doc: dict[str, Any]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(address, actions, changed attributes) of every change: what must not drift between runs."""
    report = parse_plan(doc)
    changes = [t.change for t in report.traffic_changes] + list(report.other_changes)
    return sorted((c.address, c.actions, c.changed_attributes) for c in changes)


@dataclass
class E2E:
    """The checks of one run against a started TerraformSandbox."""

    sandbox: TerraformSandbox
    plans_dir: Path
    log: Callable[[str], None] = print
    jobs: int = 2  # environments (and re-plans) run at once
    timings: list[Timing] = field(default_factory=list)
    plans: dict[str, Path] = field(default_factory=dict)  # "<env>-<op>" -> the plan the guard saw

    def timed(self, step: str, fn: Callable[[], Any]) -> Any:
        started = time.monotonic()
        result = fn()
        seconds = time.monotonic() - started
        self.timings.append(Timing(step, seconds))
        self.log(f"{step:<50} {seconds:6.1f}s")
        return result

    # -- checks ------------------------------------------------------------------------------------
    def roots_with_changes(self, roots: Sequence[str] | None = None) -> list[str]:
        names = list(roots or self.sandbox.roots())
        with ThreadPoolExecutor(max(1, min(self.jobs, len(names)))) as pool:
            changed = list(pool.map(self.sandbox.replan_has_changes, names))
        return [name for name, has_changes in zip(names, changed, strict=True) if has_changes]

    def check_build(self) -> None:
        changed = self.timed("re-plan every root after the build", self.roots_with_changes)
        if changed:
            raise E2EFailure(f"the plan right after the build is not empty for: {', '.join(changed)}")

    def wiring(self, env: str) -> Wiring:
        param = self.sandbox.clients.ssm.get_parameter(Name=wiring_param(env))["Parameter"]["Value"]
        return parse_wiring(env, param)

    def observed(self, env: str) -> dict[str, str]:
        """Where each routing point and record says the traffic goes, as colors."""
        clients, wiring = self.sandbox.clients, self.wiring(env)

        def color(arn: str | None) -> str:
            return (wiring.color_of_target_group(arn) if arn else None) or f"not ours: {arn}"

        seen: dict[str, str] = {}
        if wiring.is_default_action:
            found = clients.elbv2.describe_listeners(ListenerArns=list(wiring.listener_arns.values()))
            for listener in found["Listeners"]:
                action = listener["DefaultActions"][0]
                seen[f"listener :{listener['Port']}"] = color(action.get("TargetGroupArn"))
        else:
            found_rules = clients.elbv2.describe_rules(RuleArns=list(wiring.rule_arns.values()))
            ports = {arn: key for key, arn in wiring.rule_arns.items()}
            for rule in found_rules["Rules"]:
                seen[f"{ports[rule['RuleArn']]} rule"] = color(rule["Actions"][0].get("TargetGroupArn"))
        params = clients.ssm.get_parameters(Names=[active_color_param(env), active_tg_param(env)])
        values = {p["Name"]: p["Value"] for p in params["Parameters"]}
        seen["SSM active-color"] = values.get(active_color_param(env), "missing")
        seen["SSM active-target-group-arn"] = color(values.get(active_tg_param(env)))
        seen["color file"] = read_active_color(self.sandbox.envs_dir / env)
        return seen

    def run_cli(self, env: str, args: Sequence[str], plan_log: Path | None = None) -> str:
        environ = self.sandbox.child_environ()
        if plan_log is not None:
            environ[PLAN_LOG_ENV] = str(plan_log)
        argv = [sys.executable, str(REPO_ROOT / "scripts" / "bluegreen.py"), "--env", env, *args]
        try:
            proc = subprocess.run(
                argv, env=environ, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise E2EFailure(
                f"bluegreen {' '.join(argv[2:])} did not finish within {CLI_TIMEOUT:.0f}s"
            ) from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            raise E2EFailure(f"bluegreen {' '.join(argv[2:])} exited {proc.returncode}:\n{tail}")
        return proc.stdout

    def check_plan(self, env: str, op: Operation, plan_log: Path) -> PlanReport:
        plans = sorted(plan_log.glob("*.json"))
        if len(plans) != 1:
            raise E2EFailure(f"{env} {op.name}: expected one plan through the guard, found {len(plans)}")
        doc = json.loads(plans[0].read_text(encoding="utf-8"))
        report = guard(parse_plan(doc))  # raises PlanGuardError if it were more than the switch
        if report.colors() != (op.from_color, op.to_color):
            raise E2EFailure(
                f"{env} {op.name}: the plan switches {report.colors()}, not {op.from_color}->{op.to_color}"
            )
        kinds = sorted(t.kind for t in report.traffic_changes)
        want = ["listener", "listener", "ssm", "ssm"] if env == "prod" else ["rule", "rule", "ssm", "ssm"]
        if kinds != want:
            raise E2EFailure(f"{env} {op.name}: the plan's traffic changes are {kinds}, expected {want}")
        kept = self.plans_dir / f"{env}-{op.name}.json"
        shutil.copy(plans[0], kept)
        self.plans[f"{env}-{op.name}"] = kept
        return report

    def operation(self, env: str, op: Operation) -> None:
        plan_log = Path(tempfile.mkdtemp(prefix=f"plans-{env}-{op.name}-", dir=self.plans_dir))
        self.timed(
            f"{env}: {' '.join(op.args)} --via terraform",
            lambda: self.run_cli(env, [*op.args, "--via", "terraform"], plan_log),
        )
        seen = self.observed(env)
        wrong = {k: v for k, v in seen.items() if v != op.to_color}
        if wrong:
            raise E2EFailure(f"{env} {op.name}: expected everything on {op.to_color}, but {wrong}")
        self.check_plan(env, op, plan_log)
        shutil.rmtree(plan_log, ignore_errors=True)
        changed = self.timed(
            f"{env}: re-plan after {op.name}", lambda: self.roots_with_changes([f"envs/{env}"])
        )
        if changed:
            raise E2EFailure(f"{env}: the plan after {op.name} is not empty")

    def run_env(self, env: str) -> None:
        start = self.observed(env)
        if set(start.values()) != {"blue"}:
            raise E2EFailure(f"{env} does not start on blue: {start}")
        for op in operations(env):
            self.operation(env, op)
        self.timed(f"{env}: validate", lambda: self.run_cli(env, ["validate"]))

    def canary(self, env: str, weight: int = 10) -> None:
        """A canary step and its promotion through the Terraform driver: ``weight`` percent to the
        inactive color (a sticky weighted forward on every carrier, the color parameters untouched, a
        plan of the traffic actions only), then everything to it; the root re-plans empty after each."""
        from bgctl.switching import TerraformDriver

        wiring = self.wiring(env)
        start = self.observed(env)
        active = start["SSM active-color"]
        if set(start.values()) != {active}:
            raise E2EFailure(f"{env} is not settled before the canary: {start}")
        plan_log = Path(tempfile.mkdtemp(prefix=f"plans-{env}-canary-", dir=self.plans_dir))
        environ = {**self.sandbox.environ(), PLAN_LOG_ENV: str(plan_log)}
        driver = TerraformDriver(self.sandbox.envs_dir, str(self.sandbox.binary), env=environ)
        step, final = TrafficSplit(active, weight), TrafficSplit.to(other_color(active))
        for split, kinds in ((step, ["rule", "rule"]), (final, ["rule", "rule", "ssm", "ssm"])):
            self.timed(
                f"{env}: {split.describe()} via the terraform driver", partial(driver.apply, wiring, split)
            )
            seen = self.splits(env, wiring)
            wrong = {k: v for k, v in seen.items() if v != split.describe()}
            ssm = self.observed(env)["SSM active-color"]
            if ssm != split.active:  # a canary step leaves the color parameters alone
                wrong["SSM active-color"] = ssm
            if wrong:
                raise E2EFailure(f"{env}: expected {split.describe()} everywhere, but {wrong}")
            plans = sorted(plan_log.glob("*.json"))
            report = guard(parse_plan(json.loads(plans[-1].read_text(encoding="utf-8"))))
            want = [k.replace("rule", "listener") for k in kinds] if wiring.is_default_action else kinds
            if sorted(t.kind for t in report.traffic_changes) != want:
                raise E2EFailure(f"{env} {split.describe()}: the plan changed {report.traffic_changes}")
            if self.roots_with_changes([f"envs/{env}"]):
                raise E2EFailure(f"{env}: the plan after {split.describe()} is not empty")
        shutil.rmtree(plan_log, ignore_errors=True)

    def splits(self, env: str, wiring: Wiring) -> dict[str, str]:
        """Per carrier (with its stickiness when weighted) and in the color file: the split, described."""
        elb, seen = self.sandbox.clients.elbv2, {}
        for carrier in carriers(wiring):
            if carrier.kind == "listener":
                actions = elb.describe_listeners(ListenerArns=[carrier.arn])["Listeners"][0]["DefaultActions"]
            else:
                actions = elb.describe_rules(RuleArns=[carrier.arn])["Rules"][0]["Actions"]
            split = split_of_actions(list(actions), wiring)
            shown = split.describe() if split else f"not ours: {actions}"
            sticky = actions[0].get("ForwardConfig", {}).get("TargetGroupStickinessConfig", {})
            if (
                split
                and split.canary_weight
                and sticky
                != {
                    "Enabled": True,
                    "DurationSeconds": wiring.canary.stickiness_seconds,
                }
            ):
                shown += f" without the wiring's stickiness ({sticky})"
            seen[carrier.label] = shown
        seen["color file"] = read_split(self.sandbox.envs_dir / env).describe()
        return seen

    def run_envs(self, envs: Sequence[str]) -> dict[str, BaseException | None]:
        """``run_env`` for each environment, ``jobs`` at a time (they share nothing but the load
        balancer, and each holds its own lock); returns each one's failure or None."""

        def one(env: str) -> BaseException | None:
            try:
                self.run_env(env)
            except Exception as exc:  # noqa: BLE001 - reported per environment by the caller
                return exc
            return None

        with ThreadPoolExecutor(max(1, min(self.jobs, len(envs)))) as pool:
            return dict(zip(envs, pool.map(one, envs), strict=True))

    def update_fixtures(self, target: Path = FIXTURES_DIR) -> list[Path]:
        """Copy each environment's first switch plan (the deploy's, blue -> green) into ``target``."""
        written = []
        for key, path in sorted(self.plans.items()):
            env, op = key.rsplit("-", 1)
            if op == "deploy":
                dest = target / fixture_name(env)
                shutil.copy(path, dest)  # byte for byte what `terraform show -json` printed
                written.append(dest)
        return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make e2e", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all", action="store_true", help="apply all nine environment roots (beta+prod: default)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="roots applied, environments exercised at once")
    parser.add_argument("--plans-dir", type=Path, default=None, help="keep the plans the guard saw here")
    parser.add_argument(
        "--update-fixtures", action="store_true", help=f"write {fixture_name('ENV')} fixtures"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working copy (its path is printed)")
    args = parser.parse_args(argv)
    from bgctl.envspec import environment_names

    envs = tuple(environment_names()) if args.all else E2E_ENVS
    started = time.monotonic()
    sandbox = TerraformSandbox(envs=envs, jobs=args.jobs, keep=args.keep, log=print)
    try:
        sandbox.start()
    except TerraformUnavailable as exc:
        print(f"e2e: skipped: {exc.reason}")
        return 0
    plans_dir = args.plans_dir or Path(tempfile.mkdtemp(prefix="bluegreen-e2e-plans-"))
    plans_dir.mkdir(parents=True, exist_ok=True)
    e2e = E2E(sandbox, plans_dir, jobs=args.jobs)
    try:
        e2e.check_build()
        failures = {env: exc for env, exc in e2e.run_envs(E2E_ENVS).items() if exc is not None}
        if failures:
            raise E2EFailure("\n".join(f"{env}: {exc}" for env, exc in failures.items()))
    except AssertionError as exc:
        print(f"e2e: FAILED: {exc}", file=sys.stderr)
        if args.keep:
            print(f"e2e: working copy kept in {sandbox.workdir}", file=sys.stderr)
        return 1
    finally:
        sandbox.stop()
    if args.update_fixtures:
        for path in e2e.update_fixtures():
            print(f"e2e: wrote {path.relative_to(REPO_ROOT)}")
    print(f"e2e: plans the guard saw are in {plans_dir}")
    print(f"e2e: passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
