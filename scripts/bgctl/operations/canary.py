"""canary promote / canary abort: an operator moves a baking canary on, or stops it.

While the deploy that runs the canary is alive (here or on another host), the request is left for it
(``bgctl.canary.ask``): it acts at its next poll, under its own lock. When that process is gone, the
request is carried out like ``recover`` would: abort rolls the canary back, promote completes the full
switch behind the health gate.
"""

from __future__ import annotations

from bgctl.canary import REQUESTS, ask
from bgctl.context import Context, Outcome
from bgctl.errors import RefusedError, UsageError
from bgctl.operations.recover import recover


def canary_request(ctx: Context, action: str) -> Outcome:
    if action not in REQUESTS:
        raise UsageError(f"canary {action!r}: expected {' or '.join(REQUESTS)}")
    st = ctx.reader.read_one(ctx.env, probe_http=False)
    lock = st.lock
    if lock is None or lock.journal is None or not lock.journal.canary:
        raise RefusedError(
            f"{ctx.env} has no canary in progress (traffic: {st.routing.describe()})",
            hint=f"{ctx.cli} status",
        )
    if lock.alive_here() is False:
        outcome = recover(ctx, promote=action == "promote")
        outcome.notes.insert(
            0, f"the canary's process ({lock.holder}) is gone: {action} carried out by recover"
        )
        return outcome
    ask(ctx, action)
    return Outcome(
        ctx.env,
        f"canary {action}",
        st.routing.split,
        notes=[
            f"asked the canary of {lock.journal.describe()} ({lock.holder}) to {action}: it acts at its "
            f"next poll (every {ctx.settings.poll_interval:.0f}s)"
        ],
    )
