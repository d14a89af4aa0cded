"""``python -m bgctl.gitops COMMAND``: the git and workflow steps, as calls into tested Python.

  affected          roots a push or pull request touches, in every region, following symlinks:
                    {"shared": bool, "shared_roots": [...], "envs": [...], "roots": [...]}, each root
                    {"name", "dir", "env", "region"}
  may-move-traffic  whether the push base..head may move ENV's traffic (it changed the color file)
  shared-apply      plan and apply terraform/shared, or --region R's terraform/shared-R (refuses
                    destroys and replaces)
  drift             the live color against the color file on the default branch
  record            commit the color file after a traffic move (and push it, in CI)
  deploy-request    check the deploy workflow's inputs; the GitHub environment the job needs
  run               run a command, logging each output line with its time (for the summary)
  summary           the job summary: outcome table and timings

Exit codes: 0 done; 1 failed or refused (a GitHub annotation says why, in Actions); 2 usage.
Only ``shared-apply`` needs the runtime dependencies (``make setup``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bgctl import COLORS
from bgctl.envspec import ENVS_DIR
from bgctl.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, BlueGreenError, UsageError
from bgctl.ghactions import (
    affected_between,
    annotate,
    env_names,
    health_check_problem,
    load_json,
    parse_deploy_request,
    read_log,
    render_summary,
    run_logged,
    status_split,
    write_github_output,
)
from bgctl.gitcolor import color_records
from bgctl.gitdrift import git_drift
from bgctl.gitrecord import (
    RecordStatus,
    TrafficMove,
    push_default,
    record_traffic_move,
    run_url,
)
from bgctl.gitrepo import default_ref
from bgctl.mergerule import may_move_traffic
from bgctl.traffic import TrafficSplit


def _envs_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("BLUEGREEN_ENVS_DIR") or ENVS_DIR)


# -- affected / may-move-traffic --------------------------------------------------------------------
def cmd_affected(args: argparse.Namespace) -> int:
    affected = affected_between(args.envs_dir, args.base, args.head)
    doc = affected.as_json()
    print(json.dumps(doc))
    write_github_output(
        {
            "shared": "true" if affected.shared else "false",
            "shared_roots": json.dumps(doc["shared_roots"]),
            "envs": json.dumps(doc["envs"]),
            "roots": json.dumps(doc["roots"]),
        }
    )
    return EXIT_OK


def cmd_may_move_traffic(args: argparse.Namespace) -> int:
    permission = may_move_traffic(args.env, args.base, args.head, envs_dir=args.envs_dir)
    print(f"{args.env}: {'may' if permission else 'may not'} move traffic: {permission.reason}")
    write_github_output({"allowed": "true" if permission else "false"})
    return EXIT_OK


# -- applies ------------------------------------------------------------------------------------------
def cmd_shared_apply(args: argparse.Namespace) -> int:
    import tempfile

    from bgctl.cli import _terraform_binary
    from bgctl.planguard import parse_plan
    from bgctl.planning import decide_apply
    from bgctl.settings import Settings
    from bgctl.terraform import TerraformRoot

    settings = Settings.from_environ(os.environ)
    if args.region:
        from bgctl.regions import shared_root

        if args.root is not None:
            raise UsageError("--root and --region name the root twice: pass one of them")
        args.root = shared_root(args.envs_dir.parent, args.region)
        if not (args.root / "main.tf").is_file():
            raise UsageError(f"no shared root for region {args.region}: {args.root} has no main.tf")
    args.root = args.root or Path("terraform/shared")
    root = TerraformRoot(args.root, binary=_terraform_binary(settings), plugin_dir=settings.tf_plugin_dir)
    root.init(backend=True)
    with tempfile.TemporaryDirectory(prefix="bluegreen-shared-") as tmp:
        planfile = root.plan_to_file(Path(tmp) / "shared.tfplan")
        report = parse_plan(root.show_json(planfile))
        if report.traffic_changes:
            raise UsageError(f"{args.root} plans traffic changes; the shared root owns no traffic action")
        decision = decide_apply(report, allow_destroy=args.allow_destroy)
        print(f"{args.root}: {decision.reason}")
        if decision.action == "apply":
            root.apply_plan(planfile)
            print(f"✅ {args.root}: applied")
    return EXIT_OK


# -- drift / record -----------------------------------------------------------------------------------
def _live(args: argparse.Namespace) -> TrafficSplit | None:
    """The live split: ``--live COLOR``, else what a ``status --json`` file says."""
    if args.live:
        return TrafficSplit.to(args.live)
    return status_split(load_json(args.status_json))


def cmd_drift(args: argparse.Namespace) -> int:
    live = _live(args)
    if live is None:
        raise UsageError("the live color is unknown: pass --live COLOR or --status-json FILE")
    found = git_drift(args.envs_dir, args.env, live)
    if found is None:
        print(f"{args.env}: the color file is not tracked by git here: nothing to compare")
        return EXIT_OK
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        print(f"{args.env}: {found.kind}: {found.message}")
        for cmd in found.fix:
            print(f"    {cmd}")
    if found.drifted:
        annotate("warning", f"{found.message}\nFix:\n{found.fix_text}", f"{args.env}: {found.kind} switch")
        return EXIT_FAILED
    return EXIT_OK


def cmd_record(args: argparse.Namespace) -> int:
    """After ``make deploy``/``switch``/``rollback`` in CI: commit what the working tree's color file
    says, if traffic moved, checked against the live color; then push the default branch. With
    ``--region``, the color file of the environment's root in that region (bgctl.regions)."""
    envs_dir, env = args.envs_dir, args.env
    if args.region:
        from bgctl.regions import target

        envs_dir = target(env, args.region, envs_dir).envs_dir
    found = color_records(envs_dir, [env])
    if found is None:
        print(f"{envs_dir} is not in a git checkout: nothing to record")
        return EXIT_OK
    git, records = found
    rec = records[env]
    live = _live(args)
    if rec.worktree is None:
        raise BlueGreenError(f"{rec.path} is missing or invalid: cannot record {env}'s color")
    file = rec.worktree.describe()
    if live is not None and live != rec.worktree:
        message = (
            f"{env}: the load balancer routes to {live.describe()} but {rec.path} says {file}: not "
            "recording either (the switch may have failed half-way)"
        )
        annotate("error", message, f"{env}: live color and color file disagree")
        raise BlueGreenError(message, hint=f"bluegreen --env {env} validate, then recover or switch")
    if rec.worktree != rec.head:
        if live is None and args.status_json is not None:
            message = (
                f"{env}: {rec.path} says {file} (HEAD: {rec.head.describe() if rec.head else 'none'}) but "
                f"the live color cannot be read from {args.status_json}: not recording blind"
            )
            annotate("error", message, f"{env}: live color unknown")
            raise BlueGreenError(message, hint=f"bluegreen --env {env} validate, then record it by hand")
        move = TrafficMove.made_here(env, rec.head, rec.worktree, args.operation, args.version)
        result = record_traffic_move(envs_dir, move, commit=not args.no_commit)
        print(result.text())
        if result.status is RecordStatus.COMMANDS:
            annotate("error", result.text(), f"{env}: the color file was not committed")
            return EXIT_FAILED
    else:
        print(f"{env}: {rec.path} says {file}, as HEAD does: no traffic move to commit")
    if args.push:
        dref = default_ref(git)
        ahead = dref.remote and git.out("rev-list", "--count", f"{dref.ref}..refs/heads/{dref.branch}") != "0"
        if ahead:
            sha = push_default(git)
            print(f"pushed {sha[:12]} to {dref.name}")
            annotate(
                "notice", f"{env}: color file committed as {sha[:12]} on {dref.branch}", f"{env} recorded"
            )
        else:
            print(f"{dref.name} is up to date: nothing to push")
    return EXIT_OK


