"""The pull-request comment body for one root's plan: ``python -m bgctl.prcomment``.

The workflow runs ``terraform show -json`` and ``terraform show`` on the saved plan and calls this
module; the body comes from the same renderer as ``make plan``. ``--commit-sha`` / ``--head-sha`` /
``--run-url`` add a line naming the planned commit and the run, so a comment left behind by a cancelled
or older run says what it shows. With ``--output`` the body goes to that file and, in GitHub Actions, a
plan that destroys or replaces resources is also flagged as a warning annotation.

``python -m bgctl.prcomment redact --plan-json plan.json`` prints the review summary uploaded instead of
the full JSON plan: each changed resource's address, actions and changed attributes, with every value
Terraform marks sensitive replaced (and no variables, prior state or configuration).

``python -m bgctl.prcomment affected < changed-paths.txt`` prints (JSON) the environment roots a change
touches (``bgctl.ghactions.affected_roots``; ``python -m bgctl.gitops affected`` adds terraform/shared).
``affected`` and ``redact`` need only the standard library, so they run before ``make setup``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgctl.errors import BlueGreenError

if TYPE_CHECKING:
    from bgctl.ghactions import Root
    from bgctl.plansummary import SwitchSummary

HEALTH_NOT_CHECKED = "not checked when planning; the apply on merge runs the health gates"
SENSITIVE = "(sensitive value)"
UNKNOWN = "(known after apply)"


@dataclass(frozen=True)
class Provenance:
    """What a comment shows: the planned commit (for a pull request, GitHub's merge of head onto base),
    the pull request's head, and the run that planned it."""

    commit_sha: str
    head_sha: str | None = None
    run_url: str | None = None

    def line(self) -> str:
        text = f"Plan of `{self.commit_sha[:12]}`"
        if self.head_sha and self.head_sha != self.commit_sha:
            text += f" (head `{self.head_sha[:12]}` merged onto the base branch)"
        if self.run_url:
            text += f" · [workflow run]({self.run_url})"
        return text


def plan_summary(env: str, plan_json: Path, plan_text: Path) -> SwitchSummary:
    # Deferred: `affected` and `redact` run with a bare Python, before jinja2 is installed.
    from bgctl.planguard import load_plan
    from bgctl.plansummary import ColorHealth, summary_from_plan

    report = load_plan(plan_json)
    text = Path(plan_text).read_text(encoding="utf-8", errors="replace")
    _, to_color = report.colors()
    health = ColorHealth.unknown(to_color, HEALTH_NOT_CHECKED) if to_color else None
    return summary_from_plan(env, report, text, health=health)


def comment_body(
    env: str,
    plan_json: Path,
    plan_text: Path,
    artifact_url: str,
    artifact_name: str = "the plan artifact",
    provenance: Provenance | None = None,
    summary: SwitchSummary | None = None,
) -> str:
    """Markdown body (with the hidden per-root marker), always under 65,535 characters."""
    from bgctl.plansummary import COMMENT_LIMIT, render_pr_comment

    summary = summary or plan_summary(env, plan_json, plan_text)
    if provenance is None:
        return render_pr_comment(summary, artifact_url=artifact_url, artifact_name=artifact_name)
    line = provenance.line()
    body = render_pr_comment(
        summary, artifact_url=artifact_url, artifact_name=artifact_name, limit=COMMENT_LIMIT - len(line) - 2
    )
    marker, _, rest = body.partition("\n")
    return f"{marker}\n{line}\n\n{rest}"


def affected_envs(changed_paths: Sequence[str], envs: Sequence[Root | str]) -> list[str]:
    """Environment roots a change touches, by name (``beta``, ``beta-eu-west-1``): the root's own
    directory, a file its symlinks lead to, or all of them for a module change."""
    from bgctl.ghactions import affected_roots

    return list(affected_roots(changed_paths, envs).envs)


# -- the redacted plan summary -------------------------------------------------------------------------
def _mask(value: Any, sensitive: Any) -> Any:
    """``value`` with every part that ``sensitive`` (Terraform's before/after_sensitive mirror) marks
    true replaced by SENSITIVE."""
    if sensitive is True:
        return SENSITIVE
    if isinstance(value, Mapping):
        marks = sensitive if isinstance(sensitive, Mapping) else {}
        return {k: _mask(v, marks.get(k)) for k, v in value.items()}
    if isinstance(value, list):
        marks_list = sensitive if isinstance(sensitive, list) else []
        return [_mask(v, marks_list[i] if i < len(marks_list) else None) for i, v in enumerate(value)]
    return value


def _unknown(value: Any) -> bool:
    if value is True:
        return True
    if isinstance(value, Mapping):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_unknown(v) for v in value)
    return False


