"""Rules of rounds and results (pure, no I/O)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from contracts.bands import AGE_BANDS as AGE_BANDS  # re-exported: the shared bands
from contracts.bands import age_band as age_band
from contracts.rounds import BreakdownCell, OptionCount, Question, QuestionResult

SUPPRESSION_THRESHOLD = 5
"""A breakdown cell with fewer respondents than this is hidden: small groups identify people."""

MAX_FREE_TEXT = 2000
"""Longest free-text answer taken."""

GENDERS = ("female", "male", "other", "undisclosed")
OUTSIDE_BANDS = "0-15"
"""The breakdown group of respondents in no age band (members under 16): a group like the
others, suppressed like them, so totals minus the shown cells never single them out."""
LIVE_MINIMUM = 20
"""While a round is open, answers are shown only once this many have come in (before that,
only the response rate): early results would let staff watch single answers arrive."""


class InvalidAnswers(ValueError):
    """The answers do not fit the round's questions."""


def check_answers(questions: Sequence[Question], answers: Mapping[str, str]) -> dict[str, str]:
    """The answers cleaned up, or ``InvalidAnswers``; unanswered questions are allowed."""
    by_key = {q.key: q for q in questions}
    unknown = set(answers) - set(by_key)
    if unknown:
        raise InvalidAnswers(f"unknown questions: {sorted(unknown)}")
    clean: dict[str, str] = {}
    for key, value in answers.items():
        question = by_key[key]
        value = value.strip()
        if not value:
            continue
        if question.kind == "single_choice" and value not in question.options:
            raise InvalidAnswers(f"{key}: not one of the options")
        if question.kind == "free_text" and len(value) > MAX_FREE_TEXT:
            raise InvalidAnswers(f"{key}: longer than {MAX_FREE_TEXT} characters")
        clean[key] = value
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


@dataclass(frozen=True)
class Respondent:
    """One stored response: answers plus the background it was given with."""

    answers: Mapping[str, str]
    age_band: str
    gender: str


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _option_counts(options: Sequence[str], values: Iterable[str]) -> tuple[OptionCount, ...]:
    counts = Counter(values)
    total = sum(counts[o] for o in options)
    return tuple(
        OptionCount(option=o, count=counts[o], percent=_percent(counts[o], total)) for o in options
    )


def _breakdown(
    question: Question,
    groups: Sequence[str],
    respondents: Sequence[tuple[str, str]],
    threshold: int,
) -> tuple[BreakdownCell, ...]:
    """Cells per group, small ones hidden, plus enough others that none can be worked out.

    The question's totals are shown, so one hidden cell (or hidden cells adding up to fewer
    than ``threshold``) could be recovered by subtraction; the smallest shown cells are then
    hidden too (secondary suppression) until the hidden ones together are at least
    ``threshold`` or nothing is shown.
    """
    values = {g: [value for group, value in respondents if group == g] for g in groups}
    hidden = {g for g in groups if 0 < len(values[g]) < threshold}
    shown = sorted((g for g in groups if len(values[g]) >= threshold), key=lambda g: len(values[g]))
    while hidden and sum(len(values[g]) for g in hidden) < threshold and shown:
        hidden.add(shown.pop(0))
    cells = []
    for group in groups:
        if group in hidden or not values[group]:
            cells.append(BreakdownCell(group=group, respondents=None, counts=None))
        else:
            cells.append(
                BreakdownCell(
                    group=group,
                    respondents=len(values[group]),
                    counts=_option_counts(question.options, values[group]),
                )
            )
    return tuple(cells)


def question_results(
    questions: Sequence[Question],
    respondents: Sequence[Respondent],
    threshold: int = SUPPRESSION_THRESHOLD,
) -> tuple[QuestionResult, ...]:
    """Counts, percentages, free texts and suppressed breakdowns for every question."""
    results = []
    named = [name for name, _, _ in AGE_BANDS]
    bands = [OUTSIDE_BANDS, *named]

    def band(r: Respondent) -> str:
        return r.age_band if r.age_band in named else OUTSIDE_BANDS

    for q in questions:
        answered = [r for r in respondents if q.key in r.answers]
        if q.kind == "single_choice":
            options = _option_counts(q.options, (r.answers[q.key] for r in answered))
            by_age = _breakdown(
                q, bands, [(band(r), r.answers[q.key]) for r in answered], threshold
            )
            by_gender = _breakdown(
                q, GENDERS, [(r.gender, r.answers[q.key]) for r in answered], threshold
            )
            free: tuple[str, ...] = ()
        else:
            options, by_age, by_gender = (), (), ()
            # Shuffled: the order answers arrived in would link them to the times people answered.
            texts = [r.answers[q.key] for r in answered]
            random.SystemRandom().shuffle(texts)
            free = tuple(texts)
        results.append(
            QuestionResult(
                key=q.key,
                text=q.text,
                kind=q.kind,
                answered=len(answered),
                options=options,
                free_texts=free,
                by_age_band=by_age,
                by_gender=by_gender,
            )
        )
    return tuple(results)


def response_rate(invited: int, responded: int) -> float:
    """Responded as a percentage of invited."""
    return _percent(responded, invited)


def answer_link(portal_url: str, tenant: str, token: str) -> str:
    """The personal link in an invitation."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/a/{token}"
