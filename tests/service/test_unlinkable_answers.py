"""Answers cannot be traced to a member: what rounds writes when it takes an answer.

Every command rounds sends to the store while answers are taken is watched: the answers go
into the ``responses`` collection and nowhere else, not even for a moment; the invitation
(keyed by round and member) learns only that it was answered. A crash between the two writes
loses nothing and stores nothing twice. Links travel sealed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent

from contracts.recruitment import EnrolMember, Outcome
from contracts.rounds import Question, ResponseOutcome, SubmitResponse
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from infra.store import database
from services.portal.gateway import NatsGateway
from services.rounds import answers as desk
from tests.conftest import Stack
from tests.service.test_answers_under_load import MEMBERS, T, another_round, open_round

QUESTIONS = (
    Question(key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No")),
    Question(key="why", kind="free_text", text="Why?"),
)


class Commands(CommandListener):
    """Every write command sent to the store, with its target collection and body."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update", "findAndModify", "delete"):
            collection = str(event.command.get(event.command_name))
            self.sent.append((collection, json.dumps(event.command, default=str)))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


async def _outcome(stack: Stack, command_id: str) -> Outcome:
    query = ResponseOutcome(tenant=T, command_id=command_id)
    result: list[Outcome] = []

    async def settled() -> bool:
        outcome = await ask(stack.nc, query, Outcome)
        if outcome is None or outcome.status == "pending":
            return False
        result.append(outcome)
        return True

    await wait_until(settled, timeout=30, what=f"outcome of {command_id}")
    return result[0]


async def test_answers_are_written_only_as_responses_and_survive_a_crash_between_writes(
    stack: Stack, monkeypatch: Any
) -> None:
    round_id, tokens = await open_round(stack, QUESTIONS)
    rounds = stack.services["rounds"].runtime
    # Watch every write rounds makes from here on.
    watch = Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        stack.infra.mongodb_url, event_listeners=[watch]
    )
    rounds.db = database(client, "rounds")
    # The first write of responses fails, as if the process died between the two writes.
    real_insert = desk.insert_new
    crashes = {"left": 1}

    async def crashing_insert(collection: Any, docs: list[Any]) -> set[int]:
        if collection.name == "responses" and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("crash between the invitation and the response")
        return await real_insert(collection, docs)

    monkeypatch.setattr(desk, "insert_new", crashing_insert)
    try:
        marker = f"svar-{uuid.uuid4()}"
        first = SubmitResponse(tenant=T, token=tokens[0], answers={"bus": "Yes", "why": marker})
        await publish(stack.js, first)
        # Redelivered after the crash: the invitation is answered already, the response is
        # stored now, and the submission is done.
        assert (await _outcome(stack, first.message_id)).status == "done"
        assert crashes["left"] == 0

        # The same answers again through the same link, and other answers: both refused.
        again = SubmitResponse(tenant=T, token=tokens[0], answers={"bus": "Yes", "why": marker})
        other = SubmitResponse(tenant=T, token=tokens[0], answers={"bus": "No", "why": "x"})
        await publish(stack.js, again)
        await publish(stack.js, other)
        assert (await _outcome(stack, again.message_id)).reason == "already_answered"
        assert (await _outcome(stack, other.message_id)).reason == "already_answered"

        # A second answer through another link, without a crash.
        second = SubmitResponse(tenant=T, token=tokens[1], answers={"bus": "No", "why": "y"})
        await publish(stack.js, second)
        assert (await _outcome(stack, second.message_id)).status == "done"

        stored = await rounds.db.responses.find({"round_id": round_id}).to_list()
        assert sorted(r["answers"]["why"] for r in stored) == sorted([marker, "y"])
        round_doc = await rounds.db.rounds.find_one({"_id": round_id})
        assert round_doc is not None
        assert round_doc["responded"] == 2

        # The answers went to `responses` only; no other write ever carried them.
        carrying = {collection for collection, body in watch.sent if marker in body}
        assert carrying == {"responses"}
        # Nor did any write carry a submission's id or time next to an invitation.
        for collection, body in watch.sent:
            if collection == "invitations":
                assert first.message_id not in body
                assert second.message_id not in body
        answered = await rounds.db.invitations.find({"state": "answered"}).to_list()
        unanswered = await rounds.db.invitations.find_one({"state": "invited"})
        assert unanswered is not None
        assert len(answered) == 2
        assert all(set(doc) == set(unanswered) for doc in answered)
        # The response holds the coded background and the day, nothing else.
        for response in stored:
            assert set(response) >= desk.RESPONSE_FIELDS - desk.OPTIONAL_FIELDS
            assert set(response) <= desk.RESPONSE_FIELDS
            assert len(response["received_on"]) == len("2026-11-24")
            assert response["_id"] not in {d["_id"] for d in answered}
            assert response["_id"] not in json.dumps(answered, default=str)
    finally:
        await client.close()


