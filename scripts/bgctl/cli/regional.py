"""The command line across regions: ``status --all`` (one row per environment and region), ``history
--all``, and the glue of ``deploy --regions`` / ``rollback --regions`` (bgctl.operations.waves).

Each (environment, region) is read and changed with that region's clients and directory of roots
(``bgctl.regions.scoped``); its lock, journal and history live in that region's SSM.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from bgctl.errors import EXIT_FAILED, UsageError
from bgctl.regions import Target, all_targets, check_region_name, scoped, target

from .app import Invocation, emit_json, make_context

if TYPE_CHECKING:
    from bgctl.context import Context
    from bgctl.gitdrift import GitDrift
    from bgctl.state import EnvState


def label(t: Target) -> str:
    """A row's name: the environment, with ``@region`` outside its home region."""
    return t.env if t.home else f"{t.env}@{t.region}"


def _targets(inv: Invocation) -> list[Target]:
    home = inv.home or inv.settings
    targets = all_targets(home.envs_dir, fallback=home.region)
    if inv.region is not None:
        check_region_name(inv.region)
        targets = [t for t in targets if t.region == inv.region]
    return targets


def read_all(
    inv: Invocation, *, addresses: bool | None
) -> tuple[dict[str, EnvState], dict[str, GitDrift], list[str], dict[str, str]]:
    """Every (environment, region): states (whose hints name the region), git drift and the region,
    keyed by row label, and a note per region whose roots exist but where nothing is deployed yet (no
    environment there has wiring)."""
    from bgctl.aws import clients_for
    from bgctl.gitdrift import git_drifts, live_split
    from bgctl.health import HttpChecker
    from bgctl.state import StateReader

    home = inv.home or inv.settings
    groups: dict[tuple[str, bool], list[Target]] = {}
    for t in _targets(inv):
        groups.setdefault((t.region, t.home), []).append(t)
    states: dict[str, EnvState] = {}
    drifts: dict[str, GitDrift] = {}
    notes: list[str] = []
    regions: dict[str, str] = {}
    for (region, is_home), ts in groups.items():
        envs_dir = ts[0].envs_dir
        settings = scoped(home, ts[0])
        clients = clients_for(settings, read_only=True)
        read = StateReader(clients, HttpChecker.of(settings), envs_dir=envs_dir).read(
            [t.env for t in ts], addresses=addresses
        )
        if not is_home and all(st.wiring is None for st in read.values()):
            notes.append(f"{region}: {', '.join(read)} have roots here but nothing is deployed yet")
            continue
        found = git_drifts(envs_dir, {e: live_split(s) for e, s in read.items()})
        for t in ts:
            name = label(t)
            states[name] = read[t.env]
            regions[name] = t.region
            if t.env in found:
                drifts[name] = found[t.env]
    return states, drifts, notes, regions


def status_all(inv: Invocation, *, detailed: bool, no_fail: bool) -> None:
    from bgctl import render

    states, drifts, notes, regions = read_all(inv, addresses=True if detailed or inv.as_json else None)
    attention = {e: render.attention(s, drifts.get(e)) for e, s in states.items()}
    if inv.as_json:
        docs = {e: render.status_json(s, drifts.get(e), attention[e]) for e, s in states.items()}
        for name, region in regions.items():
            docs[name]["region"] = region
        doc: dict[str, Any] = {"schema_version": render.STATUS_SCHEMA, "environments": docs}
        if notes:
            doc["regions_not_deployed"] = notes
        emit_json(doc)
    elif not detailed:
        rows = [dataclasses.replace(s, env=name) for name, s in states.items()]
        click.echo(render.all_table(rows, drifts))
        for note in notes:
            click.echo(f"({note})")
    else:
        several = any(name != s.env for name, s in states.items())
        texts = (
            (f"== {name}\n" if several else "") + render.status_text(s, detailed=True, git=drifts.get(name))
            for name, s in states.items()
        )
        click.echo("\n\n".join(texts))
    if any(attention.values()) and not no_fail:
        raise click.exceptions.Exit(EXIT_FAILED)


def history_all(inv: Invocation, limit: int) -> dict[str, list[Any]]:
    """Every (environment, region)'s last records, keyed by row label (regions never deployed skipped)."""
    from bgctl.aws import clients_for
    from bgctl.history import HistoryStore

    home = inv.home or inv.settings
    records: dict[str, list[Any]] = {}
    clients_by_region: dict[str, Any] = {}
    for t in _targets(inv):
        if t.region not in clients_by_region:
            clients_by_region[t.region] = clients_for(scoped(home, t), read_only=True)
        found = HistoryStore(clients_by_region[t.region].ssm, t.env).recent(limit)
        if t.home or found:
            records[label(t)] = found
    return records


