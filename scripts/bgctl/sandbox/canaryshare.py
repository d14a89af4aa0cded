"""A canary's split and stickiness as the requests served through the sandbox's load balancer show them.

``CanaryProbe`` watches one canary deploy (``deploy VERSION --canary 10,50 --bake S``) from the users'
side, through two load balancer fronts of its own (``Sandbox.new_front``: both route by the rules moto
holds, like two nodes of one ALB; each has a seeded rng, so the figures are reproducible):

* **fresh users** never keep a cookie, so every request is a new visitor's, routed by weight. During
  each bake step a fixed number of their requests measure the share the new color gets: with weight
  ``w`` and ``n`` requests, the count served by the new color is binomial, so the observed share should
  lie within a few standard deviations ``sqrt(w (1 - w) / n)`` of ``w`` (``StepShare.z``).
* **sticky users** keep their ``AWSALBTG`` cookie, as a browser does, and load the environment at a
  steady rate from before the canary to after it. Within a bake step none may be served by two colors;
  over the whole canary each stays with the group its first weighted request bound it to, even when the
  weight grows (the issue: a user stays on one version for the whole canary).

How it hooks in: ``watching(ctx)`` wraps the context's traffic driver and reporter for the deploy. A
step's measurement starts when the reporter announces the step ``bake``; the next traffic move (the
next weight, the full switch, or the move back to weight 0) first waits until that measurement is
complete: every fresh request answered, every sticky user served ``sticky_min`` times in the step. The
bake therefore never ends mid-measurement however busy the machine is, and no timing is assumed. A
request belongs to the step it *started* in, and a step spans from the return of the move that set its
weight to the start of the next move, so no request is counted against a weight it was not routed by.

Determinism: nothing but the fresh users' requests draws from the fresh front's rng, each draws exactly
once, and each step sends a fixed number, so the count served by the new color in each step depends on
the seed only (not on the order the requests interleave in). Likewise each sticky user draws once from
the sticky front's rng (its first weighted request; afterwards its cookie decides), so how many sticky
users the new color gets depends on the seed only.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bgctl.context import Context, Reporter
from bgctl.sandbox.front import AlbFront, group_name
from bgctl.sandbox.loadgen import EnvTraffic, LoadReport, Sample, TrafficLoad, entry_path, make_users
from bgctl.switching import Fence, TrafficDriver
from bgctl.traffic import TrafficSplit
from bgctl.wiring import Wiring

Z_BOUND = 4.5  # standard deviations: a sound binomial bound (two-sided, about 7 in a million by chance)


@dataclass(frozen=True)
class StepShare:
    """What users were served during one canary step (one weight)."""

    label: str  # "green 10%"
    color: str  # the new (canary) color
    weight: int  # configured percent to the new color
    fresh: int  # fresh users' requests answered 2xx
    fresh_new: int  # of those, served by the new color
    failed: int  # requests of the step not answered 2xx (fresh and sticky)
    sticky_users: int  # sticky users in the load
    sticky_on_new: int  # sticky users served only by the new color in the step
    fewest: int  # the fewest 2xx answers one sticky user got in the step (0: someone got none)
    flipped: tuple[str, ...] = ()  # sticky users served by both colors within the step
    seconds: float = 0.0  # how long the fresh requests took (information only: never asserted)
    errors: tuple[str, ...] = ()  # the first few failed requests: "<user>: <status or error>"

    @property
    def share(self) -> float:
        """The observed share of fresh requests served by the new color (0..1)."""
        return self.fresh_new / self.fresh if self.fresh else 0.0

    @property
    def sigma(self) -> float:
        """The binomial standard deviation of that share for ``fresh`` requests at the weight."""
        p = self.weight / 100
        return math.sqrt(p * (1 - p) / self.fresh) if self.fresh else math.inf

    @property
    def z(self) -> float:
        """(observed - configured) in standard deviations."""
        return (self.share - self.weight / 100) / self.sigma if self.fresh else math.inf

    def within(self, bound: float = Z_BOUND) -> bool:
        return abs(self.z) <= bound


@dataclass(frozen=True)
class CanaryShare:
    env: str
    color: str
    steps: tuple[StepShare, ...]
    sticky_users: int
    rebound: tuple[str, ...] = ()  # sticky users served by a different color in a later step

    @property
    def ok(self) -> bool:
        """Every step's share within the bound, no failed request, no sticky user moved or flipped."""
        return (
            bool(self.steps)
            and not self.rebound
            and all(s.within() and not s.failed and not s.flipped and s.fewest > 0 for s in self.steps)
        )


@dataclass
class _Step:
    label: str
    split: TrafficSplit
    window: int
    fresh: TrafficLoad | None = None
    report: LoadReport | None = None
    closed: float = float("inf")  # when the step's measurement ended, on the sticky load's clock


