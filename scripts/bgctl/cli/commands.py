"""The commands. Each parses, checks what can be checked locally (before any AWS call), calls one
library function and prints (or, with --json, serialises) what it returned."""

from __future__ import annotations

from typing import Any

import click

from bgctl.errors import EXIT_FAILED, UsageError

from .app import (
    DRY_RUN,
    NO_COMMIT,
    VIA,
    YES,
    Invocation,
    cli,
    clients_of,
    color_choice,
    common,
    emit_json,
    finish,
    make_context,
    print_outcome,
    reader_of,
    require_env,
    terraform_binary,
)


@cli.command()
@click.option("--detailed", is_flag=True, help="One line per instance.")
@click.option("--all", "all_envs", is_flag=True, help="Every environment in one compact table.")
@click.option("--no-fail", is_flag=True, help="Exit 0 even when something needs attention (display only).")
@common
@click.pass_obj
def status(inv: Invocation, detailed: bool, all_envs: bool, no_fail: bool) -> None:
    """Active color (SSM and load balancer), capacity, health and version of each color.

    Exits 1 when a shown environment has drift, no healthy serving instance, a stale lock or an
    unfinished operation (--no-fail: display only)."""
    from bgctl import render
    from bgctl.gitdrift import git_drifts, live_split

    if all_envs:
        from .regional import status_all

        status_all(inv, detailed=detailed, no_fail=no_fail)
        return
    envs = [require_env(inv)]
    clients = clients_of(inv, read_only=True)
    states = reader_of(clients, inv).read(envs, addresses=True if detailed or inv.as_json else None)
    drifts = git_drifts(inv.envs_dir, {e: live_split(s) for e, s in states.items()})
    attention = {e: render.attention(s, drifts.get(e)) for e, s in states.items()}
    if inv.as_json:
        docs = {e: render.status_json(s, drifts.get(e), attention[e]) for e, s in states.items()}
        emit_json({"schema_version": render.STATUS_SCHEMA, "environments": docs})
    else:
        texts = (render.status_text(s, detailed=detailed, git=drifts.get(e)) for e, s in states.items())
        click.echo("\n\n".join(texts))
    if any(attention.values()) and not no_fail:
        raise click.exceptions.Exit(EXIT_FAILED)


@cli.command()
@common
@click.pass_obj
def validate(inv: Invocation) -> None:
    """Check wiring, resources and that the color file, SSM and the load balancer agree."""
    from bgctl.validate import validate_env

    env = require_env(inv)
    clients = clients_of(inv, read_only=True)
    problems = validate_env(clients, reader_of(clients, inv), env)
    if inv.as_json:
        emit_json(
            {
                "schema_version": 1,
                "environment": env,
                "ok": not problems,
                "problems": [{"message": p.message, "fix": p.fix} for p in problems],
            }
        )
    elif not problems:
        click.echo(f"✅ {env}: wiring, target groups, ASGs, routing and color records all agree")
    else:
        click.echo(f"❌ {env}: {len(problems)} problem(s)")
        for p in problems:
            click.echo(f"  - {p.message}")
            click.echo(f"    fix: {p.fix}")
    if problems:
        raise click.exceptions.Exit(EXIT_FAILED)


