"""Plans: what an operation will do, computed as a value from the state it read.

Each operation (deploy, switch, rollback, cleanup, shutdown) turns an ``EnvState`` and the operator's
decisions into a ``Plan``: a short list of named actions (frozen values), every refusal raised while
planning. ``--dry-run`` renders the plan; the runner executes exactly the same plan, action by action.
``Plan.effects()`` lists every resource value the plan changes, before and after, which is what the dry
run shows and what the tests compare against the AWS state a real run leaves behind.

Actions are idempotent, so a plan can be re-run from any point (``recover``) and an undo only needs the
snapshots taken before the first change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bgctl.colorfile import COLOR_FILE
from bgctl.hookspec import HookSpec, Release
from bgctl.journal import AsgSnapshot, Journal
from bgctl.plansummary import TrafficChange
from bgctl.traffic import TrafficSplit, action_label, carriers
from bgctl.wiring import Wiring, active_color_param, active_tg_param


@dataclass(frozen=True)
class Effect:
    """One resource value an action changes. ``key`` is stable and machine-comparable
    (``asg:beta-green:desired``, ``ssm:/compiler-explorer/beta/green/version``, ``route:https rule``)."""

    key: str
    before: str
    after: str


# -- actions -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CopyDiscovery:
    step = "prepare"
    env: str
    source_env: str
    version: str
    key: str

    def message(self) -> str:
        return f"copying compiler discovery for {self.version} from {self.source_env}"

    def effects(self) -> list[Effect]:
        return [Effect(f"s3:{self.key}", "missing", "present")]


@dataclass(frozen=True)
class Protect:
    step = "protect"
    before: AsgSnapshot
    processes: tuple[str, ...]

    def message(self) -> str:
        return f"protecting {self.before.name} from scaling while we work"

    def effects(self) -> list[Effect]:
        after = ",".join(sorted({*self.before.suspended, *self.processes}))
        return [
            Effect(f"asg:{self.before.name}:suspended", ",".join(sorted(self.before.suspended)), after),
            Effect(f"asg:{self.before.name}:min", str(self.before.min_size), str(self.before.desired)),
        ]


@dataclass(frozen=True)
class Drain:
    """Scale a color's existing instances away and wait until they are gone (deploy's replace)."""

    step = "deploy-inactive"
    before: AsgSnapshot

    def message(self) -> str:
        return f"scaling {self.before.name} to 0 to replace its {self.before.desired} instance(s)"

    def effects(self) -> list[Effect]:
        return []  # intermediate: the Scale that follows sets the final values


@dataclass(frozen=True)
class RecordVersion:
    step = "deploy-inactive"
    color: str
    parameter: str
    before: str | None
    after: str

    def message(self) -> str:
        return f"recording {self.after} for {self.color}"

    def effects(self) -> list[Effect]:
        return [Effect(f"ssm:{self.parameter}", self.before or "none", self.after)]


@dataclass(frozen=True)
class Scale:
    before: AsgSnapshot
    desired: int
    min_size: int
    step: str = "deploy-inactive"

    def message(self) -> str:
        return f"scaling {self.before.name} to {self.desired}"

    def effects(self) -> list[Effect]:
        name = self.before.name
        return [
            Effect(f"asg:{name}:desired", str(self.before.desired), str(self.desired)),
            Effect(f"asg:{name}:min", str(self.before.min_size), str(self.min_size)),
        ]


@dataclass(frozen=True)
class AwaitHealthy:
    step = "verify-health"
    color: str
    want: int
    version: str | None

    def message(self) -> str:
        running = f" running {self.version}" if self.version else ""
        return f"waiting for {self.want} healthy {self.color} instance(s){running}"

    def effects(self) -> list[Effect]:
        return []


@dataclass(frozen=True)
class SmokeTest:
    """The new color's smoke tests through its preview route (``bgctl.smoke``), before traffic moves."""

    step = "smoke-test"
    color: str
    version: str | None
    checks: int  # built-in /healthcheck, the wiring's paths and its command

    def message(self) -> str:
        running = f" ({self.version})" if self.version else ""
        return f"smoke-testing {self.color}{running} through its preview route: {self.checks} check(s)"

    def effects(self) -> list[Effect]:
        return []


def smoke_checks(wiring: Wiring) -> int:
    """How many checks a SmokeTest runs: the built-in /healthcheck, the paths, the command."""
    return 1 + len(wiring.smoke.paths) + (1 if wiring.smoke.command else 0)


