"""How an Application Load Balancer picks an action for a request: pure functions on API-shaped data.

The data is what ``DescribeRules`` returns (conditions and actions as dicts, ``Priority`` as an int or
"default"), so the same code evaluates moto's records and a real account's. Nothing here does I/O.

Rules are tried in ascending priority, the default rule last; a rule matches when **all** its conditions
match, a condition when **any** of its values does:

==================== ==================================================================================
``path-pattern``     the path (no query string), case-sensitive, ``*`` any run of characters, ``?`` one
``host-header``      the Host header without its port, case-insensitive, wildcards
``http-header``      the named header (name case-insensitive), any of its values, case-insensitive,
                     wildcards
``http-request-method`` the method, exact (case-sensitive), no wildcards
``query-string``     a ``Key``/``Value`` pair of the query (``Key`` optional), case-insensitive, wildcards
``source-ip``        the client address within one of the CIDR blocks
==================== ==================================================================================

Of a rule's actions (ordered by ``Order``), the first terminal one (``forward``, ``fixed-response``,
``redirect``) decides; ``authenticate-*`` actions are not emulated (the front answers 501 for them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

TERMINAL_ACTIONS = ("forward", "fixed-response", "redirect")
STICKY_COOKIE = "AWSALBTG"
STICKY_COOKIE_CORS = "AWSALBTGCORS"
# What a real ALB sets as the cookies' own expiry; the binding's duration is inside the (opaque) value.
STICKY_COOKIE_MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True)
class RequestView:
    """What the conditions look at."""

    method: str
    path: str  # no query string
    query: str = ""
    host: str = ""  # the Host header as sent (a port is ignored when matching)
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)  # lower-case names
    source_ip: str = "127.0.0.1"

    def header_values(self, name: str) -> Sequence[str]:
        return self.headers.get(name.lower(), ())


@dataclass(frozen=True)
class Rule:
    """One listener rule (or the listener's default rule, ``priority`` None)."""

    arn: str
    priority: int | None
    conditions: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]

    @property
    def is_default(self) -> bool:
        return self.priority is None

    @classmethod
    def from_api(cls, doc: Mapping[str, Any]) -> Rule:
        """From one entry of ``DescribeRules``' ``Rules``."""
        priority = doc.get("Priority", "default")
        default = bool(doc.get("IsDefault")) or str(priority) == "default"
        return cls(
            arn=str(doc.get("RuleArn", "")),
            priority=None if default else int(priority),
            conditions=tuple(doc.get("Conditions") or ()),
            actions=tuple(doc.get("Actions") or ()),
        )


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Ascending priority, the default rule(s) last."""
    return sorted(rules, key=lambda r: (r.priority is None, r.priority or 0))


# --------------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def wildcard(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """An ALB wildcard (``*`` any run of characters, ``?`` exactly one) as an anchored regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _matches_any(values: Iterable[str], subject: str, *, case_sensitive: bool) -> bool:
    return any(wildcard(v, case_sensitive=case_sensitive).match(subject) for v in values)


def _values(condition: Mapping[str, Any], config: str) -> list[str]:
    """A condition's values: from its ``...Config`` block, else the legacy top-level ``Values``."""
    block = condition.get(config)
    if isinstance(block, Mapping) and block.get("Values") is not None:
        return [str(v) for v in block["Values"]]
    return [str(v) for v in condition.get("Values") or ()]


