"""The per-environment color file: ``terraform/envs/<env>/active_color.auto.tfvars.json``.

It is the file a switch rewrites and a pull request changes: ``{"active_color": "blue"}`` (pretty JSON
with a trailing newline, so diffs stay one line). It serialises a ``TrafficSplit``: a canary step adds
``"canary_weight": 10`` (10% to the other color); a plain split (weight 0) never writes the key, so
the file of an environment that never ran a canary is unchanged. Format history: CHANGELOG.md.
Writes are atomic (a temporary file in the same directory, then ``os.replace``), so a reader or an
interrupted switch never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bgctl import COLORS
from bgctl.errors import BlueGreenError
from bgctl.traffic import SplitError, TrafficSplit

COLOR_FILE = "active_color.auto.tfvars.json"
COLOR_KEY = "active_color"
WEIGHT_KEY = "canary_weight"


class ColorFileError(BlueGreenError, ValueError):
    """The color file is missing its key, malformed, or names a color other than blue or green."""


def color_file(root: Path) -> Path:
    """The color file of the root module ``root``."""
    return root / COLOR_FILE


def _check_color(color: object, where: str) -> str:
    if not isinstance(color, str) or color not in COLORS:
        raise ColorFileError(f'{where}: active_color must be "blue" or "green", got {color!r}')
    return color


def parse_split(text: str, where: str) -> TrafficSplit:
    """The split a color file's text records; ColorFileError (a ValueError) naming what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ColorFileError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict) or COLOR_KEY not in doc:
        raise ColorFileError(f"{where}: expected a JSON object with {COLOR_KEY!r}")
    color = _check_color(doc[COLOR_KEY], where)
    weight = doc.get(WEIGHT_KEY, 0)
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise ColorFileError(f"{where}: {WEIGHT_KEY} must be an integer from 0 to 99, got {weight!r}")
    try:
        return TrafficSplit(color, weight)
    except SplitError as exc:
        raise ColorFileError(f"{where}: {exc.message}") from exc


def read_split(root: Path) -> TrafficSplit:
    """The split recorded in ``root``'s color file (OSError when unreadable, ColorFileError when bad)."""
    path = color_file(root)
    return parse_split(path.read_text(encoding="utf-8"), str(path))


def read_active_color(root: Path) -> str:
    """Return the color recorded in ``root``'s color file (the active color; a canary's base).

    Raises OSError when the file cannot be read and ColorFileError (a ValueError) when its content is
    not ``{"active_color": "blue"|"green"}`` (with an optional ``canary_weight``).
    """
    return read_split(root).active


def render_color_file(split: TrafficSplit | str) -> str:
    """The exact text of a color file for ``split`` (a color means everything to it)."""
    if isinstance(split, str):
        split = TrafficSplit.to(_check_color(split, "color file"))
    doc: dict[str, object] = {COLOR_KEY: split.active}
    if split.canary_weight:
        doc[WEIGHT_KEY] = split.canary_weight
    return json.dumps(doc, indent=2) + "\n"


def write_split(root: Path, split: TrafficSplit) -> None:
    """Record ``split`` in ``root``'s color file atomically (temp file + os.replace)."""
    _write(root, render_color_file(split))


def write_active_color(root: Path, color: str) -> None:
    """Record ``color`` (all traffic) in ``root``'s color file atomically."""
    _write(root, render_color_file(color))


def _write(root: Path, text: str) -> None:
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
