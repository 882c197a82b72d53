"""Answering by SMS, one question at a time (``SmsReceived`` from dispatch).

A short round (at most ``SMS_QUESTIONS`` questions, each single choice, scale or yes/no) goes
to a member who prefers SMS as an SMS with its first question and numbered answers; the member
replies with the number. Each valid reply moves the conversation to the next question shown
(skip logic applies), an invalid one gets a short explanation and the question again, and after
the last answer the answers are stored like any response (channel ``sms``) and the member is
thanked.

The conversation lives in ``sms_sessions`` under the invitation's id while it lasts: the step
reached and the answers so far, sealed (encrypted with the installation's keys, as personal
links are), so a copy of the database holds no answer next to a member. When the last answer
comes, the response is written unlinked (its id derives from the reply's message id) and the
session is deleted.

Each step is one guarded update of the session (conditional on the step it was at) carrying the
SMS it sends in its outbox, so a redelivered reply moves nothing twice and sends nothing twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from contracts import questions as rules
from contracts.dispatch import SendMessage, SmsReceived
from contracts.rounds import Question
from infra.service import Runtime
from infra.store import Document, new_document, with_outbox
from infra.tokens import derived_id
from services.rounds import answers, domain, tallies

SMS_QUESTIONS = 5
"""Most questions a round answered by SMS may have."""
SMS_KINDS = frozenset({"single_choice", "scale", "yes_no"})
YES_NO_SMS = {"sv": {"yes": "Ja", "no": "Nej"}, "en": {"yes": "Yes", "no": "No"}}


def sms_ready(questions: list[Question] | tuple[Question, ...]) -> bool:
    """Whether a round can be answered by SMS: a few questions, each answered with a number."""
    return 0 < len(questions) <= SMS_QUESTIONS and all(q.kind in SMS_KINDS for q in questions)


def choices_text(question: Question) -> str:
    """The numbered answers of a question, as an SMS lists them: ``1=Ja 2=Nej``."""
    labels = YES_NO_SMS["sv"]
    return " ".join(
        f"{n}={labels.get(v, v) if question.kind == 'yes_no' else v}"
        for n, v in enumerate(question.values(), start=1)
    )


def question_params(questions: list[Question], index: int) -> dict[str, str]:
    """What an SMS asking question ``index`` shows."""
    q = questions[index]
    return {
        "number": str(index + 1),
        "total": str(len(questions)),
        "question": q.text,
        "choices": choices_text(q),
    }


def invitation_params(questions: list[Question]) -> dict[str, str]:
    """What the SMS invitation of a round answered by SMS adds: its first question (under
    names of their own, as a one-click mail's ``choices`` are its personal links)."""
    first = question_params(questions, 0)
    return {
        "number": first["number"],
        "total": first["total"],
        "question": first["question"],
        "sms_choices": first["choices"],
    }


def _next(questions: list[Question], given: dict[str, Any], after: int) -> int | None:
    """The index of the next question shown after ``after`` (-1: the first), or None."""
    visible = rules.shown(questions, given)
    for index in range(after + 1, len(questions)):
        if questions[index].key in visible:
            return index
    return None


def _reply_value(question: Question, text: str) -> str | None:
    """The answer a reply names (its number, or the answer itself), or None."""
    reply = text.strip().rstrip(".").strip()
    values = question.values()
    if reply.isdigit() and 1 <= int(reply) <= len(values):
        return values[int(reply) - 1]
    lowered = reply.casefold()
    for value in values:
        shown = YES_NO_SMS["sv"].get(value, value) if question.kind == "yes_no" else value
        if lowered in (value.casefold(), shown.casefold()):
            return value
    return None


async def sms_received(rt: Runtime, evt: SmsReceived) -> None:
    """Take a member's SMS reply as the answer to the question their conversation is at."""
    invitation = await _open_sms_invitation(rt, evt)
    if invitation is None:
        return  # not an answer to anything open: nothing to do (dispatch logs what it got)
    round_doc = await rt.db.rounds.find_one(
        {"_id": invitation["round_id"], "tenant": evt.tenant}, {"questions": 1}
    )
    if round_doc is None:
        return
    questions = [Question.model_validate(q) for q in round_doc["questions"]]
    session_id = invitation["_id"]
    session = await rt.db.sms_sessions.find_one({"_id": session_id})
    if session is None:
        first = _next(questions, {}, -1)
        if first is None:
            return
        # The invitation asked the first question: the conversation starts there.
        with contextlib.suppress(DuplicateKeyError):
            await rt.db.sms_sessions.insert_one(
                new_document(
                    {
                        "_id": session_id,
                        "tenant": evt.tenant,
                        "round_id": invitation["round_id"],
                        "step": first,
                        "turn": 0,
                        "answers": rt.sealer.seal_params({"json": "{}"}),
                    }
                )
            )
        session = await rt.db.sms_sessions.find_one({"_id": session_id})
        if session is None:
            return
    if session.get("finishing") == evt.message_id:
        # This reply gave the last answer and its delivery stopped halfway: finish it.
        final = json.loads(rt.sealer.open_params(session["answers"])["json"])
        await _finish(rt, evt, invitation, questions, final, int(session["turn"]))
        return
    if session.get("last_reply") == evt.message_id or invitation["state"] != "invited":
        return  # this reply was taken already, or the round was answered another way
    given: dict[str, Any] = json.loads(rt.sealer.open_params(session["answers"])["json"])
    step, turn = int(session["step"]), int(session["turn"])
    question = questions[step]
    value = _reply_value(question, evt.text)
    guard = {"_id": session_id, "turn": turn}
    if value is None:
        explain = _sms(evt, "round_sms_invalid", turn, question_params(questions, step))
        await rt.db.sms_sessions.update_one(
            guard,
            with_outbox({"$set": {"turn": turn + 1, "last_reply": evt.message_id}}, explain),
        )
        await rt.flush("sms_sessions", [session_id])
        return
    given[question.key] = int(value) if question.kind == "scale" else value
    following = _next(questions, given, step)
    if following is not None:
        ask = _sms(evt, "round_sms_question", turn, question_params(questions, following))
        await rt.db.sms_sessions.update_one(
            guard,
            with_outbox(
                {
                    "$set": {
                        "step": following,
                        "turn": turn + 1,
                        "last_reply": evt.message_id,
                        "answers": rt.sealer.seal_params({"json": json.dumps(given)}),
                    }
                },
                ask,
            ),
        )
        await rt.flush("sms_sessions", [session_id])
        return
    # The last answer: kept with the mark of this reply before anything else is written.
    marked = await rt.db.sms_sessions.update_one(
        guard,
        {
            "$set": {
                "finishing": evt.message_id,
                "answers": rt.sealer.seal_params({"json": json.dumps(given)}),
            }
        },
    )
    if marked.matched_count:
        await _finish(rt, evt, invitation, questions, given, turn)


def _sms(evt: SmsReceived, template: str, turn: int, params: dict[str, str]) -> SendMessage:
    return SendMessage.follow(
        evt,
        message_id=derived_id(evt.message_id, template, str(turn)),
        member_id=evt.member_id,
        channel="sms",
        keep_channel=True,
        template=template,
        params=params,
    )


async def _open_sms_invitation(rt: Runtime, evt: SmsReceived) -> Document | None:
    """The member's invitation a reply answers: one whose SMS conversation is under way (or
    finishing: a crash may have come halfway), else the newest open invitation to a round
    answered by SMS."""
    invited = await rt.db.invitations.find(
        {
            "member_id": evt.member_id,
            "tenant": evt.tenant,
            "state": {"$in": ["invited", "answered"]},
        },
        {
            "round_id": 1,
            "state": 1,
            "age_band": 1,
            "gender": 1,
            "district": 1,
            "invited_at": 1,
            "channel": 1,
        },
    ).to_list()
    if not invited:
        return None
    ongoing = {
        doc["_id"]
        async for doc in rt.db.sms_sessions.find(
            {"_id": {"$in": [i["_id"] for i in invited]}, "done_ms": None}, {"_id": 1}
        )
    }
    for invitation in invited:
        if invitation["_id"] in ongoing:
            return invitation
    invited = [i for i in invited if i["state"] == "invited"]
    rounds = {
        doc["_id"]: doc
        async for doc in rt.db.rounds.find(
            {"_id": {"$in": [i["round_id"] for i in invited]}, "state": "open"},
            {"questions": 1},
        )
    }
    ready = [
        i
        for i in invited
        if i["round_id"] in rounds
        and sms_ready([Question.model_validate(q) for q in rounds[i["round_id"]]["questions"]])
    ]
    if not ready:
        return None
    return max(ready, key=lambda i: str(i.get("invited_at", "")))


async def _finish(
    rt: Runtime,
    evt: SmsReceived,
    invitation: Document,
    questions: list[Question],
    given: dict[str, Any],
    turn: int,
) -> None:
    """Store the answers as an unlinked response, take the invitation, thank the member and
    end the conversation."""
    try:
        clean = domain.check_answers(questions, given)
    except domain.InvalidAnswers:
        clean = {}
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Taken by this conversation (marked finishing before): answered now, or by this reply's
    # earlier delivery. (An answer through the web page in the very same moment would count
    # twice; the page and the SMS are not offered together in practice.)
    await rt.db.invitations.update_one(
        {"_id": invitation["_id"], "tenant": evt.tenant, "state": "invited"},
        {"$set": {"state": "answered", "uncounted": True}},
    )
    if clean:
        response: Document = {
            "_id": hashlib.sha256(f"sms:{evt.message_id}".encode()).hexdigest(),
            "tenant": evt.tenant,
            "round_id": invitation["round_id"],
            "answers": clean,
            "age_band": invitation["age_band"],
            "gender": invitation["gender"],
            "district": invitation["district"],
            "received_on": today.date().isoformat(),
            "channel": "sms",
            **answers.invited_by(invitation),
        }
        await tallies.store_one(rt, response, questions)
    await answers.count_answers(rt, evt.tenant, invitation["round_id"], {"_id": invitation["_id"]})
    thanks = _sms(evt, "round_sms_thanks", turn, {})
    # The session ends with the thanks in its outbox; the relay removes it once it is sent.
    await rt.db.sms_sessions.update_one(
        {"_id": invitation["_id"], "turn": turn},
        with_outbox(
            {
                "$set": {
                    "turn": turn + 1,
                    "last_reply": evt.message_id,
                    "finishing": "",
                    "answers": "",
                    "done_ms": int(time.time() * 1000),
                }
            },
            thanks,
        ),
    )
    await rt.flush("sms_sessions", [invitation["_id"]])
