"""``bluegreen sandbox up|demo``: the whole topology in a moto server on 127.0.0.1, no AWS needed.

Each sandbox command works on its own copy of the environment roots (``.sandbox/<name>/envs``), so a
``make demo`` never touches the files of a ``make sandbox`` running in the same checkout, and neither
touches the committed color files.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from bgctl import REPO_ROOT
from bgctl.envspec import ENVS_DIR
from bgctl.errors import EXIT_FAILED
from bgctl.settings import Settings

from .app import cli, main


@cli.group()
def sandbox() -> None:
    """A local moto server on 127.0.0.1 with all nine environments: try everything without AWS."""


def sandbox_envs_dir(name: str) -> Path:
    """A fresh copy of the Terraform tree for the sandbox called ``name``; returns its envs directory
    (the roots keep finding their modules by relative path)."""
    target = REPO_ROOT / ".sandbox" / name / "terraform"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ENVS_DIR.parent, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return target / "envs"


TF_OPTION = click.option(
    "--tf",
    "with_terraform",
    is_flag=True,
    help="Build with the real Terraform roots and AWS provider (TF=1); switches then go via terraform.",
)


def _say(message: str) -> None:
    click.echo(f"  {message}", err=True)


REGIONS_OPTION = click.option(
    "--regions",
    "regions_text",
    default=None,
    metavar="R1,R2,...",
    help="Also build these regions' roots (terraform/envs-<region>) in the same moto server.",
)


def _extra_regions(regions_text: str | None) -> tuple[str, ...]:
    """The regions besides the home one to build; each must have a directory of roots (usage error)."""
    from bgctl.errors import UsageError
    from bgctl.regions import parse_regions, regional_dir
    from bgctl.sandbox.server import REGION

    if regions_text is None:
        return ()
    extra = tuple(r for r in parse_regions(regions_text) if r != REGION)
    for region in extra:
        if not regional_dir(ENVS_DIR, region).is_dir():
            raise UsageError(f"no roots for region {region}: {regional_dir(ENVS_DIR, region)} does not exist")
    return extra


@sandbox.command("up")
@TF_OPTION
@REGIONS_OPTION
def sandbox_up(with_terraform: bool, regions_text: str | None) -> None:
    """Start the sandbox in the foreground (Ctrl-C stops it); other shells: source .sandbox/env."""
    from bgctl.sandbox import Sandbox
    from bgctl.sandbox.regions import build_region

    extra = _extra_regions(regions_text)
    if with_terraform:
        from bgctl.envspec import environment_names
        from bgctl.sandbox.tfsandbox import cli_sandbox, serve_until_interrupted

        # With --regions, also each region's shared root and its envs-<region> roots, same moto server.
        with cli_sandbox(environment_names(), log=_say, regions=extra) as tsb:
            env_file = tsb.env_file()
            click.echo(f"sandbox (built by Terraform): {env_file.relative_to(REPO_ROOT)}; Ctrl-C stops it")
            for region, names in tsb.regional_env_names.items():
                click.echo(f"sandbox: {', '.join(names)} built in {region} too (--region {region})")
            serve_until_interrupted(tsb)
        click.echo("sandbox stopped")
        return
    envs_dir = sandbox_envs_dir("up")
    with Sandbox() as sb:
        for region in extra:
            built = build_region(sb, region)
            click.echo(f"sandbox: {', '.join(built)} built in {region} too (--region {region})")
        for region in sb.regions if extra else ():
            front = sb.front_in(region)
            click.echo(f"load balancer in {region}: {front.https_url} (:443), {front.http_url} (:80)")
        env_file = sb.env_file()
        with env_file.open("a", encoding="utf-8") as fh:
            fh.write(f"export BLUEGREEN_ENVS_DIR='{envs_dir}'\nexport BLUEGREEN_POLL_INTERVAL='0.2'\n")
            fh.write(f"export PATH='{REPO_ROOT / '.venv' / 'bin'}':\"$PATH\"\n")
        click.echo(f"sandbox: moto on {sb.endpoint_url}, instance health on {sb.health_url_template}")
        click.echo(f"failure injection: POST {sb.health.control_url} (see scripts/bgctl/sandbox/README.md)")
        click.echo(f"In another shell:  source {env_file.relative_to(REPO_ROOT)}")
        click.echo("                   bluegreen status --all")
        click.echo("                   bluegreen --env beta deploy gh-105")
        click.echo("Ctrl-C stops the sandbox.")
        sb.serve_until_interrupted()
    click.echo("sandbox stopped")


DEMO_STEPS: list[tuple[str, list[str], int]] = [
    ("Every environment at a glance", ["status", "--all"], 0),
    ("Builds available to beta", ["--env", "beta", "deploy", "list"], 0),
    ("What a deploy would change (dry run)", ["--env", "beta", "deploy", "gh-105", "--dry-run"], 0),
    (
        "Deploy gh-105 to beta's inactive color",
        ["--env", "beta", "deploy", "gh-105", "--skip-confirmation"],
        0,
    ),
    ("beta now serves green; blue stays warm, held for rollback", ["--env", "beta", "status"], 0),
    ("Instant rollback", ["--env", "beta", "rollback"], 0),
    ("And forward again", ["--env", "beta", "switch", "green"], 0),
    ("What happened, newest first", ["--env", "beta", "history"], 0),
    (
        "A plan for prod (a real terraform plan when built with TF=1, else the API dry run)",
        ["--env", "prod", "plan", "--color", "green"],
        0,
    ),
    ("A switch to a color with no instances is refused", ["--env", "prod", "switch", "green", "--yes"], 1),
    ("Everything agrees", ["--env", "beta", "validate"], 0),
    (
        "A canary on wintest: 10% then 50% to gh-104, each sticky and baked 1 s against its alarms",
        ["--env", "wintest", "deploy", "gh-104", "--canary", "10,50", "--bake", "1", "--skip-confirmation"],
        0,
    ),
]


def moves_traffic(argv: list[str]) -> bool:
    """A demo step that moves beta's traffic (users load the front while it runs)."""
    return argv[:2] == ["--env", "beta"] and (
        argv[2:3] in (["rollback"], ["switch"]) or (argv[2:3] == ["deploy"] and "--skip-confirmation" in argv)
    )