def redacted_summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What review needs from ``terraform show -json``: per changed resource its address, actions and
    changed attributes (before/after, sensitive values masked, unknowns named); changed outputs likewise.
    Variables, prior state, planned values and configuration are left out."""
    resources: list[dict[str, Any]] = []
    for rc in doc.get("resource_changes") or []:
        change = rc.get("change") or {}
        actions = list(change.get("actions") or [])
        if actions in (["no-op"], ["read"]):
            continue
        raw_b, raw_a = change.get("before"), change.get("after")
        raw_b = raw_b if isinstance(raw_b, Mapping) else {}
        raw_a = raw_a if isinstance(raw_a, Mapping) else {}
        # Compare the real values (a masked secret that changed is still a change), show masked ones.
        b = _mask(raw_b, change.get("before_sensitive"))
        a = _mask(raw_a, change.get("after_sensitive"))
        unknown = change.get("after_unknown") or {}
        u = unknown if isinstance(unknown, Mapping) else {}
        changed = {}
        for name in sorted(set(raw_b) | set(raw_a) | set(u)):
            if _unknown(u.get(name)):
                changed[name] = {"before": b.get(name), "after": UNKNOWN}
            elif raw_b.get(name) != raw_a.get(name):
                changed[name] = {"before": b.get(name), "after": a.get(name)}
        entry: dict[str, Any] = {"address": rc.get("address"), "actions": actions, "changed": changed}
        if change.get("replace_paths"):
            entry["replace_paths"] = change["replace_paths"]
        resources.append(entry)
    outputs: dict[str, Any] = {}
    for name, oc in (doc.get("output_changes") or {}).items():
        actions = list(oc.get("actions") or [])
        if actions == ["no-op"]:
            continue
        after = (
            UNKNOWN if oc.get("after_unknown") is True else _mask(oc.get("after"), oc.get("after_sensitive"))
        )
        outputs[name] = {
            "actions": actions,
            "before": _mask(oc.get("before"), oc.get("before_sensitive")),
            "after": after,
        }
    return {
        "format_version": doc.get("format_version"),
        "terraform_version": doc.get("terraform_version"),
        "note": f"values Terraform marks sensitive are replaced by {SENSITIVE!r}; unchanged attributes, "
        "variables, prior state and configuration are left out",
        "resource_changes": resources,
        "output_changes": outputs,
    }


# -- entry points ----------------------------------------------------------------------------------------
def _affected_main(argv: Sequence[str]) -> int:
    from bgctl.ghactions import discover_roots

    parser = argparse.ArgumentParser(prog="python -m bgctl.prcomment affected")
    parser.add_argument("--envs-dir", type=Path, default=Path("terraform/envs"))
    args = parser.parse_args(argv)
    roots = [r for r in discover_roots(args.envs_dir.parent) if not r.shared]
    print(json.dumps(affected_envs(sys.stdin.read().splitlines(), roots)))
    return 0


def _redact_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgctl.prcomment redact")
    parser.add_argument("--plan-json", required=True, type=Path, help="terraform show -json output")
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.plan_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.plan_json}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(redacted_summary(doc), indent=2, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["affected"]:
        return _affected_main(argv[1:])
    if argv[:1] == ["redact"]:
        return _redact_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bgctl.prcomment", description=__doc__)
    parser.add_argument("--env", required=True, help="the root: an environment, or shared")
    parser.add_argument("--plan-json", required=True, type=Path, help="terraform show -json output")
    parser.add_argument("--plan-text", required=True, type=Path, help="terraform show output")
    parser.add_argument("--artifact-url", required=True, help="where the full plan can be downloaded")
    parser.add_argument("--artifact-name", default="the plan artifact")
    parser.add_argument("--commit-sha", default=None, help="the commit planned (github.sha)")
    parser.add_argument("--head-sha", default=None, help="the pull request's head commit")
    parser.add_argument("--run-url", default=None, help="the workflow run that planned it")
    parser.add_argument("--output", type=Path, default=None, help="write the body here (default: stdout)")
    args = parser.parse_args(argv)
    provenance = Provenance(args.commit_sha, args.head_sha, args.run_url) if args.commit_sha else None
    try:
        summary = plan_summary(args.env, args.plan_json, args.plan_text)
        body = comment_body(
            args.env,
            args.plan_json,
            args.plan_text,
            args.artifact_url,
            args.artifact_name,
            provenance,
            summary=summary,
        )
    except (BlueGreenError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(body)
        return 0
    args.output.write_text(body, encoding="utf-8")
    if summary.destroys_or_replaces:
        from bgctl.ghactions import annotate

        gone = [*summary.replaces, *summary.destroys]
        annotate(
            "warning",
            f"{args.env}: the plan destroys or replaces {len(gone)} resource(s): {', '.join(gone[:5])}",
            title=f"{args.env} plan destroys or replaces resources",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
