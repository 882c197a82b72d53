"""rounds' composition root: indexes, gauges and the service runtime."""

from __future__ import annotations

from prometheus_client import Gauge
from pymongo.asynchronous.database import AsyncDatabase

from infra.service import Runtime, Service, ServiceSettings
from infra.store import Document, epoch_ms
from infra.timers import TimerLoop, TimerSettings
from services.rounds import domain, tallies, timer_actions
from services.rounds.answers import reconcile_open_rounds
from services.rounds.subscribers import build_router

NAME = "rounds"
OVERDUE_CAP = 1000


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """Targeting by council, tokens, counts per round and state, results per round."""
    await db.rounds.create_index([("tenant", 1), ("created_at", 1)])
    await db.rounds.create_index([("tenant", 1), ("state", 1)])
    await db.panelists.create_index([("tenant", 1), ("state", 1)])
    # Links are found by their token's hash, which is their _id. Invitations held that hash
    # under a unique index before; on MongoDB such an index refuses a second invitation
    # without the field, so it goes.
    async for index in await db.invitations.list_indexes():
        if "token_hash" in dict(index.get("key", {})):
            await db.invitations.drop_index(index["name"])
    await db.invitations.create_index([("round_id", 1), ("state", 1)])
    # An erasure finds a member's invitations, and their links.
    await db.invitations.create_index("member_id")
    await db.links.create_index("invitation_id")
    await db.responses.create_index([("round_id", 1), ("tenant", 1)])
    # Which submissions took an invitation, by message id alone: kept as long as outcomes.
    await db.submissions.create_index("expires_at", expireAfterSeconds=0)
    # The repair looks for batches of answers a crash left uncounted.
    await db.tally_batches.create_index("at_ms")
    # Life cycle: each round's recorded steps and reminders; the timers due (few pending).
    await db.round_steps.create_index("round_id")
    await db.round_reminders.create_index("round_id")
    await db.timers.create_index([("state", 1), ("due_ms", 1)])
    await db.timers.create_index("group")
    # Staff's tags on written answers, read per round and question.
    await db.text_tags.create_index([("round_id", 1), ("question", 1)])
    # The topic backlog, listed per council.
    await db.topics.create_index([("tenant", 1), ("requested_at_ms", 1)])
    # Drafts of answers not sent are forgotten after a while.
    await db.drafts.create_index("expires_at", expireAfterSeconds=0)


def create_service(
    settings: ServiceSettings | None = None, timer_settings: TimerSettings | None = None
) -> Service:
    """The rounds service, ready to start; its timer loop (opening, reminding and closing
    rounds on schedule) runs in every replica (``infra.timers``)."""
    service = Service(
        NAME,
        build_router=build_router,
        indexes=create_indexes,
        outbox_collections=["rounds", "invitations", "erasures", "sms_sessions"],
        settings=settings,
    )
    rounds = Gauge("radslag_rounds", "Rounds by state.", ["state"], registry=service.registry)
    responses = Gauge("radslag_responses", "Stored responses.", registry=service.registry)
    panelists = Gauge(
        "radslag_panelists",
        "Members in rounds' panel replica, every council (an estimate).",
        registry=service.registry,
    )
    overdue = Gauge(
        "radslag_timers_overdue",
        "Timers (rounds opening, reminding, closing) due over a minute ago and not done yet "
        f"(capped at {OVERDUE_CAP}).",
        registry=service.registry,
    )

    async def refresh(rt: Runtime) -> None:
        # Rounds are few (a handful per council and year); responses are many: estimate them.
        for state in domain.STATES:
            rounds.labels(state).set(await rt.db.rounds.count_documents({"state": state}))
        responses.set(await rt.db.responses.estimated_document_count())
        panelists.set(await rt.db.panelists.estimated_document_count())
        # Read at most OVERDUE_CAP ids: few timers are pending, and a count reads every match.
        late = {"state": "pending", "due_ms": {"$lt": epoch_ms() - 60_000}}
        found = await rt.db.timers.find(late, {"_id": 1}).limit(OVERDUE_CAP).to_list()
        overdue.set(len(found))

    service.set_gauge_refresher(refresh)
    service.in_background(reconcile_open_rounds)
    service.in_background(tallies.repair_forever)

    async def fire_timers(rt: Runtime) -> None:
        await TimerLoop(rt.db.timers, timer_actions.actions(rt), timer_settings).run()

    service.in_background(fire_timers)
    return service
