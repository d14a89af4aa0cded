"""``make bench-traffic``: zero downtime and version consistency, measured through the sandbox's ALB.

Simulated users load the sandbox's load balancer front (``bgctl.sandbox.front``) at a steady rate while
the tool's own operations move traffic, in the foreground, cycle after cycle, alternating environments
(beta: listener rules; prod: the listeners' default actions):

    deploy gh-N (a new version to the idle color, then traffic moves to it)
    switch back to the previous color          (traffic moves)
    rollback                                   (traffic moves)
    cleanup (the idle color scaled to zero)

Each operation is a *window* (``TrafficLoad.mark``). The table reports requests, non-2xx answers,
connection errors, p50/p99 latency through the front, traffic moves, and mixed-version sessions: a user
who, within one window, saw a version again after another (A -> B -> A). The users who keep to one
listener are the headline (what a browser on https:// does); users who alternate between the HTTP and
HTTPS listeners on every request are reported on their own row, because the tool moves the two
listeners' rules one after the other.

    python scripts/bench_traffic.py                 # 26 cycles: 78 traffic moves, 52 of them switch/rollback
    python scripts/bench_traffic.py --cycles 2      # a quick look
    python scripts/bench_traffic.py --canary 10,50  # one canary deploy per environment instead: the share
    python scripts/bench_traffic.py --regions us-east-1,eu-west-1  # waves, per-region figures

``--canary 10,50`` runs, on each environment, one ``deploy --canary 10,50 --bake S`` watched by a
``bgctl.sandbox.canaryshare.CanaryProbe``: during each bake step, new visitors (no cookie) measure the
share of requests the new color serves against the configured weight (binomial: the table gives the
4.5-sigma bound and the deviation z in sigmas), and sticky users (keeping their ``AWSALBTG`` cookie)
must stay on one color, within each step and over the whole canary.

Everything runs in this process (moto, the health server, the front, the users), on 127.0.0.1: latency
figures compare runs with each other, not with AWS.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl.errors import BlueGreenError
from bgctl.sandbox.loadgen import (
    EnvTraffic,
    LoadReport,
    MixedSession,
    Sample,
    TrafficLoad,
    by_window,
    entry_path,
    format_table,
    make_users,
    percentile,
)

if TYPE_CHECKING:
    from bgctl.sandbox.canaryshare import CanaryShare

DEFAULT_CYCLES = 26
DEFAULT_ENVS = ("beta", "prod")
DEPLOY_VERSIONS = ("gh-101", "gh-102", "gh-103", "gh-104")  # builds every environment can deploy
MOVES = ("deploy", "switch", "rollback")
WARMUP = 1.5
CARRIER_WRITES = ("ModifyRule", "ModifyListener")
IDLE = "idle"  # the window before the first operation: the latency baseline


@dataclass(frozen=True)
class Operation:
    env: str
    name: str
    window: int
    seconds: float
    moved: str = ""  # "blue -> green" when traffic moved
    version: str | None = None
    error: str | None = None
    # Seconds from the first carrier write (ModifyRule/ModifyListener) to the last: while it lasts the
    # HTTPS and HTTP listeners route the environment to different colors. None: fewer than two writes.
    listener_gap: float | None = None


@dataclass
class BenchResult:
    report: LoadReport
    operations: list[Operation] = field(default_factory=list)
    front: dict[str, dict[str, int]] = field(default_factory=dict)

    def users(self, alternating: bool) -> LoadReport:
        """The samples of the users who keep to one listener (False) or alternate (True)."""
        keep = [s for s in self.report.samples if ("-both-" in s.user) == alternating]
        names = {s.user for s in keep}
        return LoadReport(keep, self.report.labels, self.report.duration, len(names))

    @property
    def moves(self) -> list[Operation]:
        return [op for op in self.operations if op.moved and not op.error]

    @property
    def errors(self) -> list[Operation]:
        return [op for op in self.operations if op.error]


class _Quiet:
    def step(self, name: str, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def progress(self, message: str) -> None: ...


def copy_envs(workdir: Path) -> Path:
    """A private copy of the Terraform tree (the API driver rewrites color files)."""
    from bgctl.envspec import ENVS_DIR

    tree = workdir / "terraform"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(ENVS_DIR.parent, tree, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return tree / "envs"


def operation_context(sandbox: Any, envs_dir: Path, env: str, clients: Any = None) -> Any:
    """A Context as an operator's terminal would build it, non-interactive (``--yes``)."""
    from bgctl.aws import make_clients
    from bgctl.context import Context, NoPrompter
    from bgctl.health import HttpChecker
    from bgctl.settings import Settings
    from bgctl.state import StateReader
    from bgctl.switching import ApiDriver

    settings = Settings(
        envs_dir=envs_dir,
        health_url=sandbox.health_url_template,
        preview_url=sandbox.front.https_url,  # deploys smoke-test the new color through the front
        endpoint_url=sandbox.endpoint_url,
        poll_interval=0.05,
        health_timeout=30,
        verify_timeout=10,
    )
    clients = clients or make_clients(endpoint_url=sandbox.endpoint_url)
    return Context(
        env=env,
        clients=clients,
        reader=StateReader(clients, HttpChecker.of(settings), envs_dir=envs_dir),
        driver=ApiDriver(clients, envs_dir),
        reporter=_Quiet(),
        prompter=NoPrompter(),
        settings=settings,
        assume_yes=True,
    )


