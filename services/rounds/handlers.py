"""rounds' use cases: one function per message."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.dispatch import SendMessage
from contracts.feedback import FeedbackPublished
from contracts.recruitment import MemberEnrolled, Outcome
from contracts.rounds import (
    ApproveRound,
    CloseRound,
    CreateRound,
    GetInvitation,
    GetResults,
    GetRound,
    InvitationView,
    ListRounds,
    OpenRound,
    Question,
    RecordResponse,
    ResponseOutcome,
    RoundClosed,
    RoundList,
    RoundOpened,
    RoundResults,
    RoundView,
    SubmitResponse,
)
from infra import outcomes
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, new_document, with_outbox
from infra.tokens import derived_id, new_token, token_hash
from services.rounds import domain

FAN_OUT_BATCH = 500


# --- the panel replica -------------------------------------------------------------------


async def member_enrolled(rt: Runtime, evt: MemberEnrolled) -> None:
    """Keep the member's id and background variables (never contacts) for targeting."""
    await rt.db.panelists.update_one(
        {"_id": f"{evt.tenant}:{evt.member_id}"},
        {
            "$set": {
                "tenant": evt.tenant,
                "member_id": evt.member_id,
                "birth_year": evt.birth_year,
                "gender": evt.gender,
                "district": evt.district,
                "state": "active",
            }
        },
        upsert=True,
    )


# --- the round's life cycle ------------------------------------------------------------


async def create_round(rt: Runtime, cmd: CreateRound) -> None:
    """Draft a round; a redelivered command changes nothing."""
    try:
        await rt.db.rounds.insert_one(
            {
                "_id": cmd.round_id,
                "tenant": cmd.tenant,
                "title": cmd.title,
                "purpose": cmd.purpose,
                "questions": [q.model_dump() for q in cmd.questions],
                "state": "draft",
                "invited": 0,
                "responded": 0,
                "created_at": cmd.occurred_at,
            }
        )
    except DuplicateKeyError:
        existing = await rt.db.rounds.find_one({"_id": cmd.round_id})
        if existing is not None and existing["tenant"] != cmd.tenant:
            raise Rejected("round id belongs to another council") from None


async def _transition(
    rt: Runtime, tenant: str, round_id: str, wanted: str, update: Document
) -> bool:
    """Move a round to ``wanted`` if it is in the state before; False if it already was."""
    round_doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": tenant})
    if round_doc is None:
        raise Rejected("unknown round")
    if round_doc["state"] == wanted:
        return False  # redelivery, or a second click: already done
    try:
        # NotYet propagates: the delivery is retried with back-off.
        domain.check_transition(round_doc["state"], wanted)
    except ValueError as exc:
        raise Rejected(str(exc)) from exc
    result = await rt.db.rounds.update_one(
        {"_id": round_id, "tenant": tenant, "state": round_doc["state"]}, update
    )
    if result.matched_count:
        await rt.flush("rounds", [round_id])
    return bool(result.matched_count)


async def approve_round(rt: Runtime, cmd: ApproveRound) -> None:
    """The steering group's approval."""
    await _transition(
        rt,
        cmd.tenant,
        cmd.round_id,
        "approved",
        {
            "$set": {
                "state": "approved",
                "approved_by": cmd.approved_by,
                "approved_at": cmd.occurred_at,
            }
        },
    )


async def open_round(rt: Runtime, cmd: OpenRound) -> None:
    """Open the round; the invitations follow from ``RoundOpened``."""
    await _transition(
        rt,
        cmd.tenant,
        cmd.round_id,
        "open",
        with_outbox(
            {"$set": {"state": "open", "opened_at": cmd.occurred_at}},
            RoundOpened.follow(cmd, round_id=cmd.round_id),
        ),
    )


async def invite_panel(rt: Runtime, evt: RoundOpened) -> None:
    """Invite every active member: one invitation each, with its own personal link.

    Invitation ids are ``round_id:member_id`` and each invitation mail's id is derived from
    it, so a redelivered event creates nothing twice.
    """
    round_doc = await rt.db.rounds.find_one({"_id": evt.round_id, "tenant": evt.tenant})
    if round_doc is None:
        raise Rejected("unknown round")
    if round_doc["state"] != "open":
        return  # closed meanwhile, or a replay of an old event: invite no one
    year = datetime.now(UTC).year
    batch: list[Document] = []

    async def write(docs: list[Document]) -> None:
        try:
            await rt.db.invitations.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
        await rt.flush("invitations", [d["_id"] for d in docs])

    async for member in rt.db.panelists.find({"tenant": evt.tenant, "state": "active"}):
        invitation_id = f"{evt.round_id}:{member['member_id']}"
        token = new_token()
        mail = SendMessage.follow(
            evt,
            message_id=derived_id(invitation_id, "invitation"),
            member_id=member["member_id"],
            template="round_invitation",
            params={
                "link": domain.answer_link(rt.settings.portal_url, evt.tenant, token),
                "title": round_doc["title"],
                "purpose": round_doc["purpose"],
            },
        )
        batch.append(
            new_document(
                {
                    "_id": invitation_id,
                    "tenant": evt.tenant,
                    "round_id": evt.round_id,
                    "member_id": member["member_id"],
                    "token_hash": token_hash(token),
                    "state": "invited",
                    "age_band": domain.age_band(member["birth_year"], year),
                    "gender": member["gender"],
                    "district": member["district"],
                    "invited_at": evt.occurred_at,
                },
                mail,
            )
        )
        if len(batch) >= FAN_OUT_BATCH:
            await write(batch)
            batch = []
    if batch:
        await write(batch)
    invited = await rt.db.invitations.count_documents({"round_id": evt.round_id})
    await rt.db.rounds.update_one(
        {"_id": evt.round_id, "state": "open"}, {"$set": {"invited": invited}}
    )


