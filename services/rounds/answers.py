"""Taking answers in batches: answers that arrive together share their store round trips.

Each ``SubmitResponse`` delivery hands its command to the answer desk and awaits its own
outcome; the desk takes every submission waiting at that moment in one go:

1. one read of the links of all their tokens, one of their invitations (both by ``_id``; the
   tenant is checked against each);
2. the rounds' questions from memory (they cannot change once a round is open);
3. one ``bulk_write`` of guarded updates: invitation ``invited`` → ``answered``, carrying the
   pseudonymous ``RecordResponse`` in its outbox (the same single-document atomic write as
   before, one per answer);
4. together: the relay publishes the responses it just wrote, the outcomes are recorded, and
   the rounds' ``responded`` counters move by the number of answers actually taken.

The guarantees stay per answer: an update only matches an invitation still ``invited``, so an
answer is taken once whatever the races (a redelivery, a second replica, closing); a redelivered
submission finds its invitation answered by itself and is ``done`` again. A crash after step 3
leaves the outbox entries for the relay's sweep and the uncounted answers for
``reconcile_counts`` at the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import UpdateOne

from contracts.rounds import (
    GetInvitation,
    InvitationView,
    Question,
    RecordResponse,
    SubmitResponse,
)
from infra import outcomes
from infra.batching import Batcher
from infra.service import Runtime
from infra.store import Document, with_outbox
from infra.tokens import token_hash
from services.rounds import domain

Settled = tuple[str, str | None]
"""An answer's outcome: ``done`` or ``refused``, and the reason."""

BATCH = 256
"""Most submissions taken in one go."""


class AnswerDesk:
    """Takes ``SubmitResponse`` commands in batches for one service replica."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._batcher: Batcher[SubmitResponse, Settled] = Batcher(self._take, max_size=BATCH)

    async def submit(self, cmd: SubmitResponse) -> Settled:
        """Take one submission; returns its recorded outcome."""
        return await self._batcher.submit(cmd)

    async def _round_questions(
        self, round_ids: set[str]
    ) -> dict[str, tuple[str, tuple[Question, ...]]]:
        rounds = await opened_rounds(self._rt, round_ids)
        return {r: (doc.tenant, doc.questions) for r, doc in rounds.items()}

    async def _take(self, cmds: Sequence[SubmitResponse]) -> list[Settled]:
        db = self._rt.db
        invitations = await _links_and_invitations(self._rt, {token_hash(c.token) for c in cmds})
        rounds = await self._round_questions({d["round_id"] for d in invitations.values()})
        results: list[Settled | None] = [None] * len(cmds)
        taking: dict[str, int] = {}  # invitation id → index of the submission taking it
        updates: list[UpdateOne] = []
        written: list[tuple[str, RecordResponse]] = []
        now = datetime.now(UTC)
        first: dict[str, int] = {}  # message id → first copy in this batch
        for i, cmd in enumerate(cmds):
            if first.setdefault(cmd.message_id, i) != i:
                continue  # a second copy of one delivery: settled like the first, below
            invitation = invitations.get(token_hash(cmd.token))
            if invitation is None or invitation["tenant"] != cmd.tenant:
                results[i] = ("refused", "unknown_token")
                continue
            if invitation["state"] == "answered" or invitation["_id"] in taking:
                same = invitation.get("answered_by") == cmd.message_id
                results[i] = ("done", None) if same else ("refused", "already_answered")
                continue
            if invitation["state"] != "invited" or invitation["round_id"] not in rounds:
                results[i] = ("refused", "round_closed")
                continue
            _, questions = rounds[invitation["round_id"]]
            try:
                answers = domain.check_answers(questions, cmd.answers)
            except domain.InvalidAnswers:
                results[i] = ("refused", "invalid_answers")
                continue
            # A fresh correlation id and no causation id, so neither the logs nor the stored
            # response lead back from the response to this submission or its member.
            record = RecordResponse(
                tenant=cmd.tenant,
                round_id=invitation["round_id"],
                answers=answers,
                age_band=invitation["age_band"],
                gender=invitation["gender"],
                district=invitation["district"],
            )
            updates.append(
                UpdateOne(
                    {"_id": invitation["_id"], "tenant": cmd.tenant, "state": "invited"},
                    with_outbox(
                        {
                            "$set": {
                                "state": "answered",
                                "answered_by": cmd.message_id,
                                "answered_at": now,
                                # Not yet in the round's counter: cleared by whoever counts it.
                                "uncounted": True,
                            }
                        },
                        record,
                    ),
                )
            )
            taking[invitation["_id"]] = i
            written.append((invitation["_id"], record))
        if updates:
            result = await db.invitations.bulk_write(updates, ordered=False)
            if result.matched_count < len(updates):
                # Some lost a race (closing, another replica): ask each invitation who took it.
                written = await self._settle_races(taking, cmds, results, written)
            else:
                for index in taking.values():
                    results[index] = ("done", None)
        for i, cmd in enumerate(cmds):
            results[i] = results[first[cmd.message_id]]
        settled = [(cmd, *result) for cmd, result in zip(cmds, results, strict=True) if result]
        await asyncio.gather(
            self._rt.publish_written("invitations", written),
            outcomes.record_many(db, [(c, s, r) for c, s, r in settled]),
            self._count(written),
        )
        return [r if r is not None else ("refused", "unknown_token") for r in results]

    async def _settle_races(
        self,
        taking: dict[str, int],
        cmds: Sequence[SubmitResponse],
        results: list[Settled | None],
        written: list[tuple[str, RecordResponse]],
    ) -> list[tuple[str, RecordResponse]]:
        states = {
            doc["_id"]: doc
            async for doc in self._rt.db.invitations.find(
                {"_id": {"$in": list(taking)}}, {"state": 1, "answered_by": 1}
            )
        }
        mine: set[str] = set()
        for invitation_id, index in taking.items():
            doc = states.get(invitation_id) or {}
            if doc.get("answered_by") == cmds[index].message_id:
                results[index] = ("done", None)
                mine.add(invitation_id)
            elif doc.get("state") == "closed":
                results[index] = ("refused", "round_closed")
            else:
                results[index] = ("refused", "already_answered")
        return [(i, record) for i, record in written if i in mine]

    async def _count(self, written: list[tuple[str, RecordResponse]]) -> None:
        """Move each round's ``responded`` counter by the answers just taken."""
        by_round: dict[tuple[str, str], list[str]] = {}
        for invitation_id, record in written:
            by_round.setdefault((record.tenant, record.round_id), []).append(invitation_id)
        await asyncio.gather(
            *(
                count_answers(self._rt, tenant, round_id, {"_id": {"$in": ids}})
                for (tenant, round_id), ids in by_round.items()
            )
        )


