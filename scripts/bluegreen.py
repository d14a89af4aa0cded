#!/usr/bin/env python3
"""CLI entry point: ``scripts/bluegreen.py --env ENV <command>`` (the Makefile calls this)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bgctl.cli import main

if __name__ == "__main__":
    sys.exit(main())
