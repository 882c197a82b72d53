"""Take a drafted round through its life cycle over the bus, as the operator's tools do (tests
and benchmarks): submit, approve, schedule and open it, waiting for each step to be taken.

Each command goes to its own consumer, so one sent before the step before it is taken would
wait for a retry; waiting for each state keeps a test or a benchmark from waiting on back-off.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.envelope import Command
from contracts.round_lifecycle import ScheduleRound, SubmitRound
from contracts.rounds import ApproveRound, GetRound, OpenRound, RoundView
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask


async def wait_for_state(
    nc: Any, tenant: str, round_id: str, *states: str, timeout: float = 30.0
) -> RoundView:
    """The round once it is in one of ``states``."""

    async def reached() -> RoundView | None:
        view = await ask(nc, GetRound(tenant=tenant, round_id=round_id), RoundView)
        return view if view is not None and view.state in states else None

    return await wait_until(
        reached, timeout=timeout, interval=0.05, what=f"round {'/'.join(states)}"
    )


async def schedule_round(
    js: Any,
    nc: Any,
    tenant: str,
    round_id: str,
    *,
    by: str = "styrgrupp",
    opens_in: timedelta = timedelta(hours=1),
    reminder_days: tuple[int, ...] = (),
    timeout: float = 30.0,
) -> RoundView:
    """Submit, approve and schedule a drafted round (opening in ``opens_in``, open 7 days);
    the round as scheduled."""
    await wait_for_state(nc, tenant, round_id, "draft", timeout=timeout)
    steps: list[tuple[Command, str]] = [
        (SubmitRound(tenant=tenant, round_id=round_id, submitted_by=by), "submitted"),
        (ApproveRound(tenant=tenant, round_id=round_id, approved_by=by), "approved"),
        (
            ScheduleRound(
                tenant=tenant,
                round_id=round_id,
                open_at=datetime.now(UTC) + opens_in,
                reminder_days=reminder_days,
                scheduled_by=by,
            ),
            "scheduled",
        ),
    ]
    view: RoundView | None = None
    for command, state in steps:
        await publish(js, command)
        # A schedule that opens at once may be open by the time anyone looks.
        later = ("open",) if state == "scheduled" else ()
        view = await wait_for_state(nc, tenant, round_id, state, *later, timeout=timeout)
    assert view is not None
    return view


async def open_round(
    js: Any, nc: Any, tenant: str, round_id: str, *, by: str = "styrgrupp", timeout: float = 30.0
) -> RoundView:
    """Submit, approve, schedule and open a drafted round now; the round once open."""
    await schedule_round(js, nc, tenant, round_id, by=by, timeout=timeout)
    await publish(js, OpenRound(tenant=tenant, round_id=round_id, opened_by=by))
    return await wait_for_state(nc, tenant, round_id, "open", timeout=timeout)