def env_traffic(sandbox: Any, env: str) -> EnvTraffic:
    wiring = sandbox.resources[env].wiring
    listeners = tuple(k for k in ("https", "http") if k in wiring.listener_arns)
    return EnvTraffic(env, entry_path(wiring.path_patterns, wiring.is_default_action), listeners)


def _next_version(current: str | None, cycle: int) -> str:
    for i in range(len(DEPLOY_VERSIONS)):
        version = DEPLOY_VERSIONS[(cycle + i) % len(DEPLOY_VERSIONS)]
        if version != current:
            return version
    return DEPLOY_VERSIONS[0]  # pragma: no cover - four versions, at most one is current


def run_cycles(
    sandbox: Any,
    envs_dir: Path,
    load: TrafficLoad,
    *,
    cycles: int,
    envs: Sequence[str] = DEFAULT_ENVS,
    settle: float = 0.3,
    progress: Callable[[Operation], None] | None = None,
) -> list[Operation]:
    """deploy -> switch -> rollback -> cleanup, ``cycles`` times, alternating ``envs``; every operation
    in its own window. Stops at the first operation that fails (and reports it)."""
    from bgctl.aws import make_clients
    from bgctl.operations.cleanup import cleanup
    from bgctl.operations.deploy import deploy
    from bgctl.operations.switch import rollback, switch

    clients = make_clients(endpoint_url=sandbox.endpoint_url)
    writes: list[float] = []

    def carrier_written(**_: Any) -> None:
        writes.append(time.monotonic())

    for call in CARRIER_WRITES:
        clients.elbv2.meta.events.register(f"after-call.elastic-load-balancing-v2.{call}", carrier_written)
    done: list[Operation] = []
    for cycle in range(cycles):
        env = envs[cycle % len(envs)]
        ctx = operation_context(sandbox, envs_dir, env, clients)
        state = ctx.reader.read_one(env, probe_http=False)
        split = state.routing.split
        active = split.active if split else "blue"
        version = _next_version(state.colors[active].version, cycle // len(envs))
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("deploy", functools.partial(deploy, ctx, version)),
            ("switch", functools.partial(switch, ctx, active)),
            ("rollback", functools.partial(rollback, ctx)),
            ("cleanup", functools.partial(cleanup, ctx)),
        ]
        for name, step in steps:
            window = load.mark(f"{env} {name} #{cycle + 1}")
            writes.clear()
            started = time.monotonic()
            try:
                outcome = step()
            except BlueGreenError as exc:
                op = Operation(
                    env, name, window, time.monotonic() - started, error=exc.message.splitlines()[0]
                )
            else:
                moved = ""
                if name in MOVES and outcome.from_split and outcome.to_split:
                    moved = f"{outcome.from_split.describe()} -> {outcome.to_split.describe()}"
                gap = writes[-1] - writes[0] if len(writes) > 1 else None
                op = Operation(
                    env, name, window, time.monotonic() - started, moved, outcome.version, None, gap
                )
            done.append(op)
            if progress is not None:
                progress(op)
            if op.error:
                return done
            time.sleep(settle)  # users see the new state for a while before the next window opens
    return done


