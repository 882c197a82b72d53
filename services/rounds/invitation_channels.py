"""Which channel each invitation went out on, for the response rate per channel.

Dispatch decides the channel (e-mail, or SMS for a member who prefers it or has only a
number) and reports each sent message with ``MessageSent``, which names the invitation (the
``sender_ref`` rounds gave the mail). Rounds marks the invitation's channel once and counts it
on the open round (``sent_email``, ``sent_sms``); reports that arrive together share one read
and one write by id (a lookup by another field grows with the collection on the embedded
store). The answering member's invitation channel goes with the response into the kept
counters (``invited|email``), so the rate per channel is read from counters while the round is
open; closing counts the invitations afresh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pymongo import UpdateOne

from contracts.dispatch import MessageSent
from infra.batching import Batcher
from infra.service import Runtime

INVITATION_TEMPLATES = frozenset({"round_invitation"})
"""Templates of the messages that invite a member to a round."""
SENT = {"email": "sent_email", "sms": "sent_sms"}
"""The round's counter of invitations sent per channel."""


async def message_sent(rt: Runtime, evt: MessageSent) -> None:
    """Mark an invitation's channel the first time its mail is reported sent, and count it on
    its round while the round is open (a redelivery finds it marked and counts nothing)."""
    if evt.template not in INVITATION_TEMPLATES or evt.channel not in SENT or not evt.sender_ref:
        return
    await _marker(rt).submit(evt)


def _marker(rt: Runtime) -> Batcher[MessageSent, None]:
    batcher = rt.extras.get("invitation_channels")
    if batcher is None:

        async def work(events: Sequence[MessageSent]) -> list[None]:
            await _mark(rt, events)
            return [None] * len(events)

        batcher = rt.extras["invitation_channels"] = Batcher(work, max_size=500)
    return batcher


async def _mark(rt: Runtime, events: Sequence[MessageSent]) -> None:
    by_id = {e.sender_ref: e for e in events}
    unmarked = await rt.db.invitations.find(
        {"_id": {"$in": list(by_id)}, "channel": None}, {"tenant": 1, "round_id": 1}
    ).to_list()
    unmarked = [doc for doc in unmarked if doc["tenant"] == by_id[doc["_id"]].tenant]
    if not unmarked:
        return
    result = await rt.db.invitations.bulk_write(
        [
            UpdateOne(
                {"_id": doc["_id"], "channel": None},
                {"$set": {"channel": by_id[doc["_id"]].channel}},
            )
            for doc in unmarked
        ],
        ordered=False,
    )
    per_round: dict[str, Counter[str]] = {}
    for doc in unmarked:
        per_round.setdefault(doc["round_id"], Counter())[SENT[by_id[doc["_id"]].channel]] += 1
    if result.modified_count < len(unmarked):
        # Another replica marked some of them meanwhile: count those rounds afresh.
        for round_id in per_round:
            await rt.db.rounds.update_one(
                {"_id": round_id, "state": "open"}, {"$set": await count_sent(rt, round_id)}
            )
        return
    for round_id, counts in per_round.items():
        await rt.db.rounds.update_one({"_id": round_id, "state": "open"}, {"$inc": dict(counts)})


async def count_sent(rt: Runtime, round_id: str) -> dict[str, int]:
    """Invitations per channel, counted afresh from the invitations (when the round closes)."""
    counts: Counter[str] = Counter()
    async for doc in rt.db.invitations.find({"round_id": round_id}, {"channel": 1}):
        channel = doc.get("channel")
        if channel in SENT:
            counts[SENT[channel]] += 1
    return {field: counts.get(field, 0) for field in SENT.values()}


def sent(round_doc: dict[str, object]) -> dict[str, int]:
    """The round's invitations sent per channel, from its counters."""
    return {channel: int(str(round_doc.get(field) or 0)) for channel, field in SENT.items()}
