"""The capacity policy: how many instances count as enough, named once.

Every operation asks this one object, so deploy, switch, rollback, recover and the gate can never
disagree about an environment's minimum.

- ``floor``: healthy instances a color needs before it may receive traffic (at least 1).
- ``serving_min``: the ``MinSize`` of the color that serves (Terraform's ``min_size``, raised to the
  floor), so scaling policies can never take it below what the gate demanded.
- ``standby_min(desired)``: the color that stops serving is *held*: ``MinSize = DesiredCapacity``, so
  its target-tracking and step policies (which keep running: they are Terraform's) cannot scale it in
  while it carries no traffic. It stays warm for an instant rollback until ``cleanup`` or the next
  deploy. Terraform ignores ``min_size`` (see the module), so the hold never shows as drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgctl.errors import UsageError
from bgctl.wiring import Wiring


@dataclass(frozen=True)
class CapacityPolicy:
    env: str
    min_size: int
    max_size: int
    min_healthy: int

    @classmethod
    def of(cls, wiring: Wiring) -> CapacityPolicy:
        cap = wiring.capacity
        return cls(wiring.environment, cap.min_size, cap.max_size, cap.min_healthy)

    @property
    def floor(self) -> int:
        return max(1, self.min_healthy)

    @property
    def serving_min(self) -> int:
        return min(self.max_size, max(self.min_size, self.floor))

    @staticmethod
    def standby_min(desired: int) -> int:
        return desired

    def default_capacity(self, active_desired: int) -> int:
        """A deploy's size when none is asked for: what serves now, at least the floor."""
        return min(self.max_size, max(active_desired, self.floor))

    def check_capacity(self, capacity: int) -> int:
        if not self.floor <= capacity <= self.max_size:
            raise UsageError(
                f"--capacity {capacity} is outside {self.floor}..{self.max_size} for {self.env} "
                f"(at least its minimum healthy instances, at most its ASG maximum)"
            )
        return capacity

    def enough(self, healthy: int) -> bool:
        return healthy >= self.floor