# -- waves ------------------------------------------------------------------------------------------------
def wave_targets(inv: Invocation, regions_text: str) -> list[Target]:
    """--regions a,b: each must be one the environment has a root in (usage error before any AWS call)."""
    from bgctl.regions import parse_regions

    if inv.env is None:
        raise UsageError("--regions needs --env")
    home = inv.home or inv.settings
    return [target(inv.env, r, home.envs_dir, fallback=home.region) for r in parse_regions(regions_text)]


def context_factory(inv: Invocation, **kwargs: Any) -> Callable[[Target], Context]:
    """Make the Context of one region of the wave (its clients, roots, lock and journal)."""
    home = inv.home or inv.settings

    def make(t: Target) -> Context:
        scoped_inv = dataclasses.replace(inv, settings=scoped(home, t), home=home, target=t)
        return make_context(scoped_inv, **kwargs)

    return make


def scoped_invocation(inv: Invocation, t: Target) -> Invocation:
    home = inv.home or inv.settings
    return dataclasses.replace(inv, settings=scoped(home, t), home=home, target=t)


def _on_done(inv: Invocation, *, no_commit: bool) -> Callable[[Target, Any], None]:
    """After each region: commit its color file (or say how), then print its outcome (text mode)."""
    from bgctl.gitrecord import RecordStatus, record_outcome

    from .app import print_outcome

    def done(t: Target, outcome: Any) -> None:
        region_inv = scoped_invocation(inv, t)
        recorded = record_outcome(region_inv.envs_dir, outcome, commit=not no_commit)
        if recorded is not None and recorded.status is not RecordStatus.UNTRACKED:
            outcome.notes.append(recorded.text())
        if not inv.as_json:
            click.echo(f"== {label(t)} ({t.region})")
            print_outcome(outcome, region_inv)

    return done


def _print_report(inv: Invocation, report: Any, targets: list[Target]) -> None:
    from bgctl.render import outcome_json

    if inv.as_json:
        regions = []
        for t, r in zip(targets, report.regions, strict=True):
            doc: dict[str, Any] = {"region": r.region, "state": r.state, "detail": r.detail}
            if r.outcome is not None:
                doc["outcome"] = outcome_json(r.outcome, t.envs_dir)
            regions.append(doc)
        emit_json(
            {
                "schema_version": 1,
                "environment": report.env,
                "operation": report.operation,
                "version": report.version,
                "wave": report.wave,
                "regions": regions,
            }
        )
    else:
        click.echo(report.table())


def deploy_in_waves(
    inv: Invocation,
    regions_text: str | None,
    version: str | None,
    *,
    resume: bool,
    wave_bake: float,
    wave_id: str | None,
    branch: str | None,
    no_commit: bool,
    context_kwargs: dict[str, Any],
    deploy_kwargs: dict[str, Any],
) -> None:
    """``deploy VERSION --regions a,b [--wave-bake S] [--resume]``."""
    from bgctl.operations.waves import deploy_waves

    if regions_text is None:
        raise UsageError("--resume, --wave-bake and --wave-id go with --regions")
    if wave_id is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", wave_id):
        raise UsageError(f"--wave-id {wave_id!r}: letters, digits, '.', '_' and '-' only (at most 64)")
    targets = wave_targets(inv, regions_text)
    # A stopped wave raises WaveStopped, whose message holds the table (and --json prints it as the error).
    report = deploy_waves(
        targets,
        context_factory(inv, **context_kwargs),
        version,
        resume=resume,
        wave_bake=wave_bake,
        wave_id=wave_id,
        branch=branch,
        on_done=_on_done(inv, no_commit=no_commit),
        **deploy_kwargs,
    )
    _print_report(inv, report, targets)


def rollback_in_waves(
    inv: Invocation,
    regions_text: str,
    *,
    no_commit: bool,
    context_kwargs: dict[str, Any],
    rollback_kwargs: dict[str, Any],
) -> None:
    """``rollback --regions a,b``: each region back to its previous color, one after the other."""
    from bgctl.operations.waves import rollback_waves

    targets = wave_targets(inv, regions_text)
    report = rollback_waves(
        targets,
        context_factory(inv, **context_kwargs),
        on_done=_on_done(inv, no_commit=no_commit),
        **rollback_kwargs,
    )
    _print_report(inv, report, targets)