async def count_answers(rt: Runtime, tenant: str, round_id: str, which: Document) -> int:
    """Add answered invitations not yet counted to the round's ``responded``; returns how many.

    Each invitation is taken into the count once: clearing its ``uncounted`` mark matches it
    only once, whoever tries (the answer desk right after the answer, or the repair at start),
    and the counter moves by exactly the marks cleared. A crash between the two writes leaves
    the counter short by at most one batch until the round closes and is counted afresh.
    """
    cleared = await rt.db.invitations.update_many(
        {**which, "round_id": round_id, "tenant": tenant, "uncounted": True},
        {"$unset": {"uncounted": ""}},
    )
    if cleared.modified_count:
        # Only while open: closing sets the final counts from the invitations.
        await rt.db.rounds.update_one(
            {"_id": round_id, "tenant": tenant, "state": "open"},
            {"$inc": {"responded": cleared.modified_count}},
        )
    return cleared.modified_count


@dataclass(frozen=True)
class OpenedRound:
    """What cannot change once a round has opened: its council, title, purpose, questions."""

    tenant: str
    title: str
    purpose: str
    questions: tuple[Question, ...]


async def opened_rounds(rt: Runtime, round_ids: set[str]) -> dict[str, OpenedRound]:
    """The fixed parts of rounds that have invitations (so have opened), kept in memory.

    Only asked for rounds that invitations point at: a round has invitations only once it
    opened, and nothing of these parts can be edited after that.
    """
    cache: dict[str, OpenedRound] = rt.extras.setdefault("opened_rounds", {})
    missing = [r for r in round_ids if r not in cache]
    if missing:
        async for doc in rt.db.rounds.find(
            {"_id": {"$in": missing}}, {"tenant": 1, "title": 1, "purpose": 1, "questions": 1}
        ):
            cache[doc["_id"]] = OpenedRound(
                tenant=doc["tenant"],
                title=doc["title"],
                purpose=doc["purpose"],
                questions=tuple(Question.model_validate(q) for q in doc["questions"]),
            )
    return {r: cache[r] for r in round_ids if r in cache}