def run(
    sandbox: Any,
    workdir: Path,
    *,
    cycles: int = DEFAULT_CYCLES,
    envs: Sequence[str] = DEFAULT_ENVS,
    users_per_env: int = 6,
    alternating: int = 2,
    rate: float = 10.0,
    settle: float = 0.3,
    warmup: float = 0.5,
    max_seconds: float = 900.0,
    progress: Callable[[Operation], None] | None = None,
) -> BenchResult:
    """Start the users, run the cycles, stop the users; the front's own counts are reported too."""
    envs_dir = copy_envs(workdir)
    front = sandbox.front
    users = make_users(
        {"http": front.http_url, "https": front.https_url},
        [env_traffic(sandbox, env) for env in envs],
        users_per_env,
        alternating=alternating,
    )
    load = TrafficLoad(users, rate=rate, duration=max_seconds, seed=15)
    before = front.stats.snapshot()
    load.start()
    try:
        time.sleep(WARMUP)  # connections opened, every serving instance seen once by the health server
        load.mark(IDLE)
        time.sleep(warmup)
        operations = run_cycles(
            sandbox, envs_dir, load, cycles=cycles, envs=envs, settle=settle, progress=progress
        )
        load.mark("cool-down")
        time.sleep(warmup)
    finally:
        report = load.stop()
    return BenchResult(report, operations, _delta(before, front.stats.snapshot()))


def _delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        key: {
            k: v - before.get(key, {}).get(k, 0)
            for k, v in values.items()
            if v - before.get(key, {}).get(k, 0)
        }
        for key, values in after.items()
    }


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary_table(result: BenchResult) -> str:
    moves = result.moves
    switches = sum(1 for op in moves if op.name in ("switch", "rollback"))
    rows = [
        [
            "users",
            "requests",
            "non-2xx",
            "conn errors",
            "p50",
            "p99",
            "mixed-version sessions",
            "traffic moves",
        ]
    ]
    for title, alternating in (("one listener each", False), ("alternating http/https", True)):
        report = result.users(alternating)
        if not report.samples:
            continue
        rows.append(
            [
                f"{report.users} {title}",
                str(report.requests),
                str(report.non_2xx),
                str(report.connection_errors),
                _ms(report.p(50)),
                _ms(report.p(99)),
                str(len(report.mixed())),
                f"{len(moves)} ({switches} switch/rollback)",
            ]
        )
    return format_table(rows)