class DemoTraffic:
    """Users on beta and prod through the sandbox's load balancer front while a step moves traffic: a
    line a second on stderr (requests/s, versions served, failures), then what they measured."""

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.requests = self.failed = self.mixed = self.steps = 0

    @contextmanager
    def watching(self, title: str, active: bool) -> Iterator[None]:
        if not active or self.sb is None:
            yield
            return
        from bgctl.sandbox.watch import TrafficWatcher

        watcher = TrafficWatcher.for_sandbox(self.sb, ["beta", "prod"], stream=sys.stderr).start()
        watcher.load.mark(title)
        try:
            yield
        finally:
            report = watcher.stop()
            self.steps += 1
            self.requests += report.requests
            self.failed += report.failed
            self.mixed += len(report.mixed())

    def summary(self) -> None:
        if self.steps:
            click.echo(
                f"\nZero downtime, measured: {self.requests} requests through the load balancer during "
                f"{self.steps} traffic moves, {self.failed} failed requests, "
                f"{self.mixed} mixed-version sessions"
            )


@sandbox.command("demo")
@TF_OPTION
def sandbox_demo(with_terraform: bool) -> None:
    """Build the sandbox, walk through status, deploy, rollback and switch, then say what to try next."""
    from contextlib import ExitStack

    from bgctl.sandbox import Sandbox

    with ExitStack() as stack:
        if with_terraform:
            from bgctl.envspec import environment_names
            from bgctl.sandbox.tfsandbox import cli_sandbox

            tsb = stack.enter_context(cli_sandbox(environment_names(), log=_say))
            environ = {**tsb.environ(), "BLUEGREEN_POLL_INTERVAL": "0.2"}
        else:
            sb = stack.enter_context(Sandbox())
            environ = {
                **sb.environ(),
                "BLUEGREEN_ENVS_DIR": str(sandbox_envs_dir("demo")),
                "BLUEGREEN_POLL_INTERVAL": "0.2",
            }
        # The demo hands its own settings down: the process environment is never edited.
        settings = Settings.from_environ(environ)
        failures = 0
        traffic = DemoTraffic(None if with_terraform else sb)
        for title, argv, expected in DEMO_STEPS:
            click.echo(f"\n### {title}\n$ bluegreen {' '.join(argv)}")
            with traffic.watching(title, moves_traffic(argv)):
                code = main(argv, settings=settings)
            if code != expected:
                failures += 1
                click.echo(f"(unexpected exit code {code})", err=True)
        traffic.summary()
    click.echo(
        "\nNext: `make sandbox` keeps a sandbox running; in another shell `source .sandbox/env`, then try\n"
        "  bluegreen --env staging deploy gh-104     (watch the health gate)\n"
        "  bluegreen --env prod deploy gh-105        (the production discovery prompt and confirmation)\n"
        "  bluegreen --env beta status --detailed --json\n"
        "  make help                                 (every target)"
    )
    if failures:
        raise click.exceptions.Exit(EXIT_FAILED)
