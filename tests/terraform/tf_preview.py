"""The preview routes' contract (modules/blue_green/preview.tf and the roots' inputs), as checks that
return violations ([] = it holds), like ``tf_contract``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tf_contract as tc

from bgctl.envspec import load_hcl_dir, module_variables

# Per listener an ALB holds at most 100 rules besides the default one (the quota "rules per ALB" is
# also 100 by default; every rule here sits on the two shared listeners).
MAX_RULES_PER_LISTENER = 100
COLORS = ("blue", "green")


def _module_input(call: dict[str, Any], variables: dict[str, dict[str, Any]], name: str) -> Any:
    return call[name] if name in call else variables.get(name, {}).get("default")


def check_preview_priorities(envs_dir: Path) -> list[str]:
    """Every root declares restricted preview routes; priorities are unique across all rules of the
    shared listeners; a path environment's preview rules come before its own rule; the listener-default
    environment's come after every path rule (header-only rules would otherwise take other paths);
    each listener stays within the ALB's rule limit."""
    problems: list[str] = []
    used: dict[int, list[str]] = {}
    path_priorities: list[int] = []
    default_preview: list[tuple[str, int]] = []
    for root in tc.env_dirs(envs_dir):
        call = tc.module_calls(root).get(tc.MODULE_NAME, {})
        module_dir = (root / str(call.get("source", tc.MODULE_SOURCE))).resolve()
        variables = module_variables(module_dir)
        env = root.name
        priorities = _module_input(call, variables, "preview_rule_priorities")
        if not isinstance(priorities, dict) or sorted(priorities) != list(COLORS):
            problems.append(f"env {env}: no preview routes (preview_rule_priorities = {{blue, green}})")
            continue
        secret = _module_input(call, variables, "preview_secret_parameter")
        cidrs = _module_input(call, variables, "preview_source_cidrs") or []
        if not secret and not cidrs:
            problems.append(f"env {env}: preview routes are unrestricted (no secret parameter, no CIDRs)")
        path_rule = call.get("routing", "path_rule") == "path_rule"
        if path_rule:
            own = call.get("rule_priority")
            if not isinstance(own, int):
                problems.append(f"env {env}: rule_priority must be a literal")
                continue
            used.setdefault(own, []).append(f"{env} rule")
            path_priorities.append(own)
            values = 1 + bool(secret) + len(cidrs) + len(call.get("path_patterns", []))
            if values > 5:
                problems.append(f"env {env}: a preview rule needs {values} condition values (ALB limit 5)")
        for color in COLORS:
            priority = priorities[color]
            used.setdefault(priority, []).append(f"{env} preview {color}")
            if path_rule:
                path_priorities.append(priority)
                if priority >= call["rule_priority"]:
                    problems.append(
                        f"env {env}: preview {color} priority {priority} is not below its rule's "
                        f"{call['rule_priority']}: the environment's rule would answer first"
                    )
            else:
                default_preview.append((f"{env} preview {color}", priority))
    problems.extend(
        f"rule priority {p} is used by several rules: {', '.join(sorted(owners))}"
        for p, owners in sorted(used.items())
        if len(owners) > 1
    )
    for name, priority in default_preview:
        if path_priorities and priority <= max(path_priorities):
            problems.append(
                f"{name} priority {priority} is evaluated before path rule {max(path_priorities)}: "
                "a header-only rule would take other environments' requests"
            )
    if len(used) > MAX_RULES_PER_LISTENER:
        problems.append(f"{len(used)} rules on a listener: more than the ALB's {MAX_RULES_PER_LISTENER}")
    return problems


def check_preview_module(module_dir: Path) -> list[str]:
    """The preview rule forwards to its own color's target group (never var.active_color), matches the
    color header, and its conditions include the secret and source-IP restrictions."""
    problems: list[str] = []
    rules = [
        block["aws_lb_listener_rule"]["preview"]
        for block in load_hcl_dir(module_dir).get("resource", [])
        if "preview" in block.get("aws_lb_listener_rule", {})
    ]
    if len(rules) != 1:
        return [f"{module_dir.name}: expected one aws_lb_listener_rule.preview, found {len(rules)}"]
    rule = rules[0]
    text = str(rule)
    if tc.ACTIVE_COLOR in text:
        problems.append("aws_lb_listener_rule.preview references var.active_color")
    targets = [a.get("target_group_arn") for a in rule.get("action", [])]
    if targets != ["${aws_lb_target_group.this[each.value.color].arn}"]:
        problems.append(f"aws_lb_listener_rule.preview forwards to {targets}, not its own color's group")
    headers = [h.get("http_header_name") for c in rule.get("condition", []) for h in c.get("http_header", [])]
    if "X-Bluegreen-Color" not in headers:
        problems.append("aws_lb_listener_rule.preview does not match the X-Bluegreen-Color header")
    for needed in ("X-Bluegreen-Preview-Key", "source_ip", "path_pattern"):
        if needed not in text:
            problems.append(f"aws_lb_listener_rule.preview has no {needed} condition")
    return problems
