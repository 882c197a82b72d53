"""Review findings on the bus (issue 6): refused at once, never touching another council."""

from __future__ import annotations

import json
import uuid

from contracts.rounds import RoundClosed
from contracts.subjects import subject_for
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from tests.conftest import Stack


async def _summary(stack: Stack, round_id: str) -> dict[str, object] | None:
    db = stack.services["feedback"].runtime.db
    doc: dict[str, object] | None = await db.summaries.find_one({"_id": round_id})
    return doc


async def test_a_round_closed_for_another_council_cannot_move_a_summary(stack: Stack) -> None:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        RoundClosed(
            tenant="gnosjo", round_id=round_id, title="Skolvägar", invited=40, responded=12
        ),
    )

    async def kept() -> bool:
        return await _summary(stack, round_id) is not None

    await wait_until(kept, timeout=15, what="gnosjo's summary")
    # Kinda's message names gnosjo's round: refused, filed, and gnosjo's summary unchanged.
    await publish(
        stack.js,
        RoundClosed(tenant="kinda", round_id=round_id, title="Kapad", invited=1, responded=1),
    )

    async def filed() -> bool:
        letters = await list_dead_letters(stack.js)
        return any(d.subject == subject_for(RoundClosed, "kinda") for d in letters)

    await wait_until(filed, timeout=15, what="the other council's message dead-lettered")
    summary = await _summary(stack, round_id)
    assert summary is not None
    assert (summary["tenant"], summary["title"], summary["invited"]) == ("gnosjo", "Skolvägar", 40)
    letter = next(
        d for d in await list_dead_letters(stack.js) if d.subject.startswith("rounds.kinda")
    )
    assert letter.reason == "rejected"


async def test_a_message_nested_too_deeply_to_parse_is_filed_at_once(stack: Stack) -> None:
    subject = subject_for(RoundClosed, "gnosjo")
    depth = 100_000
    body = b'{"tenant": "gnosjo", "x": ' + b"[" * depth + b"]" * depth + b"}"
    await stack.js.publish(subject, body, headers={"Nats-Msg-Id": str(uuid.uuid4())})

    async def filed() -> bool:
        return any(d.subject == subject for d in await list_dead_letters(stack.js))

    # Filed on its first delivery (the retries would take minutes), as invalid.
    await wait_until(filed, timeout=15, what="the nested message dead-lettered")
    letter = next(d for d in await list_dead_letters(stack.js) if d.subject == subject)
    assert letter.reason == "invalid"
    assert letter.delivered == "1"


async def test_a_query_nested_too_deeply_is_refused_as_invalid(stack: Stack) -> None:
    depth = 100_000
    body = b'{"tenant": "gnosjo", "x": ' + b"[" * depth + b"]" * depth + b"}"
    reply = await stack.nc.request("rounds.gnosjo.qry.list_rounds", body, timeout=5)
    answer = json.loads(reply.data)
    assert answer["ok"] is False
    assert answer["error"].startswith("invalid")
