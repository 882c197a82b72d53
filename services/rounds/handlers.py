"""rounds' use cases: one function per message."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from contracts.dispatch import SendMessage
from contracts.feedback import FeedbackPublished
from contracts.membership import MemberBackgroundChanged, MemberPaused, MemberResumed
from contracts.panels import MemberPanelsChanged, PanelConfigured
from contracts.personal_data import PersonalData
from contracts.recruitment import MemberEnrolled, MemberErased, Outcome
from contracts.rounds import (
    AnswerText,
    AnswerTexts,
    ApproveRound,
    CloseRound,
    CreateRound,
    GetInvitation,
    GetMemberData,
    GetResults,
    GetRound,
    InvitationView,
    ListAnswerTexts,
    ListRounds,
    MemberForgotten,
    NoteOutreach,
    OpenRound,
    OutreachNote,
    Plan,
    PreviewTarget,
    Promise,
    Question,
    ResponseOutcome,
    RoundClosed,
    RoundList,
    RoundOpened,
    RoundResults,
    RoundView,
    SaveDraft,
    SubmitResponse,
    Target,
    TargetPreview,
    Turnout,
    Weighting,
)
from infra import outcomes
from infra.batching import keep_latest
from infra.bus import Rejected, RetryLater
from infra.service import Runtime
from infra.store import Document, epoch_ms, insert_new, new_document, with_outbox
from infra.tokens import derived_id, new_token, token_hash
from services.rounds import (
    answers,
    domain,
    invitation_channels,
    languages,
    lifecycle,
    polls,
    reminders,
    results,
    review,
    schedule,
    tallies,
    targeting,
    text_tags,
    ways_to_answer,
    weighting,
)
from services.rounds.population import population_margins

FAN_OUT_BATCH = 500


# --- the panel replica -------------------------------------------------------------------


async def member_enrolled(rt: Runtime, evt: MemberEnrolled) -> None:
    """Keep the member's id and background variables (never contacts) for targeting."""
    await keep_latest(rt, "panelists", evt, _panelist)


def _panelist(e: MemberEnrolled) -> Document:
    return {
        "member_id": e.member_id,
        "birth_year": e.birth_year,
        "gender": e.gender,
        "district": e.district,
        "panels": list(e.panels),
        "topics": list(e.topics),
        "state": "active",
    }


async def member_erased(rt: Runtime, evt: MemberErased) -> None:
    """Forget an erased member: their panel entry, invitations (with any mail not yet sent)
    and links. Responses name no one, so they stay, and the rounds' counts stay as they were.
    ``MemberForgotten`` leaves from a document named after the erasure message, not the
    member."""
    await rt.db.panelists.delete_one({"_id": f"{evt.tenant}:{evt.member_id}"})
    invitations = [
        doc["_id"]
        async for doc in rt.db.invitations.find(
            {"member_id": evt.member_id, "tenant": evt.tenant}, {"_id": 1}
        )
    ]
    if invitations:
        await rt.db.links.delete_many({"invitation_id": {"$in": invitations}})
        await rt.db.sms_sessions.delete_many({"_id": {"$in": invitations}})
        await rt.db.invitations.delete_many({"_id": {"$in": invitations}})
    done = MemberForgotten.follow(evt, member_id=evt.member_id)
    await rt.send_once("erasures", derived_id(evt.message_id, "member_forgotten"), done)


