"""Rules of rounds and results (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


LIFE_CYCLE = ("draft", "approved", "open", "closed")


class NotYet(Exception):
    """The round is at an earlier step (an earlier command may still be on its way)."""


def check_transition(state: str, wanted: str) -> None:
    """Allow one step forward; ``NotYet`` if the round is further back, ``ValueError`` if past."""
    here, there = LIFE_CYCLE.index(state), LIFE_CYCLE.index(wanted)
    if there == here + 1:
        return
    if there > here + 1:
        raise NotYet(f"a {state} round cannot become {wanted} yet")
    raise ValueError(f"a {state} round cannot become {wanted}")


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