def details(result: BenchResult, *, limit: int = 10) -> str:
    report = result.report
    lines = [
        f"duration {report.duration:.1f} s, {report.rate():.0f} requests/s through the front; "
        f"operations: {len(result.operations)} ({len(result.errors)} failed)",
        "answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(report.statuses().items())),
    ]
    by_env = sorted({s.group for s in report.samples})
    for env in by_env:
        served = report.versions(env)
        total = sum(served.values()) or 1
        lines.append(f"{env}: " + ", ".join(f"{v} {100 * n / total:.0f}%" for v, n in served.most_common()))
    if result.front.get("lb_answers"):
        lines.append(
            "the front answered itself: "
            + ", ".join(f"{k} x{v}" for k, v in result.front["lb_answers"].items())
        )
    for op in result.errors:
        lines.append(f"operation failed: {op.env} {op.name}: {op.error}")
    failures: list[Sample] = report.failures(limit)
    for s in failures:
        lines.append(
            f"failed request: {s.user} at {s.started:.2f}s in {report.labels[s.window]!r}: "
            f"{s.status or s.error}"
        )
    mixed: list[MixedSession] = report.mixed()
    for m in mixed[:limit]:
        lines.append(f"mixed session: {m.describe()}")
    if len(mixed) > limit:
        lines.append(f"... and {len(mixed) - limit} more mixed sessions")
    idle = [x.latency for x in report.samples if report.labels[x.window] == IDLE and x.status is not None]
    busy = [x.latency for x in report.samples if x.window > 1 and x.status is not None]
    if idle and busy:
        lines.append(
            f"latency p50/p99: {_ms(percentile(idle, 50))} / {_ms(percentile(idle, 99))} with no operation "
            f"running, {_ms(percentile(busy, 50))} / {_ms(percentile(busy, 99))} while they ran "
            "(moto and the operations share this process and its GIL with the front and the users)"
        )
    gaps = [op.listener_gap for op in result.moves if op.listener_gap is not None]
    if gaps:
        lines.append(
            f"HTTPS and HTTP listeners disagreed for p50 {_ms(percentile(gaps, 50))}, max {_ms(max(gaps))} "
            f"per move ({len(gaps)} moves: the API driver writes the two carriers one after the other)"
        )
    ops = result.operations
    if ops:
        per_op: dict[str, list[float]] = {}
        for op in ops:
            per_op.setdefault(op.name, []).append(op.seconds)
        lines.append(
            "operation wall time (mean): "
            + ", ".join(f"{name} {sum(v) / len(v):.2f} s" for name, v in per_op.items())
        )
    return "\n".join(lines)


