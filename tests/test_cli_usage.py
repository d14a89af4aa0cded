from __future__ import annotations

import subprocess
import sys

from bgctl.cli import main


def test_unknown_command_is_a_one_line_usage_error(capsys):
    code = main(["no-such-command"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert err[0].startswith("error: ")


def test_entry_script_runs_from_the_tree():
    proc = subprocess.run(
        [sys.executable, "scripts/bluegreen.py", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Blue-green deployments" in proc.stdout