@dataclass(frozen=True)
class MoveTraffic:
    step = "switch"
    before: TrafficSplit | None
    after: TrafficSplit
    routes: tuple[tuple[str, TrafficSplit | None], ...]  # carrier label -> split now
    ssm: tuple[tuple[str, str | None, str], ...]  # (parameter, now, after): active-color, -target-group-arn
    file_split: TrafficSplit | None

    def message(self) -> str:
        return f"moving traffic to {self.after.describe()}"

    def effects(self) -> list[Effect]:
        after = _split_text(self.after)
        found = [Effect(f"route:{label}", _split_text(now), after) for label, now in self.routes]
        found += [Effect(f"ssm:{name}", str(now), value) for name, now, value in self.ssm]
        return [*found, Effect("file:color", _split_text(self.file_split), after)]


@dataclass(frozen=True)
class Bake:
    """A canary step's bake: watch the new color while it takes ``weight`` percent of requests."""

    step = "bake"
    color: str
    weight: int
    seconds: float
    version: str | None
    index: int  # 1-based step of ``total``
    total: int

    def message(self) -> str:
        return (
            f"canary step {self.index}/{self.total}: baking {self.color} at {self.weight}% for "
            f"{self.seconds:.0f}s (alarms, targets, HTTP)"
        )

    def effects(self) -> list[Effect]:
        return []


@dataclass(frozen=True)
class VerifyTraffic:
    step = "verify-switch"
    split: TrafficSplit
    color: str
    want: int

    def message(self) -> str:
        return "verifying the load balancer, SSM and target health"

    def effects(self) -> list[Effect]:
        return []


@dataclass(frozen=True)
class Unprotect:
    """Lift our protection of ``before.name`` (resume what we suspended) and set its min."""

    step = "cleanup"
    before: AsgSnapshot
    processes: tuple[str, ...]
    min_size: int

    def message(self) -> str:
        return f"lifting protection of {self.before.name} (min {self.min_size})"

    def effects(self) -> list[Effect]:
        return [
            Effect(
                f"asg:{self.before.name}:suspended",
                ",".join(sorted(self.before.suspended)),
                ",".join(sorted(self.before.suspended)),
            ),
            Effect(f"asg:{self.before.name}:min", str(self.before.min_size), str(self.min_size)),
        ]


@dataclass(frozen=True)
class SetMin:
    step = "cleanup"
    asg: str
    before: int
    after: int
    why: str

    def message(self) -> str:
        return f"{self.asg}: min {self.before} -> {self.after} ({self.why})"

    def effects(self) -> list[Effect]:
        return [Effect(f"asg:{self.asg}:min", str(self.before), str(self.after))]


@dataclass(frozen=True)
class ClearShutdown:
    step = "cleanup"
    parameter: str

    def message(self) -> str:
        return "clearing the deliberate-shutdown record"

    def effects(self) -> list[Effect]:
        return [Effect(f"ssm:{self.parameter}", "present", "missing")]


@dataclass(frozen=True)
class RecordShutdown:
    step = "shutdown"
    parameter: str
    reason: str

    def message(self) -> str:
        return f"recording the shutdown ({self.reason})"

    def effects(self) -> list[Effect]:
        return [Effect(f"ssm:{self.parameter}", "missing", "present")]


@dataclass(frozen=True)
class RunHook:
    """One release hook (``bgctl.hooks``), in its phase's step."""

    hook: HookSpec
    release: Release

    @property
    def step(self) -> str:
        return self.hook.phase

    def message(self) -> str:
        return f"release hook {self.hook.describe()}"

    def effects(self) -> list[Effect]:
        return []  # outside what the tool manages (CDN, logs, third parties): reported, not diffed


Action = (
    CopyDiscovery
    | RunHook
    | Protect
    | Drain
    | RecordVersion
    | Scale
    | AwaitHealthy
    | SmokeTest
    | MoveTraffic
    | Bake
    | VerifyTraffic
    | Unprotect
    | SetMin
    | ClearShutdown
    | RecordShutdown
)


def _split_text(split: TrafficSplit | None) -> str:
    return split.describe() if split else "unknown"


# -- the plan --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Basis:
    """The facts an operation's decisions rest on. Re-read under the lock, they must be the same, or
    the operation refuses (something changed while the operator was deciding)."""

    split: TrafficSplit | None
    target_color: str | None
    target_instances: int
    version: str | None