def windows_table(result: BenchResult) -> str:
    """Per window, what the users of the environment being operated on were served."""
    rows = [["window", "requests", "failed", "versions served"]]
    groups = {s.group for s in result.report.samples}
    for w in by_window(result.report, groups):
        served = ", ".join(f"{v} x{n}" for v, n in w.versions.most_common())
        rows.append([w.label, str(w.requests), str(w.failed), served])
    return format_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--cycles", type=int, default=DEFAULT_CYCLES, help="deploy/switch/rollback/cleanup cycles"
    )
    parser.add_argument("--envs", default=",".join(DEFAULT_ENVS), help="environments, alternating per cycle")
    parser.add_argument("--users", type=int, default=6, help="users per environment keeping to one listener")
    parser.add_argument(
        "--alternating", type=int, default=2, help="users per environment alternating listeners"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second per user")
    parser.add_argument("--settle", type=float, default=0.3, help="seconds between operations")
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of idle load (the latency baseline) before the first operation",
    )
    parser.add_argument("--windows", action="store_true", help="also print every window's versions")
    parser.add_argument(
        "--canary",
        metavar="WEIGHTS",
        help="instead of the cycles, one canary deploy per environment with these weights (e.g. 10,50): "
        "the share of requests the new color served at each step, and sticky users' colors",
    )
    parser.add_argument("--bake", type=float, default=3.0, help="--canary: seconds of bake per step")
    parser.add_argument(
        "--fresh", type=int, default=2000, help="--canary: new visitors' requests measured per step"
    )
    parser.add_argument("--sticky", type=int, default=24, help="--canary: users keeping their cookie")
    parser.add_argument("--seed", type=int, default=16, help="--canary: the fronts' rng seed")
    parser.add_argument(
        "--regions",
        metavar="R1,R2",
        help="instead of the cycles, waves (deploy --regions, rollback --regions) with users on every "
        "region's load balancer: per-region figures (bgctl.bench_regions)",
    )
    parser.add_argument("--wave-cycles", type=int, default=2, help="--regions: deploy+rollback waves")
    parser.add_argument("--wave-bake", type=float, default=1.0, help="--regions: seconds between regions")
    args = parser.parse_args(argv)
    if args.canary:
        return canary_main(args)
    if args.regions:
        from bgctl.bench_regions import regions_main

        return regions_main(args)

    from bgctl.sandbox import Sandbox

    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    print(
        f"bench-traffic: {args.cycles} cycles on {', '.join(envs)}; {args.users}+{args.alternating} users "
        f"per environment at {args.rate:g} requests/s each",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-traffic-") as tmp, Sandbox() as sandbox:
        sandbox.apply_environ()

        def progress(op: Operation) -> None:
            what = op.error or op.moved or "done"
            print(f"  {op.env:<5} {op.name:<8} {op.seconds:5.2f} s  {what}", flush=True)

        result = run(
            sandbox,
            Path(tmp),
            cycles=args.cycles,
            envs=envs,
            users_per_env=args.users,
            alternating=args.alternating,
            rate=args.rate,
            settle=args.settle,
            warmup=args.warmup,
            progress=progress,
        )
    print()
    print(summary_table(result))
    print()
    print(details(result))
    if args.windows:
        print()
        print(windows_table(result))
    headline = result.users(alternating=False)
    return 1 if result.errors or headline.failed or headline.mixed() else 0


def run_canaries(
    sandbox: Any,
    workdir: Path,
    weights: tuple[int, ...],
    *,
    envs: Sequence[str] = DEFAULT_ENVS,
    bake: float = 3.0,
    fresh: int = 2000,
    sticky: int = 24,
    seed: int = 16,
    progress: Callable[[str], None] | None = None,
) -> list[CanaryShare]:
    """One canary deploy per environment, each watched by a ``CanaryProbe``."""
    from bgctl.operations.deploy import deploy
    from bgctl.sandbox.canaryshare import CanaryProbe

    envs_dir = copy_envs(workdir)
    results = []
    for env in envs:
        ctx = operation_context(sandbox, envs_dir, env)
        state = ctx.reader.read_one(env, probe_http=False)
        split = state.routing.split
        version = _next_version(state.colors[split.active if split else "blue"].version, 0)
        probe = CanaryProbe(sandbox, env, fresh_requests=fresh, sticky_users=sticky, seed=seed)
        started = time.monotonic()
        with probe.watching(ctx):
            deploy(ctx, version, skip_confirmation=True, canary=weights, bake_seconds=bake)
        assert probe.result is not None
        results.append(probe.result)
        if progress is not None:
            progress(f"  {env:<5} canary of {version}: {time.monotonic() - started:5.2f} s")
    return results


def canary_main(args: argparse.Namespace) -> int:
    from bgctl.canary import parse_steps
    from bgctl.sandbox import Sandbox
    from bgctl.sandbox.canaryshare import share_table

    weights = parse_steps(args.canary)
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    print(
        f"bench-traffic --canary {args.canary}: on {', '.join(envs)}, bake {args.bake:g} s per step; "
        f"{args.fresh} new visitors' requests per step, {args.sticky} sticky users at 4 requests/s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-canary-") as tmp, Sandbox() as sandbox:
        sandbox.apply_environ()
        results = run_canaries(
            sandbox,
            Path(tmp),
            weights,
            envs=envs,
            bake=args.bake,
            fresh=args.fresh,
            sticky=args.sticky,
            seed=args.seed,
            progress=lambda line: print(line, flush=True),
        )
    print()
    print(format_table(share_table(results)))
    print()
    for result in results:
        moved = ", ".join(result.rebound) or "none"
        print(
            f"{result.env}: sticky users served by another color in a later step: {moved}; "
            f"every step within the bound, no failure, no flip: {'yes' if result.ok else 'NO'}"
        )
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