async def _links_and_invitations(rt: Runtime, hashes: set[str]) -> dict[str, Document]:
    """Invitations by the hash of their link's token, each of its link's council; two reads by
    ``_id`` (a lookup by another field grows with the collection on the embedded store)."""
    links = {doc["_id"]: doc async for doc in rt.db.links.find({"_id": {"$in": list(hashes)}})}
    wanted = list({link["invitation_id"] for link in links.values()})
    by_id = {
        doc["_id"]: doc
        async for doc in rt.db.invitations.find({"_id": {"$in": wanted}}, {"outbox": 0})
    }
    return {
        h: by_id[link["invitation_id"]]
        for h, link in links.items()
        if link["invitation_id"] in by_id
        and by_id[link["invitation_id"]]["tenant"] == link["tenant"]
    }


def invitation_views(rt: Runtime) -> Batcher[GetInvitation, InvitationView | None]:
    """Answers ``GetInvitation`` queries that arrive together with two reads in all.

    The invitation's state says whether the round is still open (closing marks every
    unanswered invitation closed first); the round's fixed parts are in memory.
    """
    batcher = rt.extras.get("invitation_views")
    if batcher is None:

        async def work(queries: Sequence[GetInvitation]) -> list[InvitationView | None]:
            invitations = await _links_and_invitations(rt, {token_hash(q.token) for q in queries})
            rounds = await opened_rounds(rt, {i["round_id"] for i in invitations.values()})
            states = {"answered": "answered", "invited": "open"}
            views: list[InvitationView | None] = []
            for q in queries:
                invitation = invitations.get(token_hash(q.token))
                doc = rounds.get(invitation["round_id"]) if invitation else None
                if invitation is None or doc is None or invitation["tenant"] != q.tenant:
                    views.append(None)
                    continue
                views.append(
                    InvitationView(
                        status=states.get(invitation["state"], "closed"),
                        title=doc.title,
                        purpose=doc.purpose,
                        questions=doc.questions,
                    )
                )
            return views

        batcher = rt.extras["invitation_views"] = Batcher(work, max_size=BATCH)
    assert isinstance(batcher, Batcher)
    return batcher


def answer_desk(rt: Runtime) -> AnswerDesk:
    """The replica's answer desk (made on first use)."""
    desk = rt.extras.get("answer_desk")
    if desk is None:
        desk = rt.extras["answer_desk"] = AnswerDesk(rt)
    assert isinstance(desk, AnswerDesk)
    return desk


async def count_invitations(rt: Runtime, round_id: str) -> tuple[int, int]:
    """A round's invitations and answered invitations, counted in one pass (linear: not for
    pages or gauges; for closing and for repairs)."""
    counts: dict[str, int] = {}
    async for row in await rt.db.invitations.aggregate(
        [{"$match": {"round_id": round_id}}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
    ):
        counts[str(row["_id"])] = int(row["n"])
    return sum(counts.values()), counts.get("answered", 0)


async def reconcile_counts(rt: Runtime, round_id: str) -> None:
    """Repair an open round's counters after a crash between an answer and its count.

    ``responded`` takes the answers whose count was lost (still marked ``uncounted``);
    ``invited`` can only rise to the number of invitations (``$max``), as the fan-out's own
    running total does. Both are safe while answers keep arriving.
    """
    doc = await rt.db.rounds.find_one({"_id": round_id, "state": "open"}, {"tenant": 1})
    if doc is None:
        return
    await count_answers(rt, doc["tenant"], round_id, {})
    invited, _ = await count_invitations(rt, round_id)
    await rt.db.rounds.update_one(
        {"_id": round_id, "state": "open"}, {"$max": {"invited": invited}}
    )


async def reconcile_open_rounds(rt: Runtime) -> None:
    """Repair the counters of every open round (run in the background at start)."""
    rounds: list[Document] = await rt.db.rounds.find({"state": "open"}, {"_id": 1}).to_list()
    for doc in rounds:
        await reconcile_counts(rt, doc["_id"])
