"""AWS calls (reads, writes, fence checks) of the mutating operations, against the sandbox.

SSM's ``PutParameter`` has a low default per-account throughput, so the writes a switch costs matter:
the target is at most 8 for a path-rule switch and 9 for prod (issue 14). Measured on a fresh
topology: deploy, rollback and switch on beta (path rules) and on prod (listener default actions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bgctl.callcount import CallCounter, CallCounts

READ_PREFIXES = ("Describe", "Get", "List", "Head")
WRITE_TARGETS = {"rule": 8, "listener": 9}


@dataclass(frozen=True)
class OperationCalls:
    env: str
    operation: str
    counts: CallCounts

    @property
    def writes(self) -> dict[str, int]:
        return {
            op: n for op, n in self.counts.calls.items() if not op.split(":", 1)[1].startswith(READ_PREFIXES)
        }

    @property
    def write_total(self) -> int:
        return sum(self.writes.values())

    @property
    def fence_reads(self) -> int:
        return self.counts.calls.get("ssm:GetParameter", 0)

    @property
    def read_total(self) -> int:
        return self.counts.total - self.write_total


def measure_operations(sandbox: Any, workdir: Path) -> list[OperationCalls]:
    """deploy, rollback, switch on beta and prod, each counted on its own clients."""
    from bgctl.aws import make_clients
    from bgctl.context import Context, NoPrompter
    from bgctl.health import HttpChecker
    from bgctl.operations.deploy import deploy
    from bgctl.operations.switch import rollback, switch
    from bgctl.settings import Settings
    from bgctl.state import StateReader
    from bgctl.switching import ApiDriver

    sandbox.reset(rebuild=True)
    import shutil

    from bgctl.envspec import ENVS_DIR

    tree = workdir / "terraform"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(ENVS_DIR.parent, tree, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    settings = Settings(
        envs_dir=tree / "envs",
        health_url=sandbox.health_url_template,
        endpoint_url=sandbox.endpoint_url,
        poll_interval=0.05,
        health_timeout=30,
        verify_timeout=10,
    )

    class Quiet:
        def step(self, name: str, message: str) -> None: ...
        def info(self, message: str) -> None: ...
        def warn(self, message: str) -> None: ...
        def progress(self, message: str) -> None: ...

    results: list[OperationCalls] = []
    for env, version in (("beta", "gh-105"), ("prod", "gh-104")):
        steps: list[tuple[str, Callable[[Context], object]]] = [
            ("deploy", partial(deploy, version=version, skip_confirmation=True)),
            ("rollback", rollback),
            ("switch", partial(switch, to_color="green")),
        ]
        for name, run in steps:
            clients = make_clients(endpoint_url=sandbox.endpoint_url)
            ctx = Context(
                env=env,
                clients=clients,
                reader=StateReader(clients, HttpChecker.of(settings), envs_dir=settings.envs_dir),
                driver=ApiDriver(clients, settings.envs_dir),
                reporter=Quiet(),
                prompter=NoPrompter(),
                settings=settings,
                assume_yes=True,
            )
            with CallCounter.on(clients) as counter:
                run(ctx)
                results.append(OperationCalls(env, name, counter.counts()))
    return results


def operations_calls_table(results: list[OperationCalls]) -> str:
    rows = [["operation", "calls", "reads", "of which fence", "writes", "writes by call"]]
    for r in results:
        detail = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(r.writes.items()))
        rows.append(
            [
                f"{r.env} {r.operation}",
                str(r.counts.total),
                str(r.read_total),
                str(r.fence_reads),
                str(r.write_total),
                detail,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        f"targets: a switch or rollback writes at most {WRITE_TARGETS['rule']} times (path rules), "
        f"{WRITE_TARGETS['listener']} (prod's listeners); fence = lock checks before each write"
    )
    return "\n".join(lines)
