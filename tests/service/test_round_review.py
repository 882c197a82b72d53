"""The methodology review on the real stack: asked, changes asked with comments per question,
asked again and approved; a submission refused while a review is asked, after changes were asked
and after an edit that came later than the approval; redelivered commands that change nothing;
another council's round untouched; every step in the round's history with who and when."""

from __future__ import annotations

import uuid

import pytest

from contracts.round_lifecycle import SubmitRound
from contracts.round_review import ApproveMethod, AskChanges, AskReview
from contracts.rounds import CreateRound, EditRound, GetRound, Plan, Question, RoundView
from devstack.rounds import wait_for_state
from devstack.testing import wait_until
from infra.bus import Rejected, publish
from infra.queries import ask
from services.rounds import lifecycle, review
from tests.conftest import Stack, register_council

T = "gnosjo"
QUESTIONS = (
    Question(key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No")),
    Question(key="why", kind="free_text", text="Why?"),
)


async def _draft(stack: Stack, tenant: str = T) -> str:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=tenant,
            round_id=round_id,
            title="Kvällsbussar",
            purpose="Underlag.",
            questions=QUESTIONS,
            created_by="anna",
        ),
    )
    await wait_for_state(stack.nc, tenant, round_id, "draft")
    return round_id


async def _view(stack: Stack, round_id: str, tenant: str = T) -> RoundView:
    view = await ask(stack.nc, GetRound(tenant=tenant, round_id=round_id), RoundView)
    assert view is not None
    return view


async def _review_is(stack: Stack, round_id: str, status: str) -> RoundView:
    async def there() -> RoundView | None:
        view = await _view(stack, round_id)
        return view if view.review is not None and view.review.status == status else None

    return await wait_until(there, timeout=15, what=f"review {status}")


