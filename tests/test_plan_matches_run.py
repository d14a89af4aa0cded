"""What --dry-run prints is what the real run does: for each operation, the AWS state (and color file)
before and after a real run differ in exactly the plan's effects, with exactly its values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgctl.colorfile import read_split
from bgctl.plan import Plan
from bgctl.shutdown import shutdown_param
from bgctl.wiring import active_color_param, active_tg_param, parse_wiring, wiring_param
from bgtest import ScriptedPrompter, copy_envs, make_context, ops, param


@pytest.fixture
def envs_dir(tmp_path: Path) -> Path:
    return copy_envs(tmp_path)


def snapshot(ctx, env: str) -> dict[str, str]:
    """Every value a plan may change, under the keys plan effects use."""
    w = parse_wiring(env, param(ctx.clients, wiring_param(env)))
    state = ctx.reader.read_one(env, probe_http=False)
    found: dict[str, str] = {}
    for cs in state.colors.values():
        found[f"asg:{cs.asg_name}:desired"] = str(cs.desired)
        found[f"asg:{cs.asg_name}:min"] = str(cs.min_size)
        found[f"asg:{cs.asg_name}:suspended"] = ",".join(sorted(cs.suspended))
    for name in (*w.version_parameters.values(), active_color_param(env), active_tg_param(env)):
        found[f"ssm:{name}"] = param(ctx.clients, name) or "none"
    found[f"ssm:{shutdown_param(env)}"] = "present" if param(ctx.clients, shutdown_param(env)) else "missing"
    for label, split in state.routing.routes.items():
        found[f"route:{label}"] = split.describe() if split else "foreign"
    found["file:color"] = read_split(ctx.envs_dir / env).describe()
    return found


def check(ctx, env: str, plan: Plan | None, before: dict[str, str]) -> None:
    assert plan is not None
    after = snapshot(ctx, env)
    changed = {k: (before[k], after[k]) for k in after if before.get(k) != after[k]}
    planned = {e.key: (e.before, e.after) for e in plan.effects()}
    assert changed == planned


def test_deploy(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    before = snapshot(ctx, "beta")
    dry = ops.deploy(ctx, "gh-105", skip_confirmation=False, dry_run=True)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    check(ctx, "beta", dry.plan, before)


def test_deploy_prod_with_capacity(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod")
    before = snapshot(ctx, "prod")
    dry = ops.deploy(ctx, "gh-104", capacity=3, dry_run=True)
    ops.deploy(ctx, "gh-104", capacity=3, skip_confirmation=True)
    check(ctx, "prod", dry.plan, before)


def test_switch_and_rollback(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir, "prod")
    ops.deploy(ctx, "gh-104", capacity=3, skip_confirmation=True)
    before = snapshot(ctx, "prod")
    dry = ops.rollback(ctx, dry_run=True)
    ops.rollback(ctx)
    check(ctx, "prod", dry.plan, before)
    before = snapshot(ctx, "prod")
    dry = ops.switch(ctx, "green", dry_run=True)
    ops.switch(ctx, "green")
    check(ctx, "prod", dry.plan, before)


def test_cleanup(sandbox, envs_dir):
    ctx = make_context(sandbox, envs_dir)
    ops.deploy(ctx, "gh-105", skip_confirmation=True)
    before = snapshot(ctx, "beta")
    state = ctx.reader.read_one("beta", probe_http=False)
    from bgctl.operations.cleanup import plan_cleanup

    plan = plan_cleanup(state, None)
    ops.cleanup(ctx)
    check(ctx, "beta", plan, before)


def test_shutdown(sandbox, envs_dir):
    from bgctl.operations.cleanup import plan_shutdown

    ctx = make_context(sandbox, envs_dir, prompter=ScriptedPrompter(typed_answers=["beta"]))
    before = snapshot(ctx, "beta")
    plan = plan_shutdown(ctx.reader.read_one("beta", probe_http=False), "maintenance")
    ops.shutdown(ctx, reason="maintenance")
    check(ctx, "beta", plan, before)
