"""The per-environment color file: ``terraform/envs/<env>/active_color.auto.tfvars.json``.

It is the file a switch rewrites and a pull request changes: ``{"active_color": "blue"}`` (pretty JSON
with a trailing newline, so diffs stay one line). Writes are atomic (a temporary file in the same
directory, then ``os.replace``), so a reader or an interrupted switch never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bgctl import COLORS
from bgctl.errors import BlueGreenError

COLOR_FILE = "active_color.auto.tfvars.json"
COLOR_KEY = "active_color"


class ColorFileError(BlueGreenError, ValueError):
    """The color file is missing its key, malformed, or names a color other than blue or green."""


def color_file(root: Path) -> Path:
    """The color file of the root module ``root``."""
    return root / COLOR_FILE


def _check_color(color: object, where: str) -> str:
    if not isinstance(color, str) or color not in COLORS:
        raise ColorFileError(f'{where}: active_color must be "blue" or "green", got {color!r}')
    return color


def read_active_color(root: Path) -> str:
    """Return the color recorded in ``root``'s color file.

    Raises OSError when the file cannot be read and ColorFileError (a ValueError) when its content is
    not ``{"active_color": "blue"|"green"}``.
    """
    path = color_file(root)
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ColorFileError(f"{path}: not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict) or COLOR_KEY not in doc:
        raise ColorFileError(f"{path}: expected a JSON object with {COLOR_KEY!r}")
    return _check_color(doc[COLOR_KEY], str(path))


def render_color_file(color: str) -> str:
    """The exact text of a color file for ``color``."""
    return json.dumps({COLOR_KEY: _check_color(color, "color file")}, indent=2) + "\n"


def write_active_color(root: Path, color: str) -> None:
    """Record ``color`` in ``root``'s color file atomically (temp file + os.replace)."""
    text = render_color_file(color)
    path = color_file(root)
    fd, tmp = tempfile.mkstemp(prefix=f".{COLOR_FILE}.", suffix=".tmp", dir=root)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; the file is committed and read by everyone
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)  # os.replace: atomic within the directory
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