@cli.command()
@click.option("-n", "--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="Records.")
@click.option("--all", "all_envs", is_flag=True, help="Every environment.")
@common
@click.pass_obj
def history(inv: Invocation, limit: int, all_envs: bool) -> None:
    """The last deployments, switches and rollbacks: when, who, from -> to, version, outcome, duration."""
    from dataclasses import asdict

    from bgctl.history import HistoryStore

    from .regional import history_all

    if all_envs:
        records = history_all(inv, limit)
    else:
        env = require_env(inv)
        records = {env: HistoryStore(clients_of(inv, read_only=True).ssm, env).recent(limit)}
    if inv.as_json:
        emit_json({"schema_version": 1, "history": {e: [asdict(r) for r in rs] for e, rs in records.items()}})
        return
    for env, rs in records.items():
        click.echo(f"{env}:" if rs else f"{env}: no operations recorded yet")
        for record in rs:
            click.echo(f"  {record.describe()}")


def _local_capacity_check(inv: Invocation, env: str, capacity: int | None) -> None:
    """--capacity against the environment's limits, read from its Terraform root: no AWS call."""
    if capacity is None:
        return
    from bgctl.capacity import CapacityPolicy
    from bgctl.envspec import load_env_spec

    spec = load_env_spec(env, inv.envs_dir)
    CapacityPolicy(env, spec.min_size, spec.max_size, spec.min_healthy).check_capacity(capacity)


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("version", required=False)
@click.option("--capacity", type=click.IntRange(min=1), default=None, help="Instances for the new color.")
@click.option("--skip-confirmation", is_flag=True, help="Never prompt; refuse whatever would need a yes.")
@click.option("--branch", default=None, help="With 'deploy list' or 'deploy latest': only this branch.")
@click.option("--health-timeout", type=click.FloatRange(min=1), default=None, help="Seconds (default 600).")
@click.option(
    "--canary",
    "canary_text",
    default=None,
    metavar="W1,W2,...",
    help="Shift traffic in steps (percent to the new color, e.g. 10,50), baking after each, then switch.",
)
@click.option(
    "--bake",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds each canary step bakes.",
)
@click.option(
    "--regions",
    "regions_text",
    default=None,
    metavar="R1,R2,...",
    help="Deploy in waves: each region fully, in this order, stopping at the first failure.",
)
@click.option(
    "--wave-bake",
    type=click.FloatRange(min=0),
    default=0.0,
    help="With --regions: seconds to wait after a region, re-checking its health, before the next.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="With --regions: skip regions already serving VERSION (continue a stopped wave).",
)
@click.option(
    "--wave-id",
    default=None,
    help="With --regions: the wave's ID in history (default: new; with --resume, the stopped wave's).",
)
@VIA
@DRY_RUN
@NO_COMMIT
@YES
@common
@click.pass_obj
def deploy(
    inv: Invocation,
    version: str | None,
    capacity: int | None,
    skip_confirmation: bool,
    branch: str | None,
    health_timeout: float | None,
    via: str | None,
    dry_run: bool,
    no_commit: bool,
    assume_yes: bool,
    canary_text: str | None,
    bake: float,
    regions_text: str | None,
    wave_bake: float,
    resume: bool,
    wave_id: str | None,
) -> None:
    """Deploy VERSION to the inactive color, prove it healthy, switch (optionally through a canary).

    VERSION is gh-N, 'latest' (the newest build, of --branch if given), or omitted: the version the
    active color runs, on fresh instances. 'deploy list' lists the builds."""
    env = require_env(inv)
    if version == "list":
        from bgctl.builds import list_builds
        from bgctl.render import builds_table

        clients = clients_of(inv, read_only=True)
        st = reader_of(clients, inv).read_one(env, probe_http=False)
        builds = list_builds(clients, st, branch=branch)
        if inv.as_json:
            emit_json({"schema_version": 1, "environment": env, "builds": [b.to_doc() for b in builds]})
        else:
            click.echo(builds_table(st, builds))
        return
    from bgctl.operations.deploy import deploy as run_deploy
    from bgctl.operations.deploy import validate_version

    if version not in (None, "latest"):
        validate_version(version)
    if branch and version != "latest":
        raise UsageError("--branch goes with 'deploy list' or 'deploy latest'")
    from bgctl.canary import parse_steps

    canary = parse_steps(canary_text) if canary_text else ()
    _local_capacity_check(inv, env, capacity)
    if regions_text is not None or resume or wave_bake or wave_id:
        from .regional import deploy_in_waves

        deploy_in_waves(
            inv,
            regions_text,
            version,
            resume=resume,
            wave_bake=wave_bake,
            wave_id=wave_id,
            branch=branch,
            no_commit=no_commit,
            context_kwargs={
                "via": via,
                "skip_confirmation": skip_confirmation,
                "assume_yes": assume_yes,
                "health_timeout": health_timeout,
            },
            deploy_kwargs={
                "capacity": capacity,
                "skip_confirmation": skip_confirmation,
                "dry_run": dry_run,
                "canary": canary,
                "bake_seconds": bake,
            },
        )
        return
    ctx = make_context(
        inv,
        via=via,
        skip_confirmation=skip_confirmation,
        assume_yes=assume_yes,
        health_timeout=health_timeout,
    )
    outcome = run_deploy(
        ctx,
        version,
        capacity=capacity,
        skip_confirmation=skip_confirmation,
        dry_run=dry_run,
        branch=branch,
        canary=canary,
        bake_seconds=bake,
    )
    finish(outcome, inv, no_commit=no_commit)


@cli.command()
@click.argument("color", type=color_choice())
@click.option(
    "--force", is_flag=True, help="Switch even without enough healthy instances (typed confirmation)."
)
@VIA
@DRY_RUN
@NO_COMMIT
@YES
@common
@click.pass_obj
def switch(
    inv: Invocation,
    color: str,
    force: bool,
    via: str | None,
    dry_run: bool,
    no_commit: bool,
    assume_yes: bool,
) -> None:
    """Move all traffic to COLOR, between health gates."""
    from bgctl.operations.switch import switch as run_switch

    ctx = make_context(inv, via=via, assume_yes=assume_yes)
    finish(run_switch(ctx, color, force=force, dry_run=dry_run), inv, no_commit=no_commit)


@cli.command()
@click.option(
    "--force", is_flag=True, help="Roll back even without enough healthy instances (typed confirmation)."
)
@click.option(
    "--regions",
    "regions_text",
    default=None,
    metavar="R1,R2,...",
    help="Roll back these regions one after the other (e.g. those a stopped wave finished).",
)
@VIA
@DRY_RUN
@NO_COMMIT
@YES
@common
@click.pass_obj
def rollback(
    inv: Invocation,
    force: bool,
    regions_text: str | None,
    via: str | None,
    dry_run: bool,
    no_commit: bool,
    assume_yes: bool,
) -> None:
    """Switch back to the previous color (still warm from the last deploy)."""
    from bgctl.operations.switch import rollback as run_rollback

    if regions_text is not None:
        from .regional import rollback_in_waves

        rollback_in_waves(
            inv,
            regions_text,
            no_commit=no_commit,
            context_kwargs={"via": via, "assume_yes": assume_yes},
            rollback_kwargs={"force": force, "dry_run": dry_run},
        )
        return
    ctx = make_context(inv, via=via, assume_yes=assume_yes)
    finish(run_rollback(ctx, force=force, dry_run=dry_run), inv, no_commit=no_commit)


@cli.command()
@click.option("--color", type=color_choice(), default=None, help="Default: the inactive color.")
@YES
@common
@click.pass_obj
def cleanup(inv: Invocation, color: str | None, assume_yes: bool) -> None:
    """Scale the inactive color to zero (refuses the active color). This gives up instant rollback."""
    from bgctl.operations.cleanup import cleanup as run_cleanup

    print_outcome(run_cleanup(make_context(inv, assume_yes=assume_yes), color), inv)


@cli.command()
@click.option("--reason", default="", help="Recorded with the shutdown so status can show it.")
@common
@click.pass_obj
def shutdown(inv: Invocation, reason: str) -> None:
    """Stop every instance of the environment (asks you to type its name, always)."""
    from bgctl.operations.cleanup import shutdown as run_shutdown

    print_outcome(run_shutdown(make_context(inv), reason=reason), inv)


@cli.command()
@click.option(
    "--force-unlock",
    "lock_id",
    metavar="LOCK_ID",
    default=None,
    help="Remove a stale lock: pass the lock ID status shows (asks you to type the env name).",
)
@VIA
@NO_COMMIT
@YES
@common
@click.pass_obj
def recover(inv: Invocation, lock_id: str | None, via: str | None, no_commit: bool, assume_yes: bool) -> None:
    """Complete or undo an operation whose process died (from the journal in its lock)."""
    from bgctl.operations.recover import force_unlock as run_force_unlock
    from bgctl.operations.recover import recover as run_recover

    ctx = make_context(inv, via=via, assume_yes=assume_yes)
    finish(run_force_unlock(ctx, lock_id) if lock_id else run_recover(ctx), inv, no_commit=no_commit)


@cli.command()
@click.option(
    "--color", type=color_choice(), default=None, help="Plan a switch to COLOR (default: the color file)."
)
@common
@click.pass_obj
def plan(inv: Invocation, color: str | None) -> None:
    """Summary first, then the full plan: terraform plan, or the API dry run where the provider is missing."""
    from dataclasses import asdict

    from bgctl.planning import plan_env
    from bgctl.plansummary import render_summary

    env = require_env(inv)
    clients = clients_of(inv, read_only=True)
    st = reader_of(clients, inv).read_one(env)
    result = plan_env(
        st,
        inv.envs_dir,
        color=color,
        binary=terraform_binary(inv.settings),
        plugin_dir=inv.settings.tf_plugin_dir,
        env=inv.settings.aws_environ(),
    )
    if inv.as_json:
        summary: Any = asdict(result.summary)
        summary.pop("plan_text", None)
        emit_json(
            {
                "schema_version": 1,
                "environment": env,
                "notice": result.notice,
                "summary": summary,
                "headline": result.summary.headline(),
            }
        )
        return
    if result.notice:
        click.echo(result.notice)
    click.echo(render_summary(result.summary).rstrip())


@cli.command("apply")
@click.option(
    "--allow-destroy", is_flag=True, help="Allow a reviewed plan that destroys or replaces resources."
)
@click.option("--base-sha", default=None, help="With --head-sha: the push being applied (merge-time rule).")
@click.option(
    "--head-sha",
    default=None,
    help="The pushed commit: traffic may move only if the push changed the color file.",
)
@YES
@common
@click.pass_obj
def apply_cmd(
    inv: Invocation, allow_destroy: bool, base_sha: str | None, head_sha: str | None, assume_yes: bool
) -> None:
    """Apply the environment's root as committed (what the workflow runs on merge): a pure switch goes
    through the health gates, other changes apply only if they leave traffic alone. With --base-sha and
    --head-sha, a plan that would move traffic is refused unless that push changed the color file."""
    import os

    from bgctl.mergerule import UnrequestedSwitchError, may_move_traffic
    from bgctl.planning import apply_root
    from bgctl.terraform import TerraformRoot

    env = require_env(inv)
    permission = None
    if head_sha:
        permission = may_move_traffic(env, base_sha, head_sha, envs_dir=inv.envs_dir)
        click.echo(f"{env}: {permission.reason}", err=inv.as_json)
    ctx = make_context(inv, via="terraform", assume_yes=assume_yes)
    root = TerraformRoot(
        inv.envs_dir / ctx.env,
        binary=terraform_binary(inv.settings),
        plugin_dir=inv.settings.tf_plugin_dir,
        env=inv.settings.aws_environ(),
    )
    try:
        outcome = apply_root(ctx, root, allow_destroy=allow_destroy, permission=permission)
    except UnrequestedSwitchError as exc:
        if os.environ.get("GITHUB_ACTIONS") == "true":
            click.echo(exc.annotation())
        raise
    print_outcome(outcome, inv)


@cli.group()
def canary() -> None:
    """Move a baking canary on (promote) or stop it (abort), from any shell."""


@canary.command("promote")
@NO_COMMIT
@YES
@common
@click.pass_obj
def canary_promote(inv: Invocation, no_commit: bool, assume_yes: bool) -> None:
    """Skip the remaining bakes and switch fully (the running deploy does it at its next poll)."""
    from bgctl.operations.canary import canary_request

    finish(canary_request(make_context(inv, assume_yes=assume_yes), "promote"), inv, no_commit=no_commit)


@canary.command("abort")
@NO_COMMIT
@YES
@common
@click.pass_obj
def canary_abort(inv: Invocation, no_commit: bool, assume_yes: bool) -> None:
    """Send the canary's weight back to 0 and undo the deploy."""
    from bgctl.operations.canary import canary_request

    finish(canary_request(make_context(inv, assume_yes=assume_yes), "abort"), inv, no_commit=no_commit)