class _MeasuringDriver:
    """The context's traffic driver, with the probe told before and after every move."""

    def __init__(self, inner: TrafficDriver, probe: CanaryProbe) -> None:
        self.inner = inner
        self.probe = probe
        self.name = inner.name
        self.supports_weights = inner.supports_weights

    def check_available(self, env: str) -> None:
        self.inner.check_available(env)

    def apply(self, wiring: Wiring, split: TrafficSplit, *, fence: Fence | None = None) -> None:
        self.probe.before_move(split)
        if fence is None:
            self.inner.apply(wiring, split)
        else:
            self.inner.apply(wiring, split, fence=fence)
        self.probe.after_move(split)


class _BakeReporter:
    """The context's reporter, with the probe told when a bake step starts."""

    def __init__(self, inner: Reporter, probe: CanaryProbe) -> None:
        self.inner = inner
        self.probe = probe

    def step(self, name: str, message: str) -> None:
        self.inner.step(name, message)
        if name == "bake":
            self.probe.bake_started()

    def info(self, message: str) -> None:
        self.inner.info(message)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def progress(self, message: str) -> None:
        self.inner.progress(message)


@dataclass
class CanaryProbe:
    """Fresh and sticky users on one environment of ``sandbox`` during a canary; see the module."""

    sandbox: Any
    env: str
    fresh_requests: int = 800  # per step (rounded up to a multiple of fresh_users)
    fresh_users: int = 8
    sticky_users: int = 24
    sticky_rate: float = 4.0  # requests per second per sticky user
    sticky_min: int = 3  # 2xx answers every sticky user gets in each step before the next move
    seed: int = 16
    timeout: float = 120.0  # bounds each wait (the users stop by themselves after it)
    target_timeout: float | None = None  # the probe's fronts' wait for a target (None: the sandbox's)
    result: CanaryShare | None = field(default=None, init=False)  # after ``watching`` or ``stop``
    steps: list[_Step] = field(default_factory=list, init=False)
    _fronts: list[AlbFront] = field(default_factory=list, init=False)
    _sticky: TrafficLoad | None = field(default=None, init=False)
    _current: _Step | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _traffic(self) -> EnvTraffic:
        wiring = self.sandbox.resources[self.env].wiring
        listeners = tuple(k for k in ("https", "http") if k in wiring.listener_arns)
        return EnvTraffic(self.env, entry_path(wiring.path_patterns, wiring.is_default_action), listeners)

    def start(self) -> CanaryProbe:
        """Start both fronts and the sticky users (they warm up on the color serving now)."""
        self._fronts = [
            self.sandbox.new_front(seed=seed, target_timeout=self.target_timeout)
            for seed in (self.seed, self.seed + 1)
        ]
        sticky = self._fronts[1]
        users = make_users(
            {"http": sticky.http_url, "https": sticky.https_url},
            [self._traffic()],
            self.sticky_users,
            prefix="sticky-",
        )
        self._sticky = TrafficLoad(
            users, rate=self.sticky_rate, duration=self.timeout * 4, seed=self.seed
        ).start()
        self._sticky.mark("before the canary")
        return self

    def stop(self) -> CanaryShare:
        """Finish any step still measuring, stop the users and the fronts, and report."""
        with contextlib.suppress(Exception):
            self._finish_step()
        sticky = self._sticky.stop() if self._sticky is not None else None
        for front in self._fronts:
            front.stop()
        self._fronts = []
        self.result = self._result(sticky)
        return self.result

    @contextlib.contextmanager
    def watching(self, ctx: Context) -> Iterator[CanaryProbe]:
        """Start, hook into ``ctx`` (its driver and reporter) for the block, then restore and stop;
        the figures are in ``result`` afterwards."""
        driver, reporter = ctx.driver, ctx.reporter
        self.start()
        ctx.driver = _MeasuringDriver(driver, self)
        ctx.reporter = _BakeReporter(reporter, self)
        try:
            yield self
        finally:
            ctx.driver, ctx.reporter = driver, reporter
            self.stop()

    # -- the hooks ---------------------------------------------------------------------------------
    def before_move(self, split: TrafficSplit) -> None:
        """A move is about to start: complete the current step's measurement, close its window."""
        self._finish_step()
        if self._sticky is not None:
            self._sticky.mark(f"moving to {split.describe()}")

    def after_move(self, split: TrafficSplit) -> None:
        """A move is done: a weighted split opens a step (its measurement starts with the bake)."""
        if self._sticky is None:
            return
        if split.serving is not None:
            self._sticky.mark(f"all on {split.serving}")
            return
        label = f"{split.canary_color} {split.canary_weight}%"
        with self._lock:
            self._current = _Step(label, split, self._sticky.mark(label))
            self.steps.append(self._current)

    def bake_started(self) -> None:
        """The bake of the current step starts: send the step's fresh requests (in the background)."""
        with self._lock:
            if self._current is not None and self._current.fresh is None:
                self._current.fresh = self._fresh_load()

    def _fresh_load(self) -> TrafficLoad:
        """``fresh_requests`` new visitors' requests, as fast as the front answers them, started."""
        front = self._fronts[0]
        users = make_users(
            {"http": front.http_url, "https": front.https_url},
            [self._traffic()],
            self.fresh_users,
            keeps_cookies=False,
            prefix="fresh-",
        )
        per_user = max(1, math.ceil(self.fresh_requests / self.fresh_users))
        load = TrafficLoad(users, rate=1000.0, duration=self.timeout, max_requests=per_user, seed=self.seed)
        return load.start()

    def _finish_step(self) -> None:
        with self._lock:
            step, self._current = self._current, None
        if step is None:
            return
        if step.fresh is None:  # no bake step was announced: measure now, still at the step's weight
            step.fresh = self._fresh_load()
        step.report = step.fresh.wait()
        self._wait_for_sticky(step.window)
        if self._sticky is not None:
            step.closed = self._sticky.now()  # the next move starts after this

    def _wait_for_sticky(self, window: int) -> None:
        """Until every sticky user got ``sticky_min`` 2xx answers in ``window`` (bounded)."""
        if self._sticky is None:
            return
        names = {u.name for u in self._sticky.users}
        served: Counter[str] = Counter()
        seen = 0
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            samples = self._sticky.samples
            for sample in samples[seen:]:
                if sample.window == window and sample.ok:
                    served[sample.user] += 1
            seen = len(samples)
            if all(served[n] >= self.sticky_min for n in names):
                return
            time.sleep(0.05)

    # -- the figures -------------------------------------------------------------------------------
    def _result(self, sticky: LoadReport | None) -> CanaryShare:
        wiring = self.sandbox.resources[self.env].wiring
        colors = {group_name(arn): color for color, arn in wiring.target_group_arns.items()}
        color = self.steps[0].split.canary_color if self.steps else "?"
        samples: list[Sample] = sticky.samples if sticky is not None else []
        names = sorted({u.name for u in self._sticky.users}) if self._sticky is not None else []
        shares = []
        bound: dict[str, set[str]] = {}
        for step in self.steps:
            fresh = step.report.samples if step.report is not None else []
            ok = [s for s in fresh if s.ok]
            # A sticky request counts in the step only if it was answered before the step closed:
            # one that started in the step but was answered after the next move (seconds of latency
            # on a loaded machine) was routed by the next split, not by this step's weights.
            mine = [s for s in samples if s.window == step.window and s.started + s.latency <= step.closed]
            groups: dict[str, set[str]] = {n: set() for n in names}
            served: Counter[str] = Counter()
            for s in mine:
                if s.ok:
                    groups[s.user].add(colors.get(s.target_group or "", "?"))
                    served[s.user] += 1
            for name, seen in groups.items():
                bound.setdefault(name, set()).update(seen)
            shares.append(
                StepShare(
                    label=step.label,
                    color=step.split.canary_color,
                    weight=step.split.canary_weight,
                    fresh=len(ok),
                    fresh_new=sum(1 for s in ok if colors.get(s.target_group or "") == color),
                    failed=sum(1 for s in [*fresh, *mine] if not s.ok),
                    sticky_users=len(names),
                    sticky_on_new=sum(1 for seen in groups.values() if seen == {color}),
                    fewest=min((served[n] for n in names), default=0),
                    flipped=tuple(n for n, seen in groups.items() if len(seen) > 1),
                    seconds=step.report.duration if step.report is not None else 0.0,
                    errors=tuple(
                        f"{s.user}: {s.status if s.status is not None else s.error}"
                        for s in [*fresh, *mine]
                        if not s.ok
                    )[:5],
                )
            )
        rebound = tuple(n for n, seen in sorted(bound.items()) if len(seen) > 1)
        return CanaryShare(self.env, color, tuple(shares), len(names), rebound)


def share_table(results: list[CanaryShare]) -> list[list[str]]:
    """Rows (the first is the header) for ``loadgen.format_table``: one per canary step."""
    rows = [
        [
            "env",
            "step",
            "fresh requests",
            "served by new",
            "observed",
            f"±{Z_BOUND:g}σ",
            "z",
            "sticky users on new",
            "flips",
            "failed",
            "measured in",
        ]
    ]
    for result in results:
        for s in result.steps:
            rows.append(
                [
                    result.env,
                    s.label,
                    str(s.fresh),
                    str(s.fresh_new),
                    f"{100 * s.share:.1f}%",
                    f"{100 * Z_BOUND * s.sigma:.1f}%",
                    f"{s.z:+.2f}",
                    f"{s.sticky_on_new}/{s.sticky_users}",
                    str(len(s.flipped)),
                    str(s.failed),
                    f"{s.seconds:.1f} s",
                ]
            )
    return rows
