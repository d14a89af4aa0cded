"""The command line's frame: the group, the options every command shares, settings, the context
factory, output, and the one place errors become exit codes.

Exit codes: 0 done; 1 failed or refused (and ``status`` with a problem); 2 usage error; 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import click

from bgctl import COLORS, __version__
from bgctl.envspec import environment_names
from bgctl.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, BlueGreenError, UsageError
from bgctl.regions import Target, scoped, target
from bgctl.settings import Settings

from .terminal import ClickPrompter, ClickReporter, SuggestingChoice

if TYPE_CHECKING:
    from bgctl.aws import Clients
    from bgctl.context import Context, Outcome
    from bgctl.state import StateReader
    from bgctl.switching import TrafficDriver

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Invocation:
    """What every command is handed: the settings (read once), --env, --region and the output mode.

    Once the command runs (``in_region``), ``settings`` are the (env, region)'s: that region's AWS
    clients and directory of roots; ``home`` keeps the settings as read."""

    settings: Settings
    env: str | None
    as_json: bool = False
    region: str | None = None
    home: Settings | None = None
    target: Target | None = None

    @property
    def envs_dir(self) -> Path:
        return self.settings.envs_dir

    @property
    def home_envs_dir(self) -> Path:
        return (self.home or self.settings).envs_dir


def in_region(inv: Invocation) -> Invocation:
    """Scope the invocation to its (env, region): --region, else the environment's home region (from
    its root). A region the environment has no root in is a usage error, before any AWS call."""
    if inv.env is None or inv.target is not None:
        return inv
    home = inv.home or inv.settings
    t = target(inv.env, inv.region, home.envs_dir, fallback=home.region)
    return replace(inv, settings=scoped(home, t), home=home, target=t)


def require_env(inv: Invocation) -> str:
    if inv.env is None:
        raise UsageError(f"--env is required (one of: {', '.join(environment_names(inv.envs_dir))})")
    return inv.env


def clients_of(inv: Invocation, *, read_only: bool = False) -> Clients:
    from bgctl.aws import clients_for

    return clients_for(inv.settings, read_only=read_only)


def reader_of(clients: Clients, inv: Invocation) -> StateReader:
    from bgctl.health import HttpChecker
    from bgctl.state import StateReader

    return StateReader(clients, HttpChecker.of(inv.settings), envs_dir=inv.envs_dir)


def terraform_binary(settings: Settings) -> str:
    from bgctl.terraform import default_binary

    return settings.terraform_binary or default_binary()


_terraform_binary = terraform_binary  # the name bgctl.gitops_cli imports


def default_driver(settings: Settings, env: str) -> str:
    """terraform, except against a local endpoint (the sandbox) that the root's Terraform is not aimed
    at (the sandbox built with boto3): there the API driver."""
    if not settings.local_endpoint:
        return "terraform"
    from bgctl.tfoverride import targets_sandbox

    environ = {**os.environ, **settings.aws_environ()}
    return "terraform" if targets_sandbox(settings.envs_dir / env, environ) else "api"


def make_context(
    inv: Invocation,
    *,
    via: str | None = None,
    skip_confirmation: bool = False,
    assume_yes: bool = False,
    health_timeout: float | None = None,
) -> Context:
    from bgctl.context import Context, NoPrompter
    from bgctl.switching import ApiDriver, TerraformDriver

    env = require_env(inv)
    settings = inv.settings
    if health_timeout is not None:
        settings = replace(settings, health_timeout=health_timeout)
    clients = clients_of(inv)
    chosen = via or default_driver(settings, env)
    driver: TrafficDriver
    if chosen == "api":
        driver = ApiDriver(clients, settings.envs_dir)
    else:
        driver = TerraformDriver(
            settings.envs_dir,
            terraform_binary(settings),
            settings.tf_plugin_dir,
            env=settings.aws_environ(),
        )
    return Context(
        env=env,
        clients=clients,
        reader=reader_of(clients, inv),
        driver=driver,
        reporter=ClickReporter(to_stderr=inv.as_json),
        prompter=NoPrompter() if skip_confirmation else ClickPrompter(),
        settings=settings,
        assume_yes=assume_yes,
        region=inv.target.region if inv.target else None,
        region_flag=inv.target.flag if inv.target else "",
    )


# -- output --------------------------------------------------------------------------------------------
def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


def print_outcome(outcome: Outcome, inv: Invocation) -> None:
    from bgctl.render import outcome_json, outcome_text

    if inv.as_json:
        emit_json(outcome_json(outcome, inv.envs_dir))
        return
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


def finish(outcome: Outcome, inv: Invocation, *, no_commit: bool) -> None:
    """Print the outcome, then keep the color file on the default branch true (issue 11): commit it
    after a traffic move when this checkout is on the default branch and otherwise clean, else say how."""
    from bgctl.gitrecord import RecordStatus, record_outcome

    recorded = record_outcome(inv.envs_dir, outcome, commit=not no_commit)
    if recorded is not None and recorded.status is not RecordStatus.UNTRACKED:
        outcome.notes.append(recorded.text())
    print_outcome(outcome, inv)


# -- options every command shares -----------------------------------------------------------------------
def _env_choice() -> SuggestingChoice:
    return SuggestingChoice(environment_names(), "environment")


def _env_after(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--env`` after the command name means the same as before it."""
    if value is not None:
        ctx.obj = replace(ctx.find_object(Invocation) or ctx.obj, env=value)
    return value


