"""Staff tag written answers: tags are kept under the text's ref (never the response id),
count per tag, narrow the list, replace on a change, and stay within the council."""

from __future__ import annotations

import asyncio

from contracts.recruitment import Outcome
from contracts.rounds import AnswerTexts, ListAnswerTexts, Question, TagAnswerText
from infra.bus import publish_raw
from infra.queries import ask
from services.portal.gateway import NatsGateway
from tests.conftest import Stack, register_council
from tests.service.test_answers_under_load import T

ROUND = "tagged-round"
QUESTIONS = (
    Question(key="why", kind="free_text", text="Why?"),
    Question(key="place", kind="map", text="Where?", options=("Danger", "Nice")),
    Question(key="ok", kind="yes_no", text="OK?"),
)


async def _round_with_texts(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await rt.db.rounds.insert_one(
        {"_id": ROUND, "tenant": T, "questions": [q.model_dump() for q in QUESTIONS]}
    )
    await rt.db.responses.insert_many(
        [
            {
                "_id": f"resp-{n:02d}",
                "tenant": T,
                "round_id": ROUND,
                "answers": {
                    "why": f"Text {n}",
                    "place": [{"district": "A", "comment": f"Pin {n}a"}, {"comment": f"Pin {n}b"}],
                },
            }
            for n in range(12)
        ]
    )


async def _texts(stack: Stack, question: str, **kw: str) -> AnswerTexts:
    page = await ask(
        stack.nc,
        ListAnswerTexts(tenant=kw.pop("tenant", T), round_id=ROUND, question=question, **kw),
        AnswerTexts,
    )
    assert page is not None
    return page


async def test_staff_tag_written_answers_and_list_them_by_tag(stack: Stack) -> None:
    await _round_with_texts(stack)
    await register_council(stack, "kinda")
    rt = stack.services["rounds"].runtime
    every = await _texts(stack, "why")
    assert len(every.texts) == 12
    assert every.tags == ()
    refs = {t.text: t.ref for t in every.texts}
    assert all("resp-" not in ref for ref in refs.values())
    gateway = await NatsGateway.connect(stack.infra.login("portal"))

    def tag(ref: str, *tags: str, question: str = "why", tenant: str = T) -> TagAnswerText:
        return TagAnswerText(
            tenant=tenant, round_id=ROUND, question=question, ref=ref, tags=tags, tagged_by="anna"
        )

    commands = [
        tag(refs["Text 1"], "Lighting", "safety", "lighting"),  # a repeat in another case
        tag(refs["Text 2"], "Safety"),
        tag(refs["Text 3"], "safety"),
        tag(refs["Text 3"], "cost"),  # replaces the earlier tags
        tag(refs["Text 4"], "x", question="ok"),  # a yes/no has no written answers
        tag(refs["Text 5"], "x", question="nope"),
        tag(refs["Text 6"], "x", tenant="kinda"),
    ]
    outcomes = []
    try:
        for command in commands:
            await gateway.tag_answer_text(command)
            outcomes.append(await gateway.outcome(command.message_id, 30))
        pins = await _texts(stack, "place", search="pin 7")
        pin_b = next(t for t in pins.texts if t.text == "Pin 7b")
        assert pin_b.ref.endswith(".1")
        pin_tag = tag(pin_b.ref, "bench", question="place")
        await gateway.tag_answer_text(pin_tag)
        outcomes.append(await gateway.outcome(pin_tag.message_id, 30))
        # A redelivery of the first tagging after Text 1's tags changed changes nothing.
        later = tag(refs["Text 1"], "lighting")
        await gateway.tag_answer_text(later)
        outcomes.append(await gateway.outcome(later.message_id, 30))
        await publish_raw(
            stack.js,
            f"rounds.{T}.cmd.tag_answer_text",
            commands[0].model_dump_json().encode(),
            f"copy-{commands[0].message_id}",
        )
        await asyncio.sleep(0.5)
    finally:
        await gateway.close()
    done, unknown = Outcome(status="done"), Outcome(status="refused", reason="unknown_question")
    assert outcomes == [done, done, done, done, unknown, unknown, unknown, done, done]

    page = await _texts(stack, "why")
    by_text = {t.text: t.tags for t in page.texts}
    assert by_text["Text 1"] == ("lighting",)
    assert by_text["Text 2"] == ("Safety",)
    assert by_text["Text 3"] == ("cost",)
    assert by_text["Text 6"] == ()
    assert [(c.tag, c.count) for c in page.tags] == [("cost", 1), ("lighting", 1), ("Safety", 1)]
    only = await _texts(stack, "why", tag="SAFETY")
    assert [t.text for t in only.texts] == ["Text 2"]
    pins = await _texts(stack, "place", tag="bench")
    assert [(t.text, t.tags) for t in pins.texts] == [("Pin 7b", ("bench",))]
    # Another council sees nothing of them.
    assert (
        await ask(
            stack.nc,
            ListAnswerTexts(tenant="kinda", round_id=ROUND, question="why"),
            AnswerTexts,
        )
        is None
    )
    # No tags, no record; and no record names a response.
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        clear = tag(refs["Text 2"])
        await gateway.tag_answer_text(clear)
        assert await gateway.outcome(clear.message_id, 30) == done
    finally:
        await gateway.close()
    kept = await rt.db.text_tags.find({"round_id": ROUND}).to_list()
    assert len(kept) == 3
    assert "resp-" not in str(kept)
    assert [(c.tag, c.count) for c in (await _texts(stack, "why")).tags] == [
        ("cost", 1),
        ("lighting", 1),
    ]
