"""Which color gets traffic, as one value.

``TrafficSplit`` is the answer everywhere: the state reader returns it (per listener or rule and for the
environment as a whole), the drivers apply it, the journal stores where traffic is being moved, the
color file serialises it and the renderer shows it. A plain switch is the split with ``canary_weight``
0; a canary step is the same value with a weight (the share of requests that reach the *other* color).

The *carriers* of an environment's traffic are its listener rules (path environments: one on the HTTPS
listener, one on HTTP) or prod's HTTPS and HTTP listeners' default actions. ``carriers(wiring)`` is the
one walk over them that readers, drivers and plans share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bgctl import COLORS, other_color
from bgctl.errors import UsageError
from bgctl.wiring import Wiring

# HTTPS first: it carries almost all traffic; HTTP follows within the same second.
CARRIER_KEYS = ("https", "http")
PORTS = {"https": ":443", "http": ":80"}


class SplitError(UsageError, ValueError):
    """A color or weight that no split can have."""


@dataclass(frozen=True)
class TrafficSplit:
    """``active`` receives ``100 - canary_weight`` percent of requests, the other color the rest."""

    active: str
    canary_weight: int = 0

    def __post_init__(self) -> None:
        if self.active not in COLORS:
            raise SplitError(f"unknown color {self.active!r}: expected blue or green")
        if not isinstance(self.canary_weight, int) or not 0 <= self.canary_weight < 100:
            raise SplitError(f"canary weight {self.canary_weight!r} must be an integer from 0 to 99")

    @classmethod
    def to(cls, color: str) -> TrafficSplit:
        """Everything to ``color``."""
        return cls(color, 0)

    @classmethod
    def from_weights(cls, weights: Mapping[str, int], *, prefer: str | None = None) -> TrafficSplit:
        """Normalise load-balancer weights (any non-negative integers) to a split in percent.

        The color with the larger share is ``active``; on an exact tie, ``prefer`` (the color SSM
        records) decides, else blue.
        """
        blue, green = int(weights.get("blue", 0)), int(weights.get("green", 0))
        total = blue + green
        if total <= 0:
            raise ValueError("a forward with no weight on either color")
        green_pct = round(100 * green / total)
        if green_pct in (0, 100):
            return cls.to("green" if green_pct == 100 else "blue")
        if green_pct == 50 and prefer in COLORS:
            return cls(prefer or "blue", 50)
        return cls("green", 100 - green_pct) if green_pct > 50 else cls("blue", green_pct)

    @property
    def canary_color(self) -> str:
        return other_color(self.active)

    @property
    def serving(self) -> str | None:
        """The one color receiving all traffic, or None while traffic is split."""
        return self.active if self.canary_weight == 0 else None

    def weight(self, color: str) -> int:
        return self.canary_weight if color != self.active else 100 - self.canary_weight

    def weights(self) -> dict[str, int]:
        return {c: self.weight(c) for c in COLORS}

    def reaches(self, color: str) -> bool:
        return self.weight(color) > 0

    def describe(self) -> str:
        if self.serving:
            return self.serving
        return f"{self.active} {self.weight(self.active)}% / {self.canary_color} {self.canary_weight}%"

    def to_doc(self) -> dict[str, Any]:
        return {"active": self.active, "canary_weight": self.canary_weight}

    @classmethod
    def from_doc(cls, doc: Any) -> TrafficSplit:
        if not isinstance(doc, Mapping) or "active" not in doc:
            raise SplitError(f"not a traffic split: {doc!r}")
        return cls(str(doc["active"]), int(doc.get("canary_weight", 0)))


@dataclass(frozen=True)
class Carrier:
    """One listener rule or listener default action that carries an environment's traffic."""

    key: str  # "https" | "http"
    kind: str  # "rule" | "listener"
    arn: str

    @property
    def label(self) -> str:
        return f"{self.key} {self.kind}"

    @property
    def short(self) -> str:
        return PORTS[self.key] if self.kind == "listener" else self.key


def carriers(wiring: Wiring) -> list[Carrier]:
    """The environment's carriers, HTTPS first."""
    kind = "listener" if wiring.is_default_action else "rule"
    arns = wiring.listener_arns if wiring.is_default_action else wiring.rule_arns
    return [Carrier(key, kind, arns[key]) for key in CARRIER_KEYS if arns.get(key)]


def split_of_actions(actions: list[Any], wiring: Wiring, *, prefer: str | None = None) -> TrafficSplit | None:
    """The split a rule's or listener's actions send traffic by; None when it forwards anywhere else
    (a group that is not one of the environment's colors, or no forward at all)."""
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = action.get("ForwardConfig", {}).get("TargetGroups") or []
        if not groups and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        weights: dict[str, int] = {}
        for group in groups:
            weight = int(group.get("Weight", 1))
            if weight == 0:
                continue
            color = wiring.color_of_target_group(str(group["TargetGroupArn"]))
            if color is None:
                return None
            weights[color] = weights.get(color, 0) + weight
        if not weights:
            return None
        return TrafficSplit.from_weights(weights, prefer=prefer)
    return None


def forward_actions(wiring: Wiring, split: TrafficSplit, *, stickiness_seconds: int = 0) -> list[Any]:
    """The forward action that realises ``split`` (a plain forward when one color takes everything)."""
    serving = split.serving
    if serving is not None:
        return [{"Type": "forward", "TargetGroupArn": wiring.target_group_arns[serving]}]
    config: dict[str, Any] = {
        "TargetGroups": [
            {"TargetGroupArn": wiring.target_group_arns[c], "Weight": split.weight(c)} for c in COLORS
        ]
    }
    if stickiness_seconds > 0:
        config["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": stickiness_seconds}
    return [{"Type": "forward", "ForwardConfig": config}]


def action_label(wiring: Wiring, split: TrafficSplit | None) -> str:
    """How a rule's action reads in plans and dry runs: ``forward -> Beta-Green (green)``."""
    if split is None:
        return "unknown"
    if split.serving:
        arn = wiring.target_group_arns[split.serving]
        name = arn.rsplit(":targetgroup/", 1)[-1].split("/", 1)[0]
        return f"forward -> {name} ({split.serving})"
    return f"forward {split.describe()}"


@dataclass(frozen=True)
class Routing:
    """Where the load balancer actually sends an environment's traffic, per carrier."""

    # carrier label ("https rule", "http listener") -> split; None: forwards somewhere not ours
    routes: dict[str, TrafficSplit | None]
    missing: tuple[str, ...] = ()

    @property
    def split(self) -> TrafficSplit | None:
        """The split every carrier agrees on; None when one is missing, foreign or they differ."""
        values = set(self.routes.values())
        if len(values) == 1 and not self.missing:
            return next(iter(values))
        return None

    @property
    def color(self) -> str | None:
        """The one color all traffic reaches, or None (split, inconsistent, missing)."""
        split = self.split
        return split.serving if split else None

    @property
    def consistent(self) -> bool:
        return self.split is not None

    def reaches(self, color: str) -> bool:
        """Some carrier sends some traffic to ``color``."""
        return any(s is not None and s.reaches(color) for s in self.routes.values())

    def describe(self) -> str:
        parts = [f"{k} -> {v.describe() if v else 'foreign target group'}" for k, v in self.routes.items()]
        parts += [f"{k} not found" for k in self.missing]
        return ", ".join(parts) or "none found"
