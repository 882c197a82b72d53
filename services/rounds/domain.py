"""Rules of rounds and results (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts import questions as rules
from contracts.bands import AGE_BANDS as AGE_BANDS  # re-exported: the shared bands
from contracts.bands import age_band as age_band
from contracts.rounds import Question

SUPPRESSION_THRESHOLD = 5
"""A breakdown cell with fewer respondents than this is hidden: small groups identify people."""

LIVE_MINIMUM = 20
"""While a round is open, answers are shown only once this many have come in (before that,
only the response rate): early results would let staff watch single answers arrive."""


class InvalidAnswers(ValueError):
    """The answers do not fit the round's questions."""


def check_answers(questions: Sequence[Question], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers cleaned up (contracts.questions' rules), or ``InvalidAnswers`` naming each
    problem; unanswered questions are allowed."""
    clean, problems = rules.check_answers(questions, answers)
    if problems:
        raise InvalidAnswers(", ".join(f"{k}: {v}" for k, v in sorted(problems.items())))
    return clean


STATES = (
    "draft",
    "submitted",
    "returned",
    "approved",
    "scheduled",
    "open",
    "closed",
    "published",
    "archived",
)
"""A round's life cycle (``contracts.round_lifecycle``)."""
_RANK = {
    "draft": 0,
    "returned": 0,
    "submitted": 1,
    "approved": 2,
    "scheduled": 3,
    "open": 4,
    "closed": 5,
    "published": 6,
    "archived": 7,
}
"""How far along each state is: a returned round is back with its author, like a draft."""
BEFORE_SCHEDULE = frozenset({"draft", "returned", "submitted", "approved"})
"""States in which a round has no timers."""


@dataclass(frozen=True)
class Step:
    """One kind of step: the states it is taken from, and the state it leads to (None: the
    round stays where it is, e.g. an extension)."""

    sources: tuple[str, ...]
    target: str | None


STEPS: Mapping[str, Step] = {
    "submitted": Step(("draft", "returned"), "submitted"),
    "approved": Step(("submitted",), "approved"),
    "returned": Step(("submitted",), "returned"),
    "edited": Step(("draft", "returned", "submitted", "approved", "scheduled"), None),
    "scheduled": Step(("approved",), "scheduled"),
    "extended": Step(("scheduled", "open"), None),
    "opened": Step(("scheduled",), "open"),
    "closed": Step(("open",), "closed"),
    "results_published": Step(("closed",), "published"),
    "archived": Step(("published",), "archived"),
    # The methodology review (``review``): beside the state, on a round its author holds.
    "review_asked": Step(("draft", "returned"), None),
    "method_approved": Step(("draft", "returned"), None),
    "changes_asked": Step(("draft", "returned"), None),
}
"""Every step of the life cycle by the name it is recorded under (``RoundStep.step``)."""


class NotYet(Exception):
    """The round is at an earlier step (an earlier command may still be on its way)."""


def next_state(state: str, step: str) -> str | None:
    """The state ``step`` takes a round in ``state`` to; None when it is there already (a
    second click: nothing to do). ``NotYet`` when the round is further back, ``ValueError``
    when it is past the step.

    An edit leaves a draft or returned round as it is and sends a submitted, approved or
    scheduled one back to draft: what was approved is no longer what it asks."""
    rule = STEPS[step]
    if state in rule.sources:
        if step == "edited":
            return state if state in ("draft", "returned") else "draft"
        return rule.target or state
    if state == rule.target:
        return None
    if _RANK[state] < min(_RANK[s] for s in rule.sources):
        raise NotYet(f"a {state} round cannot be {step} yet")
    raise ValueError(f"a {state} round cannot be {step}")


def response_rate(invited: int, responded: int) -> float:
    """Responded as a percentage of invited."""
    return round(100.0 * responded / invited, 1) if invited else 0.0


def answer_link(portal_url: str, tenant: str, token: str) -> str:
    """The personal link in an invitation."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/a/{token}"


YES_NO_WORDS = {"yes": "Ja / Yes", "no": "Nej / No"}


def one_click(questions: Sequence[Question]) -> bool:
    """Whether a round is answered with one click in its invitation: one question, a single
    choice or yes/no."""
    return len(questions) == 1 and questions[0].kind in ("single_choice", "yes_no")


def one_click_choices(link: str, question: Question) -> str:
    """The invitation's answer links, one line per option: the personal link with the
    option's number. Opening one only shows the choice: the answer is sent by a button on
    that page, so mail scanners that follow links answer nothing."""
    return "\n".join(
        f"{YES_NO_WORDS.get(value, value)}: {link}?pick={n}"
        for n, value in enumerate(question.values(), start=1)
    )
