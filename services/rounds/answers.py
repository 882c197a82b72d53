"""Taking answers in batches: answers that arrive together share their store round trips.

Each ``SubmitResponse`` delivery hands its command to the answer desk and awaits its own
outcome; the desk takes every submission waiting at that moment in one go:

1. one read of the links of all their tokens, one of their invitations (both by ``_id``; the
   tenant is checked against each);
2. the rounds' questions from memory (they cannot change once a round is open);
3. one ``bulk_write`` of guarded updates: invitation ``invited`` → ``answered``, and nothing
   else: the invitation (keyed by round and member) never holds the answers, the time or the
   submission's id, not even for a moment;
4. one ``insert_many`` of the responses, in their own collection, each with the id
   ``response_id(token)``: a hash of the link's token apart from the link's own hash, so
   nothing in the databases leads from a response to its invitation;
5. together: the outcomes are recorded, and the rounds' ``responded`` counters move by the
   number of answers actually taken.

The guarantees stay per answer: an update only matches an invitation still ``invited``, so an
answer is taken once whatever the races (a redelivery, a second replica, closing). A crash
between steps 3 and 4 leaves an answered invitation without its response: the redelivered
submission finds it answered, finds no response under its id, and stores it then. A
submission through an answered link whose response exists is the same submission again if
the answers are the same (``done``), else a second one (``already_answered``). The uncounted
answers a crash leaves are counted by ``reconcile_counts`` at the next start.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne

from contracts import questions as rules
from contracts.rounds import (
    GetInvitation,
    InvitationView,
    Promise,
    Question,
    SaveDraft,
    SubmitResponse,
)
from infra import outcomes
from infra.batching import Batcher
from infra.service import Runtime
from infra.store import Document, insert_new
from infra.tokens import token_hash
from services.rounds import domain, languages, tallies

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
        round_ids = {d["round_id"] for d in invitations.values()}
        rounds = await self._round_questions(round_ids)
        longitudinal = {
            r for r, doc in (await opened_rounds(self._rt, round_ids)).items() if doc.longitudinal
        }
        results: list[Settled | None] = [None] * len(cmds)
        taking: dict[str, int] = {}  # invitation id → index of the submission taking it
        updates: list[UpdateOne] = []
        responses: dict[int, Document] = {}  # submission index → its response
        taken: dict[str, tuple[str, str]] = {}  # invitation id → council and round, to count
        answered_before: dict[int, str] = {}  # submission index → its answered invitation
        day = datetime.now(UTC).date().isoformat()
        first: dict[str, int] = {}  # message id → first copy in this batch
        for i, cmd in enumerate(cmds):
            if first.setdefault(cmd.message_id, i) != i:
                continue  # a second copy of one delivery: settled like the first, below
            invitation = invitations.get(token_hash(cmd.token))
            if invitation is None or invitation["tenant"] != cmd.tenant:
                results[i] = ("refused", "unknown_token")
                continue
            if invitation["_id"] in taking:
                results[i] = ("refused", "already_answered")
                continue
            state = invitation["state"]
            if state not in ("invited", "answered") or invitation["round_id"] not in rounds:
                results[i] = ("refused", "round_closed")
                continue
            _, questions = rounds[invitation["round_id"]]
            try:
                answers = domain.check_answers(questions, cmd.answers)
            except domain.InvalidAnswers:
                results[i] = ("refused", "invalid_answers")
                continue
            responses[i] = _response(cmd, invitation, answers, day)
            if invitation["round_id"] in longitudinal:
                responses[i]["pseudonym"] = pseudonym(
                    self._rt, cmd.tenant, str(invitation["member_id"])
                )
            if state == "answered":
                answered_before[i] = invitation["_id"]
                continue  # taken before, by this submission (then crashed) or another: below
            # The invitation learns only that it was answered: no answers, no time, no
            # submission id. Its answers are written next, into a document of their own.
            updates.append(
                UpdateOne(
                    {"_id": invitation["_id"], "tenant": cmd.tenant, "state": "invited"},
                    # Not yet in the round's counter: cleared by whoever counts it.
                    {"$set": {"state": "answered", "uncounted": True}},
                )
            )
            taking[invitation["_id"]] = i
        if updates:
            result = await db.invitations.bulk_write(updates, ordered=False)
            if result.matched_count < len(updates):
                await self._settle_races(taking, results, responses)
        for invitation_id, i in taking.items():
            if results[i] is None:
                taken[invitation_id] = (responses[i]["tenant"], responses[i]["round_id"])
        opened = await opened_rounds(self._rt, round_ids)
        await self._store(
            cmds,
            responses,
            results,
            fresh={taking[i] for i in taken},
            questions={r: doc[1] for r, doc in rounds.items()},
            changeable={r for r, doc in opened.items() if doc.allow_changes},
        )
        for i, invitation_id in answered_before.items():
            if results[i] == ("done", None):
                # Taken by a delivery that crashed before counting: counted once, here or by
                # the repair at start, whichever clears the mark first.
                taken[invitation_id] = (responses[i]["tenant"], responses[i]["round_id"])
        for i, cmd in enumerate(cmds):
            results[i] = results[first[cmd.message_id]]
        settled = [(cmd, *result) for cmd, result in zip(cmds, results, strict=True) if result]
        sent = [draft_id(c.token) for c, status, _ in settled if status == "done"]
        await asyncio.gather(
            outcomes.record_many(db, [(c, s, r) for c, s, r in settled]),
            self._count(taken),
            # The answers are sent: drafts kept for their links are no longer needed.
            db.drafts.delete_many({"_id": {"$in": sent}}) if sent else asyncio.sleep(0),
        )
        return [r if r is not None else ("refused", "unknown_token") for r in results]

    async def _settle_races(
        self, taking: dict[str, int], results: list[Settled | None], responses: dict[int, Document]
    ) -> None:
        """Some invitations were no longer ``invited`` at the write (closing, another replica):
        a closed one refuses; an answered one is settled like any answered one, by its
        response (``_store``)."""
        states = {
            doc["_id"]: doc["state"]
            async for doc in self._rt.db.invitations.find(
                {"_id": {"$in": list(taking)}}, {"state": 1}
            )
        }
        for invitation_id, index in list(taking.items()):
            state = states.get(invitation_id)
            if state == "answered":
                del taking[invitation_id]  # answered, but maybe not by this write
            elif state != "invited":
                results[index] = ("refused", "round_closed")
                del responses[index]
                del taking[invitation_id]

    async def _store(
        self,
        cmds: Sequence[SubmitResponse],
        responses: dict[int, Document],
        results: list[Settled | None],
        fresh: set[int],
        questions: dict[str, tuple[Question, ...]],
        changeable: Collection[str] = (),
    ) -> None:
        """Write the responses of the answers taken and settle every submission left.

        ``fresh`` submissions took their invitation just now. Each is first marked in
        ``submissions`` (by its message id, nothing else), then its response is written. A
        submission whose invitation was answered before is, by its mark, the one that took it
        and crashed before its response was stored (store it now: ``done``), or else a second
        submission (``already_answered``). An answered invitation with neither a mark nor a
        response is one whose taker crashed before marking: this submission stores its
        answers, so no accepted answer is lost.
        """
        again = [i for i in responses if i not in fresh and results[i] is None]
        mine = set(fresh)
        marks: set[str] = set()
        existing: set[str] = set()
        if again:
            marked, stored = await asyncio.gather(
                self._rt.db.submissions.find(
                    {"_id": {"$in": [cmds[i].message_id for i in again]}}, {"_id": 1}
                ).to_list(),
                self._rt.db.responses.find(
                    {"_id": {"$in": [responses[i]["_id"] for i in again]}}, {"_id": 1}
                ).to_list(),
            )
            marks = {d["_id"] for d in marked}
            existing = {d["_id"] for d in stored}
            for i in again:
                if cmds[i].message_id in marks or responses[i]["_id"] not in existing:
                    mine.add(i)
                elif responses[i]["round_id"] in changeable:
                    # Answered before, and the round lets answers change until it closes.
                    results[i] = await self._change(
                        responses[i], questions[responses[i]["round_id"]]
                    )
                else:
                    results[i] = ("refused", "already_answered")
        if not mine:
            return
        # The day only, as for outcomes: a mark must not tell when a resident answered.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        expires = today + timedelta(seconds=outcomes.RETENTION_SECONDS)
        # Stored in a random order, so the order of a batch tells nothing of who came first.
        order = [i for i in mine if responses[i]["_id"] not in existing]
        random.shuffle(order)
        # Counted into the round's kept results exactly once (services.rounds.tallies).
        batch = tallies.new_batch()
        storing = [{**responses[i], "tally": batch} for i in order]
        # The submissions' marks and the batch's record both precede the responses (one
        # round trip for the two: neither needs the other).
        await asyncio.gather(
            insert_new(
                self._rt.db.submissions,
                [{"_id": cmds[i].message_id, "expires_at": expires} for i in mine],
            ),
            tallies.open_batch(self._rt, batch, storing) if storing else asyncio.sleep(0),
        )
        clashed = await insert_new(self._rt.db.responses, storing)
        if storing:
            stored = [doc for position, doc in enumerate(storing) if position not in clashed]
            await tallies.settle_batch(self._rt, batch, questions, stored)
        for position, i in enumerate(order):
            # A clash on a response id that this submission did not take: another one stored
            # it in between (a crash window, see above), so this one is the second.
            if position in clashed and i not in fresh and cmds[i].message_id not in marks:
                results[i] = ("refused", "already_answered")
        for i in mine:
            if results[i] is None:
                results[i] = ("done", None)

    async def _change(
        self, new: Document, questions: tuple[Question, ...]
    ) -> tuple[str, str | None]:
        """Replace an answered link's answers (a round that allows changes): the response
        keeps its id and takes the new answers, and the kept counters move by the difference
        (``previous`` holds the old answers until the batch is counted). Guarded by the
        response's version, so two changes at once cannot both apply."""
        db = self._rt.db
        doc = await db.responses.find_one({"_id": new["_id"], "tenant": new["tenant"]})
        if doc is None or doc.get("tally"):
            return ("refused", "try_again")  # still being stored or counted: a moment later
        version = int(doc.get("version") or 0)
        batch = tallies.new_batch()
        await tallies.open_batch(self._rt, batch, [doc])
        changed = await db.responses.find_one_and_update(
            {"_id": doc["_id"], "version": version or None, "tally": None},
            {
                "$set": {
                    "answers": new["answers"],
                    "previous": doc["answers"],
                    "tally": batch,
                    "version": version + 1,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if changed is None:
            await db.tally_batches.delete_one({"_id": batch})
            return ("refused", "try_again")
        await tallies.settle_batch(self._rt, batch, {doc["round_id"]: questions}, [changed])
        return ("done", None)

    async def _count(self, taken: dict[str, tuple[str, str]]) -> None:
        """Move each round's ``responded`` counter by the answers just taken."""
        by_round: dict[tuple[str, str], list[str]] = {}
        for invitation_id, tenant_and_round in taken.items():
            by_round.setdefault(tenant_and_round, []).append(invitation_id)
        await asyncio.gather(
            *(
                count_answers(self._rt, tenant, round_id, {"_id": {"$in": ids}})
                for (tenant, round_id), ids in by_round.items()
            )
        )


def draft_id(token: str) -> str:
    """The id of the draft kept for a link: a hash of its token apart from the link's own and
    the response's, so it leads to neither."""
    return hashlib.sha256(f"draft:{token}".encode()).hexdigest()


def response_id(token: str) -> str:
    """A response's id: a hash of its link's token, apart from the link's own hash.

    Only the link's holder can compute it, and nothing stored leads from one hash to the
    other, so it ties a response to nothing in the databases; yet a redelivered or repeated
    submission through the same link finds the response it already wrote.
    """
    return hashlib.sha256(f"response:{token}".encode()).hexdigest()


RESPONSE_FIELDS = frozenset(
    {
        "_id",
        "tenant",
        "round_id",
        "answers",
        "age_band",
        "gender",
        "district",
        "received_on",
        "channel",
        # The channel the invitation went out on (email or sms), for the rate per channel.
        "invited_by",
    }
)
OPTIONAL_FIELDS = frozenset({"invited_by"})
"""Fields a response holds only when known (the invitation's channel, once dispatch told)."""
LONGITUDINAL_FIELDS = RESPONSE_FIELDS | {"pseudonym"}
"""A longitudinal round's response holds its member's pseudonym too."""


def pseudonym(rt: Runtime, tenant: str, member_id: str) -> str:
    """The member's pseudonym in longitudinal rounds: a keyed hash of council and member id.

    The same member gets the same one in every longitudinal round of the council, so their
    answers can be followed over time; without the key (held by the process, never in a
    database) it leads to no one, and it is never the member id or a plain hash of it.
    """
    key = rt.extras.get("pseudonym_key")
    if key is None:
        secret = rt.settings.pseudonym_key
        if secret is not None:
            key = secret.get_secret_value().encode()
        else:
            oldest = rt.settings.seal_keys.split(",")[-1].strip()
            key = hmac.new(oldest.encode(), b"radslag pseudonyms", hashlib.sha256).digest()
        rt.extras["pseudonym_key"] = key
    return hmac.new(key, f"{tenant}:{member_id}".encode(), hashlib.sha256).hexdigest()[:40]


"""Everything a stored response holds: the answers, the coded background, the day and the
channel (and, for a moment, ``tally``: the random id of the batch counting it)."""


def _response(
    cmd: SubmitResponse, invitation: Document, answers: dict[str, Any], day: str
) -> Document:
    """The pseudonymous response: answers and the coded background the breakdowns use."""
    return {
        "_id": response_id(cmd.token),
        "tenant": cmd.tenant,
        "round_id": invitation["round_id"],
        "answers": answers,
        "age_band": invitation["age_band"],
        "gender": invitation["gender"],
        "district": invitation["district"],
        # The day only: a precise time could be matched with the logs.
        "received_on": day,
        "channel": cmd.channel,
        **invited_by(invitation),
    }


def invited_by(invitation: Document) -> Document:
    """The channel the member's invitation went out on, for the rate per channel (none while
    dispatch has not reported it)."""
    channel = invitation.get("channel")
    return {"invited_by": channel} if channel else {}


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
    longitudinal: bool = False
    allow_changes: bool = False
    promise: Promise | None = None
    introduction: str = ""
    language_fields: dict[str, Any] = field(default_factory=dict)
    """The view fields of its languages and translations (``languages.of``)."""


async def opened_rounds(rt: Runtime, round_ids: set[str]) -> dict[str, OpenedRound]:
    """The fixed parts of rounds that have invitations (so have opened), kept in memory.

    Only asked for rounds that invitations point at: a round has invitations only once it
    opened, and nothing of these parts can be edited after that.
    """
    cache: dict[str, OpenedRound] = rt.extras.setdefault("opened_rounds", {})
    missing = [r for r in round_ids if r not in cache]
    if missing:
        async for doc in rt.db.rounds.find(
            {"_id": {"$in": missing}},
            {
                "tenant": 1,
                "title": 1,
                "purpose": 1,
                "questions": 1,
                "longitudinal": 1,
                "allow_changes": 1,
                "promise": 1,
                "introduction": 1,
                "languages": 1,
                "translations": 1,
            },
        ):
            cache[doc["_id"]] = OpenedRound(
                tenant=doc["tenant"],
                title=doc["title"],
                purpose=doc["purpose"],
                questions=tuple(Question.model_validate(q) for q in doc["questions"]),
                longitudinal=doc.get("longitudinal") == "yes",
                allow_changes=doc.get("allow_changes") == "yes",
                promise=Promise.model_validate(doc.get("promise") or {}),
                introduction=str(doc.get("introduction") or ""),
                language_fields=languages.of(doc),
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
            saved = await _saved_answers(rt, queries, invitations, rounds)
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
                        changeable=invitation["state"] == "answered" and doc.allow_changes,
                        promise=doc.promise or Promise(),
                        introduction=doc.introduction,
                        answers=saved.get(q.token, {}),
                        **doc.language_fields,
                    )
                )
            return views

        batcher = rt.extras["invitation_views"] = Batcher(work, max_size=BATCH)
    assert isinstance(batcher, Batcher)
    return batcher


async def _saved_answers(
    rt: Runtime,
    queries: Sequence[GetInvitation],
    invitations: dict[str, Document],
    rounds: dict[str, OpenedRound],
) -> dict[str, dict[str, Any]]:
    """By token: the draft kept for an open link, or the answers given through an answered
    link of a round that lets them change (two reads by ``_id`` for the whole batch)."""
    drafts: dict[str, str] = {}
    given: dict[str, str] = {}
    for q in queries:
        invitation = invitations.get(token_hash(q.token))
        if invitation is None or invitation["tenant"] != q.tenant:
            continue
        if invitation["state"] == "invited":
            drafts[draft_id(q.token)] = q.token
        elif invitation["state"] == "answered":
            opened = rounds.get(invitation["round_id"])
            if opened is not None and opened.allow_changes:
                given[response_id(q.token)] = q.token
    found: dict[str, dict[str, Any]] = {}
    for collection, wanted in (("drafts", drafts), ("responses", given)):
        if wanted:
            async for doc in rt.db[collection].find({"_id": {"$in": list(wanted)}}, {"answers": 1}):
                found[wanted[doc["_id"]]] = dict(doc.get("answers") or {})
    return found


async def save_draft(rt: Runtime, cmd: SaveDraft) -> tuple[str, str | None]:
    """Keep the answers so far of an open link, those that fit (nothing is counted)."""
    invitations = await _links_and_invitations(rt, {token_hash(cmd.token)})
    invitation = invitations.get(token_hash(cmd.token))
    if invitation is None or invitation["tenant"] != cmd.tenant:
        return ("refused", "unknown_token")
    if invitation["state"] != "invited":
        return (
            "refused",
            "already_answered" if invitation["state"] == "answered" else "round_closed",
        )
    opened = (await opened_rounds(rt, {invitation["round_id"]})).get(invitation["round_id"])
    if opened is None:
        return ("refused", "round_closed")
    clean, _ = rules.check_answers(opened.questions, cmd.answers)
    expires = datetime.now(UTC) + timedelta(days=DRAFT_DAYS)
    key = draft_id(cmd.token)
    await rt.db.drafts.replace_one(
        {"_id": key},
        {"_id": key, "tenant": cmd.tenant, "answers": clean, "expires_at": expires},
        upsert=True,
    )
    return ("done", None)


DRAFT_DAYS = 60
"""Drafts are forgotten after this many days (or as soon as the answers are sent)."""


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
