"""A round's languages on real NATS and the document store: kept, returned and changed by an
edit; the answer link's view carries them; an answer is counted under the main language's
option whatever language the resident read."""

from __future__ import annotations

import uuid

from contracts.languages import RoundTranslation
from contracts.questions import QuestionTranslation
from contracts.rounds import (
    CreateRound,
    EditRound,
    GetInvitation,
    GetResults,
    GetRound,
    InvitationView,
    Promise,
    Question,
    RoundResults,
    RoundView,
    SubmitResponse,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from tests.conftest import Stack, register_council
from tests.service.test_answers_under_load import MEMBERS, T, _tokens, open_round

QUESTIONS = (
    Question(key="bus", kind="single_choice", text="Senare bussar?", options=("Ja", "Nej")),
    Question(key="nojd", kind="scale", text="Hur nöjd?", low_label="Inte", high_label="Mycket"),
)
NB = RoundTranslation(
    title="Bussene",
    purpose="Ruteplanen.",
    decision="Ruteplanen 2027",
    questions={
        "bus": QuestionTranslation(text="Senere busser?", options=("Ja", "Nei")),
        "nojd": QuestionTranslation(text="Hvor fornøyd?", high_label="Veldig"),
    },
)
EN = RoundTranslation(
    title="The buses",
    questions={"bus": QuestionTranslation(text="Later buses?", options=("Yes", "No"))},
)


async def _round(stack: Stack, round_id: str) -> RoundView | None:
    return await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)


async def test_languages_and_translations_are_kept_returned_and_edited(stack: Stack) -> None:
    await register_council(stack, T)
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id="r-lang",
            title="Bussarna",
            purpose="Linjeplanen.",
            questions=QUESTIONS,
            promise=Promise(decision="Linjeplanen 2027"),
            languages=("sv", "nb", "en"),
            translations={"nb": NB, "en": EN},
        ),
    )
    got = await wait_until(lambda: _round(stack, "r-lang"), timeout=15, what="the round")
    assert got.languages == ("sv", "nb", "en")
    assert got.translations == {"nb": NB, "en": EN}
    assert got.missing_translations()["nb"] == ["nojd.low_label"]
    assert "purpose" in got.missing_translations()["en"]

    # An edit replaces them with what it gives: here English is dropped, bokmål changed.
    changed = NB.model_copy(update={"title": "Bussene 2027"})
    await publish(
        stack.js,
        EditRound(
            tenant=T,
            round_id="r-lang",
            title="Bussarna 2027",
            purpose="Linjeplanen.",
            questions=QUESTIONS,
            edited_by="anna",
            languages=("sv", "nb"),
            translations={"nb": changed},
        ),
    )

    async def edited() -> RoundView | None:
        found = await _round(stack, "r-lang")
        return found if found is not None and found.title == "Bussarna 2027" else None

    after = await wait_until(edited, timeout=15, what="the edit")
    assert (after.languages, after.translations) == (("sv", "nb"), {"nb": changed})

    # A round created without languages is Swedish only, untranslated.
    await publish(
        stack.js,
        CreateRound(tenant=T, round_id="r-sv", title="B", purpose="P.", questions=QUESTIONS),
    )
    plain = await wait_until(lambda: _round(stack, "r-sv"), timeout=15, what="the plain round")
    assert (plain.languages, plain.translations) == (("sv",), {})


async def test_the_link_shows_the_languages_and_answers_count_under_the_main_option(
    stack: Stack,
) -> None:
    await open_round(stack)  # the council and its members
    before = set(_tokens(stack))
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Bussarna",
            purpose="Linjeplanen.",
            questions=QUESTIONS,
            languages=("sv", "nb"),
            translations={"nb": NB},
        ),
    )
    await open_now(stack.js, stack.nc, T, round_id)

    def new_tokens() -> list[str]:
        return [t for t in _tokens(stack) if t not in before]

    await wait_until(lambda: len(new_tokens()) == MEMBERS, timeout=60, what="invitations")
    token = new_tokens()[0]
    view = await ask(stack.nc, GetInvitation(tenant=T, token=token), InvitationView)
    assert view is not None
    assert (view.languages, view.translations) == (("sv", "nb"), {"nb": NB})
    # The bokmål page showed "Nei"; what it posts, and what is counted, is "Nej".
    await publish(stack.js, SubmitResponse(tenant=T, token=token, answers={"bus": "Nej"}))

    async def counted() -> RoundResults | None:
        results = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
        return results if results is not None and results.round.responded == 1 else None

    results = await wait_until(counted, timeout=30, what="the answer counted")
    assert results.round.translations == {"nb": NB}  # the view carries them here too
