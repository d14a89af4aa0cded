"""What the GitHub workflows decide, as tested Python instead of inline shell.

- ``affected_between``: the roots a push or pull request touches, in every region, shared roots first
  (planned and applied before any environment root, which look their pieces up by name), following
  symlinks: a change to a file several roots link touches each of them.
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
from bgctl.regions import regional_dirs, regional_shared_roots
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
class Root:
    """One Terraform root the workflow plans and applies.

    ``name`` is what the plan comment marker, the artifact, the job names and the concurrency groups use:
    ``shared`` and ``<env>`` at home (as before regions existed), ``shared-<region>`` and
    ``<env>-<region>`` elsewhere. ``sources`` are the repository paths whose change changes the root
    besides its own directory: the targets of its symlinked files, every link of a chain included."""

    name: str
    dir: str
    env: str = ""  # "" for a shared root
    region: str = ""  # "" for the home region
    sources: frozenset[str] = frozenset()

    @property
    def shared(self) -> bool:
        return not self.env

    def touched_by(self, path: str) -> bool:
        return path.startswith(f"{self.dir}/") or path in self.sources

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "dir": self.dir, "env": self.env, "region": self.region}


def _root_order(root: Root) -> tuple[bool, str, bool, str]:
    """Shared roots first (home, then regions), then environments by name, home region first."""
    return (not root.shared, root.env, bool(root.region), root.region)


@dataclass(frozen=True)
class Affected:
    shared_roots: tuple[Root, ...]
    env_roots: tuple[Root, ...]

    @property
    def shared(self) -> bool:
        return bool(self.shared_roots)

    @property
    def envs(self) -> tuple[str, ...]:
        """The names of the environment roots (``beta``, ``beta-eu-west-1``)."""
        return tuple(r.name for r in self.env_roots)

    @property
    def any(self) -> bool:
        return bool(self.shared_roots or self.env_roots)

    @property
    def roots(self) -> tuple[Root, ...]:
        """Everything to plan, shared roots first (each region's ALB before the roots that look it up)."""
        return (*self.shared_roots, *self.env_roots)

    def as_json(self) -> dict[str, Any]:
        return {
            "shared": self.shared,
            "shared_roots": [r.as_json() for r in self.shared_roots],
            "envs": [r.as_json() for r in self.env_roots],
            "roots": [r.as_json() for r in self.roots],
        }


def env_names(envs_dir: Path) -> list[str]:
    """Environment roots: the directories of ``envs_dir`` with a ``main.tf``."""
    return sorted(p.name for p in Path(envs_dir).iterdir() if p.is_dir() and (p / "main.tf").is_file())


def home_root(env: str) -> Root:
    return Root(env, f"{ENVS_PREFIX}{env}", env)


def link_sources(path: Path, top: Path) -> set[str]:
    """The repository paths (relative to ``top``) a symlink at ``path`` reads through: each link of the
    chain after the first and the final file. Empty for a regular file; links leaving ``top`` stop."""
    found: set[str] = set()
    current = path
    for _ in range(40):  # a cycle is Terraform's error to report, not ours
        if not current.is_symlink():
            break
        current = Path(os.path.normpath(current.parent / current.readlink()))
        try:
            found.add(current.relative_to(top).as_posix())
        except ValueError:
            break
    return found


def _root_at(directory: Path, top: Path, name: str, env: str, region: str) -> Root:
    sources: set[str] = set()
    if directory.is_dir():
        for file in sorted(directory.iterdir()):
            sources |= link_sources(file, top)
    return Root(name, directory.relative_to(top).as_posix(), env, region, frozenset(sources))


def discover_roots(terraform_dir: Path) -> list[Root]:
    """Every root under ``terraform_dir`` (``terraform/``): ``shared`` (always: the workflow's first
    root), ``shared-<region>``, ``envs/<env>`` and ``envs-<region>/<env>``, each with the targets of its
    symlinks (the repository is ``terraform_dir``'s parent)."""
    terraform_dir = Path(terraform_dir).absolute()
    top = terraform_dir.parent
    envs_dir = terraform_dir / "envs"
    roots = [_root_at(terraform_dir / SHARED_NAME, top, SHARED_NAME, "", "")]
    roots += [_root_at(d, top, d.name, "", r) for r, d in regional_shared_roots(terraform_dir).items()]
    home_envs = env_names(envs_dir) if envs_dir.is_dir() else []
    roots += [_root_at(envs_dir / env, top, env, env, "") for env in home_envs]
    for region, d in regional_dirs(envs_dir).items():
        roots += [_root_at(d / env, top, f"{env}-{region}", env, region) for env in env_names(d)]
    return sorted(roots, key=_root_order)


def affected_roots(changed_paths: Iterable[str] | None, roots: Iterable[Root | str]) -> Affected:
    """The roots a change touches. ``None`` (the change cannot be computed) means all of them.

    ``roots``: ``discover_roots`` (plain names stand for home environment roots, and ``terraform/shared``
    is always one). A root is touched by a change under its own directory (its color file and
    ``.terraform.lock.hcl`` included) or to a file one of its symlinks leads to (``terraform/common/*``:
    every root linking it; ``terraform/envs/beta/main.tf``: beta in every region);
    ``terraform/modules/**`` touches every environment root; ``.terraform-version`` every root.
    """
    known = [home_root(r) if isinstance(r, str) else r for r in roots]
    if not any(r.name == SHARED_NAME for r in known):
        known.append(Root(SHARED_NAME, SHARED_ROOT))
    known = sorted(set(known), key=_root_order)

    def result(hit: Iterable[Root]) -> Affected:
        chosen = sorted(set(hit), key=_root_order)
        return Affected(tuple(r for r in chosen if r.shared), tuple(r for r in chosen if not r.shared))

    if changed_paths is None:
        return result(known)
    hit: set[Root] = set()
    for raw in changed_paths:
        path = raw.strip().removeprefix("./")
        if not path:
            continue
        if path in EVERY_ROOT:
            return result(known)
        if path.startswith(MODULES):
            hit.update(r for r in known if not r.shared)
        hit.update(r for r in known if r.touched_by(path))
    return result(hit)


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
    return affected_roots(changed_paths(git, base, head), discover_roots(Path(envs_dir).parent))


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
