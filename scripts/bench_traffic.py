#!/usr/bin/env python3
"""Entry for ``make bench-traffic`` (the benchmark lives in bgctl.bench_traffic)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bgctl.bench_traffic import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