async def test_no_working_link_is_ever_written_to_a_database(stack: Stack) -> None:
    # Watch every write of the services that make and send links, from the start.
    watch = Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        stack.infra.mongodb_url, event_listeners=[watch]
    )
    for name in ("recruitment", "rounds", "dispatch"):
        stack.services[name].runtime.db = database(client, name)
    try:
        _, tokens = await open_round(stack, QUESTIONS)
        email = "ny@example.se"
        await publish(
            stack.js,
            EnrolMember(
                tenant=T,
                member_id=str(uuid.uuid4()),
                email=email,
                birth_year=1990,
                gender="female",
                district="Centrum",
                consent_version="2026-1",
            ),
        )

        def tokens_in_mails(path: str) -> list[str]:
            items, _ = stack.devtools.mailbox.list_mails(limit=1000)
            texts = [stack.devtools.mailbox.get_mail(item.id).text for item in items]
            return re.findall(rf"/{path}/([A-Za-z0-9_-]+)", "\n".join(texts))

        await wait_until(
            lambda: tokens_in_mails("join/confirm"), timeout=30, what="the opt-in mail"
        )
        # Every mail also carries the member's own link to leave the panel.
        leave = set(tokens_in_mails("leave"))
        assert len(leave) == MEMBERS + 1
        links = [*tokens, *tokens_in_mails("join/confirm"), *leave]
        assert len(links) == 2 * MEMBERS + 2
        # The mails carry working links; no write to any database ever carried one
        # (outboxes included: they hold the links sealed).
        assert watch.sent
        leaked = [(c, t) for c, body in watch.sent for t in links if t in body]
        assert leaked == []
    finally:
        await client.close()


async def test_longitudinal_rounds_link_a_members_answers_by_a_pseudonym_only(
    stack: Stack,
) -> None:
    first_round, first_tokens = await open_round(stack, QUESTIONS, longitudinal=True)
    second_round, second_tokens = await another_round(stack, QUESTIONS, longitudinal=True)
    plain_round, plain_tokens = await another_round(stack, QUESTIONS)
    rounds = stack.services["rounds"].runtime
    # Which token belongs to which member: only the test knows, through the invitations.
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        commands = [
            SubmitResponse(tenant=T, token=token, answers={"bus": "Yes"})
            for token in (*first_tokens, *second_tokens, *plain_tokens)
        ]
        await asyncio.gather(*(gateway.submit_response(c) for c in commands))
        outcomes = await asyncio.gather(*(gateway.outcome(c.message_id, 30) for c in commands))
    finally:
        await gateway.close()
    assert all(o.status == "done" for o in outcomes)

    async def pseudonyms(round_id: str) -> list[Any]:
        return [d.get("pseudonym") async for d in rounds.db.responses.find({"round_id": round_id})]

    first, second, plain = (
        await pseudonyms(first_round),
        await pseudonyms(second_round),
        await pseudonyms(plain_round),
    )
    # Every member has one pseudonym, the same in both longitudinal rounds …
    assert len(set(first)) == MEMBERS
    assert set(first) == set(second)
    # … none in an ordinary round, and it is neither a member id nor a plain hash of one.
    assert plain == [None] * MEMBERS
    members = [d["member_id"] async for d in rounds.db.panelists.find({"tenant": T})]
    plain_hashes = {hashlib.sha256(m.encode()).hexdigest()[:40] for m in members}
    plain_hashes |= {hashlib.sha256(f"{T}:{m}".encode()).hexdigest()[:40] for m in members}
    assert not set(first) & (set(members) | plain_hashes)
    async for response in rounds.db.responses.find({"round_id": first_round}):
        assert set(response) >= desk.LONGITUDINAL_FIELDS - desk.OPTIONAL_FIELDS
        assert set(response) <= desk.LONGITUDINAL_FIELDS
