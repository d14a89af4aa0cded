"""The command line: parsing, prompts and printing. The library below returns values and raises.

Exit codes: 0 done; 1 failed or refused; 2 usage error; 130 interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from bgctl import COLORS, REPO_ROOT
from bgctl.envspec import ENVS_DIR, environment_names
from bgctl.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, BlueGreenError, UsageError
from bgctl.settings import Settings

if TYPE_CHECKING:
    from bgctl.aws import Clients
    from bgctl.context import Context, Outcome
    from bgctl.state import StateReader
    from bgctl.switching import TrafficDriver


@dataclass(frozen=True)
class Invocation:
    """What every command is handed: the settings (read once) and the --env option."""

    settings: Settings
    env: str | None

    @property
    def envs_dir(self) -> Path:
        return self.settings.envs_dir


def _require_env(inv: Invocation) -> str:
    if inv.env is None:
        raise UsageError(f"--env is required (one of: {', '.join(environment_names())})")
    return inv.env


def _clients(inv: Invocation, *, read_only: bool = False) -> Clients:
    from bgctl.aws import clients_for

    return clients_for(inv.settings, read_only=read_only)


def _reader(clients: Clients, inv: Invocation) -> StateReader:
    from bgctl.health import HttpChecker
    from bgctl.state import StateReader

    return StateReader(clients, HttpChecker.of(inv.settings), envs_dir=inv.envs_dir)


# -- terminal I/O for the library -----------------------------------------------------------------
class ClickReporter:
    def __init__(self) -> None:
        self.steps = 0
        self.last_progress = ""

    def step(self, name: str, message: str) -> None:
        self.steps += 1
        click.echo(f"▶ [{name}] {message}")

    def info(self, message: str) -> None:
        click.echo(f"  {message}")

    def warn(self, message: str) -> None:
        click.echo(message, err=True)

    def progress(self, message: str) -> None:
        if message != self.last_progress:
            click.echo(f"  … {message}")
            self.last_progress = message


class ClickPrompter:
    def confirm(self, message: str) -> bool:
        try:
            return bool(click.confirm(message, default=False))
        except click.Abort:
            return False

    def choose(self, message: str, options: int) -> int:
        click.echo(message)
        try:
            return int(click.prompt(f"Choose option (1-{options})", type=click.IntRange(1, options)))
        except click.Abort:
            return options

    def typed(self, message: str, expected: str) -> bool:
        try:
            answer = click.prompt(message, default="", show_default=False)
        except click.Abort:
            return False
        return str(answer).strip() == expected


def _terraform_binary(settings: Settings) -> str:
    from bgctl.terraform import default_binary

    return settings.terraform_binary or default_binary()


def _context(
    inv: Invocation,
    *,
    via: str | None = None,
    skip_confirmation: bool = False,
    health_timeout: float | None = None,
) -> Context:
    from bgctl.context import Context, NoPrompter
    from bgctl.switching import ApiDriver, TerraformDriver

    env = _require_env(inv)
    settings = inv.settings
    if health_timeout is not None:
        settings = replace(settings, health_timeout=health_timeout)
    clients = _clients(inv)
    chosen = via or ("api" if settings.local_endpoint else "terraform")
    driver: TrafficDriver
    if chosen == "api":
        driver = ApiDriver(clients, settings.envs_dir)
    else:
        driver = TerraformDriver(
            settings.envs_dir,
            _terraform_binary(settings),
            settings.tf_plugin_dir,
            local=settings.local_endpoint,
        )
    return Context(
        env=env,
        clients=clients,
        reader=_reader(clients, inv),
        driver=driver,
        reporter=ClickReporter(),
        prompter=NoPrompter() if skip_confirmation else ClickPrompter(),
        settings=settings,
    )


def _print_outcome(outcome: Outcome, inv: Invocation) -> None:
    from bgctl.render import outcome_text

    if outcome.dry_run:
        from bgctl.plansummary import render_summary, summary_from_dry_run

        summary = summary_from_dry_run(
            outcome.env,
            outcome.plan.changes(inv.envs_dir) if outcome.plan else [],
            from_color=outcome.from_color or "?",
            to_color=outcome.to_color or "?",
            health=outcome.health,
        )
        click.echo(f"DRY RUN: nothing was changed. {outcome.operation} would do:")
        click.echo(render_summary(summary).rstrip())
        if outcome.plan and outcome.plan.actions:
            click.echo("Steps:")
            for action in outcome.plan.actions:
                click.echo(f"  [{action.step}] {action.message()}")
        for note in outcome.notes:
            click.echo(f"  {note}")
        return
    click.echo(outcome_text(outcome, inv.envs_dir))


VIA = click.option(
    "--via",
    type=click.Choice(["terraform", "api"]),
    default=None,
    help="Switch driver (default: terraform; api against a local sandbox endpoint).",
)
DRY_RUN = click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
NO_COMMIT = click.option(
    "--no-commit",
    is_flag=True,
    help="Do not commit the changed color file (the tool prints the git commands instead).",
)


def _finish(outcome: Outcome, inv: Invocation, *, no_commit: bool) -> None:
    """Print the outcome, then keep the color file on the default branch true (issue 11): commit it
    after a traffic move when this checkout is on the default branch and otherwise clean, else say how."""
    from bgctl.gitrecord import RecordStatus, record_outcome

    _print_outcome(outcome, inv)
    recorded = record_outcome(inv.envs_dir, outcome, commit=not no_commit)
    if recorded is not None and recorded.status is not RecordStatus.UNTRACKED:
        click.echo(recorded.text())


# -- commands ---------------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env",
    "env",
    type=click.Choice(environment_names()),
    default=None,
    help="Environment to act on (required for every command but status --all and sandbox).",
)
@click.pass_context
def cli(ctx: click.Context, env: str | None) -> None:
    """Blue-green deployments for the compiler site's environments."""
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_environ(os.environ)
    ctx.obj = Invocation(settings, env)


