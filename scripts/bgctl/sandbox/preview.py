"""The preview routes of ``terraform/modules/blue_green/preview.tf``, built in moto like Terraform does.

Per environment that declares ``preview_rule_priorities``, on each listener it is served from, one rule
per color: ``X-Bluegreen-Color: <color>`` plus the secret header (its value in an SSM SecureString the
sandbox creates, as an operator would before ``terraform apply``) and/or a source-IP condition, and the
environment's path patterns (path environments), forwarding to that color's target group.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bgctl import COLORS
from bgctl.envspec import EnvSpec
from bgctl.preview import PREVIEW_HEADER, SECRET_HEADER, Preview, SmokePath, SmokeSpec

if TYPE_CHECKING:
    from mypy_boto3_elbv2.type_defs import RuleConditionTypeDef
    from mypy_boto3_elbv2.type_defs import TagTypeDef as ElbTagTypeDef

    from bgctl.sandbox.clients import SandboxClients


def preview_secret(clients: SandboxClients, name: str) -> str:
    """The secret header's value: the SecureString ``name``, created with a random value when missing."""
    ssm = clients.ssm
    try:
        return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        value = secrets.token_urlsafe(24)
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        return value


def smoke_of(spec: EnvSpec) -> SmokeSpec:
    return SmokeSpec(tuple(SmokePath(p, s) for p, s in spec.smoke_paths), spec.smoke_command)


def create_preview_rules(
    clients: SandboxClients,
    spec: EnvSpec,
    listener_arns: Mapping[str, str],
    tg_arns: Mapping[str, str],
    tagged: Callable[..., list[ElbTagTypeDef]],
) -> Preview | None:
    """Create the preview rules (none without ``preview_priorities``); the wiring's ``preview``."""
    priorities = spec.preview_priorities
    if priorities is None:
        return None
    secret_parameter = spec.preview_secret_parameter
    if not secret_parameter and not spec.preview_source_cidrs:
        raise ValueError(f"{spec.name}: preview routes must be restricted (secret parameter or source CIDRs)")
    secret = preview_secret(clients, secret_parameter) if secret_parameter else None
    for listener in sorted(listener_arns):
        for color in COLORS:
            conditions: list[RuleConditionTypeDef] = [_header(PREVIEW_HEADER, color)]
            if secret is not None:
                conditions.append(_header(SECRET_HEADER, secret))
            if spec.preview_source_cidrs:
                conditions.append(
                    {"Field": "source-ip", "SourceIpConfig": {"Values": list(spec.preview_source_cidrs)}}
                )
            if spec.routing == "path_rule":
                conditions.append(
                    {"Field": "path-pattern", "PathPatternConfig": {"Values": list(spec.path_patterns)}}
                )
            clients.elbv2.create_rule(
                ListenerArn=listener_arns[listener],
                Priority=priorities[color],
                Conditions=conditions,
                Actions=[{"Type": "forward", "TargetGroupArn": tg_arns[color]}],
                Tags=tagged(spec, Environment=spec.name, Color=color, Purpose="preview"),
            )
    return Preview(
        header=PREVIEW_HEADER,
        secret_header=SECRET_HEADER if secret_parameter else None,
        secret_parameter=secret_parameter,
        source_cidrs=spec.preview_source_cidrs,
        rule_priorities=dict(priorities),
    )


def _header(name: str, value: str) -> Any:
    return {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": name, "Values": [value]}}