async def close_round(rt: Runtime, cmd: CloseRound) -> None:
    """Close the round and tell the others how it went."""
    round_doc = await rt.db.rounds.find_one({"_id": cmd.round_id, "tenant": cmd.tenant})
    if round_doc is None:
        raise Rejected("unknown round")
    if round_doc["state"] == "open":
        # Unanswered links stop working first, so no answer can slip in after the counts.
        await rt.db.invitations.update_many(
            {"round_id": cmd.round_id, "tenant": cmd.tenant, "state": "invited"},
            {"$set": {"state": "closed"}},
        )
    invited = await rt.db.invitations.count_documents({"round_id": cmd.round_id})
    responded = await rt.db.invitations.count_documents(
        {"round_id": cmd.round_id, "state": "answered"}
    )
    await _transition(
        rt,
        cmd.tenant,
        cmd.round_id,
        "closed",
        with_outbox(
            {
                "$set": {
                    "state": "closed",
                    "closed_at": cmd.occurred_at,
                    "invited": invited,
                    "responded": responded,
                }
            },
            RoundClosed.follow(
                cmd,
                round_id=cmd.round_id,
                title=round_doc["title"],
                invited=invited,
                responded=responded,
            ),
        ),
    )


# --- answering ---------------------------------------------------------------------------


async def _record_outcome(
    rt: Runtime, cmd: SubmitResponse, status: str, reason: str | None
) -> None:
    await outcomes.record(rt.db, cmd, status, reason)


async def submit_response(rt: Runtime, cmd: SubmitResponse) -> None:
    """Take one answer per personal link; a second one is refused."""
    invitation = await rt.db.invitations.find_one(
        {"tenant": cmd.tenant, "token_hash": token_hash(cmd.token)}
    )
    if invitation is None:
        await _record_outcome(rt, cmd, "refused", "unknown_token")
        return
    if invitation["state"] == "answered":
        same = invitation.get("answered_by") == cmd.message_id
        await _record_outcome(
            rt, cmd, "done" if same else "refused", None if same else "already_answered"
        )
        return
    round_doc = await rt.db.rounds.find_one({"_id": invitation["round_id"]})
    if round_doc is None or round_doc["state"] != "open":
        await _record_outcome(rt, cmd, "refused", "round_closed")
        return
    questions = [Question.model_validate(q) for q in round_doc["questions"]]
    try:
        answers = domain.check_answers(questions, cmd.answers)
    except domain.InvalidAnswers:
        await _record_outcome(rt, cmd, "refused", "invalid_answers")
        return
    # The response travels in the invitation's outbox, so marking it answered and recording
    # the response are one atomic write, and the stored response has no link back.
    # Not `follow`: a fresh correlation id and no causation id, so neither the logs nor the
    # stored response lead back from the response to this submission or its member.
    record = RecordResponse(
        tenant=cmd.tenant,
        round_id=invitation["round_id"],
        answers=answers,
        age_band=invitation["age_band"],
        gender=invitation["gender"],
        district=invitation["district"],
    )
    result = await rt.db.invitations.update_one(
        {"_id": invitation["_id"], "state": "invited"},
        with_outbox(
            {
                "$set": {
                    "state": "answered",
                    "answered_by": cmd.message_id,
                    "answered_at": datetime.now(UTC),
                }
            },
            record,
        ),
    )
    if result.matched_count == 0:
        latest = await rt.db.invitations.find_one({"_id": invitation["_id"]}, {"state": 1})
        closed = latest is not None and latest["state"] == "closed"
        await _record_outcome(rt, cmd, "refused", "round_closed" if closed else "already_answered")
        return
    await rt.flush("invitations", [invitation["_id"]])
    await _record_outcome(rt, cmd, "done", None)


async def record_response(rt: Runtime, cmd: RecordResponse) -> None:
    """Store a pseudonymous response; its id is the message's, so a redelivery is a no-op."""
    try:
        await rt.db.responses.insert_one(
            {
                "_id": cmd.message_id,
                "tenant": cmd.tenant,
                "round_id": cmd.round_id,
                "answers": cmd.answers,
                "age_band": cmd.age_band,
                "gender": cmd.gender,
                "district": cmd.district,
                # The day only: a precise time could be joined with the invitation's.
                "received_on": cmd.occurred_at.date().isoformat(),
            }
        )
    except DuplicateKeyError:
        return


