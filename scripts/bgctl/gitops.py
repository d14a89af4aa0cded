"""The color file on the default branch is the one source of truth for where traffic goes.

Terraform applies ``terraform/envs/<env>/active_color.auto.tfvars.json`` as committed on the default
branch, so a traffic move that only rewrote a checkout's copy is undone by the next apply on main. The
modules that keep git and the load balancer in step, from the bottom up:

- ``bgctl.gitrepo``: the ``Git`` wrapper and repository facts (the default branch and its ref, the
  current branch, blobs at a ref, a dirty work tree).
- ``bgctl.gitcolor``: the split each environment's color file records in the working tree, at ``HEAD``,
  on the local default branch and on the default ref (``color_records``), and the commands that put a
  split on the default branch (``commit_commands``).
- ``bgctl.gitrecord``: after a switch, rollback or deploy, commit the color file or return the exact git
  commands (``record_traffic_move``, ``record_outcome``); ``push_default`` for CI.
- ``bgctl.gitdrift``: the live split against those records, as one of ``DriftKind`` with the commands
  that fix it (``classify_drift``, ``git_drifts``, ``drift_for_state``).
- ``bgctl.mergerule``: the merge-time rule: an apply on main may move traffic only when that push
  changed what the color file records (``may_move_traffic``, ``check_merge_plan``).

This module re-exports the names callers used when all of that lived here, and is the entry point of
``python -m bgctl.gitops`` (``bgctl.gitops_cli``). Everything it needs at import time is in the standard
library, so the workflow can call it before ``make setup``.
"""

from __future__ import annotations

from bgctl.envspec import ENVS_DIR
from bgctl.ghactions import github_command
from bgctl.gitcolor import color_file_printf, color_records, split_at
from bgctl.gitdrift import DriftKind, GitDrift, drift_for_state, git_drift, git_drifts, live_split
from bgctl.gitops_cli import main
from bgctl.gitrecord import (
    RecordStatus,
    TrafficMove,
    operator_identity,
    push_default,
    record_outcome,
    record_traffic_move,
    run_url,
)
from bgctl.gitrepo import DefaultRef, Git, GitError, default_ref, find_repo, read_blobs
from bgctl.mergerule import (
    TrafficPermission,
    UnrequestedSwitchError,
    check_merge_plan,
    may_move_traffic,
)

__all__ = [
    "ENVS_DIR",
    "DefaultRef",
    "DriftKind",
    "Git",
    "GitDrift",
    "GitError",
    "RecordStatus",
    "TrafficMove",
    "TrafficPermission",
    "UnrequestedSwitchError",
    "check_merge_plan",
    "color_file_printf",
    "color_records",
    "default_ref",
    "drift_for_state",
    "find_repo",
    "git_drift",
    "git_drifts",
    "github_command",
    "live_split",
    "main",
    "may_move_traffic",
    "operator_identity",
    "push_default",
    "read_blobs",
    "record_outcome",
    "record_traffic_move",
    "run_url",
    "split_at",
]


if __name__ == "__main__":
    import sys

    sys.exit(main())
