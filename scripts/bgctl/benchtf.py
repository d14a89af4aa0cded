"""``make bench-tf``: what the Terraform switch driver costs on top of Terraform itself.

Builds the Terraform sandbox (shared, prod, beta applied to moto by the real roots), points this process
at it, then for ``--rounds`` rounds on one environment (default beta):

* the driver: ``TerraformDriver.check_available`` + ``TerraformDriver.switch`` (what ``switch --via
  terraform`` runs), blue -> green, broken into
    init   every ``terraform init`` (check_available's two and the switch's own)
    plan   ``terraform plan -out -detailed-exitcode -var active_color=...``
    guard  ``terraform show -json`` of the saved plan + parsing it + the plan guard (Python)
    apply  ``terraform apply`` of exactly that saved plan
    other  the rest: color file, endpoint checks, process start-up of nothing (Python only)
* bare Terraform in the same root, same environment, green -> blue: write the color file,
  ``terraform plan -out=PLAN -var active_color=...`` then ``terraform apply PLAN``.

It prints the median of each and the overhead ``driver / bare - 1``. Wall times on a shared 2-core
machine vary from run to run by 10-20 %; compare the two columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgctl.colorfile import write_active_color
from bgctl.terraform import CommandRecord, observe_commands

PHASES = ("init", "plan", "guard", "apply", "other")
DEFAULT_ROUNDS = 3
BARE_TIMEOUT = 900.0


@dataclass
class DriverRound:
    check: float
    switch: float
    phases: dict[str, float]
    inits: str = ""

    @property
    def total(self) -> float:
        return self.check + self.switch


@dataclass
class BareRound:
    plan: float
    apply: float

    @property
    def total(self) -> float:
        return self.plan + self.apply


@dataclass
class GuardClock:
    """Wall time spent in the plan guard's Python (parse_plan + guard) during a switch."""

    seconds: float = 0.0
    calls: list[str] = field(default_factory=list)


