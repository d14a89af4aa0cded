"""What the GitHub workflows decide, as tested Python instead of inline shell.

- ``affected_between``: the roots a push or pull request touches, ``terraform/shared`` first (it is
  planned and applied before any environment root, which look its pieces up by name).
- ``parse_deploy_request``: the deploy workflow's inputs, checked before anything runs, and which GitHub
  environment (protection rules) the job needs.
- ``run_logged``: run a command, echo its output and log every line with its time since the start.
- ``write_github_output`` / ``github_command`` / ``annotate``: step outputs, and annotations
  (``::error ...::``) with GitHub's escaping.
- ``render_summary``: the job summary: the outcome table (before and after, per color) and timings per
  step, read from that log.

Standard library only at import time: the ``changes`` job runs it before ``make setup``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from bgctl import COLORS
from bgctl.errors import UsageError
from bgctl.gitrepo import Git, find_repo, missing_base
from bgctl.traffic import TrafficSplit

# Roots that serve production users: their deploys wait for the `production` environment's reviewers.
PRODUCTION_ENVS = ("prod", "gpu", "winprod", "aarch64prod")
PRODUCTION_ENVIRONMENT = "production"
# Same pattern as bgctl.operations.deploy.VERSION_RE (tests keep them equal); not imported: that pulls boto3.
VERSION_RE = re.compile(r"^gh-[0-9]{1,9}$")
SHARED_ROOT = "terraform/shared"
SHARED_NAME = "shared"
MODULES = "terraform/modules/"
ENVS_PREFIX = "terraform/envs/"
# Files whose change re-plans every root (the Terraform version all of them run with).
EVERY_ROOT = (".terraform-version",)
STEP_LINE = re.compile(r"^▶ \[(?P<name>[^\]]+)\] (?P<message>.*)$")
OUTCOME_MARKS = ("✅", "❌", "⚠️", "DRY RUN")


# --------------------------------------------------------------------------------------------------
# Affected roots
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Affected:
    shared: bool
    envs: tuple[str, ...]

    @property
    def any(self) -> bool:
        return self.shared or bool(self.envs)

    @property
    def roots(self) -> tuple[str, ...]:
        """Everything to plan, ``shared`` first (the name the plan job's matrix uses for terraform/shared)."""
        return (SHARED_NAME, *self.envs) if self.shared else self.envs

    def as_json(self) -> dict[str, Any]:
        return {"shared": self.shared, "envs": list(self.envs), "roots": list(self.roots)}


def env_names(envs_dir: Path) -> list[str]:
    """Environment roots: the directories of ``envs_dir`` with a ``main.tf``."""
    return sorted(p.name for p in Path(envs_dir).iterdir() if p.is_dir() and (p / "main.tf").is_file())


def affected_roots(changed_paths: Iterable[str] | None, envs: Iterable[str]) -> Affected:
    """The roots a change touches. ``None`` (the change cannot be computed) means all of them.

    ``terraform/shared/**`` the shared root; ``terraform/envs/<env>/**`` that environment (its color file
    and ``.terraform.lock.hcl`` included); ``terraform/modules/**`` every environment; a change to
    ``.terraform-version`` every root.
    """
    known = sorted(set(envs))
    if changed_paths is None:
        return Affected(True, tuple(known))
    shared, hit = False, set()
    for raw in changed_paths:
        path = raw.strip().removeprefix("./")
        if not path:
            continue
        if path in EVERY_ROOT:
            return Affected(True, tuple(known))
        if path.startswith(f"{SHARED_ROOT}/"):
            shared = True
        elif path.startswith(MODULES):
            hit.update(known)
        elif path.startswith(ENVS_PREFIX):
            parts = path.split("/")
            if len(parts) > 3 and parts[2] in known:
                hit.add(parts[2])
    return Affected(shared, tuple(sorted(hit)))


def changed_paths(git: Git, base: str | None, head: str) -> list[str] | None:
    """Paths changed between ``base`` and ``head``; None when there is no usable base (a new branch, a
    force push this clone cannot follow), which callers treat as "everything"."""
    if not base or missing_base(git, base):
        return None
    return git.out("diff", "--name-only", "--no-renames", base, head).splitlines()


def affected_between(envs_dir: Path, base: str | None, head: str) -> Affected:
    git = find_repo(envs_dir)
    if git is None:
        raise UsageError(f"{envs_dir} is not in a git checkout")
    return affected_roots(changed_paths(git, base, head), env_names(envs_dir))


# --------------------------------------------------------------------------------------------------
# Talking to the runner: step outputs and workflow commands
# --------------------------------------------------------------------------------------------------
def write_github_output(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
    """Append ``key=value`` lines to ``$GITHUB_OUTPUT`` (single-line values only); no-op outside Actions."""
    target = (os.environ if environ is None else environ).get("GITHUB_OUTPUT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as fh:
        for key, value in values.items():
            if "\n" in value:
                raise ValueError(f"output {key} must be one line")
            fh.write(f"{key}={value}\n")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(kind: str, message: str, **properties: str) -> str:
    """``::error title=...::message`` with GitHub's escaping (a workflow command on one line)."""
    props = ",".join(f"{k}={_escape_property(v)}" for k, v in properties.items() if v)
    return f"::{kind}{' ' + props if props else ''}::{_escape_data(message)}"


def in_actions(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions job."""
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def annotate(kind: str, message: str, title: str = "") -> None:
    """Print ``message`` as a workflow command of ``kind`` (error, warning, notice) in Actions, where
    the run's page shows it; nothing elsewhere."""
    if in_actions():
        print(github_command(kind, message, title=title))


# --------------------------------------------------------------------------------------------------
# The deploy workflow's inputs
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeployRequest:
    env: str
    version: str
    capacity: int | None

    @property
    def production(self) -> bool:
        return self.env in PRODUCTION_ENVS

    @property
    def github_environment(self) -> str:
        """``production`` (its protection rules apply) or "" (no environment: the job starts at once)."""
        return PRODUCTION_ENVIRONMENT if self.production else ""


def parse_deploy_request(env: str, version: str, capacity: str, envs: Sequence[str]) -> DeployRequest:
    env, version, capacity = env.strip(), version.strip(), capacity.strip()
    if env not in envs:
        raise UsageError(f"unknown environment {env!r} (one of: {', '.join(envs)})")
    if not VERSION_RE.match(version):
        raise UsageError(f"malformed version {version!r}: expected gh-<build number>, e.g. gh-123")
    count: int | None = None
    if capacity:
        if not capacity.isdigit() or int(capacity) < 1:
            raise UsageError(f"capacity must be a whole number of instances (1 or more), got {capacity!r}")
        count = int(capacity)
    return DeployRequest(env, version, count)


def health_check_problem(template: str | None) -> str | None:
    """Why ``BLUEGREEN_HEALTH_URL`` would not cover every instance (None when it does).

    Before the switch the new color's targets are ``unused`` (no rule forwards there yet), so only the
    HTTP check sees them; the gate refuses to switch blind, so a deploy without it fails late. Catch it
    before anything changes.
    """
    if not template or not template.strip():
        return (
            "BLUEGREEN_HEALTH_URL is not set: the new color's instances would not be health-checked "
            "before the switch (the gate refuses to switch blind)"
        )
    if "{private_ip}" not in template and "{instance_id}" not in template:
        return (
            f"BLUEGREEN_HEALTH_URL {template!r} names no instance ({{private_ip}} or {{instance_id}}): "
            "it would check one address, not each instance"
        )
    return None


# --------------------------------------------------------------------------------------------------
# A logged run
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogLine:
    at: float  # seconds since the command started
    text: str


def run_logged(argv: Sequence[str], log: Path, out: TextIO | None = None) -> int:
    """Run ``argv`` (stderr merged into stdout), echo each line to ``out`` and append
    ``<seconds>\\t<line>`` to ``log``. SIGINT and SIGTERM are passed on to the command, which restores a
    safe state itself; this waits for it. Returns its exit code."""
    out = out or sys.stdout
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", bufsize=1
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Path(log).open("a", encoding="utf-8") as fh:
            assert proc.stdout is not None
            for line in proc.stdout:
                text = line.rstrip("\n")
                out.write(text + "\n")
                out.flush()
                fh.write(f"{time.monotonic() - start:.3f}\t{text}\n")
                fh.flush()
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def read_log(path: Path) -> list[LogLine]:
    lines: list[LogLine] = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        at, sep, text = raw.partition("\t")
        try:
            lines.append(LogLine(float(at), text) if sep else LogLine(0.0, raw))
        except ValueError:
            lines.append(LogLine(0.0, raw))
    return lines


@dataclass(frozen=True)
class StepTiming:
    name: str
    message: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def step_timings(lines: Sequence[LogLine]) -> list[StepTiming]:
    """Each ``▶ [step] message`` line of the CLI starts a step that lasts until the next one or the end."""
    marks = [(ln.at, m["name"], m["message"]) for ln in lines if (m := STEP_LINE.match(ln.text))]
    end = lines[-1].at if lines else 0.0
    return [
        StepTiming(name, message, at, marks[i + 1][0] if i + 1 < len(marks) else end)
        for i, (at, name, message) in enumerate(marks)
    ]


def outcome_lines(lines: Sequence[LogLine]) -> list[str]:
    """The CLI's closing lines: from the last ✅/❌ line on (its notes and hints follow it)."""
    texts = [ln.text for ln in lines]
    for i in range(len(texts) - 1, -1, -1):
        if texts[i].startswith(OUTCOME_MARKS):
            return [t for t in texts[i:] if t.strip()]
    return []


def status_split(doc: Mapping[str, Any] | None) -> TrafficSplit | None:
    """Where a ``status --json`` document says traffic goes: the split every carrier agrees on, else
    the active color (SSM's when the load balancer is ambiguous); None when it says nothing usable."""
    if not doc:
        return None
    routes = list((doc.get("routes") or {}).values())
    if routes and isinstance(routes[0], Mapping) and all(r == routes[0] for r in routes):
        try:
            return TrafficSplit.from_doc(routes[0])
        except (ValueError, TypeError):
            return None
    active = doc.get("load_balancer_color") or doc.get("active_color")
    return TrafficSplit.to(active) if active in COLORS else None


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _color_cell(doc: Mapping[str, Any] | None, color: str) -> str:
    if not doc:
        return "?"
    cs = (doc.get("colors") or {}).get(color)
    if not isinstance(cs, Mapping):
        return "?"
    asg = cs.get("asg_health") or {}
    tg = cs.get("target_health") or {}
    active = " **(active)**" if doc.get("active_color") == color else ""
    return (
        f"{cs.get('version') or '-'}{active}, desired {cs.get('desired', '?')}, "
        f"healthy {asg.get('healthy', '?')}/{asg.get('total', '?')}, "
        f"targets {tg.get('healthy', '?')}/{tg.get('total', '?')}"
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_summary(
    *,
    env: str,
    operation: str,
    version: str | None,
    exit_code: int,
    lines: Sequence[LogLine],
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    record: str | None = None,
    run: str | None = None,
) -> str:
    """The job summary (GitHub-flavoured Markdown): outcome, before/after table, timings."""
    ok = exit_code == 0
    was_split, now_split = status_split(before), status_split(after)
    was = was_split.describe() if was_split else None
    now = now_split.describe() if now_split else None
    moved = f"{was or '?'} → {now or '?'}" if was != now else f"stays on {now or '?'}"
    what = f"{operation} {version}" if version else operation
    out = [f"## {'✅' if ok else '❌'} {env}: {what}: traffic {moved}", ""]
    out += ["| | before | after |", "| --- | --- | --- |"]
    out.append(f"| traffic | {was or '?'} | {now or '?'} |")
    for color in ("blue", "green"):
        out.append(f"| {color} | {_md(_color_cell(before, color))} | {_md(_color_cell(after, color))} |")
    drift = [str(d) for d in ((after or {}).get("drift") or [])]
    out.append(f"| drift after | | {_md('; '.join(drift)) if drift else 'none'} |")
    out.append(f"| exit code | | {exit_code} |")
    if record:
        out.append(f"| color file | | {_md(record)} |")
    if run:
        out.append(f"| run | | {run} |")
    closing = outcome_lines(lines)
    if closing:
        out += ["", "```", *closing, "```"]
    steps = step_timings(lines)
    out += ["", "### Timings", "", "| step | started | took | what |", "| --- | --- | --- | --- |"]
    for st in steps:
        out.append(f"| {_md(st.name)} | +{duration(st.start)} | {duration(st.seconds)} | {_md(st.message)} |")
    total = lines[-1].at if lines else 0.0
    out.append(f"| **total** | | **{duration(total)}** | |")
    return "\n".join(out) + "\n"


def load_json(path: Path | None) -> dict[str, Any] | None:
    """A status --json file, or None when it is missing or not JSON (a failed status step)."""
    if path is None:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
