"""``make adopt-plan ENV=<env>``: the migration plan of one root in compiler-explorer/infra's account.

The roots' ``adopt.auto.tfvars.json`` describe that account and turn on their ``import`` blocks
(docs/MIGRATION.md). This plans a root as committed (backend included: the real state) and sorts every
resource change into what an adoption may contain and what it may not:

- imported (with or without an in-place update): resources infra's root created under our names;
- created: what does not exist yet (our launch templates, the wiring parameter);
- updated in place: settings that move to ours (shown, for review);
- refused: any destroy or replacement, and any change of an imported color parameter's value (the
  color file says another color than live: applying would switch traffic inside a migration).

Exit 0 when nothing is refused, 1 when something is, 2 on bad input; one line of error otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgctl import REPO_ROOT
from bgctl.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, BlueGreenError

TERRAFORM_DIR = REPO_ROOT / "terraform"
SHARED = "shared"
COLOR_PARAMETERS = ("aws_ssm_parameter.active_color", "aws_ssm_parameter.active_target_group_arn")


@dataclass(frozen=True)
class AdoptionReport:
    """A plan's resource changes, sorted for an adoption (data sources and no-ops left out)."""

    imported: tuple[str, ...]  # "address" or "address (update: attr, ...)"
    created: tuple[str, ...]
    updated: tuple[str, ...]
    refused: tuple[str, ...]  # "address: why"

    @property
    def ok(self) -> bool:
        return not self.refused

    def to_doc(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "imported": list(self.imported),
            "created": list(self.created),
            "updated": list(self.updated),
            "refused": list(self.refused),
        }


def _changed(before: Any, after: Any) -> list[str]:
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return []
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "tags_all")


def adoption_report(plan: Mapping[str, Any]) -> AdoptionReport:
    """Sort the ``resource_changes`` of a ``terraform show -json`` plan document."""
    imported: list[str] = []
    created: list[str] = []
    updated: list[str] = []
    refused: list[str] = []
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode") == "data":
            continue
        address = str(rc.get("address"))
        change = rc.get("change") or {}
        actions = tuple(change.get("actions") or ())
        before, after = change.get("before"), change.get("after")
        attrs = _changed(before, after)
        if "delete" in actions:
            what = "replaced" if "create" in actions else "destroyed"
            replace = [".".join(str(p) for p in path) for path in rc.get("replace_paths") or []]
            refused.append(f"{address}: would be {what}" + (f" ({', '.join(replace)})" if replace else ""))
            continue
        if any(address.endswith(p) for p in COLOR_PARAMETERS) and "value" in attrs:
            old = before.get("value") if isinstance(before, Mapping) else None
            new = after.get("value") if isinstance(after, Mapping) else None
            refused.append(
                f"{address}: live says {old!r}, this root {new!r}: write active_color.auto.tfvars.json "
                "from live first (an adoption must not switch traffic)"
            )
            continue
        if change.get("importing") is not None:
            imported.append(address + (f" (update: {', '.join(attrs)})" if "update" in actions else ""))
        elif actions == ("create",):
            created.append(address)
        elif actions == ("update",):
            updated.append(f"{address} ({', '.join(attrs)})" if attrs else address)
    return AdoptionReport(tuple(imported), tuple(created), tuple(updated), tuple(refused))


def render(name: str, report: AdoptionReport) -> str:
    lines = [f"adopt-plan {name}: {'OK' if report.ok else 'REFUSED'}"]
    for title, items in (
        ("imported", report.imported),
        ("created", report.created),
        ("updated in place", report.updated),
        ("refused", report.refused),
    ):
        lines.append(f"  {title}: {len(items)}")
        lines.extend(f"    {item}" for item in items)
    if not report.ok:
        lines.append("  nothing was applied; see docs/MIGRATION.md")
    return "\n".join(lines)


def root_dir(name: str, terraform_dir: Path = TERRAFORM_DIR) -> Path:
    """``shared`` -> terraform/shared; an environment -> terraform/envs/<env>; UsageError otherwise."""
    from bgctl.errors import UsageError

    path = terraform_dir / SHARED if name == SHARED else terraform_dir / "envs" / name
    if not name or "/" in name or not (path / "main.tf").is_file():
        known = sorted(p.name for p in (terraform_dir / "envs").iterdir() if (p / "main.tf").is_file())
        raise UsageError(f"no root {name!r}: one of {SHARED}, {', '.join(known)}")
    return path


def plan_root(
    directory: Path, *, binary: str, backend: bool = True, env: Mapping[str, str] | None = None
) -> AdoptionReport:
    """Init and plan ``directory`` as it is on disk (``env`` added to the process environment); the
    report of that plan (nothing is applied)."""
    from bgctl.terraform import TerraformRoot

    root = TerraformRoot(directory, binary, env=env)
    root.init(backend=backend)
    with tempfile.TemporaryDirectory(prefix="bluegreen-adopt-") as tmp:
        plan = root.plan_to_file(Path(tmp) / "adopt.tfplan")
        return adoption_report(root.show_json(plan))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="adopt-plan", description="Plan one root's adoption: imports, creates, no destroys."
    )
    parser.add_argument("--env", required=True, help="an environment, or 'shared'")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--terraform", default=None, help="terraform binary (default: the project's)")
    args = parser.parse_args(argv)
    try:
        from bgctl.terraform import default_binary

        report = plan_root(root_dir(args.env), binary=args.terraform or default_binary())
    except BlueGreenError as exc:
        print(f"adopt-plan: {exc.message}", file=sys.stderr)
        return exc.exit_code if exc.exit_code == EXIT_USAGE else EXIT_FAILED
    print(json.dumps(report.to_doc(), indent=2) if args.json else render(args.env, report))
    return EXIT_OK if report.ok else EXIT_FAILED