@cli.command()
@click.option("--detailed", is_flag=True, help="One line per instance.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with stable keys.")
@click.option("--all", "all_envs", is_flag=True, help="Every environment in one compact table.")
@click.pass_obj
def status(inv: Invocation, detailed: bool, as_json: bool, all_envs: bool) -> None:
    """Active color (SSM and load balancer), capacity, health and version of each color."""
    from bgctl import render
    from bgctl.gitdrift import git_drifts, live_split

    envs = environment_names() if all_envs else [_require_env(inv)]
    clients = _clients(inv, read_only=True)
    states = _reader(clients, inv).read(envs, addresses=True if detailed or as_json else None)
    drifts = git_drifts(inv.envs_dir, {e: live_split(s) for e, s in states.items()})
    if as_json:
        doc: Any = (
            {e: render.status_json(s, drifts.get(e)) for e, s in states.items()}
            if all_envs
            else render.status_json(states[envs[0]], drifts.get(envs[0]))
        )
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    if all_envs and not detailed:
        click.echo(render.all_table(list(states.values()), drifts))
        return
    texts = (render.status_text(s, detailed=detailed, git=drifts.get(e)) for e, s in states.items())
    click.echo("\n\n".join(texts))


@cli.command()
@click.pass_obj
def validate(inv: Invocation) -> None:
    """Check wiring, resources and that the color file, SSM and the load balancer agree."""
    from bgctl.validate import validate_env

    env = _require_env(inv)
    clients = _clients(inv, read_only=True)
    problems = validate_env(clients, _reader(clients, inv), env)
    if not problems:
        click.echo(f"✅ {env}: wiring, target groups, ASGs, routing and color records all agree")
        return
    click.echo(f"❌ {env}: {len(problems)} problem(s)")
    for p in problems:
        click.echo(f"  - {p.message}")
        click.echo(f"    fix: {p.fix}")
    raise click.exceptions.Exit(EXIT_FAILED)


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("version")
@click.option("--capacity", type=click.IntRange(min=1), default=None, help="Instances for the new color.")
@click.option("--skip-confirmation", is_flag=True, help="Never prompt; refuse whatever would need a yes.")
@click.option("--branch", default=None, help="With 'deploy list': only this branch.")
@click.option("--health-timeout", type=click.FloatRange(min=1), default=None, help="Seconds (default 600).")
@VIA
@DRY_RUN
@NO_COMMIT
@click.pass_obj
def deploy(
    inv: Invocation,
    version: str,
    capacity: int | None,
    skip_confirmation: bool,
    branch: str | None,
    health_timeout: float | None,
    via: str | None,
    dry_run: bool,
    no_commit: bool,
) -> None:
    """Deploy VERSION to the inactive color, prove it healthy, switch. 'deploy list' lists builds."""
    env = _require_env(inv)
    if version == "list":
        from bgctl.builds import list_builds
        from bgctl.render import builds_table

        clients = _clients(inv, read_only=True)
        st = _reader(clients, inv).read_one(env, probe_http=False)
        click.echo(builds_table(st, list_builds(clients, st, branch=branch)))
        return
    from bgctl.operations.deploy import deploy as run_deploy
    from bgctl.operations.deploy import validate_version

    validate_version(version)
    ctx = _context(inv, via=via, skip_confirmation=skip_confirmation, health_timeout=health_timeout)
    outcome = run_deploy(
        ctx, version, capacity=capacity, skip_confirmation=skip_confirmation, dry_run=dry_run
    )
    _finish(outcome, inv, no_commit=no_commit)


