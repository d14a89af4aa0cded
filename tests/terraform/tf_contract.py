"""The Terraform contract, as reusable checks over a tree on disk.

Every check takes paths and returns a list of human-readable violations ([] = the contract holds), so
the same functions run over the real tree (tests/terraform/test_tf_contract.py) and over mutated
copies (tests/terraform/test_tf_contract_negative.py). The HCL is parsed with python-hcl2 through
``bgctl.envspec`` (strings unquoted, expressions as ``"${...}"``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bgctl.envspec import is_literal, load_hcl_dir, module_variables

ENVIRONMENTS = (
    "beta",
    "prod",
    "staging",
    "gpu",
    "wintest",
    "winstaging",
    "winprod",
    "aarch64staging",
    "aarch64prod",
)
MODULE_NAME = "blue_green"
MODULE_SOURCE = "../../modules/blue_green"
SHARED_NAME = "shared"
SHARED_SOURCE = "../../modules/shared_lookups"
# The module calls every environment root makes: call name -> source (relative to the root).
ROOT_CALLS = {MODULE_NAME: MODULE_SOURCE, SHARED_NAME: SHARED_SOURCE}
COLOR_FILE = "active_color.auto.tfvars.json"
COLOR_FILE_KEYS = ("active_color", "canary_weight")  # canary_weight only during a canary
META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}
ACTIVE_COLOR = "var.active_color"

# Where var.active_color may appear in the module: (resource type, name or None for any, top-level
# attribute/block or None for anywhere in the resource). Everything else is a switch-invariant breach.
ALLOWED_ACTIVE_COLOR: tuple[tuple[str, str | None, str | None], ...] = (
    ("aws_lb_listener_rule", None, "action"),
    ("aws_lb_listener", None, "default_action"),
    ("aws_ssm_parameter", "active_color", None),
    ("aws_ssm_parameter", "active_target_group_arn", None),
)
# Values that change whenever active_color changes: referencing them spreads the color too.
COLOR_CARRIERS = ("aws_ssm_parameter.active_color", "aws_ssm_parameter.active_target_group_arn")
# The canary weight (a canary step) reaches the traffic action(s) only: not even the color parameters,
# which a canary step leaves alone (only the final switch moves them).
CANARY_WEIGHT = "var.canary_weight"
ALLOWED_CANARY_WEIGHT: tuple[tuple[str, str | None, str | None], ...] = ALLOWED_ACTIVE_COLOR[:2]


def _walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string inside a parsed HCL value, with the attribute path leading to it."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))


def _refs(text: str, token: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w])", text) is not None


def _strip_expr(text: str) -> str:
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


# --------------------------------------------------------------------------------------------------
# Roots and module calls
# --------------------------------------------------------------------------------------------------
def env_dirs(envs_dir: Path) -> list[Path]:
    return sorted(p for p in envs_dir.iterdir() if p.is_dir()) if envs_dir.is_dir() else []


def module_calls(root: Path) -> dict[str, dict[str, Any]]:
    calls: dict[str, dict[str, Any]] = {}
    for block in load_hcl_dir(root).get("module", []):
        calls.update(block)
    return calls


def check_env_roots(envs_dir: Path, expected: tuple[str, ...] = ENVIRONMENTS) -> list[str]:
    """Every expected environment has a root that calls blue_green and shared_lookups (as "shared")
    with their relative sources."""
    problems: list[str] = []
    present = {p.name for p in env_dirs(envs_dir)}
    for env in expected:
        root = envs_dir / env
        if env not in present or not (root / "main.tf").is_file():
            problems.append(f"env {env}: no root module at {root}/main.tf")
            continue
        for name in ("backend.tf", "providers.tf", "versions.tf", "variables.tf", COLOR_FILE):
            if not (root / name).is_file():
                problems.append(f"env {env}: {name} is missing")
        calls = module_calls(root)
        for name, source in ROOT_CALLS.items():
            if name not in calls:
                problems.append(f"env {env}: does not call module {name!r}")
            elif calls[name].get("source") != source:
                problems.append(
                    f"env {env}: module {name!r} source is {calls[name].get('source')!r}, expected {source!r}"
                )
    problems.extend(
        f"env {extra}: unexpected root (not one of the nine)" for extra in present - set(expected)
    )
    return problems


def called_module_dir(root: Path, name: str, call: dict[str, Any]) -> tuple[Path | None, str | None]:
    """The directory of the module a call names in ``source`` (resolved against the calling root), or
    None and why not: only local modules (./ or ../) can be read, and the directory must hold .tf files."""
    source = call.get("source")
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None, (
            f"env {root.name}: module {name} source {source!r} is not a local path (./ or ../); the "
            "contract reads the called module's variables.tf and cannot check it"
        )
    directory = (root / source).resolve()
    if not directory.is_dir() or not any(directory.glob("*.tf")):
        return (
            None,
            f"env {root.name}: module {name} source {source!r} is not a module directory ({directory})",
        )
    return directory, None


def _calls_with_variables(
    envs_dir: Path, problems: list[str]
) -> Iterator[tuple[Path, str, dict[str, Any], dict[str, dict[str, Any]]]]:
    """(root, call name, arguments, the called module's variables) for every module call of every
    environment root; calls whose module cannot be read are reported in ``problems`` and skipped."""
    for root in env_dirs(envs_dir):
        for name, call in sorted(module_calls(root).items()):
            directory, problem = called_module_dir(root, name, call)
            if directory is None:
                problems.append(str(problem))
                continue
            yield root, name, call, module_variables(directory)


def check_module_inputs(envs_dir: Path) -> list[str]:
    """Every module call of every root passes each required input (no default) of the module its
    ``source`` names, and nothing that module does not declare."""
    problems: list[str] = []
    for root, name, call, variables in _calls_with_variables(envs_dir, problems):
        required = sorted(v for v, body in variables.items() if "default" not in body)
        passed = set(call) - META_ARGUMENTS
        problems.extend(
            f"env {root.name}: module {name} input {v!r} is required (no default) but not passed"
            for v in required
            if v not in passed
        )
        problems.extend(
            f"env {root.name}: module {name} has no input {v!r} (unknown argument)"
            for v in sorted(passed - set(variables))
        )
    return problems


ADOPT_LOOKUP = "adopt"


def check_shared_lookups(envs_dir: Path) -> list[str]:
    """Shared pieces are found only through module "shared": a root looks up the listeners exactly
    when it adds path rules to them (prod creates them and must not read them back), and no root
    declares a data source of a type the shared_lookups module already reads."""
    problems: list[str] = []
    for root in env_dirs(envs_dir):
        calls = module_calls(root)
        shared = calls.get(SHARED_NAME)
        if shared is None:
            continue  # check_env_roots names the missing call
        routing = calls.get(MODULE_NAME, {}).get("routing", "path_rule")
        lookup = shared.get("lookup_listeners")
        if not isinstance(lookup, bool):
            problems.append(
                f"env {root.name}: module {SHARED_NAME} lookup_listeners must be a literal true or false"
            )
        elif lookup != (routing == "path_rule"):
            problems.append(
                f"env {root.name}: module {SHARED_NAME} lookup_listeners = {str(lookup).lower()} but routing "
                f"is {routing!r}; expected {str(routing == 'path_rule').lower()} (path environments read the "
                "listeners, prod creates them)"
            )
        directory, _ = called_module_dir(root, SHARED_NAME, shared)
        if directory is None:
            continue  # check_module_inputs names it
        shared_types = {t for block in load_hcl_dir(directory).get("data", []) for t in block}
        for block in load_hcl_dir(root).get("data", []):
            for dtype, named in block.items():
                if dtype in shared_types:
                    problems.extend(
                        f"env {root.name}: data.{dtype}.{dname} repeats a lookup of module {SHARED_NAME} "
                        f"({SHARED_SOURCE}); use its outputs"
                        for dname in named
                        # adopt.tf's lookups (all named "adopt") find the IDs of what an adoption
                        # imports, never what the root uses: prod finds its own listeners to import them.
                        if dname != ADOPT_LOOKUP
                    )
    return problems


# --------------------------------------------------------------------------------------------------
# Types and validation rules
# --------------------------------------------------------------------------------------------------
def type_matches(value: Any, type_expr: str) -> bool:
    """Does a literal match a (simple) Terraform type constraint? null matches every type."""
    t = _strip_expr(type_expr).replace(" ", "")
    if value is None or t == "any":
        return True
    if t == "string":
        return isinstance(value, str)
    if t == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "bool":
        return isinstance(value, bool)
    inner = re.fullmatch(r"(list|set|map)\((.*)\)", t)
    if inner:
        kind, element = inner.groups()
        if kind == "map":
            return isinstance(value, dict) and all(type_matches(v, element) for v in value.values())
        return isinstance(value, list) and all(type_matches(v, element) for v in value)
    fields = re.fullmatch(r"object\(\{(.*)\}\)", t)
    if fields:
        return _object_matches(value, fields.group(1))
    raise ValueError(f"type_matches does not know the type {type_expr!r}; extend it")


def _top_level(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]] if text else parts


def _object_matches(value: Any, body: str) -> bool:
    """object({name = type, other = optional(type, default)}): no unknown keys, required ones present."""
    if not isinstance(value, dict):
        return False
    declared: dict[str, tuple[str, bool]] = {}
    for field in _top_level(body, ","):
        name, _, type_expr = field.partition("=")
        optional = re.fullmatch(r"optional\((.*)\)", type_expr)
        declared[name] = (_top_level(optional.group(1), ",")[0], True) if optional else (type_expr, False)
    return set(value) <= set(declared) and all(
        (name in value and type_matches(value[name], t)) or (name not in value and optional)
        for name, (t, optional) in declared.items()
    )


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _hooks_valid(hooks: Any) -> bool:
    """The module's release_hooks validations, all four at once (a literal list of hook objects)."""
    if not isinstance(hooks, list) or not all(isinstance(h, dict) for h in hooks):
        return False
    names = [h.get("name") for h in hooks]
    return (
        all(h.get("kind") in ("deploy_log", "cdn_static", "http_post", "version_key") for h in hooks)
        and all(h.get("phase") in ("pre-switch", "post-switch") for h in hooks)
        and all(
            len(ops := h.get("operations", ["deploy"])) > 0 and set(ops) <= {"deploy", "switch", "rollback"}
            for h in hooks
        )
        and len(set(names)) == len(names)
        and all(isinstance(n, str) and re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", n) for n in names)
    )


def _is_cidr(text: Any) -> bool:
    try:
        ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return False
    return "/" in str(text)


# Conditions that are not a plain contains()/regex() are checked by these predicates (keyed by
# variable). check_validation_coverage makes sure no validated variable is left without one.
PREDICATES: dict[str, Callable[[Any], bool]] = {
    "path_patterns": lambda v: (
        isinstance(v, list)
        and len(v) <= 5
        and all(isinstance(p, str) and re.fullmatch(r"/[A-Za-z0-9_./*?-]*", p) for p in v)
    ),
    "rule_priority": lambda v: v is None or (_num(v) and 1 <= v <= 50000 and v == int(v)),
    "root_volume_size": lambda v: v is None or (_num(v) and 8 <= v <= 1024),
    "ami_id": lambda v: (
        v is None or (isinstance(v, str) and re.fullmatch(r"ami-[0-9a-f]{8,17}", v) is not None)
    ),
    "boot_version_key": lambda v: (
        v is None or (isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_./-]+[A-Za-z0-9_-]", v) is not None)
    ),
    "unhealthy_threshold": lambda v: _num(v) and 2 <= v <= 10,
    "default_cooldown": lambda v: v is None or (_num(v) and 0 <= v <= 3600),
    "estimated_instance_warmup": lambda v: v is None or (_num(v) and 0 <= v <= 3600),
    "sqs_queue_names": lambda v: isinstance(v, dict) and all(k in ("blue", "green") for k in v),
    "release_hooks": _hooks_valid,
    "target_port": lambda v: _num(v) and 1 <= v <= 65535,
    "deregistration_delay": lambda v: _num(v) and 0 <= v <= 3600,
    "health_check_grace_period": lambda v: _num(v) and 0 < v <= 7200,
    "asg_min_size": lambda v: _num(v) and v >= 0,
    "asg_max_size": lambda v: _num(v) and 1 <= v <= 500,
    "min_healthy_instances": lambda v: _num(v) and v >= 1,
    "on_demand_base_capacity": lambda v: _num(v) and v >= 0,
    "on_demand_percentage_above_base_capacity": lambda v: _num(v) and 0 <= v <= 100,
    "cpu_target": lambda v: _num(v) and 0 < v <= 100,
    "sqs_messages_per_instance": lambda v: _num(v) and 0 < v <= 10000,
    # preview.tf
    "preview_rule_priorities": lambda v: (
        v is None
        or (
            isinstance(v, dict)
            and all(_num(p) and 1 <= p <= 50000 and p == int(p) for p in v.values())
            and v.get("blue") != v.get("green")
        )
    ),
    "preview_source_cidrs": lambda v: isinstance(v, list) and all(_is_cidr(c) for c in v),
    "smoke_paths": lambda v: (
        isinstance(v, list)
        and all(str(p.get("path", "")).startswith("/") and 100 <= p.get("status", 200) <= 599 for p in v)
    ),
    "canary_weight": lambda v: _num(v) and 0 <= v <= 99 and v == int(v),
    "canary_stickiness_seconds": lambda v: _num(v) and 1 <= v <= 604800 and v == int(v),
    "alarm_5xx_rate_percent": lambda v: _num(v) and 0 < v <= 100,
    "alarm_unhealthy_hosts": lambda v: _num(v) and v >= 0 and v == int(v),
    "alarm_p99_latency_seconds": lambda v: _num(v) and 0 < v <= 3600,
    "alarm_period_seconds": lambda v: _num(v) and (v in (10, 30) or (v >= 60 and v % 60 == 0)),
    "alarm_evaluation_periods": lambda v: _num(v) and 1 <= v <= 10 and v == int(v),
}
_CONTAINS = re.compile(r"^contains\(\[(?P<items>[^\]]*)\],\s*var\.(?P<var>\w+)\)$")
_REGEX = re.compile(r'^can\(regex\("(?P<pattern>(?:[^"\\]|\\.)*)",\s*var\.(?P<var>\w+)\)\)$')


def condition_predicate(variable: str, condition: str) -> Callable[[Any], bool] | None:
    """A Python predicate for one validation condition: derived from the HCL for contains() and
    regex() conditions, else taken from PREDICATES. None when neither applies."""
    expr = _strip_expr(condition).strip()
    m = _CONTAINS.match(expr)
    if m and m["var"] == variable:
        allowed = json.loads(f"[{m['items']}]")
        return lambda v: v in allowed
    m = _REGEX.match(expr)
    if m and m["var"] == variable:
        pattern = json.loads(f'"{m["pattern"]}"')  # undo HCL string escaping (\\. -> \.)
        return lambda v: isinstance(v, str) and re.search(pattern, v) is not None
    return PREDICATES.get(variable)


def validate_value(variables: dict[str, dict[str, Any]], name: str, value: Any) -> list[str]:
    """The error_message of every validation rule of ``name`` that ``value`` fails."""
    messages: list[str] = []
    for rule in variables.get(name, {}).get("validation", []):
        predicate = condition_predicate(name, str(rule["condition"]))
        if predicate is None:
            messages.append(f"(no checker for the validation of {name!r}: {rule['condition']})")
        elif not predicate(value):
            messages.append(str(rule["error_message"]))
    return messages


def check_validation_coverage(module_dir: Path) -> list[str]:
    """Every validation condition of the module can be evaluated by validate_value."""
    return [
        f"module variable {name!r}: no checker for validation {rule['condition']!r}; add one to PREDICATES"
        for name, body in module_variables(module_dir).items()
        for rule in body.get("validation", [])
        if condition_predicate(name, str(rule["condition"])) is None
    ]


def check_literal_values(envs_dir: Path) -> list[str]:
    """Literal arguments of every module call match the called module's declared type and pass its
    validation rules."""
    problems: list[str] = []
    for root, call_name, call, variables in _calls_with_variables(envs_dir, problems):
        for name, value in call.items():
            if name in META_ARGUMENTS or name not in variables or not is_literal(value):
                continue
            where = f"env {root.name}: module {call_name} input {name} = {value!r}"
            type_expr = str(variables[name].get("type", "any"))
            if not type_matches(value, type_expr):
                problems.append(f"{where} does not match type {_strip_expr(type_expr)}")
                continue
            problems.extend(
                f"{where} fails validation: {message}" for message in validate_value(variables, name, value)
            )
    return problems


def check_color_files(envs_dir: Path, module_dir: Path) -> list[str]:
    """Each color file is {"active_color": ...} and passes the root's and the module's validation."""
    module_vars = module_variables(module_dir)
    problems: list[str] = []
    for root in env_dirs(envs_dir):
        path = root / COLOR_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"env {root.name}: {COLOR_FILE} unreadable: {exc}")
            continue
        if not isinstance(doc, dict) or "active_color" not in doc or set(doc) - set(COLOR_FILE_KEYS):
            problems.append(
                f"env {root.name}: {COLOR_FILE} must hold {{'active_color': ...}} and at most a canary_weight"
            )
            continue
        root_vars = module_variables(root)
        seen: set[str] = set()
        for key, value in doc.items():
            if key not in root_vars:
                problems.append(f"env {root.name}: declares no variable {key!r}")
            for variables in (root_vars, module_vars):
                for message in validate_value(variables, key, value):
                    if message not in seen:
                        seen.add(message)
                        problems.append(f"env {root.name}: {COLOR_FILE} {key} = {value!r}: {message}")
    return problems


# --------------------------------------------------------------------------------------------------
# The switch invariant
# --------------------------------------------------------------------------------------------------
def _tainted_locals(
    locals_blocks: list[dict[str, Any]], sources: tuple[str, ...] = (ACTIVE_COLOR, *COLOR_CARRIERS)
) -> set[str]:
    """Locals whose value depends on ``sources`` (var.active_color and the values carrying it),
    directly or through other locals."""
    bodies = {name: value for block in locals_blocks for name, value in block.items()}
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        tokens = (*sources, *(f"local.{t}" for t in tainted))
        for name, value in bodies.items():
            if name not in tainted and any(_refs(s, tok) for _, s in _walk(value) for tok in tokens):
                tainted.add(name)
                changed = True
    return tainted


Allowed = tuple[tuple[str, str | None, str | None], ...]


def _allowed(rtype: str, rname: str, path: tuple[str, ...], allowed: Allowed = ALLOWED_ACTIVE_COLOR) -> bool:
    for a_type, a_name, a_attr in allowed:
        if rtype == a_type and a_name in (None, rname) and (a_attr is None or path[:1] == (a_attr,)):
            return True
    return False


def check_active_color_references(module_dir: Path) -> list[str]:
    """var.active_color (or a local or value derived from it) appears only in the traffic action(s)
    and the two SSM color parameters."""
    return _check_references(
        module_dir,
        (ACTIVE_COLOR, *COLOR_CARRIERS),
        ALLOWED_ACTIVE_COLOR,
        "only the traffic action(s) and the SSM active-color/active-target-group-arn parameters may",
        "the active color",
    )


def check_canary_weight_references(module_dir: Path) -> list[str]:
    """var.canary_weight (or a local derived from it) appears only in the traffic action(s): a canary
    step plans nothing but the rule action(s) or listener default action(s)."""
    return _check_references(
        module_dir,
        (CANARY_WEIGHT,),
        ALLOWED_CANARY_WEIGHT,
        "only the traffic action(s) may",
        "the canary weight",
    )


def _check_references(
    module_dir: Path, sources: tuple[str, ...], allowed: Allowed, only: str, what: str
) -> list[str]:
    doc = load_hcl_dir(module_dir)
    tainted = _tainted_locals(doc.get("locals", []), sources)
    tokens = (*sources, *(f"local.{t}" for t in sorted(tainted)))
    problems: list[str] = []
    for kind in ("resource", "data"):
        for block in doc.get(kind, []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    for path, text in _walk(body):
                        hits = [t for t in tokens if _refs(text, t)]
                        own = f"{rtype}.{rname}"
                        hits = [t for t in hits if t != own]  # a resource naming itself is fine
                        if hits and not (kind == "resource" and _allowed(rtype, rname, path, allowed)):
                            prefix = "data." if kind == "data" else ""
                            problems.append(
                                f"module {module_dir.name}: {prefix}{own} references {', '.join(hits)} at "
                                f"{'.'.join(path) or '(top)'}; {only} (switch invariant)"
                            )
    for block in doc.get("module", []):
        for name, body in block.items():
            if any(_refs(s, t) for _, s in _walk(body) for t in tokens):
                problems.append(f"module {module_dir.name}: module.{name} receives {what}")
    for block in doc.get("output", []):
        for name, body in block.items():
            if CANARY_WEIGHT in sources and any(_refs(s, t) for _, s in _walk(body) for t in tokens):
                problems.append(f"module {module_dir.name}: output.{name} publishes {what}")
    return problems


def check_env_active_color_use(envs_dir: Path) -> list[str]:
    """In an environment root, var.active_color only feeds the module's active_color input and
    var.canary_weight only its canary_weight input."""
    problems: list[str] = []
    for root in env_dirs(envs_dir):
        doc = load_hcl_dir(root)
        for kind in ("resource", "data", "module", "locals", "output"):
            for block in doc.get(kind, []):
                for path, text in _walk(block):
                    for token in (ACTIVE_COLOR, CANARY_WEIGHT):
                        own = token.removeprefix("var.")
                        if _refs(text, token) and not (kind == "module" and path == (MODULE_NAME, own)):
                            problems.append(
                                f"env {root.name}: {kind} {'.'.join(path)} uses {token}; only "
                                f"module.{MODULE_NAME}.{own} may"
                            )
    return problems


# --------------------------------------------------------------------------------------------------
# Routing across environments
# --------------------------------------------------------------------------------------------------
def _sample_path(pattern: str) -> str:
    """A concrete path the pattern matches (its literal prefix with wildcards filled in)."""
    return pattern.replace("*", "").replace("?", "x")


def check_routing_unique(envs_dir: Path) -> list[str]:
    """Path patterns and rule priorities are unique across environments, and when one pattern's
    paths also match another's, the more specific rule is evaluated first (lower priority)."""
    rules: list[tuple[str, int, str]] = []  # (env, priority, pattern)
    problems: list[str] = []
    for root in env_dirs(envs_dir):
        call = module_calls(root).get(MODULE_NAME, {})
        if call.get("routing", "path_rule") != "path_rule":
            continue
        priority, patterns = call.get("rule_priority"), call.get("path_patterns", [])
        if not isinstance(priority, int) or not isinstance(patterns, list):
            problems.append(f"env {root.name}: rule_priority and path_patterns must be literals")
            continue
        rules.extend((root.name, priority, str(p)) for p in patterns)
    by_priority: dict[int, set[str]] = {}
    by_pattern: dict[str, set[str]] = {}
    for env, priority, pattern in rules:
        by_priority.setdefault(priority, set()).add(env)
        by_pattern.setdefault(pattern, set()).add(env)
    problems.extend(
        f"rule priority {p} is used by several environments: {', '.join(sorted(envs))}"
        for p, envs in sorted(by_priority.items())
        if len(envs) > 1
    )
    problems.extend(
        f"path pattern {p!r} is used by several environments: {', '.join(sorted(envs))}"
        for p, envs in sorted(by_pattern.items())
        if len(envs) > 1
    )
    for env_a, prio_a, pat_a in rules:
        for env_b, prio_b, pat_b in rules:
            if env_a == env_b or pat_a == pat_b:
                continue
            # pat_b shadows pat_a's paths if it matches them and is evaluated first.
            if fnmatch.fnmatchcase(_sample_path(pat_a), pat_b) and prio_b < prio_a:
                problems.append(
                    f"env {env_b}: {pat_b!r} (priority {prio_b}) also matches {env_a}'s {pat_a!r} "
                    f"(priority {prio_a}) and is evaluated first; give {env_a} the lower priority number"
                )
    return problems


# --------------------------------------------------------------------------------------------------
# Version pins, backends, providers
# --------------------------------------------------------------------------------------------------
def _bounded(constraint: str) -> bool:
    return (
        "~>" in constraint or "<" in constraint or re.fullmatch(r"=?\s*\d+\.\d+\.\d+", constraint) is not None
    )


def _explicit(constraint: object) -> bool:
    return isinstance(constraint, str) and re.search(r"\d+\.\d+", constraint) is not None


def check_version_pins(directory: Path, *, root: bool) -> list[str]:
    """required_version and every provider's source and version are set; roots (and every provider)
    also have an upper bound, so a new major version is a reviewed change."""
    terraform_blocks = load_hcl_dir(directory).get("terraform", [])
    where = directory.name
    problems: list[str] = []
    required_version = next(
        (b["required_version"] for b in terraform_blocks if "required_version" in b), None
    )
    if not _explicit(required_version):
        problems.append(f"{where}: required_version is missing or not an explicit constraint")
    elif root and not _bounded(str(required_version)):
        problems.append(f"{where}: required_version {required_version!r} has no upper bound")
    providers: dict[str, Any] = {}
    for block in terraform_blocks:
        for rp in block.get("required_providers", []):
            providers.update(rp)
    if "aws" not in providers:
        problems.append(f"{where}: required_providers does not declare aws")
    for name, spec in providers.items():
        if not isinstance(spec, dict) or not spec.get("source"):
            problems.append(f"{where}: provider {name} has no source")
            continue
        version = spec.get("version")
        if not _explicit(version) or not _bounded(str(version)):
            problems.append(
                f"{where}: provider {name} version {version!r} is not pinned (use ~> or an upper bound)"
            )
    return problems


def check_backend_and_provider(root: Path, state_key: str) -> list[str]:
    """S3 backend with this root's own key, encryption and locking; provider with region and account."""
    doc = load_hcl_dir(root)
    where = root.name
    problems: list[str] = []
    backends = [b for t in doc.get("terraform", []) for b in t.get("backend", [])]
    s3 = next((b["s3"] for b in backends if "s3" in b), None)
    if s3 is None:
        problems.append(f"{where}: no S3 backend")
    else:
        if s3.get("key") != state_key:
            problems.append(f"{where}: backend key {s3.get('key')!r}, expected {state_key!r}")
        if s3.get("encrypt") is not True:
            problems.append(f"{where}: backend is not encrypted")
        if not s3.get("use_lockfile") and not s3.get("dynamodb_table"):
            problems.append(f"{where}: backend has no state locking (use_lockfile or dynamodb_table)")
        for key in ("bucket", "region"):
            if not s3.get(key):
                problems.append(f"{where}: backend has no {key}")
    aws = [p["aws"] for p in doc.get("provider", []) if "aws" in p]
    if not aws:
        problems.append(f"{where}: no aws provider block")
    for provider in aws:
        if not provider.get("region"):
            problems.append(f"{where}: aws provider has no region")
        if not provider.get("allowed_account_ids"):
            problems.append(f"{where}: aws provider has no allowed_account_ids")
    return problems
