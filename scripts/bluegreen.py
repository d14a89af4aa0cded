#!/usr/bin/env python3
"""CLI entry point: ``scripts/bluegreen.py --env ENV <command>`` (``.venv/bin/bluegreen`` is the same).

Run with any Python 3.11+: when it is not the project's virtualenv, it re-runs itself with
``.venv/bin/python`` (made by ``make setup``), or says in one line how to get one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE.parent / ".venv" / "bin" / "python"

sys.path.insert(0, str(HERE))

try:
    import click  # noqa: F401 (probe: are the runtime dependencies importable here?)
except ImportError:
    if VENV_PYTHON.is_file() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])  # noqa: S606
    sys.stderr.write(
        "bluegreen: its dependencies are not installed here: run `make setup`, then .venv/bin/bluegreen\n"
    )
    sys.exit(2)

from bgctl.cli import main  # noqa: E402 (after the dependency probe)

if __name__ == "__main__":
    sys.exit(main())