@cli.command()
@click.argument("color", type=click.Choice(COLORS))
@click.option(
    "--force", is_flag=True, help="Switch even without enough healthy instances (typed confirmation)."
)
@VIA
@DRY_RUN
@NO_COMMIT
@click.pass_obj
def switch(inv: Invocation, color: str, force: bool, via: str | None, dry_run: bool, no_commit: bool) -> None:
    """Move all traffic to COLOR, between health gates."""
    from bgctl.operations.switch import switch as run_switch

    outcome = run_switch(_context(inv, via=via), color, force=force, dry_run=dry_run)
    _finish(outcome, inv, no_commit=no_commit)


@cli.command()
@click.option("--force", is_flag=True, help="Roll back even without enough healthy instances.")
@VIA
@DRY_RUN
@NO_COMMIT
@click.pass_obj
def rollback(inv: Invocation, force: bool, via: str | None, dry_run: bool, no_commit: bool) -> None:
    """Switch back to the previous color (still warm from the last deploy)."""
    from bgctl.operations.switch import rollback as run_rollback

    outcome = run_rollback(_context(inv, via=via), force=force, dry_run=dry_run)
    _finish(outcome, inv, no_commit=no_commit)


@cli.command()
@click.option("--color", type=click.Choice(COLORS), default=None, help="Default: the inactive color.")
@click.pass_obj
def cleanup(inv: Invocation, color: str | None) -> None:
    """Scale the inactive color to zero (refuses the active color)."""
    from bgctl.operations.cleanup import cleanup as run_cleanup

    _print_outcome(run_cleanup(_context(inv), color), inv)


@cli.command()
@click.option("--reason", default="", help="Recorded with the shutdown so status can show it.")
@click.pass_obj
def shutdown(inv: Invocation, reason: str) -> None:
    """Stop every instance of the environment (asks you to type its name)."""
    from bgctl.operations.cleanup import shutdown as run_shutdown

    _print_outcome(run_shutdown(_context(inv), reason=reason), inv)


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
@click.pass_obj
def recover(inv: Invocation, lock_id: str | None, via: str | None, no_commit: bool) -> None:
    """Complete or undo an operation whose process died (from the journal in its lock)."""
    from bgctl.operations.recover import force_unlock as run_force_unlock
    from bgctl.operations.recover import recover as run_recover

    ctx = _context(inv, via=via)
    _finish(run_force_unlock(ctx, lock_id) if lock_id else run_recover(ctx), inv, no_commit=no_commit)


