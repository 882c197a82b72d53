"""No way from a response to its member: a round runs as `make up` runs it, then everything
the system keeps (every collection of every database, every log line, every message of every
stream, the dead letters) is scanned for a path between the two.

Identifiers are linked when they appear in the same document, log line or stream message; a
path of such links from anything on the response side (response ids, the answers, the
submissions' ids) to anything on the member side (member ids, addresses, invitations, links,
mails) would join a response to its member. The council and the round are shared by both
sides and are not identifiers of anyone.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from contracts.rounds import SubmitResponse
from contracts.subjects import DEAD_LETTER_STREAM
from devstack.stack import DEMO_COUNCILS, LocalStack, Ports
from infra.sealing import is_sealed
from infra.tokens import token_hash
from services.rounds.answers import OPTIONAL_FIELDS, RESPONSE_FIELDS
from tests.e2e.test_panel_round import (
    approve_and_schedule,
    link_token,
    mails_to,
    poll,
    staff_client,
)

T = "gnosjo"
MEMBERS = 12
IDENTIFIER = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids (members, messages)
    r"|[0-9a-f]{64}"  # hashes (links, responses)
    r"|[A-Za-z0-9_-]{43}"  # link tokens
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # addresses
    r"|svar-[0-9a-f]{12}"  # the answers' markers
)


TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(Path(tmp_path_factory.mktemp("unlinkable")), Ports.free())
    stack.start()
    try:
        asyncio.run(stack.seed(members_per_council=MEMBERS))
        yield stack
    finally:
        stack.stop()


class Links:
    """Union-find over identifiers that appear together somewhere."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.where: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def together(self, text: str, where: str, shared: set[str]) -> None:
        found = [x for x in set(IDENTIFIER.findall(text)) if x not in shared]
        for x in found:
            self.where.setdefault(x, where)
        for x in found[1:]:
            self.parent[self.find(x)] = self.find(found[0])


@dataclass
class Round:
    """What only this test knows: the links, the answers, who answered when."""

    round_id: str
    tokens: list[str]
    markers: list[str]
    order: list[int]
    answering: tuple[datetime, datetime]


def _run_round(system: LocalStack) -> Round:
    """Open a round, let every demo member of the council answer in a shuffled order, close
    it and publish feedback."""
    staff = staff_client(system, f"{T}-staff", T)
    reply = staff.post(
        f"/api/t/{T}/rounds",
        json={
            "title": "Skolvägar",
            "purpose": "Underlag för trafiksäkerhetsplanen.",
            "questions": [
                {
                    "key": "safe",
                    "kind": "single_choice",
                    "text": "Trygg?",
                    "options": ["Ja", "Nej"],
                },
                {"key": "why", "kind": "free_text", "text": "Varför?"},
            ],
        },
    )
    assert reply.status_code == 202, reply.text
    round_id = reply.json()["round_id"]

    def state_is(expected: str) -> bool:
        return staff.get(f"/api/t/{T}/rounds/{round_id}").json().get("state") == expected

    poll(lambda: state_is("draft"), "round drafted")
    approve_and_schedule(system, staff, round_id)
    poll(lambda: state_is("open"), "round opened by its schedule")
    addresses = [f"invanare{n + 1}@{T}.example" for n in range(MEMBERS)]

    def invitations() -> list[str] | None:
        found = []
        for address in addresses:
            mails = [m for m in mails_to(system, address) if f"/t/{T}/a/" in m["text"]]
            if not mails:
                return None
            found.append(link_token(mails[0]["text"], "a"))
        return found

    tokens = poll(invitations, "every invitation sent", timeout=60)
    public = httpx.Client(base_url=system.portal_url, timeout=10)
    markers = [f"svar-{uuid.uuid4().hex[:12]}" for _ in tokens]
    order = list(range(len(tokens)))
    random.Random(7).shuffle(order)  # answer in an order unlike the panel's
    started = datetime.now(UTC)
    for i in order:
        reply = public.post(
            f"/api/t/{T}/invitations/{tokens[i]}/response",
            json={"answers": {"safe": "Ja", "why": markers[i]}},
        )
        assert reply.status_code == 200, reply.text
    poll(
        lambda: staff.get(f"/api/t/{T}/rounds/{round_id}").json()["responded"] == MEMBERS,
        "every answer counted",
    )
    answered = datetime.now(UTC)
    assert staff.post(f"/api/t/{T}/rounds/{round_id}/close").status_code == 202
    poll(lambda: state_is("closed"), "round closed")
    assert staff.post(f"/api/t/{T}/rounds/{round_id}/publish").status_code == 202
    poll(lambda: state_is("published"), "results published")
    assert (
        staff.post(
            f"/api/t/{T}/rounds/{round_id}/feedback", json={"text": "Fler övergångsställen."}
        ).status_code
        == 202
    )
    poll(
        lambda: all(
            any("övergångsställen" in m["text"] for m in mails_to(system, a)) for a in addresses
        ),
        "feedback mails",
    )
    return Round(round_id, tokens, markers, order, (started, answered))