def _region_after(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--region`` after the command name means the same as before it."""
    if value is not None:
        ctx.obj = replace(ctx.find_object(Invocation) or ctx.obj, region=value)
    return value


def _json_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.obj = replace(ctx.find_object(Invocation) or ctx.obj, as_json=True)
    return value


REGION_HELP = "AWS region of the environment to act on (default: its home region, from its root)."


def common(func: F) -> F:
    """--env and --region (also after the command) and --json on every command; when the command runs,
    its invocation is scoped to that (env, region)."""

    inner = func

    @functools.wraps(inner)
    def scoped_command(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        ctx.obj = in_region(ctx.find_object(Invocation) or ctx.obj)
        return inner(*args, **kwargs)

    func = cast("F", scoped_command)
    func = click.option(
        "--region",
        expose_value=False,
        is_eager=True,
        callback=_region_after,
        metavar="REGION",
        help=REGION_HELP,
    )(func)
    func = click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_json_flag,
        help="Machine-readable output (schema_version'd JSON on stdout; progress on stderr).",
    )(func)
    return click.option(
        "--env",
        type=_env_choice(),
        expose_value=False,
        is_eager=True,
        callback=_env_after,
        help="Environment (may also come before the command).",
    )(func)


def color_choice() -> SuggestingChoice:
    return SuggestingChoice(COLORS, "color")


VIA = click.option(
    "--via",
    type=click.Choice(["terraform", "api"]),
    default=None,
    help="Traffic driver: terraform (plan, guard, apply) or api (modify_rule/modify_listener). "
    "Default: terraform; api against a local sandbox endpoint.",
)
DRY_RUN = click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
NO_COMMIT = click.option(
    "--no-commit",
    is_flag=True,
    help="Do not commit the changed color file (the tool prints the git commands instead).",
)
YES = click.option(
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Confirm a change to a protected (production) environment without typing its name (CI).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="bluegreen")
@click.option(
    "--env",
    "env",
    type=_env_choice(),
    default=None,
    help="Environment to act on (required for every command but status --all, history --all and sandbox).",
)
@click.option("--region", "region", default=None, metavar="REGION", help=REGION_HELP)
@click.pass_context
def cli(ctx: click.Context, env: str | None, region: str | None) -> None:
    """Blue-green deployments for the compiler site's environments.

    Shell completion: eval "$(_BLUEGREEN_COMPLETE=bash_source bluegreen)" (zsh_source, fish_source).
    """
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_environ(os.environ)
    ctx.obj = Invocation(settings, env, region=region)


# -- entry --------------------------------------------------------------------------------------------
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


def _report(exc: BlueGreenError, *, as_json: bool = False) -> int:
    if as_json:  # stdout stays one JSON document, even for a failure
        emit_json(
            {
                "schema_version": 1,
                "error": {"message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code},
            }
        )
    first, *rest = exc.message.splitlines() or [""]
    click.echo(first if first.startswith(("❌", "⚠️")) else f"❌ {first}", err=True)
    for line in rest:
        click.echo(line, err=True)
    if exc.hint:
        click.echo(f"   → {exc.hint}", err=True)
    return exc.exit_code


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:  # noqa: PLR0911
    """Run the CLI; return the exit code (0 done, 1 failed/refused, 2 usage, 130 interrupted).
    ``settings`` replaces what would be read from the process environment (the demo, tests)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from bgctl.aws import explain_aws_error

    from . import commands, sandbox  # noqa: F401 (registers the commands on the group)

    wants_json = "--json" in (argv if argv is not None else sys.argv[1:])
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
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as exc:
        click.echo(f"error: {_usage_message(exc)}", err=True)
        return EXIT_USAGE
    except BlueGreenError as exc:
        return _report(exc, as_json=wants_json)
    except (BotoCoreError, ClientError) as exc:
        return _report(explain_aws_error(exc), as_json=wants_json)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


__all__ = ["EXIT_FAILED", "Invocation", "cli", "main"]