@cli.command()
@click.option(
    "--color",
    type=click.Choice(COLORS),
    default=None,
    help="Plan a switch to COLOR (default: the color file).",
)
@click.pass_obj
def plan(inv: Invocation, color: str | None) -> None:
    """Summary first, then the full plan: terraform plan, or the API dry run where the provider is missing."""
    from bgctl.planning import plan_env
    from bgctl.plansummary import render_summary

    env = _require_env(inv)
    clients = _clients(inv, read_only=True)
    st = _reader(clients, inv).read_one(env)
    result = plan_env(
        st,
        inv.envs_dir,
        color=color,
        binary=_terraform_binary(inv.settings),
        plugin_dir=inv.settings.tf_plugin_dir,
        local=inv.settings.local_endpoint,
    )
    if result.notice:
        click.echo(result.notice)
    click.echo(render_summary(result.summary).rstrip())


@cli.command("apply")
@click.option(
    "--allow-destroy", is_flag=True, help="Allow a reviewed plan that destroys or replaces resources."
)
@click.option("--base-sha", default=None, help="With --head-sha: the push being applied (merge-time rule).")
@click.option("--head-sha", default=None, help="The pushed commit; traffic may move only if the push changed")
@click.pass_obj
def apply_cmd(inv: Invocation, allow_destroy: bool, base_sha: str | None, head_sha: str | None) -> None:
    """Apply the environment's root as committed (what the workflow runs on merge): a pure switch goes
    through the health gates, other changes apply only if they leave traffic alone. With --base-sha and
    --head-sha, a plan that would move traffic is refused unless that push changed the color file."""
    from bgctl.mergerule import UnrequestedSwitchError, may_move_traffic
    from bgctl.planning import apply_root
    from bgctl.terraform import TerraformRoot

    env = _require_env(inv)
    permission = None
    if head_sha:
        permission = may_move_traffic(env, base_sha, head_sha, envs_dir=inv.envs_dir)
        click.echo(f"{env}: {permission.reason}")
    ctx = _context(inv, via="terraform")
    root = TerraformRoot(
        inv.envs_dir / ctx.env,
        binary=_terraform_binary(inv.settings),
        plugin_dir=inv.settings.tf_plugin_dir,
    )
    try:
        outcome = apply_root(ctx, root, allow_destroy=allow_destroy, permission=permission)
    except UnrequestedSwitchError as exc:
        if os.environ.get("GITHUB_ACTIONS") == "true":
            click.echo(exc.annotation())
        raise
    _print_outcome(outcome, inv)


# -- the sandbox -----------------------------------------------------------------------------------
@cli.group()
def sandbox() -> None:
    """A local moto server on 127.0.0.1 with all nine environments: try everything without AWS."""


def _sandbox_envs_dir(name: str) -> Path:
    """The sandbox switches a copy of terraform/envs, never the committed color files."""
    import shutil

    target = REPO_ROOT / ".sandbox" / name / "envs"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ENVS_DIR, target, ignore=shutil.ignore_patterns(".terraform*"))
    return target


@sandbox.command("up")
def sandbox_up() -> None:
    """Start the sandbox in the foreground (Ctrl-C stops it); other shells: source .sandbox/env."""
    from bgctl.sandbox import Sandbox

    envs_dir = _sandbox_envs_dir("up")
    with Sandbox() as sb:
        env_file = sb.env_file()
        with env_file.open("a", encoding="utf-8") as fh:
            fh.write(f"export BLUEGREEN_ENVS_DIR='{envs_dir}'\nexport BLUEGREEN_POLL_INTERVAL='0.2'\n")
        click.echo(f"sandbox: moto on {sb.endpoint_url}, instance health on {sb.health_url_template}")
        click.echo(f"In another shell:  source {env_file.relative_to(REPO_ROOT)}")
        click.echo("                   scripts/bluegreen.py status --all")
        click.echo("                   scripts/bluegreen.py --env beta deploy gh-105")
        click.echo("Ctrl-C stops the sandbox.")
        sb.serve_until_interrupted()
    click.echo("sandbox stopped")


