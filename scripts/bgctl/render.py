"""Text and JSON renderings of environment state (the layout operators know from the design doc)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl import COLORS
from bgctl.canary import seconds_left
from bgctl.context import Outcome
from bgctl.gate import read_gate

if TYPE_CHECKING:
    from bgctl.gitdrift import GitDrift
from bgctl.state import ColorState, EnvState

OK, UNKNOWN, EMPTY, INFO, WARN, BAD = "✅", "❓", "⚪", "ℹ️", "⚠️", "❌"


def _symbol(healthy: int, total: int) -> str:
    if total == 0:
        return UNKNOWN
    return OK if healthy == total else (WARN if healthy else BAD)


def _http_line(cs: ColorState) -> str:
    results = cs.http_results
    if not results:
        return f"0/0 healthy {EMPTY}"
    reason = cs.http_skip_reason
    if reason and all(r.skipped for r in results):
        return f"skipped ({reason}) {INFO}"
    checked = [r for r in results if not r.skipped]
    return f"{cs.http_ok}/{len(checked)} healthy {_symbol(cs.http_ok, len(checked))}"


def _tg_line(cs: ColorState, active: bool) -> str:
    if not cs.tg_exists:
        return f"target group not found {BAD}"
    unused = cs.tg_unused
    if unused and not active:
        checked = cs.tg_total - unused
        symbol = _symbol(cs.tg_healthy, checked) if checked else EMPTY
        return f"{cs.tg_healthy}/{cs.tg_total} healthy {symbol} ({unused} unused: no rule forwards here)"
    return f"{cs.tg_healthy}/{cs.tg_total} healthy {_symbol(cs.tg_healthy, cs.tg_total)}"


def _header(st: EnvState, *, detailed: bool, git: GitDrift | None) -> list[str]:
    """Where traffic goes, what disagrees, the lock, the last operation (and hooks when detailed)."""
    lines: list[str] = []
    if st.shutdown:
        lines.append(f"{INFO}  Environment was {st.shutdown.describe()}")
    lines.append(f"Active Color: {st.active_color or 'unknown'}")
    lines.append(f"Inactive Color: {st.inactive_color or 'unknown'}")
    file_text = st.file_split.describe() if st.file_split else "missing"
    lines.append(f"Traffic: {st.routing.describe()} (SSM: {st.ssm_color or 'missing'}, file: {file_text})")
    for problem in st.drift:
        lines.append(f"{WARN}  DRIFT: {problem}  → run: bluegreen --env {st.env}{st.region_flag} validate")
    if git is not None and git.drifted:
        lines.append(f"{WARN}  DRIFT (git, {git.kind}): {git.message}")
        lines += [f"      {line}" for line in git.fix]
    if st.lock:
        lines.append(lock_line(st))
    canary = canary_line(st)
    if canary:
        lines.append(canary)
    if st.last:
        lines.append(f"Last operation: {st.last.describe()}")
    if detailed and st.wiring is not None:
        hooks = st.wiring.release_hooks
        lines.append(
            "Release hooks: " + (", ".join(h.describe() for h in hooks) if hooks else "none declared")
        )
    return lines


def status_text(st: EnvState, *, detailed: bool = False, git: GitDrift | None = None) -> str:
    lines = [f"Blue-Green Status for {st.env}:"]
    if st.wiring is None:
        lines.append(f"{BAD} {st.wiring_error}")
        lines.append(f"   → apply Terraform for terraform/envs/{st.env} to publish the wiring")
        return "\n".join(lines)
    lines += _header(st, detailed=detailed, git=git)
    lines.append("")
    lines.append("ASG Status:")
    for color in COLORS:
        cs = st.colors[color]
        active = color == st.active_color
        lines.append(f"  {color}{' (ACTIVE)' if active else ''}:")
        if not cs.asg_exists:
            lines.append(f"    ASG Name: {cs.asg_name} (not found) {BAD}")
            continue
        lines.append(f"    ASG Name: {cs.asg_name}")
        lines.append(f"    Version: {cs.version or 'none'}")
        lines.append(f"    Desired/Min/Max: {cs.desired}/{cs.min_size}/{cs.max_size}")
        if not active and st.active_color and cs.desired > 0:
            lines.append(f"    {standby_line(st, cs)}")
        if cs.suspended:
            lines.append(f"    Scaling protection: suspended {', '.join(cs.suspended)} {WARN}")
        lines.append(f"    ASG Health: {cs.asg_healthy}/{len(cs.instances)} healthy")
        lines.append(f"    Target Group: {_tg_line(cs, active)}")
        lines.append(f"    HTTP Health: {_http_line(cs)}")
        if detailed:
            for inst in cs.instances:
                http = inst.http
                latency = f" {http.latency_ms:.0f}ms" if http.latency_ms is not None else ""
                lines.append(
                    f"      - {inst.instance_id} {inst.private_ip or '-'} {inst.lifecycle_state} "
                    f"asg={inst.asg_health} tg={inst.target_health or 'unregistered'} "
                    f"http={'skipped' if http.skipped else http.detail}{latency}"
                )
    return "\n".join(lines)


def standby_line(st: EnvState, cs: ColorState) -> str:
    """The color that does not serve but still runs: held warm for rollback, or at risk."""
    if cs.min_size >= cs.desired:
        since = f" since {st.last.finished}" if st.last else ""
        return f"Standby: held for rollback{since} (min = desired {cs.desired})"
    return (
        f"Standby: NOT held (min {cs.min_size} < desired {cs.desired}): scaling policies may scale it in "
        f"{WARN}  → run: bluegreen --env {st.env}{st.region_flag} validate"
    )


def canary_line(st: EnvState) -> str:
    """A canary in progress: the weights now, the step, the time left in the bake."""
    journal = st.journal
    if journal is None or not journal.canary:
        return ""
    split = st.routing.split
    now = split.describe() if split else st.routing.describe()
    weight = split.canary_weight if split and split.active != journal.target_color else None
    step = (
        f"step {journal.canary.index(weight) + 1}/{len(journal.canary)}"
        if weight in journal.canary
        else "steps"
    )
    left = seconds_left(journal.bake_until) if journal.bake_until else None
    bake = f", bake ends in {max(left, 0):.0f}s" if left is not None else ""
    weights = "/".join(f"{w}%" for w in journal.canary)
    return f"🐤 Canary of {journal.target_color}: {now} ({step} of {weights}{bake})"


def lock_line(st: EnvState) -> str:
    """The lock, and whether its holder still runs (an unfinished journal needs ``recover``)."""
    lock = st.lock
    if lock is None:
        return ""
    line = f"🔒 Locked by {lock.describe()} (lock ID {lock.lock_id or 'unreadable'})"
    if lock.journal is not None and lock.alive_here() is False:
        line = (
            f"{WARN}  Unfinished {lock.journal.describe()} by {lock.holder} since {lock.since} "
            f"(its process is gone)  → run: bluegreen --env {st.env}{st.region_flag} recover"
        )
    return line


def color_json(cs: ColorState, active: bool) -> dict[str, Any]:
    return {
        "active": active,
        "asg_name": cs.asg_name,
        "asg_exists": cs.asg_exists,
        "target_group_arn": cs.target_group_arn,
        "target_group_exists": cs.tg_exists,
        "version": cs.version,
        "desired": cs.desired,
        "min": cs.min_size,
        "max": cs.max_size,
        "suspended_processes": list(cs.suspended),
        "asg_health": {"healthy": cs.asg_healthy, "total": len(cs.instances)},
        "target_health": {"healthy": cs.tg_healthy, "total": cs.tg_total, "unused": cs.tg_unused},
        "http_health": {
            "healthy": cs.http_ok,
            "total": len([r for r in cs.http_results if not r.skipped]),
            "skipped_reason": cs.http_skip_reason,
        },
        "instances": [
            {
                "id": i.instance_id,
                "address": i.private_ip,
                "lifecycle_state": i.lifecycle_state,
                "asg_health": i.asg_health,
                "target_health": i.target_health,
                "http": {
                    "ok": i.http.ok,
                    "status": i.http.status,
                    "latency_ms": i.http.latency_ms,
                    "detail": i.http.detail,
                },
            }
            for i in cs.instances
        ],
    }


STATUS_SCHEMA = 2


def attention(st: EnvState, git: GitDrift | None = None) -> list[str]:
    """What makes ``status`` exit 1: drift, no healthy serving instance, a stale lock, an unfinished
    operation. Empty means healthy (the only case that earns ✅)."""
    found = list(st.drift)
    if st.wiring is None:
        return [st.wiring_error or "no wiring"]
    if git is not None and git.drifted:
        found.append(f"git: {git.kind}")
    lock = st.lock
    if lock is not None and (not lock.readable or lock.alive_here() is False):
        found.append(
            f"unfinished {lock.journal.describe()}" if lock.journal else f"stale lock {lock.lock_id or '?'}"
        )
    split = st.routing.split
    if split is not None and not st.shutdown:
        for color in COLORS:
            if split.reaches(color) and read_gate(st.colors[color], 1).healthy == 0:
                found.append(f"{color} serves traffic with no healthy instance")
    return found


def _routes_json(st: EnvState) -> dict[str, Any]:
    """Per carrier key (``https``, ``http``), the same shape whatever the routing type."""
    doc: dict[str, Any] = {}
    for label, split in st.routing.routes.items():
        key, kind = label.split(" ", 1)
        doc[key] = {"kind": kind, "found": True, "traffic": split.to_doc() if split else None}
    for label in st.routing.missing:
        key, kind = label.split(" ", 1)
        doc[key] = {"kind": kind, "found": False, "traffic": None}
    return doc


def status_json(st: EnvState, git: GitDrift | None = None, needs: list[str] | None = None) -> dict[str, Any]:
    split = st.routing.split
    return {
        "environment": st.env,
        "protected": bool(st.wiring and st.wiring.protected),
        "wiring_error": st.wiring_error,
        "active_color": st.active_color,
        "inactive_color": st.inactive_color,
        "traffic": split.to_doc() if split else None,
        "load_balancer_color": st.routing.color,
        "ssm_active_color": st.ssm_color,
        "file_traffic": st.file_split.to_doc() if st.file_split else None,
        "routes": _routes_json(st),
        "drift": st.drift,
        "git": git.as_json() if git else None,
        "attention": needs if needs is not None else attention(st, git),
        "lock": _lock_json(st),
        "journal": st.journal.to_doc() if st.journal else None,
        "shutdown": asdict(st.shutdown) if st.shutdown else None,
        "last_operation": asdict(st.last) if st.last else None,
        "colors": {c: color_json(cs, c == st.active_color) for c, cs in st.colors.items()},
    }


def _lock_json(st: EnvState) -> dict[str, Any] | None:
    lock = st.lock
    if lock is None:
        return None
    return {
        "id": lock.lock_id,
        "holder": lock.holder,
        "operation": lock.operation,
        "since": lock.since,
        "host": lock.host,
        "pid": lock.pid,
        "holder_alive": lock.alive_here(),
    }


def summary_row(st: EnvState, git: GitDrift | None = None) -> list[str]:
    """One compact row for ``status --all``."""
    if st.wiring is None:
        return [st.env, "?", "-", "-", "-", f"{BAD} {st.wiring_error}"]
    active = st.active_color
    cells = [st.env, active or "?"]
    for color in COLORS:
        cs = st.colors[color]
        mark = "*" if color == active else ""
        cells.append(
            f"{mark}{cs.version or '-'} {cs.asg_healthy}/{cs.desired} tg {cs.tg_healthy}/{cs.tg_total}"
            if cs.asg_exists
            else f"{BAD} missing"
        )
    http_parts = []
    for color in COLORS:
        cs = st.colors[color]
        reason = cs.http_skip_reason
        http_parts.append("skipped" if reason and cs.http_ok == 0 else f"{cs.http_ok}/{len(cs.http_results)}")
    cells.append(" ".join(http_parts))
    notes = []
    if st.drift:
        notes.append(f"{WARN} drift")
    if git is not None and git.drifted:
        notes.append(f"{WARN} {git.kind}")
    if st.lock and st.journal and st.lock.alive_here() is False:
        notes.append(f"{WARN} unfinished")
    elif st.lock:
        notes.append("🔒 locked")
    if st.shutdown:
        notes.append("shut down")
    if not notes and attention(st, git):
        notes.append(f"{BAD} " + "; ".join(attention(st, git)))
    cells.append(", ".join(notes) or OK)
    return cells


ALL_HEADERS = ["env", "active", "blue", "green", "http b/g", "notes"]


def all_table(states: list[EnvState], drifts: Mapping[str, GitDrift] | None = None) -> str:
    """``status --all``: one row per environment, columns aligned."""
    drifts = drifts or {}
    rows = [ALL_HEADERS, *[summary_row(s, drifts.get(s.env)) for s in states]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(ALL_HEADERS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(* = active color; columns: version healthy/desired, target group healthy/total)")
    return "\n".join(lines)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def builds_table(st: EnvState, builds: list[Any]) -> str:
    """``deploy list``: newest first, marking the version each color runs."""
    if not builds:
        return f"No builds found for {st.env}."
    runs: dict[str, list[str]] = {}
    for color, cs in st.colors.items():
        if cs.version:
            label = f"{color}{' (ACTIVE)' if color == st.active_color else ''}"
            runs.setdefault(cs.version, []).append(label)
    lines = [f"Available builds for {st.env} (newest first):"]
    for b in builds:
        mark = f"  ← {', '.join(runs[b.version])}" if b.version in runs else ""
        lines.append(
            f"  {b.version:<10} {b.branch:<24} {_size(b.size):>10}  {b.modified:%Y-%m-%d %H:%M}{mark}"
        )
    return "\n".join(lines)


def outcome_text(outcome: Outcome, envs_dir: Path) -> str:
    """The closing lines of a mutating command (or of its dry run)."""
    lines: list[str] = []
    if outcome.dry_run:
        changes = outcome.plan.changes(envs_dir) if outcome.plan else []
        lines.append(f"DRY RUN: {outcome.env} {outcome.operation} would change (nothing was changed):")
        lines += [f"  - {c.kind} {c.target}: {c.before} -> {c.after}" for c in changes] or ["  (nothing)"]
    else:
        head = f"✅ {outcome.env}: {outcome.operation} done"
        moved = outcome.from_split != outcome.to_split
        if outcome.to_split and moved and outcome.operation in ("deploy", "switch", "rollback", "recover"):
            head += f" ({outcome.from_color} -> {outcome.to_color}"
            head += f", version {outcome.version})" if outcome.version else ")"
        lines.append(head)
    lines += [f"  {n}" for n in outcome.notes]
    if outcome.timings and not outcome.dry_run:
        lines.append("  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in outcome.timings.items()))
    return "\n".join(lines)


OUTCOME_SCHEMA = 1


def outcome_json(outcome: Outcome, envs_dir: Path) -> dict[str, Any]:
    """An operation's result for scripts: what changed (or would), from -> to, timings, notes."""
    plan = outcome.plan
    return {
        "schema_version": OUTCOME_SCHEMA,
        "environment": outcome.env,
        "operation": outcome.operation,
        "dry_run": outcome.dry_run,
        "from": outcome.from_split.to_doc() if outcome.from_split else None,
        "to": outcome.to_split.to_doc() if outcome.to_split else None,
        "version": outcome.version,
        "changes": [
            {"kind": c.kind, "target": c.target, "before": c.before, "after": c.after}
            for c in (plan.changes(envs_dir) if plan else [])
        ],
        "steps": [{"step": a.step, "action": a.message()} for a in plan.actions] if plan else [],
        "timings": outcome.timings,
        "health": asdict(outcome.health) if outcome.health else None,
        "notes": list(outcome.notes),
    }