# -- the deploy workflow --------------------------------------------------------------------------------
def _wave_regions(env: str, text: str, envs_dir: Path) -> list[str]:
    """The deploy workflow's waves: one job per region, in order; [""] = the home region only. Each
    region must be the home one or have a root in ``terraform/envs-<region>`` (stdlib only: the request
    job runs before ``make setup``, so the home region itself is checked by the deploy's --region)."""
    from bgctl.regions import parse_regions, regional_dirs

    if not text.strip():
        return [""]
    regions = list(parse_regions(text))
    extra = [r for r, d in regional_dirs(envs_dir).items() if (d / env / "main.tf").is_file()]
    others = [r for r in regions if r not in extra]
    if len(others) > 1:
        raise UsageError(
            f"{env} has no root in {', '.join(others[1:])} (extra regions: {', '.join(extra) or 'none'}; "
            f"at most one region can be its home, {others[0]}?)"
        )
    return regions


def cmd_deploy_request(args: argparse.Namespace) -> int:
    request = parse_deploy_request(args.env, args.version, args.capacity or "", env_names(args.envs_dir))
    regions = _wave_regions(request.env, args.regions or "", args.envs_dir)
    problem = health_check_problem(os.environ.get("BLUEGREEN_HEALTH_URL"))
    if problem and not args.allow_unchecked:
        annotate("error", problem, f"{request.env}: no covering health check")
        raise UsageError(problem, hint="set the repository variable BLUEGREEN_HEALTH_URL")
    print(
        f"deploy {request.version} to {request.env}"
        + (f" with {request.capacity} instance(s)" if request.capacity else "")
        + (f" (GitHub environment {request.github_environment})" if request.production else "")
    )
    write_github_output(
        {
            "env": request.env,
            "version": request.version,
            "capacity": str(request.capacity or ""),
            "github_environment": request.github_environment,
            "regions": json.dumps(regions),
        }
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise UsageError("run needs a command after --")
    return run_logged(argv, args.log)


def cmd_summary(args: argparse.Namespace) -> int:
    lines = read_log(args.log) if args.log and args.log.is_file() else []
    record = (
        args.record.read_text(encoding="utf-8").strip() if args.record and args.record.is_file() else None
    )
    text = render_summary(
        env=args.env,
        operation=args.operation,
        version=args.version,
        exit_code=args.exit_code,
        lines=lines,
        before=load_json(args.before),
        after=load_json(args.after),
        record=record,
        run=run_url(),
    )
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if args.write and target:
        with Path(target).open("a", encoding="utf-8") as fh:
            fh.write(text)
    sys.stdout.write(text)
    return EXIT_OK


# -- parsing --------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bgctl.gitops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Any, *, env: bool = True, help_text: str = "") -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--envs-dir", type=Path, default=None, help="default: terraform/envs")
        if env:
            p.add_argument("--env", required=True)
        return p

    p = add("affected", cmd_affected, env=False, help_text="roots base..head touches")
    p.add_argument("--base", default="", help="empty or all zeros: every root")
    p.add_argument("--head", default="HEAD")

    p = add("may-move-traffic", cmd_may_move_traffic)
    p.add_argument("--base", required=True)
    p.add_argument("--head", required=True)

    p = add("shared-apply", cmd_shared_apply, env=False, help_text="plan and apply terraform/shared")
    p.add_argument("--root", type=Path, default=None, help="default: terraform/shared")
    p.add_argument("--region", default="", help="an extra region's shared root, terraform/shared-<region>")
    p.add_argument("--allow-destroy", action="store_true")

    p = add("drift", cmd_drift)
    p.add_argument("--live", choices=COLORS)
    p.add_argument("--status-json", type=Path, help="a `status --json` file to read the live color from")
    p.add_argument("--json", action="store_true")

    p = add("record", cmd_record)
    p.add_argument("--operation", default="deploy", choices=("deploy", "switch", "rollback", "recover"))
    p.add_argument("--version", default=None)
    p.add_argument("--live", choices=COLORS)
    p.add_argument("--status-json", type=Path)
    p.add_argument("--no-commit", action="store_true", help="print the git commands instead")
    p.add_argument("--push", action="store_true", help="push the default branch (rebasing if it moved)")
    p.add_argument("--region", default="", help="the color file of the env's root in this region")

    p = add("deploy-request", cmd_deploy_request)
    p.add_argument("--version", required=True)
    p.add_argument("--capacity", default="")
    p.add_argument("--allow-unchecked", action="store_true", help="do not require BLUEGREEN_HEALTH_URL")
    p.add_argument("--regions", default="", help="comma-separated regions deployed in waves (empty: home)")

    p = sub.add_parser("run", help="run a command, logging timed output lines")
    p.set_defaults(func=cmd_run)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("argv", nargs=argparse.REMAINDER)

    p = sub.add_parser("summary", help="the job summary (Markdown)")
    p.set_defaults(func=cmd_summary)
    p.add_argument("--env", required=True)
    p.add_argument("--operation", default="deploy")
    p.add_argument("--version", default=None)
    p.add_argument("--exit-code", type=int, required=True)
    p.add_argument("--log", type=Path)
    p.add_argument("--before", type=Path)
    p.add_argument("--after", type=Path)
    p.add_argument("--record", type=Path, help="a file holding what `record` printed")
    p.add_argument("--write", action="store_true", help="also append to $GITHUB_STEP_SUMMARY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if hasattr(args, "envs_dir"):
        args.envs_dir = _envs_dir(args.envs_dir)
    try:
        return int(args.func(args))
    except BlueGreenError as exc:
        print(f"❌ {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"   → {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