DEMO_STEPS: list[tuple[str, list[str]]] = [
    ("Every environment at a glance", ["status", "--all"]),
    ("Builds available to beta", ["--env", "beta", "deploy", "list"]),
    ("What a deploy would change (dry run)", ["--env", "beta", "deploy", "gh-105", "--dry-run"]),
    ("Deploy gh-105 to beta's inactive color", ["--env", "beta", "deploy", "gh-105", "--skip-confirmation"]),
    ("beta now serves green; blue stays warm", ["--env", "beta", "status"]),
    ("Instant rollback", ["--env", "beta", "rollback"]),
    ("And forward again", ["--env", "beta", "switch", "green"]),
    (
        "A plan for prod (the Terraform provider is not here: API dry run)",
        ["--env", "prod", "plan", "--color", "green"],
    ),
    ("A switch to a color with no instances is refused", ["--env", "prod", "switch", "green"]),
    ("Everything agrees", ["--env", "beta", "validate"]),
]


@sandbox.command("demo")
def sandbox_demo() -> None:
    """Build the sandbox, walk through status, deploy, rollback and switch, then say what to try next."""
    from bgctl.sandbox import Sandbox

    envs_dir = _sandbox_envs_dir("demo")
    with Sandbox() as sb:
        # The demo hands its own settings down: the process environment is never edited.
        settings = Settings.from_environ(
            {**sb.environ(), "BLUEGREEN_ENVS_DIR": str(envs_dir), "BLUEGREEN_POLL_INTERVAL": "0.2"}
        )
        failures = 0
        for title, argv in DEMO_STEPS:
            click.echo(f"\n### {title}\n$ bluegreen {' '.join(argv)}")
            code = main(argv, settings=settings)
            expected = 1 if argv[-2:] == ["switch", "green"] and "prod" in argv else 0
            if code != expected:
                failures += 1
                click.echo(f"(unexpected exit code {code})", err=True)
    click.echo(
        "\nNext: `make sandbox` keeps a sandbox running; in another shell `source .sandbox/env`, then try\n"
        "  scripts/bluegreen.py --env staging deploy gh-104     (watch the health gate)\n"
        "  scripts/bluegreen.py --env prod deploy gh-105        (the production discovery prompt)\n"
        "  scripts/bluegreen.py --env beta status --detailed --json\n"
        "  make help                                            (every target)"
    )
    if failures:
        raise click.exceptions.Exit(EXIT_FAILED)


# -- entry ------------------------------------------------------------------------------------------
def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _usage_message(exc: click.UsageError) -> str:
    """Click's message on one line, naming the valid choices for an unknown command or option."""
    message = " ".join(exc.format_message().split())
    command = exc.ctx.command if exc.ctx else None
    if isinstance(exc, click.NoSuchOption) and command is not None:
        options = sorted(o for p in command.params if isinstance(p, click.Option) for o in p.opts)
        message += f" (valid: {', '.join(options)})"
    elif "No such command" in message and isinstance(command, click.Group):
        message += f" (commands: {', '.join(sorted(command.commands))})"
    return message


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:  # noqa: PLR0911
    """Run the CLI; return the exit code (0 done, 1 failed/refused, 2 usage, 130 interrupted).
    ``settings`` replaces what would be read from the process environment (the demo, tests)."""
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        rv = cli.main(
            args=list(argv) if argv is not None else None,
            standalone_mode=False,
            prog_name="bluegreen",
            obj=settings,
        )
        if isinstance(rv, int):  # click returns (not raises) Exit codes when standalone_mode is off
            return rv
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as exc:
        click.echo(f"error: {_usage_message(exc)}", err=True)
        return EXIT_USAGE
    except BlueGreenError as exc:
        first, *rest = exc.message.splitlines() or [""]
        click.echo(first if first.startswith(("❌", "⚠️")) else f"❌ {first}", err=True)
        for line in rest:
            click.echo(line, err=True)
        if exc.hint:
            click.echo(f"   → {exc.hint}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