async def member_data(rt: Runtime, q: GetMemberData) -> PersonalData:
    """What rounds holds about a member: the panel entry and the invitations. Not the
    answers: they were stored without the member id, so nothing leads to them."""
    panelist = await rt.db.panelists.find_one({"_id": f"{q.tenant}:{q.member_id}"})
    invitations = await rt.db.invitations.find(
        {"member_id": q.member_id, "tenant": q.tenant},
        {"round_id": 1, "state": 1, "invited_at": 1},
    ).to_list()
    titles = {
        doc["_id"]: doc["title"]
        async for doc in rt.db.rounds.find(
            {"_id": {"$in": [i["round_id"] for i in invitations]}}, {"title": 1}
        )
    }
    shown = {"invited": "not answered yet", "answered": "answered", "closed": "not answered"}
    return PersonalData(
        service="rounds",
        sections={
            "panel": [
                {
                    "birth_year": panelist.get("birth_year"),
                    "gender": panelist.get("gender"),
                    "district": panelist.get("district"),
                    "state": panelist.get("state"),
                    "paused_until": _day_of(panelist.get("paused_until_ms")),
                }
            ]
            if panelist
            else [],
            "invitations": [
                {
                    "round": titles.get(i["round_id"], i["round_id"]),
                    "invited": str(i.get("invited_at")),
                    "answer": shown.get(i["state"], i["state"]),
                }
                for i in invitations
            ],
        },
        note=(
            "Your answers are stored without your name, address or member id: nothing we "
            "keep leads from your membership to them, so they cannot be listed here."
        ),
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
                "panel": cmd.panel,
                "target": cmd.target.model_dump(mode="json"),
                "longitudinal": "yes" if cmd.longitudinal else "no",
                "public": "yes" if cmd.public else "no",
                "allow_changes": "yes" if cmd.allow_changes else "no",
                "promise": cmd.promise.model_dump(mode="json"),
                "plan": cmd.plan.model_dump(mode="json"),
                "introduction": cmd.introduction,
                **languages.stored(cmd),
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
    await lifecycle.record_created(rt, cmd)


async def approve_round(rt: Runtime, cmd: ApproveRound) -> None:
    """The steering group's approval (of the revision it read, when the command names it)."""
    await lifecycle.take_step(
        rt,
        cmd,
        cmd.round_id,
        "approved",
        by=cmd.approved_by,
        changes={"$set": {"approved_by": cmd.approved_by, "approved_at": cmd.occurred_at}},
        check=lifecycle.revision_is(cmd.revision),
    )


async def open_round(rt: Runtime, cmd: OpenRound) -> None:
    """Open the round (by hand, or its open timer); the invitations follow from
    ``RoundOpened``."""
    await lifecycle.take_step(
        rt,
        cmd,
        cmd.round_id,
        "opened",
        by=cmd.opened_by,
        changes=with_outbox(
            {"$set": {"opened_at": cmd.occurred_at}},
            RoundOpened.follow(cmd, round_id=cmd.round_id),
        ),
    )


DEFAULT_ROUNDS_CAP = 4
"""Most rounds a member is invited to in half a year, until the council sets its own."""


async def panel_configured(rt: Runtime, evt: PanelConfigured) -> None:
    """Keep the council's panel settings rounds uses (a late, older event changes nothing)."""
    at = epoch_ms(evt.occurred_at)
    await rt.db.panel_settings.update_one(
        {"_id": f"{evt.tenant}:{evt.panel}", "at_ms": {"$lt": at}},
        {
            "$set": {
                "tenant": evt.tenant,
                "max_rounds_per_half_year": evt.max_rounds_per_half_year,
                "topics": list(evt.topics),
                "at_ms": at,
            }
        },
        upsert=False,
    )
    with contextlib.suppress(DuplicateKeyError):
        await rt.db.panel_settings.insert_one(
            {
                "_id": f"{evt.tenant}:{evt.panel}",
                "tenant": evt.tenant,
                "max_rounds_per_half_year": evt.max_rounds_per_half_year,
                "topics": list(evt.topics),
                "at_ms": at,
            }
        )


async def rounds_cap(rt: Runtime, tenant: str, panel: str = "general") -> int:
    """The most rounds a member of ``panel`` is invited to in half a year."""
    doc = await rt.db.panel_settings.find_one({"_id": f"{tenant}:{panel}"})
    return int(doc["max_rounds_per_half_year"]) if doc else DEFAULT_ROUNDS_CAP


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
    if round_doc.get("public") == "yes":
        return  # a quick poll: answered from its public link, nobody is invited
    year = datetime.now(UTC).year
    batch: list[tuple[Document, SendMessage, str]] = []
    invited = 0

    async def write(items: list[tuple[Document, SendMessage, str]]) -> None:
        nonlocal invited
        # Links first: a mail never goes out before its link works. A redelivery leaves a
        # link whose token was never sent, which nobody can use.
        await insert_new(
            rt.db.links,
            [
                {"_id": token_hash(token), "tenant": evt.tenant, "invitation_id": doc["_id"]}
                for doc, _, token in items
            ],
        )
        failed = await insert_new(rt.db.invitations, [doc for doc, _, _ in items])
        # Publish the mails of the invitations this write created (no read back); those that
        # existed already keep their own pending mail for the relay's sweep.
        await rt.publish_written(
            "invitations",
            [(doc["_id"], mail) for i, (doc, mail, _) in enumerate(items) if i not in failed],
        )
        # The day counts towards each newly invited member's rounds per half-year.
        created = [doc["member_id"] for i, (doc, _, _) in enumerate(items) if i not in failed]
        if created:
            await rt.db.panelists.update_many(
                {"_id": {"$in": [f"{evt.tenant}:{m}" for m in created]}},
                {"$push": {"invited_days": opened_ms // targeting.DAY_MS}},
            )
        # Every member so far now has an invitation; $max keeps a redelivery from lowering it.
        invited += len(items)
        await rt.db.rounds.update_one(
            {"_id": evt.round_id, "state": "open"}, {"$max": {"invited": invited}}
        )

    opened_ms = epoch_ms(evt.occurred_at)
    panel = str(round_doc.get("panel") or "general")
    # The council's entries, read once (only the fields the choice needs), then chosen.
    entries = await rt.db.panelists.find(
        {"tenant": evt.tenant, "state": "active"}, targeting.FIELDS
    ).to_list()
    selection = targeting.select(
        entries,
        panel=panel,
        target=Target.model_validate(round_doc.get("target") or {}),
        cap=await rounds_cap(rt, evt.tenant, panel),
        opened_ms=opened_ms,
        year=year,
        seed=evt.round_id,
    )
    chosen = await _chosen_once(rt, evt, entries, selection.chosen)
    # A round of one choice or yes/no question is answered with one click in the mail; a
    # short round of numbered answers, by SMS for a member who prefers it.
    questions = [Question.model_validate(q) for q in round_doc["questions"]]
    answer_params = ways_to_answer.params(questions)
    # The round's texts in its other languages, for members who read one of them.
    translated = languages.mail_params(round_doc, ("title", "purpose", "question"))
    for member in chosen:
        invitation_id = f"{evt.round_id}:{member['member_id']}"
        token = new_token()
        link = domain.answer_link(rt.settings.portal_url, evt.tenant, token)
        mail = SendMessage.follow(
            evt,
            message_id=derived_id(invitation_id, "invitation"),
            member_id=member["member_id"],
            # The one-click answers and the SMS's first question pick the text (dispatch).
            template="round_invitation",
            # Dispatch's report of it names the invitation (invitation_channels).
            sender_ref=invitation_id,
            params={"title": round_doc["title"], "purpose": round_doc["purpose"]}
            | answer_params
            | translated,
            # The working links are sealed: no copy of the outbox or the queue can answer.
            sealed=rt.sealer.seal_params(ways_to_answer.sealed(questions, link)),
        )
        document = new_document(
            {
                "_id": invitation_id,
                "tenant": evt.tenant,
                "round_id": evt.round_id,
                "member_id": member["member_id"],
                "state": "invited",
                "age_band": domain.age_band(member["birth_year"], year),
                "gender": member["gender"],
                "district": member["district"],
                "invited_at": evt.occurred_at,
            },
            mail,
        )
        batch.append((document, mail, token))
        if len(batch) >= FAN_OUT_BATCH:
            await write(batch)
            batch = []
    if batch:
        await write(batch)
    # Every invitation is written: the record of the choice is no longer needed, and the
    # round's reminders may go.
    await rt.db.round_choices.delete_one({"_id": evt.round_id})
    await rt.db.rounds.update_one({"_id": evt.round_id}, {"$set": {reminders.WRITTEN: "yes"}})


async def _chosen_once(
    rt: Runtime, evt: RoundOpened, entries: list[Document], chosen: list[Document]
) -> list[Document]:
    """The members this opening invites, the same on a redelivery: the first delivery keeps
    its choice (as keyed hashes of round and member, never a member id) until the fan-out is
    done, and a later one invites those, not a new choice (the invitations written meanwhile
    change who the rules would leave out, and a new random sample would invite others)."""

    def mark(member_id: str) -> str:
        return token_hash(f"{evt.round_id}:{member_id}")

    record = {
        "_id": evt.round_id,
        "tenant": evt.tenant,
        "members": json.dumps([mark(m["member_id"]) for m in chosen]),
    }
    try:
        await rt.db.round_choices.insert_one(record)
        return chosen
    except DuplicateKeyError:
        kept = await rt.db.round_choices.find_one({"_id": evt.round_id})
    marks = set(json.loads(kept["members"])) if kept else set()
    return [m for m in entries if mark(str(m["member_id"])) in marks]


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
    # The final figures, counted once from the invitations (the live counters may lag); a
    # quick poll has none, and counts its answers as they come.
    invited, responded = await answers.count_invitations(rt, cmd.round_id)
    if round_doc.get("public") == "yes":
        responded = int(round_doc.get("responded", 0))
    turnout = await _turnout(rt, cmd.round_id)
    sent = await invitation_channels.count_sent(rt, cmd.round_id)
    await lifecycle.take_step(
        rt,
        cmd,
        cmd.round_id,
        "closed",
        by=cmd.closed_by,
        changes=with_outbox(
            {
                "$set": {
                    "closed_at": cmd.occurred_at,
                    "invited": invited,
                    "responded": responded,
                    # Who took part, by group (counted once, here): JSON text, as district
                    # names may hold characters a field name cannot.
                    "turnout_json": json.dumps(turnout),
                    **sent,
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
    # Closed (now, or before this redelivery): no reminder or closing is due any more.
    await schedule.cancel(rt, cmd.tenant, cmd.round_id)


# --- answering ---------------------------------------------------------------------------


async def submit_response(rt: Runtime, cmd: SubmitResponse) -> None:
    """Take one answer per personal link (in batches, see ``answers``); a second is refused."""
    status, reason = await answers.answer_desk(rt).submit(cmd)
    await outcomes.notify(rt.nc, cmd.message_id, cmd.tenant, status, reason)


async def save_draft(rt: Runtime, cmd: SaveDraft) -> None:
    """Keep a resident's answers so far (see ``answers.save_draft``)."""
    status, reason = await answers.save_draft(rt, cmd)
    await rt.settle(cmd, status, reason)


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


def _view(doc: Document) -> RoundView:
    """A round as staff see it; while it is open the counts are live."""
    # Counters kept in the round document, so a view costs one read at any size.
    invited, responded = doc.get("invited", 0), doc.get("responded", 0)
    return RoundView(
        round_id=doc["_id"],
        title=doc["title"],
        purpose=doc["purpose"],
        state=doc["state"],
        questions=tuple(Question.model_validate(q) for q in doc["questions"]),
        invited=invited,
        responded=responded,
        created_at=doc["created_at"],
        panel=str(doc.get("panel") or "general"),
        target=Target.model_validate(doc.get("target") or {}),
        longitudinal=doc.get("longitudinal") == "yes",
        public=doc.get("public") == "yes",
        allow_changes=doc.get("allow_changes") == "yes",
        promise=Promise.model_validate(doc.get("promise") or {}),
        plan=Plan.model_validate(doc.get("plan") or {}),
        introduction=str(doc.get("introduction") or ""),
        revision=int(doc.get("revision") or 0),
        schedule=lifecycle.schedule_of(doc),
        review=review.view_of(doc),
        topic_id=str(doc.get("topic_id") or ""),
        **languages.of(doc),
    )


async def preview_target(rt: Runtime, q: PreviewTarget) -> TargetPreview:
    """How many a round of ``q.panel`` with ``q.target`` would invite if it opened now (the
    same choice the opening makes), and how many the rules leave out."""
    entries = await rt.db.panelists.find(
        {"tenant": q.tenant, "state": "active"}, targeting.FIELDS
    ).to_list()
    now = datetime.now(UTC)
    return targeting.select(
        entries,
        panel=q.panel,
        target=q.target,
        cap=await rounds_cap(rt, q.tenant, q.panel),
        opened_ms=epoch_ms(now),
        year=now.year,
        seed=q.message_id,
    ).preview()


async def list_rounds(rt: Runtime, q: ListRounds) -> RoundList:
    """The council's rounds, newest first."""
    docs = await rt.db.rounds.find({"tenant": q.tenant}).sort("created_at", -1).to_list()
    views = [_view(d) for d in docs]
    return RoundList(rounds=tuple(v for v in views if not q.panels or v.panel in q.panels))


async def get_round(rt: Runtime, q: GetRound) -> RoundView | None:
    """One round of this council, or None (also for another council's round)."""
    doc = await rt.db.rounds.find_one({"_id": q.round_id, "tenant": q.tenant})
    if doc is None:
        return None
    return _view(doc).model_copy(
        update={
            "history": await lifecycle.history(rt, doc),
            "reminders": await reminders.reminder_views(rt, doc),
        }
    )


async def get_results(rt: Runtime, q: GetResults) -> RoundResults | None:
    """Results with small cells suppressed; while open, only the rate until enough answered."""
    doc = await rt.db.rounds.find_one({"_id": q.round_id, "tenant": q.tenant})
    if doc is None:
        return None
    view = _view(doc)
    rate = domain.response_rate(view.invited, view.responded)
    if view.state == "open" and view.responded < domain.LIVE_MINIMUM:
        return RoundResults(
            round=view,
            response_rate=rate,
            suppression_threshold=domain.SUPPRESSION_THRESHOLD,
            questions=(),
            withheld_until=domain.LIVE_MINIMUM,
        )
    kept = await tallies.kept(rt, q.tenant, q.round_id, len(view.questions))
    weights, weighting_ = None, None
    if not view.public:  # a quick poll's respondents have no background to weight by
        weights, weighting_ = await _weights(rt, q, kept)
    return RoundResults(
        round=view,
        response_rate=rate,
        suppression_threshold=domain.SUPPRESSION_THRESHOLD,
        questions=results.question_results(
            view.questions, kept, weights=weights, threshold=domain.SUPPRESSION_THRESHOLD
        ),
        weighting=weighting_,
        turnout=_turnout_view(doc),
        outreach=await _outreach(rt, q.tenant, q.round_id),
        by_day=results.by_day(kept, view.invited),
        by_channel=results.by_channel(kept),
        by_invitation=results.by_invitation(kept, view.invited, invitation_channels.sent(doc)),
        caveat=(
            polls.POLL_CAVEAT
            if view.public
            else weighting_.description_en
            if weighting_ is not None and weighting_.applied
            else SELF_SELECTED
        ),
    )


async def _weights(
    rt: Runtime, q: GetResults, kept: tallies.Cells
) -> tuple[dict[results.Cell, float] | None, Weighting | None]:
    """Post-stratification weights raked to the council's population, from the respondents'
    cells; (None, None) while the council has set no population figures."""
    population = await population_margins(rt, q.tenant)
    cells = results.respondent_cells(kept)
    if population is None or not cells:
        return None, None
    raked = weighting.rake({c: round(n) for c, n in cells.items()}, population.rows)
    place = q.place or q.tenant.capitalize()
    applied = bool(raked.dimensions)
    return (
        dict(raked.weights) if applied else None,
        Weighting(
            applied=applied,
            description=raked.describe(place, population.source, "sv"),
            description_en=raked.describe(place, population.source, "en"),
            effective_n=round(raked.effective_sample_size, 1) if applied else None,
        ),
    )


SELF_SELECTED = (
    "The panel's answers are not a survey of all residents: members chose to join, and those "
    "who answer choose to. The figures describe the panel members who answered."
)


async def list_answer_texts(rt: Runtime, q: ListAnswerTexts) -> AnswerTexts | None:
    """A page of one question's free texts (or pin comments), in the order of the responses'
    ids (hashes: an order that says nothing of who answered or when); None if no such round or
    question."""
    doc = await rt.db.rounds.find_one({"_id": q.round_id, "tenant": q.tenant}, {"questions": 1})
    if doc is None:
        return None
    question = next((x for x in doc["questions"] if x["key"] == q.question), None)
    if question is None or question["kind"] not in ("free_text", "map"):
        return None
    field = f"answers.{q.question}"
    query: Document = {"round_id": q.round_id, "tenant": q.tenant, field: {"$exists": True}}
    if q.after:
        query["_id"] = {"$gt": q.after}
    needle = q.search.casefold()
    tagged = (
        await text_tags.refs_tagged(rt, q.tenant, q.round_id, q.question, q.tag) if q.tag else None
    )
    found: list[tuple[str, str]] = []
    last: str | None = None
    # Scanned in slices of the order; a search reads on until a page is full or the end.
    cursor = rt.db.responses.find(query, {"answers": 1}).sort("_id", 1).limit(TEXT_SCAN)
    scanned = 0
    async for response in cursor:
        scanned += 1
        last = response["_id"]
        ref = _text_ref(response["_id"])
        for suffix, text in _texts_of(question["kind"], response["answers"][q.question]):
            if needle in text.casefold() and (tagged is None or ref + suffix in tagged):
                found.append((ref + suffix, text))
        if len(found) >= q.limit:
            break
    more = scanned == TEXT_SCAN or len(found) >= q.limit
    tags = await text_tags.tags_of(rt, q.tenant, q.round_id, q.question, [r for r, _ in found])
    page = [AnswerText(text=text, ref=ref, tags=tags.get(ref, ())) for ref, text in found]
    kept = await tallies.kept(rt, q.tenant, q.round_id, len(doc["questions"]))
    index = [x["key"] for x in doc["questions"]].index(q.question)
    total = round(sum(tallies.per_cell(kept.get(str(index), {}), "_").values()))
    return AnswerTexts(
        texts=tuple(page),
        next_after=last if more else None,
        total=total,
        tags=await text_tags.tag_counts(rt, q.tenant, q.round_id, q.question),
    )


TEXT_SCAN = 2000
"""Most responses one page of texts reads (a search for a rare word pages on by cursor)."""


def _texts_of(kind: str, answer: Any) -> list[tuple[str, str]]:
    """(ref suffix, text) of each text in an answer: a pin's suffix is its number."""
    if kind == "free_text":
        return [("", str(answer))]
    return [
        (f".{i}", str(pin["comment"]))
        for i, pin in enumerate(answer)
        if isinstance(pin, dict) and pin.get("comment")
    ]


def _text_ref(response_id: str) -> str:
    """A reference to a response for tagging its text: not its id (a hash of that)."""
    return token_hash(f"text:{response_id}")[:32]


DIMENSIONS = ("age_band", "gender", "district")


async def _turnout(rt: Runtime, round_id: str) -> list[list[object]]:
    """[dimension, group, invited, answered] for each group of the round's invitations, in
    one pass over them (linear: only when the round closes)."""
    cells: dict[tuple[str, str], list[int]] = {}
    cursor = await rt.db.invitations.aggregate(
        [
            {"$match": {"round_id": round_id}},
            {
                "$group": {
                    "_id": {
                        "$concat": [
                            "$age_band",
                            "|",
                            "$gender",
                            "|",
                            {"$ifNull": ["$district", ""]},
                            "|",
                            "$state",
                        ]
                    },
                    "n": {"$sum": 1},
                }
            },
        ]
    )
    async for row in cursor:
        band, gender, district, state = str(row["_id"]).split("|", 3)
        for dimension, group in zip(DIMENSIONS, (band, gender, district), strict=True):
            if not group:
                continue
            cell = cells.setdefault((dimension, group), [0, 0])
            cell[0] += int(row["n"])
            if state == "answered":
                cell[1] += int(row["n"])
    return [[d, g, n, a] for (d, g), (n, a) in sorted(cells.items())]


def _turnout_view(doc: Document) -> tuple[Turnout, ...]:
    """The closed round's turnout, groups too small to show left out."""
    rows = json.loads(doc.get("turnout_json") or "[]")
    return tuple(
        Turnout(
            dimension=d,
            group=g,
            invited=n,
            answered=a,
            rate=domain.response_rate(n, a),
        )
        for d, g, n, a in rows
        if n >= domain.SUPPRESSION_THRESHOLD
    )


async def _outreach(rt: Runtime, tenant: str, round_id: str) -> tuple[OutreachNote, ...]:
    notes = await rt.db.outreach_notes.find({"tenant": tenant, "round_id": round_id}).to_list()
    return tuple(
        OutreachNote(
            groups=n["groups"], method=n["method"], noted_by=n["noted_by"], noted_on=n["noted_on"]
        )
        for n in sorted(notes, key=lambda n: int(n["at_ms"]))
    )


async def note_outreach(rt: Runtime, cmd: NoteOutreach) -> None:
    """Keep staff's note on a round (once per command); only once it has opened."""
    doc = await rt.db.rounds.find_one({"_id": cmd.round_id, "tenant": cmd.tenant}, {"state": 1})
    if doc is None:
        await rt.settle(cmd, "refused", "unknown_round")
        return
    if doc["state"] in domain.BEFORE_SCHEDULE or doc["state"] == "scheduled":
        await rt.settle(cmd, "refused", "not_yet_open")
        return
    with contextlib.suppress(DuplicateKeyError):
        await rt.db.outreach_notes.insert_one(
            {
                "_id": cmd.message_id,
                "tenant": cmd.tenant,
                "round_id": cmd.round_id,
                "groups": cmd.groups,
                "method": cmd.method,
                "noted_by": cmd.noted_by,
                "noted_on": cmd.occurred_at.date().isoformat(),
                "at_ms": epoch_ms(cmd.occurred_at),
            }
        )
    await rt.settle(cmd, "done")


async def get_invitation(rt: Runtime, q: GetInvitation) -> InvitationView | None:
    """What the answer page shows for a personal link, or None for an unknown link.

    Asked once per answer, so asked together: see ``answers.invitation_views``."""
    return await answers.invitation_views(rt).submit(q)


# --- members' own changes (self-service) ---------------------------------------------------


def _newer(field: str, revision: int) -> Document:
    """Matches a panel entry that has not yet seen ``revision`` of ``field``'s changes."""
    return {"$or": [{field: {"$lt": revision}}, {field: {"$exists": False}}]}


async def member_background_changed(rt: Runtime, evt: MemberBackgroundChanged) -> None:
    """Keep the member's new background for later rounds' invitations and breakdowns; an
    older change delivered late changes nothing (``details_revision``)."""
    await rt.db.panelists.update_one(
        {"_id": f"{evt.tenant}:{evt.member_id}", **_newer("details_revision", evt.revision)},
        {
            "$set": {
                "birth_year": evt.birth_year,
                "gender": evt.gender,
                "district": evt.district,
                "details_revision": evt.revision,
            }
            | ({"topics": list(evt.topics)} if evt.topics is not None else {})
        },
    )


def _day_start_ms(day: str) -> int:
    return epoch_ms(datetime.fromisoformat(day).replace(tzinfo=UTC))


def _day_of(ms: object) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(str(ms)) / 1000, UTC).date().isoformat()


async def member_paused(rt: Runtime, evt: MemberPaused) -> None:
    """Leave the member out of rounds opened before the pause's day (no timer: the day
    itself ends it); an older pause or resumption delivered late changes nothing."""
    await rt.db.panelists.update_one(
        {"_id": f"{evt.tenant}:{evt.member_id}", **_newer("pause_revision", evt.revision)},
        {"$set": {"paused_until_ms": _day_start_ms(evt.until), "pause_revision": evt.revision}},
    )


async def member_panels_changed(rt: Runtime, evt: MemberPanelsChanged) -> None:
    """Invite the member to the rounds of their new panels from now on (an older change
    delivered late changes nothing)."""
    key = f"{evt.tenant}:{evt.member_id}"
    result = await rt.db.panelists.update_one(
        {"_id": key, **_newer("panels_revision", evt.revision)},
        {"$set": {"panels": list(evt.panels), "panels_revision": evt.revision}},
    )
    if not result.matched_count and await rt.db.panelists.find_one({"_id": key}) is None:
        # The enrolment has not reached rounds yet (they travel apart): try again later,
        # rather than lose the change.
        raise RetryLater("member not in the panel replica yet", 1.0)


async def member_resumed(rt: Runtime, evt: MemberResumed) -> None:
    """Invite the member again to rounds opened from now on."""
    await rt.db.panelists.update_one(
        {"_id": f"{evt.tenant}:{evt.member_id}", **_newer("pause_revision", evt.revision)},
        {"$set": {"paused_until_ms": 0, "pause_revision": evt.revision}},
    )