async def response_outcome(rt: Runtime, q: ResponseOutcome) -> Outcome:
    """How a submission went, or pending."""
    return await outcomes.read(rt.db, q.command_id, q.tenant)


# --- feedback to the panel ---------------------------------------------------------------


async def notify_invitees(rt: Runtime, evt: FeedbackPublished) -> None:
    """Send the published feedback to everyone who was invited to the round."""
    round_doc = await rt.db.rounds.find_one({"_id": evt.round_id, "tenant": evt.tenant})
    if round_doc is None:
        raise Rejected("unknown round")
    link = f"{rt.settings.portal_url.rstrip('/')}/t/{evt.tenant}/results"
    ops: list[UpdateOne] = []
    ids: list[str] = []

    async def write() -> None:
        await rt.db.invitations.bulk_write(ops, ordered=False)
        await rt.flush("invitations", ids)
        ops.clear()
        ids.clear()

    async for invitation in rt.db.invitations.find(
        {"round_id": evt.round_id, "tenant": evt.tenant}, {"member_id": 1}
    ):
        mail = SendMessage.follow(
            evt,
            message_id=derived_id(evt.message_id, invitation["_id"]),
            member_id=invitation["member_id"],
            template="feedback_published",
            params={"title": round_doc["title"], "text": evt.text, "link": link},
        )
        # Only if not already there: a redelivery must not count the same entry twice.
        ops.append(
            UpdateOne(
                {"_id": invitation["_id"], f"outbox.{mail.message_id}": {"$exists": False}},
                with_outbox({}, mail),
            )
        )
        ids.append(invitation["_id"])
        if len(ops) >= FAN_OUT_BATCH:
            await write()
    if ops:
        await write()


# --- queries -----------------------------------------------------------------------------


async def _view(rt: Runtime, doc: Document) -> RoundView:
    """A round as staff see it; while it is open the counts are live."""
    invited, responded = doc.get("invited", 0), doc.get("responded", 0)
    if doc["state"] == "open":
        # Invitations are the one source of truth for who answered (responses are unlinked).
        invited = await rt.db.invitations.count_documents({"round_id": doc["_id"]})
        responded = await rt.db.invitations.count_documents(
            {"round_id": doc["_id"], "state": "answered"}
        )
    return RoundView(
        round_id=doc["_id"],
        title=doc["title"],
        purpose=doc["purpose"],
        state=doc["state"],
        questions=tuple(Question.model_validate(q) for q in doc["questions"]),
        invited=invited,
        responded=responded,
        created_at=doc["created_at"],
    )


async def list_rounds(rt: Runtime, q: ListRounds) -> RoundList:
    """The council's rounds, newest first."""
    docs = await rt.db.rounds.find({"tenant": q.tenant}).sort("created_at", -1).to_list()
    return RoundList(rounds=tuple([await _view(rt, d) for d in docs]))


async def get_round(rt: Runtime, q: GetRound) -> RoundView | None:
    """One round of this council, or None (also for another council's round)."""
    doc = await rt.db.rounds.find_one({"_id": q.round_id, "tenant": q.tenant})
    return None if doc is None else await _view(rt, doc)


async def get_results(rt: Runtime, q: GetResults) -> RoundResults | None:
    """Results with small cells suppressed."""
    doc = await rt.db.rounds.find_one({"_id": q.round_id, "tenant": q.tenant})
    if doc is None:
        return None
    view = await _view(rt, doc)
    respondents = [
        domain.Respondent(answers=r["answers"], age_band=r["age_band"], gender=r["gender"])
        async for r in rt.db.responses.find({"round_id": q.round_id, "tenant": q.tenant})
    ]
    return RoundResults(
        round=view,
        response_rate=domain.response_rate(view.invited, view.responded),
        suppression_threshold=domain.SUPPRESSION_THRESHOLD,
        questions=domain.question_results(view.questions, respondents),
    )


async def get_invitation(rt: Runtime, q: GetInvitation) -> InvitationView | None:
    """What the answer page shows for a personal link, or None for an unknown link."""
    invitation = await rt.db.invitations.find_one(
        {"tenant": q.tenant, "token_hash": token_hash(q.token)}
    )
    if invitation is None:
        return None
    doc = await rt.db.rounds.find_one({"_id": invitation["round_id"]})
    if doc is None:
        return None
    status = (
        "answered"
        if invitation["state"] == "answered"
        else "open"
        if doc["state"] == "open"
        else "closed"
    )
    return InvitationView(
        status=status,
        title=doc["title"],
        purpose=doc["purpose"],
        questions=tuple(Question.model_validate(x) for x in doc["questions"]),
    )