async def _bad_submission(system: LocalStack, token: str, marker: str) -> None:
    """A submission that cannot be read (too many answers): it is dead-lettered whole."""
    nc = await system.login().connect()
    try:
        body = json.loads(
            SubmitResponse(tenant=T, token=token, answers={"x": marker}).model_dump_json()
        )
        body["answers"] = {f"q{n}": marker for n in range(60)}
        await nc.jetstream().publish(
            f"rounds.{T}.cmd.submit_response",
            json.dumps(body).encode(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
    finally:
        await nc.close()


async def _stream_messages(system: LocalStack) -> list[tuple[str, bytes]]:
    """Every message still kept in every stream, with its stream's name."""
    nc = await system.login().connect()
    kept: list[tuple[str, bytes]] = []
    try:
        js = nc.jetstream()
        for name in await js.streams_info():
            info = await js.stream_info(name.config.name)
            for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
                try:
                    raw = await js.get_msg(info.config.name, seq)
                except Exception:
                    continue
                headers = json.dumps(raw.headers or {})
                kept.append((str(info.config.name), headers.encode() + b"\n" + (raw.data or b"")))
    finally:
        await nc.close()
    return kept


def test_no_response_can_be_joined_to_its_member(system: LocalStack) -> None:
    run = _run_round(system)
    round_id, tokens, markers, order = run.round_id, run.tokens, run.markers, run.order
    asyncio.run(_bad_submission(system, tokens[0], markers[0]))
    poll(
        lambda: "dead-lettered" in (system.logs / "rounds.log").read_text(),
        "the bad submission dead-lettered",
    )

    store: MongoClient[dict[str, Any]] = MongoClient(system.mongodb_url)
    records: list[tuple[str, str]] = []  # (where, text)
    try:
        rounds = store["radslag_rounds"]
        responses = list(rounds.responses.find({"round_id": round_id}))
        assert len(responses) == MEMBERS
        submissions = [d["_id"] for d in rounds.submissions.find({})]
        members = [d["_id"] for d in store["radslag_recruitment"].members.find({"tenant": T})]
        links = {d["_id"]: d["invitation_id"] for d in rounds.links.find({"tenant": T})}
        # Who answered when, as only this test knows it: tokens → links → invitations.
        answerers = [links[token_hash(tokens[i])].split(":", 1)[1] for i in order]
        stored_in_order: dict[str, list[str]] = {}
        for name in store.list_database_names():
            if not name.startswith("radslag_"):
                continue
            for collection in store[name].list_collection_names():
                for doc in store[name][collection].find({}):
                    text = json.dumps(doc, default=str)
                    records.append((f"{name}.{collection}", text))
                    seen = [m for m in answerers if m in text]
                    if len(seen) == 1:
                        stored_in_order.setdefault(f"{name}.{collection}", []).append(seen[0])
    finally:
        store.close()
    for log in sorted(system.logs.glob("*.log")):
        for n, line in enumerate(log.read_text(errors="replace").splitlines()):
            records.append((f"{log.name}:{n + 1}", line))
    streams = asyncio.run(_stream_messages(system))
    for stream, data in streams:
        records.append((f"stream {stream}", data.decode(errors="replace")))

    # Nothing in the clear that a copy could use: no working link, no answer outside the
    # responses, and dead letters sealed.
    dead = [data for stream, data in streams if stream == DEAD_LETTER_STREAM]
    assert dead, "the bad submission was dead-lettered"
    assert all(is_sealed(data.split(b"\n", 1)[1]) for data in dead)
    for where, text in records:
        assert not any(token in text for token in tokens), f"a working link in {where}"
        if not where.startswith("radslag_rounds.responses"):
            assert not any(marker in text for marker in markers), f"an answer in {where}"

    # The responses hold the answers, the coded background and the day; nothing else.
    for response in responses:
        assert set(response) >= RESPONSE_FIELDS - OPTIONAL_FIELDS
        assert set(response) <= RESPONSE_FIELDS
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", response["received_on"])

    # No path of shared identifiers leads from the response side to the member side.
    links_graph = Links()
    shared = {round_id, *DEMO_COUNCILS}
    for where, text in records:
        links_graph.together(text, where, shared)
    response_side = {*(r["_id"] for r in responses), *markers, *submissions}
    member_side = {*members, *links, *tokens}
    reached = {links_graph.find(x) for x in member_side}
    joined = [
        (x, links_graph.where.get(x)) for x in response_side if links_graph.find(x) in reached
    ]
    assert joined == []

    # No record about a member was written while the members answered: an answer's time
    # next to a member would pair it with the responses' stored order.
    emails = [f"invanare{n + 1}@{T}.example" for n in range(MEMBERS)]
    about_members = [*members, *links, *tokens, *emails]
    start, end = run.answering
    for where, text in records:
        if any(x in text for x in about_members):
            for stamp in TIMESTAMP.findall(text):
                at = datetime.fromisoformat(stamp.replace(" ", "T")).replace(tzinfo=UTC)
                assert not start <= at <= end, f"{where} was written while members answered"

    # Nor does any collection keep the members in the order they answered (the responses
    # are stored in that order, so such a list would pair them up).
    in_answer_order = [
        where for where, seen in stored_in_order.items() if list(dict.fromkeys(seen)) == answerers
    ]
    assert in_answer_order == []
    assert stored_in_order["radslag_rounds.invitations"]  # the check saw the invitations
