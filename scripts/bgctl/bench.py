"""``make bench``: AWS API calls and wall time of ``status --all`` against the sandbox.

Starts a sandbox (moto and the instances' health server, both on 127.0.0.1) and measures
``StateReader.read`` (what ``status --all`` does; ``read + render`` adds ``render.all_table``) for

* the nine real environments of ``terraform/envs``, and
* a synthetic fleet (default 90 environments x 40 instances, as issue 4 asks),

each once with HTTP probes and once without. AWS calls are counted with botocore event handlers on
every client the reader uses: ``before-call`` fires once per API call (every page of a paginated call
counts), ``before-send`` once per HTTP attempt, so attempts minus calls are retries.

    python -m bgctl.bench            # 9 envs and 90 x 40, median of 3 runs
    python -m bgctl.bench --quick    # smoke run: 10 x 5, one run

The moto server runs in this process (a thread), so wall times include moto's own work and compete for
the GIL with the reader; they compare runs with each other, not with AWS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bgctl.aws import Clients
from bgctl.callcount import CallCounter, CallCounts, CountingChecker, reader_clients
from bgctl.envspec import ENVS_DIR
from bgctl.state import EnvState, StateReader

DEFAULT_ENVS = 90
DEFAULT_INSTANCES = 40
DEFAULT_RUNS = 3
QUICK_ENVS = 10
QUICK_INSTANCES = 5


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    label: str
    envs: int
    instances: int  # instances the reader saw (both colors)
    probe_http: bool
    read_s: list[float]
    total_s: list[float]  # read + render.all_table
    counts: CallCounts
    counts_stable: bool  # every run made the same calls
    probes: int  # HTTP probes sent per run
    http_ok: int
    peak_traced_kib: int | None

    @property
    def read_median(self) -> float:
        return statistics.median(self.read_s)

    @property
    def total_median(self) -> float:
        return statistics.median(self.total_s)

    @property
    def calls_per_env(self) -> float:
        return self.counts.total / self.envs if self.envs else 0.0


def measure(
    label: str,
    clients: Clients,
    envs: Sequence[str],
    *,
    health_template: str | None,
    probe_http: bool,
    runs: int = DEFAULT_RUNS,
    trace_memory: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Measurement:
    """Time ``runs`` reads and count their calls; with ``trace_memory`` one more read under tracemalloc
    (slow: moto serves from this process and is traced too)."""
    from bgctl import render

    checker = CountingChecker(health_template, loopback_only=True)
    reader = StateReader(clients, checker, envs_dir=ENVS_DIR)
    read_s: list[float] = []
    total_s: list[float] = []
    seen: list[CallCounts] = []
    probes: list[int] = []
    states: dict[str, EnvState] = {}
    with CallCounter.on(clients) as counter:
        for _ in range(max(1, runs)):
            counter.reset()
            checker.probes = 0
            started = time.perf_counter()
            states = reader.read(envs, probe_http=probe_http)
            read_done = time.perf_counter()
            render.all_table(list(states.values()))
            finished = time.perf_counter()
            read_s.append(read_done - started)
            total_s.append(finished - started)
            seen.append(counter.counts())
            probes.append(checker.probes)
            if progress is not None:
                progress(f"{label}: run {len(read_s)}: {read_s[-1]:.2f} s, {seen[-1].total} calls")
    peak: int | None = None
    if trace_memory:
        tracemalloc.start()
        try:
            reader.read(envs, probe_http=probe_http)
            peak = tracemalloc.get_traced_memory()[1] // 1024
        finally:
            tracemalloc.stop()
    instances = sum(len(cs.instances) for st in states.values() for cs in st.colors.values())
    http_ok = sum(cs.http_ok for st in states.values() for cs in st.colors.values())
    return Measurement(
        label=label,
        envs=len(envs),
        instances=instances,
        probe_http=probe_http,
        read_s=read_s,
        total_s=total_s,
        counts=seen[-1],
        counts_stable=all(c.calls == seen[0].calls for c in seen),
        probes=max(probes),
        http_ok=http_ok,
        peak_traced_kib=peak,
    )


# --------------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------------
def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(r: list[str]) -> str:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *[line(r) for r in rows[1:]]])


def summary_table(results: list[Measurement]) -> str:
    rows = [
        [
            "scenario",
            "envs",
            "instances",
            "http probes",
            "read s",
            "read+render s",
            "AWS calls",
            "calls/env",
            "retries",
            "traced peak",
        ]
    ]
    for m in results:
        rows.append(
            [
                m.label,
                str(m.envs),
                str(m.instances),
                f"{m.probes} ({m.http_ok} ok)" if m.probe_http else "off",
                f"{m.read_median:.3f}",
                f"{m.total_median:.3f}",
                str(m.counts.total) + ("" if m.counts_stable else " (varied)"),
                f"{m.calls_per_env:.2f}",
                str(m.counts.retries),
                f"{m.peak_traced_kib / 1024:.1f} MiB" if m.peak_traced_kib is not None else "-",
            ]
        )
    return _table(rows, right=set(range(1, 10)))


def operations_table(results: list[Measurement]) -> str:
    ops = sorted({op for m in results for op in m.counts.calls})
    rows = [["AWS calls by operation", *[m.label for m in results]]]
    rows += [[op, *[str(m.counts.calls.get(op, 0)) for m in results]] for op in ops]
    rows.append(["total", *[str(m.counts.total) for m in results]])
    return _table(rows, right=set(range(1, len(results) + 1)))


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bgctl.bench",
        description="AWS calls and wall time of `status --all` (StateReader.read) against the sandbox.",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_ENVS} x {QUICK_INSTANCES}, 1 run"
    )
    parser.add_argument("--envs", type=int, default=None, help=f"synthetic environments ({DEFAULT_ENVS})")
    parser.add_argument("--instances", type=int, default=None, help=f"instances each ({DEFAULT_INSTANCES})")
    parser.add_argument("--runs", type=int, default=None, help=f"timed runs, median shown ({DEFAULT_RUNS})")
    parser.add_argument(
        "--memory", action="store_true", help="one more read per scenario under tracemalloc (slow)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    n_envs = args.envs if args.envs is not None else (QUICK_ENVS if args.quick else DEFAULT_ENVS)
    n_inst = (
        args.instances
        if args.instances is not None
        else (QUICK_INSTANCES if args.quick else DEFAULT_INSTANCES)
    )
    runs = args.runs if args.runs is not None else (1 if args.quick else DEFAULT_RUNS)

    from bgctl.sandbox import Sandbox

    def say(message: str) -> None:
        print(f"  {message}", flush=True)

    print("bluegreen bench: StateReader.read (= status --all) against the sandbox on 127.0.0.1", flush=True)
    print(f"timed runs per scenario: {runs} (median shown); each scenario without and with HTTP probes")
    results: list[Measurement] = []
    setup: list[tuple[str, float]] = []
    started = time.perf_counter()
    with Sandbox() as sb:
        setup.append(("sandbox start + 9-env topology", time.perf_counter() - started))
        say(f"setup: {setup[-1][0]}: {setup[-1][1]:.1f} s")
        sb.apply_environ()  # this process now talks only to the sandbox (as `status --all` would)
        clients = reader_clients(sb.endpoint_url)

        def scenarios(name: str, envs: list[str]) -> None:
            for probe in (False, True):
                label = name + (" +http" if probe else "")
                measured = measure(
                    label,
                    clients,
                    envs,
                    health_template=sb.health_url_template,
                    probe_http=probe,
                    runs=runs,
                    trace_memory=args.memory,
                    progress=say,
                )
                results.append(measured)

        real = sorted(sb.resources)
        scenarios(f"{len(real)} envs", real)
        t0 = time.perf_counter()
        synthetic = sorted(sb.build_synthetic(n_envs, n_inst))
        setup.append((f"synthetic topology {n_envs} envs x {n_inst} instances", time.perf_counter() - t0))
        say(f"setup: {setup[-1][0]}: {setup[-1][1]:.1f} s")
        scenarios(f"{n_envs}x{n_inst}", synthetic)
        import tempfile

        from bgctl.bench_ops import measure_operations, operations_calls_table

        say("operations: deploy, rollback, switch on beta and prod (calls counted per operation)")
        with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as tmp:
            operation_calls = measure_operations(sb, Path(tmp))

    print()
    print(summary_table(results))
    print()
    print(operations_table(results))
    print()
    print(operations_calls_table(operation_calls))
    print()
    for what, seconds in setup:
        print(f"setup: {what}: {seconds:.1f} s")
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {maxrss_mib:.0f} MiB (includes the in-process moto server)")
    print(
        "read s: StateReader.read; read+render s: plus render.all_table (medians). moto serves from this\n"
        "process, so times include moto's own work. traced peak (--memory): tracemalloc peak of one extra\n"
        "read, moto's allocations included. AWS calls: botocore before-call events on the reader's clients\n"
        "(every page counts); retries: before-send attempts minus calls. HTTP probes go only to the\n"
        "sandbox's loopback health server."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
