"""bluegreen: blue-green deployments for a fleet of web servers behind one Application Load Balancer."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.2.0"  # keep equal to pyproject.toml's version (a test checks)
REPO_ROOT = Path(__file__).resolve().parents[2]
COLORS: tuple[str, str] = ("blue", "green")


def other_color(color: str) -> str:
    """Return the color that is not ``color``."""
    if color not in COLORS:
        raise ValueError(f"unknown color {color!r}: expected blue or green")
    return "green" if color == "blue" else "blue"
