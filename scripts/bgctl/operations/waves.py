"""Deploys across regions, in waves: one region fully (gates, smoke tests, canary if asked), an optional
bake, then the next. Each region is an ordinary deploy with its own lock, journal and history in that
region; the wave adds only the order, the bake between regions and a wave ID on every region's history
record.

Steps: check the regions (before any AWS call) → pin the version (``latest`` resolved once, in the
first region) → name the wave (a new ID, or with ``--resume`` the one the finished regions recorded) →
per region: skip it when resuming and it already serves the version, else deploy → bake and re-check
the finished region before the next.

It stops at the first failure: regions already done stay on the new version, the failed region is
exactly as its deploy left it (undone, or kept with its journal for ``recover``), later regions are
untouched. ``WaveStopped`` then says where each region stands and the commands that continue
(``--resume``) or roll the finished regions back (``rollback --regions``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bgctl.context import Context, Outcome
from bgctl.errors import BlueGreenError, RefusedError, UsageError
from bgctl.gate import read_gate
from bgctl.history import HistoryStore
from bgctl.regions import Target
from bgctl.runner import KeptForRecovery, describe_now

DONE = "done"
SKIPPED = "already serving it"
FAILED = "failed"
NOT_STARTED = "not started"


@dataclass
class RegionResult:
    region: str
    state: str = NOT_STARTED
    detail: str = ""
    outcome: Outcome | None = None


@dataclass
class WaveReport:
    env: str
    operation: str  # "deploy" | "rollback"
    version: str | None
    wave: str
    regions: list[RegionResult] = field(default_factory=list)

    def finished(self) -> list[str]:
        return [r.region for r in self.regions if r.state in (DONE, SKIPPED)]

    def table(self) -> str:
        what = f"{self.operation} {self.version}" if self.version else self.operation
        lines = [f"{self.env}: {what}, wave {self.wave}, {len(self.regions)} region(s):"]
        for r in self.regions:
            detail = f": {r.detail}" if r.detail else ""
            lines.append(f"  {r.region:<16} {r.state}{detail}")
        return "\n".join(lines)


class WaveStopped(BlueGreenError):
    """A region's step failed: the wave stopped there (see the report)."""

    def __init__(self, report: WaveReport, message: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.report = report


def new_wave_id() -> str:
    return f"w{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def _regions_flag(targets: Sequence[Target]) -> str:
    return ",".join(t.region for t in targets)


def _where_now(ctx: Context) -> str:
    return describe_now(ctx)


def _serves(ctx: Context, version: str) -> bool:
    """The region is settled (no lock, no journal) and its active color runs ``version``."""
    st = ctx.reader.read_one(ctx.env, probe_http=False)
    active = st.active_color
    return st.lock is None and active is not None and st.colors[active].version == version


def _wave_of(ctx: Context, version: str) -> str | None:
    """The wave ID a finished region recorded for ``version`` (its newest such record)."""
    for record in HistoryStore(ctx.clients.ssm, ctx.env).recent(20):
        if record.operation == "deploy" and record.version == version and record.wave:
            return record.wave
    return None


def _pin_version(ctx: Context, version: str | None, branch: str | None) -> str:
    """One version for every region: 'latest' is resolved once, in the first region."""
    if version is None:
        raise UsageError("deploy --regions needs a VERSION (gh-N or latest): every region gets the same one")
    if version != "latest":
        return version
    from bgctl.operations.deploy import resolve_version

    st = ctx.reader.read_one(ctx.env, probe_http=False)
    return resolve_version(ctx, st, st.active_color or "blue", version, branch)[0]


def _bake(ctx: Context, seconds: float) -> None:
    """Wait ``seconds``, then require the finished region's serving color to pass the gate still."""
    ctx.reporter.step("wave-bake", f"{ctx.env}: baking {seconds:.0f}s before the next region")
    deadline = ctx.clock() + seconds
    while (left := deadline - ctx.clock()) > 0:
        ctx.sleep(min(left, max(ctx.settings.poll_interval, 1.0)))
    st = ctx.reader.read_one(ctx.env)
    active = st.active_color
    if active is None or st.wiring is None:
        raise RefusedError(f"{ctx.env}: after the bake, traffic is not on one color ({describe_now(ctx)})")
    reading = read_gate(st.colors[active], max(1, st.wiring.capacity.min_healthy))
    if reading.problems or not reading.enough():
        raise RefusedError(f"{ctx.env}: {active} failed the gate during the bake: {reading.summary()}")


def _bake_or_stop(
    ctx: Context, seconds: float, report: WaveReport, targets: Sequence[Target], t: Target
) -> None:
    """The bake after a finished region; a failure stops the wave with that region still on the new
    version (it is done: rolling it back is the operator's call, and the hint)."""
    try:
        _bake(ctx, seconds)
    except BlueGreenError as exc:
        result = report.regions[targets.index(t)]
        result.detail = f"on the new version, but {exc.message.splitlines()[0]}"
        raise _stopped(report, targets, t, exc, kept=False) from exc


def deploy_waves(
    targets: Sequence[Target],
    make_ctx: Callable[[Target], Context],
    version: str | None,
    *,
    resume: bool = False,
    wave_bake: float = 0.0,
    wave_id: str | None = None,
    branch: str | None = None,
    on_done: Callable[[Target, Outcome], None] | None = None,
    deploy: Callable[..., Outcome] | None = None,
    **deploy_kwargs: Any,
) -> WaveReport:
    """Deploy ``version`` to ``targets`` in order (see the module doc); WaveStopped at the first failure."""
    from bgctl.operations.deploy import deploy as run_deploy

    run = deploy or run_deploy
    if not targets:
        raise UsageError("--regions names no region")
    contexts = [make_ctx(t) for t in targets]
    pinned = _pin_version(contexts[0], version, branch)
    wave = wave_id or (_wave_of(contexts[0], pinned) if resume else None) or new_wave_id()
    report = WaveReport(targets[0].env, "deploy", pinned, wave, [RegionResult(t.region) for t in targets])
    for i, (t, ctx, result) in enumerate(zip(targets, contexts, report.regions, strict=True)):
        ctx.wave = wave
        try:
            if resume and _serves(ctx, pinned):
                result.state, result.detail = SKIPPED, _where_now(ctx)
                continue
            ctx.reporter.step("wave", f"{t.env}: wave {wave}: {t.region} ({i + 1}/{len(targets)})")
            result.outcome = run(ctx, pinned, **deploy_kwargs)
            result.state, result.detail = DONE, _where_now(ctx)
            if on_done is not None:
                on_done(t, result.outcome)
            if wave_bake > 0 and i + 1 < len(targets) and not result.outcome.dry_run:
                _bake_or_stop(ctx, wave_bake, report, targets, t)
        except WaveStopped:
            raise
        except BlueGreenError as exc:
            result.state = FAILED
            result.detail = f"{exc.message.splitlines()[0]}; now {_where_now(ctx)}"
            raise _stopped(report, targets, t, exc, kept=isinstance(exc, KeptForRecovery)) from exc
        except KeyboardInterrupt:
            result.state = "interrupted"
            result.detail = f"now {_where_now(ctx)}"
            ctx.reporter.warn(report.table())
            raise
    return report


def _stopped(
    report: WaveReport, targets: Sequence[Target], failed: Target, exc: BlueGreenError, *, kept: bool
) -> WaveStopped:
    for r in report.regions:
        if r.state == NOT_STARTED:
            r.detail = "untouched"
    cli = f"bluegreen --env {failed.env}"
    resume = f"{cli} deploy {report.version} --regions {_regions_flag(targets)} --resume"
    steps = [f"first: {cli}{failed.flag} recover  (its lock and journal were kept)"] if kept else []
    steps.append(f"continue: {resume}")
    done = [t for t, r in zip(targets, report.regions, strict=True) if r.state == DONE]
    if done:
        steps.append(f"or roll the finished regions back: {cli} rollback --regions {_regions_flag(done)}")
    message = (
        f"{failed.env}: the wave stopped in {failed.region}: {exc.message.splitlines()[0]}\n"
        + report.table()
        + "\nnext:\n"
        + "\n".join(f"  {s}" for s in steps)
    )
    return WaveStopped(report, message, hint=f"{cli}{failed.flag} recover" if kept else resume)


def rollback_waves(
    targets: Sequence[Target],
    make_ctx: Callable[[Target], Context],
    *,
    on_done: Callable[[Target, Outcome], None] | None = None,
    **rollback_kwargs: Any,
) -> WaveReport:
    """Roll back ``targets`` one after the other; stop at the first failure (WaveStopped)."""
    from bgctl.operations.switch import rollback

    if not targets:
        raise UsageError("--regions names no region")
    contexts = [make_ctx(t) for t in targets]
    regions = [RegionResult(t.region) for t in targets]
    report = WaveReport(targets[0].env, "rollback", None, new_wave_id(), regions)
    for t, ctx, result in zip(targets, contexts, report.regions, strict=True):
        ctx.wave = report.wave
        try:
            result.outcome = rollback(ctx, **rollback_kwargs)
            result.state, result.detail = DONE, _where_now(ctx)
            if on_done is not None:
                on_done(t, result.outcome)
        except BlueGreenError as exc:
            result.state = FAILED
            result.detail = f"{exc.message.splitlines()[0]}; now {_where_now(ctx)}"
            rest = [x for x, r in zip(targets, report.regions, strict=True) if r.state != DONE]
            hint = f"bluegreen --env {t.env} rollback --regions {_regions_flag(rest)}"
            raise WaveStopped(
                report,
                f"{t.env}: rollback stopped in {t.region}: {exc.message.splitlines()[0]}\n{report.table()}",
                hint=hint,
            ) from exc
    return report
