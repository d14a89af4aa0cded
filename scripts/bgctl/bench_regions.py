"""``make bench-traffic ARGS="--regions us-east-1,eu-west-1"``: zero downtime per region during waves.

The sandbox is built in every region named (one moto server; ``bgctl.sandbox.regions``), each region's
load balancer on a front of its own. Users load every region's front while the real CLI runs, through
``bgctl.cli.main``, ``deploy gh-N --regions R1,R2 --wave-bake S`` then ``rollback --regions R1,R2``,
then ``cleanup`` in each region (the standby held for rollback), ``--wave-cycles`` times. Each
operation is a window. Per region the table reports requests, failed requests, p50/p99 latency through
that region's front, mixed-version sessions (a user who saw a version again after another within one
window) and the versions served; per deploy and rollback, when each region's users first got the
version it moves to (seconds into the operation): the regions must switch in wave order.

Everything runs in this process on 127.0.0.1: figures compare runs with each other, not with AWS.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgctl.sandbox.loadgen import (
    EnvTraffic,
    LoadReport,
    Sample,
    TrafficLoad,
    entry_path,
    format_table,
    make_users,
    mixed_sessions,
    percentile,
)

WAVE_VERSIONS = ("gh-101", "gh-102", "gh-103", "gh-104")


@dataclass(frozen=True)
class WaveOp:
    label: str  # "deploy gh-101 #1"
    window: int
    code: int
    seconds: float
    version: str  # what the users should get at the end of it ("": it moves no traffic)
    began: float  # seconds since the load started


@dataclass
class RegionsResult:
    env: str
    regions: tuple[str, ...]
    ops: list[WaveOp] = field(default_factory=list)
    report: LoadReport | None = None

    def samples(self, region: str) -> list[Sample]:
        assert self.report is not None
        return [s for s in self.report.samples if s.group == f"{self.env}@{region}"]

    def first_new(self, op: WaveOp, region: str) -> float | None:
        """Seconds into ``op`` until ``region``'s users first got its version (None: never in it)."""
        if not op.version:
            return None
        times = [s.started for s in self.samples(region) if s.window == op.window and s.version == op.version]
        return min(times) - op.began if times else None

    def in_wave_order(self) -> bool:
        """Every deploy reached the regions one after the other, in the order they were named."""
        for op in self.ops:
            if not op.label.startswith("deploy"):
                continue
            firsts = [self.first_new(op, r) for r in self.regions]
            known = [t for t in firsts if t is not None]
            if len(known) != len(firsts) or known != sorted(known):
                return False
        return True


def run_waves(
    sandbox: Any,
    envs_dir: Path,
    regions: Sequence[str],
    *,
    env: str = "beta",
    cycles: int = 2,
    users: int = 4,
    rate: float = 10.0,
    wave_bake: float = 1.0,
    settle: float = 0.5,
    progress: Callable[[str], None] = lambda line: None,
) -> RegionsResult:
    """Build the other regions, load every region's front, run the waves through the CLI on the roots
    of ``envs_dir`` (a private copy: the switches rewrite its color files)."""
    from bgctl.cli import main
    from bgctl.sandbox.regions import build_region
    from bgctl.sandbox.server import REGION
    from bgctl.settings import Settings

    for region in regions:
        if region != REGION:
            build_region(sandbox, region)
    settings = Settings.from_environ(
        {
            **sandbox.environ(),
            "BLUEGREEN_ENVS_DIR": str(envs_dir),
            "BLUEGREEN_POLL_INTERVAL": "0.1",
        }
    )
    wiring = sandbox.resources[env].wiring
    listeners = tuple(k for k in ("https", "http") if k in wiring.listener_arns)
    path = entry_path(wiring.path_patterns, wiring.is_default_action)
    specs = []
    for region in regions:
        front = sandbox.front_in(region)
        urls = {"http": front.http_url, "https": front.https_url}
        specs += make_users(urls, [EnvTraffic(f"{env}@{region}", path, listeners)], users)
    result = RegionsResult(env, tuple(regions))
    names = ",".join(regions)
    load = TrafficLoad(specs, rate=rate, duration=3600.0, request_timeout=10.0).start()
    try:
        time.sleep(settle)
        for cycle in range(cycles):
            version = WAVE_VERSIONS[cycle % len(WAVE_VERSIONS)]
            deploy = [
                "deploy",
                version,
                "--regions",
                names,
                "--wave-bake",
                f"{wave_bake:g}",
                "--skip-confirmation",
            ]
            steps = [
                (deploy, f"deploy {version} #{cycle + 1}", version),
                (["rollback", "--regions", names, "--no-commit"], f"rollback #{cycle + 1}", "gh-100"),
            ]
            # Release the standby each region holds for rollback, so the next wave deploys afresh.
            steps += [(["--region", r, "cleanup", "--yes"], f"cleanup {r}", "") for r in regions]
            for argv, label, serves in steps:
                window = load.mark(label)
                began = load.now()
                t0 = time.monotonic()
                with (
                    contextlib.redirect_stdout(io.StringIO()),
                    contextlib.redirect_stderr(io.StringIO()) as err,
                ):
                    code = main(["--env", env, *argv], settings=settings)
                op = WaveOp(label, window, code, time.monotonic() - t0, serves, began)
                result.ops.append(op)
                tail = "" if code == 0 else f"  exit {code}: {err.getvalue().strip().splitlines()[-1:]}"
                progress(f"  {label:<20} {op.seconds:6.2f} s{tail}")
                time.sleep(settle)
    finally:
        result.report = load.stop()
    return result


