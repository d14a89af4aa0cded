"""The command line: parsing, prompts and printing. The library below returns values and raises."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from bgctl.errors import EXIT_OK, EXIT_USAGE, BlueGreenError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Blue-green deployments for the compiler site's environments."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 done, 1 failed/refused, 2 usage, 130 interrupted)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except BlueGreenError as exc:
        click.echo(f"❌ {exc.message}", err=True)
        if exc.hint:
            click.echo(f"   → {exc.hint}", err=True)
        return exc.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