@dataclass(frozen=True)
class Plan:
    env: str
    operation: str
    wiring: Wiring
    basis: Basis
    actions: tuple[Action, ...]
    from_split: TrafficSplit | None = None
    to_split: TrafficSplit | None = None
    target_color: str | None = None
    version: str | None = None
    notes: tuple[str, ...] = field(default=())
    stamp: str = ""  # when the operation was decided: the release hooks' idempotency key

    @property
    def moves_traffic(self) -> bool:
        return any(isinstance(a, MoveTraffic) for a in self.actions)

    def index_of_move(self) -> int:
        """The first traffic move (a canary step or the switch), or len(actions)."""
        for i, action in enumerate(self.actions):
            if isinstance(action, MoveTraffic):
                return i
        return len(self.actions)

    def index_of_final_move(self) -> int:
        """The move to a whole color (after any canary steps): the point of no return."""
        for i in range(len(self.actions) - 1, -1, -1):
            action = self.actions[i]
            if isinstance(action, MoveTraffic) and action.after.serving is not None:
                return i
        return self.index_of_move()

    @property
    def canary(self) -> tuple[int, ...]:
        return tuple(a.weight for a in self.actions if isinstance(a, Bake))

    def effects(self) -> list[Effect]:
        """Net effects: for each key, the first ``before`` and the last ``after``; no-ops dropped."""
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for action in self.actions:
            for effect in action.effects():
                first.setdefault(effect.key, effect.before)
                last[effect.key] = effect.after
        return [Effect(k, first[k], last[k]) for k in last if first[k] != last[k]]

    def journal(self, via: str) -> Journal:
        """The journal the lock carries while this plan runs."""
        protected = next((a.before for a in self.actions if isinstance(a, Protect)), None)
        scaled = next((a for a in self.actions if isinstance(a, Scale)), None)
        drained = any(isinstance(a, Drain) for a in self.actions)
        inactive = None
        if scaled is not None:
            # After an agreed replace, undo leaves the color empty rather than relaunching old instances.
            before = scaled.before
            inactive = AsgSnapshot(before.name, 0, 0, before.suspended) if drained else before
        recorded = next((a for a in self.actions if isinstance(a, RecordVersion)), None)
        return Journal(
            env=self.env,
            operation=self.operation,
            from_split=self.from_split,
            intended=self.to_split,
            target_color=self.target_color,
            version=self.version,
            previous_version=recorded.before if recorded else None,
            protected=protected,
            inactive=inactive,
            via=via,
            stamp=self.stamp,
            canary=self.canary,
        )

    def changes(self, envs_dir: Path) -> list[TrafficChange]:
        """The plan's net effects as the dry run and plan summaries show them (one line per ASG)."""
        found: list[TrafficChange] = []
        by_asg: dict[str, list[Effect]] = {}
        for effect in self.effects():
            if effect.key.startswith("asg:"):
                by_asg.setdefault(effect.key[4:].rpartition(":")[0], []).append(effect)
            else:
                found.append(_as_change(self, effect, envs_dir))
        for name, effects in by_asg.items():
            parts = [(e.key.rpartition(":")[2], e.before, e.after) for e in effects]
            found.append(
                TrafficChange(
                    "asg",
                    f"ASG {name}",
                    ", ".join(f"{attr} {before or '-'}" for attr, before, _ in parts),
                    ", ".join(f"{attr} {after or '-'}" for attr, _, after in parts),
                    label=name,
                )
            )
        return found


def _as_change(plan: Plan, effect: Effect, envs_dir: Path) -> TrafficChange:
    kind, _, rest = effect.key.partition(":")
    w = plan.wiring
    if kind == "route":
        carrier = next(c for c in carriers(w) if c.label == rest)
        before = _route_label(w, effect.before, plan)
        after = _route_label(w, effect.after, plan)
        if carrier.kind == "listener":
            return TrafficChange(
                "listener", f"listener {carrier.short} {carrier.arn}", before, after, carrier.short
            )
        return TrafficChange("rule", f"{carrier.key} rule {carrier.arn}", before, after, carrier.key)
    if kind == "file":
        path = envs_dir / plan.env / COLOR_FILE
        return TrafficChange("file", str(path), effect.before, effect.after, label=path.name)
    if kind == "ssm":
        short = rest.rsplit("/", 2)
        if rest in (active_color_param(plan.env), active_tg_param(plan.env)):
            return TrafficChange("ssm", f"SSM {rest}", effect.before, effect.after, label=short[-1])
        label = "/".join(short[-2:])
        return TrafficChange("version", f"SSM {rest}", effect.before, effect.after, label=label)
    return TrafficChange(kind, rest, effect.before, effect.after, label=rest)


def _route_label(w: Wiring, text: str, plan: Plan) -> str:
    for split in (plan.from_split, plan.to_split):
        if split is not None and split.describe() == text:
            return action_label(w, split)
    if text in ("blue", "green"):
        return action_label(w, TrafficSplit.to(text))
    return text