def regions_table(result: RegionsResult) -> str:
    assert result.report is not None
    labels = result.report.labels
    rows = [["region", "requests", "failed", "p50 ms", "p99 ms", "mixed", "versions served"]]
    for region in result.regions:
        samples = result.samples(region)
        ok = [s.latency for s in samples if s.ok]
        served: dict[str, int] = {}
        for s in samples:
            if s.version:
                served[s.version] = served.get(s.version, 0) + 1
        rows.append(
            [
                region,
                str(len(samples)),
                str(sum(1 for s in samples if not s.ok)),
                f"{percentile(ok, 50) * 1000:.1f}" if ok else "-",
                f"{percentile(ok, 99) * 1000:.1f}" if ok else "-",
                str(len(mixed_sessions(samples, labels))),
                ", ".join(f"{v} x{n}" for v, n in sorted(served.items())),
            ]
        )
    return format_table(rows)


def waves_table(result: RegionsResult) -> str:
    rows = [["operation", "exit", "seconds", *(f"new in {r} after" for r in result.regions)]]
    for op in result.ops:
        firsts = [result.first_new(op, r) for r in result.regions]
        cells = [f"{t:.2f} s" if t is not None else "-" for t in firsts]
        rows.append([op.label, str(op.code), f"{op.seconds:.2f}", *cells])
    return format_table(rows)


def regions_main(args: argparse.Namespace) -> int:
    from bgctl.regions import parse_regions
    from bgctl.sandbox import Sandbox

    regions = parse_regions(args.regions)
    env = args.envs.split(",")[0].strip()
    print(
        f"bench-traffic --regions {','.join(regions)}: {args.wave_cycles} x (deploy --regions, rollback "
        f"--regions) on {env}, wave bake {args.wave_bake:g} s; {args.users} users per region at "
        f"{args.rate:g} requests/s each",
        flush=True,
    )
    from bgctl.cli.sandbox import sandbox_envs_dir

    with Sandbox() as sandbox:
        sandbox.apply_environ()
        result = run_waves(
            sandbox,
            sandbox_envs_dir("bench-regions"),  # .sandbox/bench-regions: the sandbox commands' own copy
            regions,
            env=env,
            cycles=args.wave_cycles,
            users=args.users,
            rate=args.rate,
            wave_bake=args.wave_bake,
            progress=lambda line: print(line, flush=True),
        )
    print()
    print(regions_table(result))
    print()
    print(waves_table(result))
    failed = sum(1 for r in result.regions for s in result.samples(r) if not s.ok)
    ordered = result.in_wave_order()
    in_order = "yes" if ordered else "NO"
    print(f"\nfailed requests: {failed}; every deploy reached the regions in wave order: {in_order}")
    return 0 if failed == 0 and ordered and all(op.code == 0 for op in result.ops) else 1
