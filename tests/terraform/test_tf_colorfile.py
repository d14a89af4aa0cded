"""The color file: exact format, validation, atomic replacement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgctl.colorfile import COLOR_FILE, ColorFileError, read_active_color, write_active_color


def test_round_trip_and_exact_format(tmp_path: Path) -> None:
    write_active_color(tmp_path, "green")
    assert (tmp_path / COLOR_FILE).read_text() == '{\n  "active_color": "green"\n}\n'
    assert read_active_color(tmp_path) == "green"
    write_active_color(tmp_path, "blue")
    assert read_active_color(tmp_path) == "blue"
    assert [p.name for p in tmp_path.iterdir()] == [COLOR_FILE]  # no temp files left behind


def test_refuses_to_write_another_color(tmp_path: Path) -> None:
    write_active_color(tmp_path, "blue")
    with pytest.raises(ColorFileError, match='must be "blue" or "green"'):
        write_active_color(tmp_path, "red")
    assert read_active_color(tmp_path) == "blue"


@pytest.mark.parametrize(
    "content",
    ['{"active_color": "red"}', '{"colour": "blue"}', "[]", "not json", '{"active_color": 1}'],
)
def test_rejects_bad_files_as_value_errors(tmp_path: Path, content: str) -> None:
    (tmp_path / COLOR_FILE).write_text(content)
    with pytest.raises(ValueError, match=COLOR_FILE.replace(".", r"\.")):
        read_active_color(tmp_path)
    with pytest.raises(ColorFileError):
        read_active_color(tmp_path)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_active_color(tmp_path)


def test_the_committed_files_are_in_the_written_format() -> None:
    from bgctl import REPO_ROOT

    for path in sorted((REPO_ROOT / "terraform" / "envs").glob(f"*/{COLOR_FILE}")):
        color = json.loads(path.read_text())["active_color"]
        assert path.read_text() == json.dumps({"active_color": color}, indent=2) + "\n", path