async def test_ask_changes_ask_again_approve_and_submit(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    round_id = await _draft(stack)
    assert (await _view(stack, round_id)).review is None

    asked = AskReview(tenant=T, round_id=round_id, asked_by="anna", note="Fråga 1?")
    await publish(stack.js, asked)
    view = await _review_is(stack, round_id, "asked")
    assert view.state == "draft"
    assert view.review is not None
    assert view.review.note == "Fråga 1?"
    # While a review is asked, the round cannot go to the steering group.
    with pytest.raises(Rejected, match="review"):
        await lifecycle.submit_round(rt, SubmitRound(tenant=T, round_id=round_id, submitted_by="a"))
    await review.ask_review(rt, asked)  # redelivered: nothing
    await review.ask_review(rt, AskReview(tenant=T, round_id=round_id, asked_by="anna"))

    changes = AskChanges(
        tenant=T,
        round_id=round_id,
        reviewed_by="maja",
        comment="Frågan leder.",
        question_comments={"bus": "Lägg till 'Vet inte'."},
        revision=0,
    )
    await publish(stack.js, changes)
    view = await _review_is(stack, round_id, "changes_asked")
    assert view.review is not None
    assert view.review.reviewed_by == "maja"
    assert view.review.question_comments == {"bus": "Lägg till 'Vet inte'."}
    await review.ask_changes(rt, changes)  # redelivered: nothing
    with pytest.raises(Rejected, match="review"):
        await lifecycle.submit_round(rt, SubmitRound(tenant=T, round_id=round_id, submitted_by="a"))
    # No review is asked now: an approval is refused.
    with pytest.raises(Rejected, match="no methodology review"):
        await review.approve_method(
            rt, ApproveMethod(tenant=T, round_id=round_id, reviewed_by="maja")
        )

    edit = EditRound(
        tenant=T,
        round_id=round_id,
        title="Kvällsbussar",
        purpose="Underlag.",
        questions=(
            Question(
                key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No", "?")
            ),
        ),
        edited_by="anna",
    )
    await lifecycle.edit_round(rt, edit)
    await publish(stack.js, AskReview(tenant=T, round_id=round_id, asked_by="anna"))
    await _review_is(stack, round_id, "asked")
    # The reviewer's decision names the revision read: one read before the edit is refused.
    with pytest.raises(Rejected, match="edited"):
        await review.approve_method(
            rt, ApproveMethod(tenant=T, round_id=round_id, reviewed_by="maja", revision=0)
        )
    approve = ApproveMethod(tenant=T, round_id=round_id, reviewed_by="maja", revision=1)
    await publish(stack.js, approve)
    view = await _review_is(stack, round_id, "passed")
    await review.approve_method(rt, approve)  # redelivered: nothing

    await publish(stack.js, SubmitRound(tenant=T, round_id=round_id, submitted_by="anna"))
    view = await wait_for_state(stack.nc, T, round_id, "submitted")
    steps = [(s.step, s.state, s.by) for s in view.history]
    assert steps == [
        ("created", "draft", "anna"),
        ("review_asked", "draft", "anna"),
        ("changes_asked", "draft", "maja"),
        ("edited", "draft", "anna"),
        ("review_asked", "draft", "anna"),
        ("method_approved", "draft", "maja"),
        ("submitted", "submitted", "anna"),
    ]
    assert view.history[2].comment == "Frågan leder."
    assert view.history[2].question_comments == {"bus": "Lägg till 'Vet inte'."}
    # A submitted round is the steering group's: no review step is taken on it.
    with pytest.raises(Rejected):
        await review.ask_review(rt, AskReview(tenant=T, round_id=round_id, asked_by="anna"))


async def test_an_edit_after_the_approval_needs_a_new_review(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    round_id = await _draft(stack)
    await review.ask_review(rt, AskReview(tenant=T, round_id=round_id, asked_by="anna"))
    await review.approve_method(
        rt, ApproveMethod(tenant=T, round_id=round_id, reviewed_by="maja", revision=0)
    )
    edit = EditRound(
        tenant=T,
        round_id=round_id,
        title="Kvällsbussar 2027",
        purpose="Underlag.",
        questions=QUESTIONS,
        edited_by="anna",
    )
    await lifecycle.edit_round(rt, edit)
    view = await _view(stack, round_id)
    assert view.review is not None
    assert view.review.status == "stale"
    with pytest.raises(Rejected, match="stale"):
        await lifecycle.submit_round(rt, SubmitRound(tenant=T, round_id=round_id, submitted_by="a"))
    # A round whose author never asked for a review is submitted as before.
    plain = await _draft(stack)
    await lifecycle.submit_round(rt, SubmitRound(tenant=T, round_id=plain, submitted_by="anna"))
    assert (await _view(stack, plain)).state == "submitted"


async def test_another_council_cannot_review_the_round(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    await register_council(stack, "vaxjo")
    round_id = await _draft(stack)
    with pytest.raises(Rejected, match="unknown round"):
        await review.ask_review(rt, AskReview(tenant="vaxjo", round_id=round_id, asked_by="x"))
    await review.ask_review(rt, AskReview(tenant=T, round_id=round_id, asked_by="anna"))
    with pytest.raises(Rejected, match="unknown round"):
        await review.approve_method(
            rt, ApproveMethod(tenant="vaxjo", round_id=round_id, reviewed_by="x")
        )
    with pytest.raises(Rejected, match="unknown round"):
        await review.ask_changes(
            rt, AskChanges(tenant="vaxjo", round_id=round_id, reviewed_by="x", comment="Nej.")
        )
    view = await _view(stack, round_id)
    assert view.review is not None
    assert view.review.status == "asked"
    assert await ask(stack.nc, GetRound(tenant="vaxjo", round_id=round_id), RoundView) is None


async def test_a_plan_that_needs_a_review_is_submitted_only_after_it_passed(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Kvällsbussar",
            purpose="Underlag.",
            questions=QUESTIONS,
            plan=Plan(review_needed=True),
            created_by="anna",
        ),
    )
    await wait_for_state(stack.nc, T, round_id, "draft")
    assert (await _view(stack, round_id)).plan.review_needed
    submit = SubmitRound(tenant=T, round_id=round_id, submitted_by="anna")
    with pytest.raises(Rejected, match="the plan needs a methodology review"):
        await lifecycle.submit_round(rt, submit)
    await review.ask_review(rt, AskReview(tenant=T, round_id=round_id, asked_by="anna"))
    with pytest.raises(Rejected, match="asked"):
        await lifecycle.submit_round(rt, submit)
    await review.approve_method(
        rt, ApproveMethod(tenant=T, round_id=round_id, reviewed_by="maja", revision=0)
    )
    await lifecycle.submit_round(rt, submit)
    assert (await _view(stack, round_id)).state == "submitted"
