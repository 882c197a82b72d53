"""Which channel each invitation went out on, for the response rate per channel.

Dispatch decides the channel (e-mail, or SMS for a member who prefers it or has only a
number) and reports each sent message with ``MessageSent``. Rounds finds the invitation by the
id of its mail (kept on the invitation when it is written), marks its channel once, and counts
it on the open round (``sent_email``, ``sent_sms``). The answering member's invitation channel
goes with the response into the kept counters (``invited|email``), so the rate per channel is
read from counters while the round is open; closing counts the invitations afresh.
"""

from __future__ import annotations

from collections import Counter

from contracts.dispatch import MessageSent
from infra.service import Runtime

INVITATION_TEMPLATES = frozenset({"round_invitation"})
"""Templates of the messages that invite a member to a round."""
SENT = {"email": "sent_email", "sms": "sent_sms"}
"""The round's counter of invitations sent per channel."""


async def message_sent(rt: Runtime, evt: MessageSent) -> None:
    """Mark an invitation's channel the first time its mail is reported sent, and count it on
    its round while the round is open (a redelivery finds it marked and counts nothing)."""
    if evt.template not in INVITATION_TEMPLATES or evt.channel not in SENT:
        return
    before = await rt.db.invitations.find_one_and_update(
        {"mail_id": evt.send_id, "tenant": evt.tenant, "channel": None},
        {"$set": {"channel": evt.channel}},
        {"round_id": 1},
    )
    if before is None:
        return  # not an invitation of this council's, or marked before
    await rt.db.rounds.update_one(
        {"_id": before["round_id"], "tenant": evt.tenant, "state": "open"},
        {"$inc": {SENT[evt.channel]: 1}},
    )


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