def _host_without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _in_cidrs(ip: str, cidrs: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def condition_matches(condition: Mapping[str, Any], request: RequestView) -> bool:  # noqa: PLR0911
    """One condition against the request (an unknown field never matches)."""
    kind = condition.get("Field")
    if kind == "path-pattern":
        return _matches_any(_values(condition, "PathPatternConfig"), request.path, case_sensitive=True)
    if kind == "host-header":
        host = _host_without_port(request.host)
        return _matches_any(_values(condition, "HostHeaderConfig"), host, case_sensitive=False)
    if kind == "http-header":
        block = condition.get("HttpHeaderConfig") or {}
        name = str(block.get("HttpHeaderName", ""))
        values = [str(v) for v in block.get("Values") or ()]
        return any(_matches_any(values, sent, case_sensitive=False) for sent in request.header_values(name))
    if kind == "http-request-method":
        block = condition.get("HttpRequestMethodConfig") or {}
        return request.method in [str(v) for v in block.get("Values") or ()]
    if kind == "query-string":
        block = condition.get("QueryStringConfig") or {}
        pairs = parse_qsl(request.query, keep_blank_values=True)
        for wanted in block.get("Values") or ():
            key, value = wanted.get("Key"), str(wanted.get("Value", ""))
            for k, v in pairs:
                key_ok = key is None or bool(wildcard(str(key), case_sensitive=False).match(k))
                if key_ok and wildcard(value, case_sensitive=False).match(v):
                    return True
        return False
    if kind == "source-ip":
        return _in_cidrs(request.source_ip, _values(condition, "SourceIpConfig"))
    return False


def rule_matches(rule: Rule, request: RequestView) -> bool:
    return rule.is_default or all(condition_matches(c, request) for c in rule.conditions)


def first_match(rules: Iterable[Rule], request: RequestView) -> Rule | None:
    """The rule that answers ``request``: the first match in priority order (the default last)."""
    for rule in ordered(rules):
        if rule_matches(rule, request):
            return rule
    return None


def terminal_action(rule: Rule) -> Mapping[str, Any] | None:
    """The action that answers: the first forward, fixed-response or redirect by ``Order``, or an
    ``authenticate-*`` action standing before it (which the caller refuses to emulate)."""
    actions = sorted(rule.actions, key=lambda a: int(a.get("Order") or 0))
    for action in actions:
        kind = str(action.get("Type", ""))
        if kind in TERMINAL_ACTIONS or kind.startswith("authenticate-"):
            return action
    return None


# --------------------------------------------------------------------------------------------------
# Forward: weights and target-group stickiness
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forward:
    """A forward action's target groups with their weights, and its group stickiness (0: off)."""

    groups: tuple[tuple[str, int], ...]
    stickiness_seconds: int = 0

    @classmethod
    def of(cls, action: Mapping[str, Any]) -> Forward:
        config = action.get("ForwardConfig")
        if isinstance(config, Mapping) and config.get("TargetGroups"):
            groups = tuple(
                (str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in config["TargetGroups"]
            )
            sticky = config.get("TargetGroupStickinessConfig") or {}
            seconds = int(sticky.get("DurationSeconds") or 0) if _true(sticky.get("Enabled")) else 0
            return cls(groups, seconds)
        arn = action.get("TargetGroupArn")
        return cls(((str(arn), 1),) if arn else ())

    @property
    def sticky(self) -> bool:
        return self.stickiness_seconds > 0

    def arns(self) -> list[str]:
        return [arn for arn, _ in self.groups]

    def choose(self, rng: random.Random, *, exclude: Iterable[str] = ()) -> str | None:
        """A target group by weight (groups of weight 0 and ``exclude`` never); None: none left."""
        skip = set(exclude)
        live = [(arn, w) for arn, w in self.groups if w > 0 and arn not in skip]
        if not live:
            return None
        if len(live) == 1:
            return live[0][0]
        return rng.choices([a for a, _ in live], weights=[w for _, w in live])[0]


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class StickyCodec:
    """The ``AWSALBTG`` cookie value: which target group a user is bound to, until when.

    A real ALB's value is opaque (encrypted); this one is ``base64(json).hmac`` under a key private to the
    front, so a client can neither read a group ARN out of it in earnest nor forge one."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or random.SystemRandom().randbytes(32)

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()[:32]

    def encode(self, target_group_arn: str, expires_at: float) -> str:
        payload = base64.urlsafe_b64encode(
            json.dumps({"tg": target_group_arn, "exp": round(expires_at, 3)}).encode()
        )
        return f"{payload.decode()}.{self._sign(payload)}"

    def decode(self, value: str | None, now: float) -> str | None:
        """The bound target group, or None (missing, forged, malformed or expired)."""
        if not value or "." not in value:
            return None
        payload, signature = value.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(payload.encode())):
            return None
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload.encode()))
            if float(doc["exp"]) <= now:
                return None
            return str(doc["tg"])
        except (ValueError, KeyError, TypeError):
            return None


# --------------------------------------------------------------------------------------------------
# Redirect and fixed-response
# --------------------------------------------------------------------------------------------------
REDIRECT_CODES = {"HTTP_301": 301, "HTTP_302": 302}


def redirect_location(
    config: Mapping[str, Any],
    *,
    protocol: str,
    host: str,
    port: int,
    path: str,
    query: str,
) -> tuple[str, str, int, str, str]:
    """(protocol, host, port, path, query) a ``RedirectConfig`` sends the client to; ``#{...}`` reuse the
    request's components as on AWS (``#{path}`` without its leading slash)."""
    parts = {
        "protocol": protocol.upper(),
        "host": _host_without_port(host),
        "port": str(port),
        "path": path.lstrip("/"),
        "query": query,
    }

    def fill(template: str) -> str:
        return re.sub(r"#\{(protocol|host|port|path|query)\}", lambda m: parts[m.group(1)], template)

    new_protocol = fill(str(config.get("Protocol") or "#{protocol}")).upper()
    new_host = fill(str(config.get("Host") or "#{host}"))
    new_port_text = fill(str(config.get("Port") or "#{port}"))
    new_path = fill(str(config.get("Path") or "/#{path}"))
    new_query = fill(str(config.get("Query") if config.get("Query") is not None else "#{query}"))
    try:
        new_port = int(new_port_text)
    except ValueError:
        new_port = 443 if new_protocol == "HTTPS" else 80
    if not new_path.startswith("/"):
        new_path = "/" + new_path
    return new_protocol, new_host, new_port, new_path, new_query
