"""The pull-request comment body for one environment's plan: ``python -m bgctl.prcomment``.

The workflow runs ``terraform show -json`` and ``terraform show`` on the saved plan, uploads the plan
as an artifact and calls this module; the body comes from the same renderer as ``make plan``.

``python -m bgctl.prcomment affected < changed-paths.txt`` prints (JSON) the environment roots a
change touches: ``terraform/envs/<env>/**`` that environment, ``terraform/modules/**`` all of them.
It needs only the standard library, so the workflow can run it before ``make setup``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from bgctl.errors import BlueGreenError

HEALTH_NOT_CHECKED = "not checked when planning; the apply on merge runs the health gates"


def comment_body(
    env: str,
    plan_json: Path,
    plan_text: Path,
    artifact_url: str,
    artifact_name: str = "the plan artifact",
) -> str:
    """Markdown body (with the hidden per-environment marker), always under 65,535 characters."""
    # Deferred: `affected` runs with a bare Python, before jinja2 is installed.
    from bgctl.planguard import load_plan
    from bgctl.plansummary import ColorHealth, render_pr_comment, summary_from_plan

    report = load_plan(plan_json)
    text = Path(plan_text).read_text(encoding="utf-8", errors="replace")
    _, to_color = report.colors()
    health = ColorHealth.unknown(to_color, HEALTH_NOT_CHECKED) if to_color else None
    summary = summary_from_plan(env, report, text, health=health)
    return render_pr_comment(summary, artifact_url=artifact_url, artifact_name=artifact_name)


def affected_envs(changed_paths: Iterable[str], envs: Iterable[str]) -> list[str]:
    """Environment roots a change touches (sorted): the env's own root, or all for a module change."""
    known = sorted(set(envs))
    hit: set[str] = set()
    for raw in changed_paths:
        path = raw.strip().removeprefix("./")
        if path.startswith("terraform/modules/"):
            return known
        parts = path.split("/")
        if len(parts) > 3 and parts[:2] == ["terraform", "envs"] and parts[2] in known:
            hit.add(parts[2])
    return sorted(hit)


def _affected_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgctl.prcomment affected")
    parser.add_argument("--envs-dir", type=Path, default=Path("terraform/envs"))
    args = parser.parse_args(argv)
    envs = [p.name for p in args.envs_dir.iterdir() if p.is_dir() and (p / "main.tf").is_file()]
    print(json.dumps(affected_envs(sys.stdin.read().splitlines(), envs)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["affected"]:
        return _affected_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bgctl.prcomment", description=__doc__)
    parser.add_argument("--env", required=True)
    parser.add_argument("--plan-json", required=True, type=Path, help="terraform show -json output")
    parser.add_argument("--plan-text", required=True, type=Path, help="terraform show output")
    parser.add_argument("--artifact-url", required=True, help="where the full plan can be downloaded")
    parser.add_argument("--artifact-name", default="the plan artifact")
    args = parser.parse_args(argv)
    try:
        body = comment_body(args.env, args.plan_json, args.plan_text, args.artifact_url, args.artifact_name)
    except (BlueGreenError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