@contextmanager
def time_guard(clock: GuardClock) -> Iterator[None]:
    """Wrap the parse and guard functions the switch driver calls (bgctl.tfswitch) with a stopwatch."""
    from bgctl import tfswitch

    # The driver looks these names up in bgctl.tfswitch at call time: wrap them there.
    originals: dict[str, Callable[..., Any]] = {
        name: getattr(tfswitch, name) for name in ("parse_plan", "guard")
    }

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - started
                clock.calls.append(name)

        return wrapper

    for name, fn in originals.items():
        setattr(tfswitch, name, timed(name, fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(tfswitch, name, fn)


def _sum(records: Sequence[CommandRecord], command: str) -> float:
    return sum(r.seconds for r in records if r.command == command)


def _inits(records: Sequence[CommandRecord]) -> str:
    ran = sum(1 for r in records if r.command == "init" and not r.cached)
    cached = sum(1 for r in records if r.command == "init" and r.cached)
    return f"{ran} ran, {cached} cached"


def driver_round(driver: Any, wiring: Any, env: str, color: str) -> DriverRound:
    clock = GuardClock()
    with observe_commands() as records, time_guard(clock):
        started = time.perf_counter()
        driver.check_available(env)
        checked = time.perf_counter()
        driver.switch(wiring, color)
        done = time.perf_counter()
    failed = [r for r in records if r.returncode not in (0, 2)]
    if failed:
        raise RuntimeError(f"terraform {failed[0].command} failed during the driver's switch")
    phases = {
        "init": _sum(records, "init"),
        "plan": _sum(records, "plan"),
        "guard": _sum(records, "show") + clock.seconds,
        "apply": _sum(records, "apply"),
    }
    phases["other"] = (done - started) - sum(phases.values())
    return DriverRound(checked - started, done - checked, phases, _inits(records))


def bare_round(binary: str, root_dir: Path, environ: dict[str, str], color: str) -> BareRound:
    write_active_color(root_dir, color)  # what a reviewed switch commit changes

    def run(*args: str) -> float:
        started = time.perf_counter()
        proc = subprocess.run(
            [binary, *args],
            cwd=root_dir,
            env=environ,
            capture_output=True,
            text=True,
            timeout=BARE_TIMEOUT,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"terraform {args[0]} failed:\n{proc.stderr[-2000:]}")
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="bluegreen-bare-") as tmp:
        plan_path = str(Path(tmp) / "bare.tfplan")
        plan = run("plan", "-input=false", "-no-color", f"-out={plan_path}", f"-var=active_color={color}")
        apply = run("apply", "-input=false", "-no-color", "-auto-approve", plan_path)
    return BareRound(plan, apply)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(env: str, driver: Sequence[DriverRound], bare: Sequence[BareRound]) -> list[str]:
    d_total = _median([r.total for r in driver])
    d_switch = _median([r.switch for r in driver])
    b_total = _median([r.total for r in bare])
    lines = [
        f"{env}: median of {len(driver)} round(s), seconds",
        "",
        "  Terraform driver (check_available + switch)        bare terraform (plan -out && apply)",
    ]
    bare_rows = {"plan": _median([r.plan for r in bare]), "apply": _median([r.apply for r in bare])}
    for phase in PHASES:
        value = _median([r.phases[phase] for r in driver])
        right = f"{phase:<6} {bare_rows[phase]:6.1f}" if phase in bare_rows else ""
        lines.append(f"    {phase:<6} {value:6.1f}                                      {right}")
    lines.append(
        f"    total  {d_total:6.1f}  (switch alone {d_switch:5.1f})                 total  {b_total:6.1f}"
    )
    lines.append("")
    lines.append(f"  overhead of the driver on top of Terraform: {100 * (d_total / b_total - 1):+.1f} %")
    lines.append(f"  (switch alone, without check_available: {100 * (d_switch / b_total - 1):+.1f} %)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-tf", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="beta", help="environment to switch (beta or prod)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="driver and bare rounds each")
    args = parser.parse_args(argv)

    from bgctl.sandbox.server import REAL_AWS_VARS
    from bgctl.sandbox.tfsandbox import TerraformSandbox, TerraformUnavailable
    from bgctl.switching import TerraformDriver
    from bgctl.wiring import parse_wiring, wiring_param

    print("bluegreen bench-tf: the Terraform switch driver against bare terraform plan && apply", flush=True)
    sandbox = TerraformSandbox(envs=(args.env,), log=lambda line: print(f"  setup: {line}", flush=True))
    try:
        sandbox.start()
    except TerraformUnavailable as exc:
        print(f"bench-tf: skipped: {exc.reason}")
        return 0
    try:
        # This process now talks only to the sandbox, as the CLI would with `source .sandbox/env`.
        for name in (*REAL_AWS_VARS, "BLUEGREEN_TF_PLUGIN_DIR"):
            os.environ.pop(name, None)
        os.environ.update(sandbox.environ())
        binary = str(sandbox.binary)
        root = sandbox.root(f"envs/{args.env}")
        param = sandbox.clients.ssm.get_parameter(Name=wiring_param(args.env))["Parameter"]["Value"]
        wiring = parse_wiring(args.env, param)
        driver = TerraformDriver(sandbox.envs_dir, binary)
        driver_rounds: list[DriverRound] = []
        bare_rounds: list[BareRound] = []
        for n in range(1, args.rounds + 1):
            d = driver_round(driver, wiring, args.env, "green")
            driver_rounds.append(d)
            shown = " ".join(f"{p} {d.phases[p]:.1f}" for p in PHASES)
            print(f"  round {n}: driver blue->green {d.total:5.1f}s ({shown}; init: {d.inits})", flush=True)
            b = bare_round(binary, root.working_dir, root.environ, "blue")
            bare_rounds.append(b)
            print(
                f"  round {n}: bare   green->blue {b.total:5.1f}s (plan {b.plan:.1f} apply {b.apply:.1f})",
                flush=True,
            )
        print()
        print("\n".join(report(args.env, driver_rounds, bare_rounds)))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
