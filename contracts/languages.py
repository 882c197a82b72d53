"""A round's languages: the main one its texts are written in, and translations of those
texts into the others (Swedish, Norwegian bokmål, English).

A translation changes only what residents read. Answers keep the main language's option
texts (the canonical values), so tallies, results, SMS and paper forms never see another
language. A text a translation leaves empty is shown in the main language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.questions import LANGUAGES as LANGUAGES
from contracts.questions import Language as Language
from contracts.questions import (
    Question,
    QuestionTranslation,
    missing_in_translation,
    option_labels,
    translated_question,
    translation_problem,
)
from contracts.text import OneLine, TrimmedText

ROUND_TEXTS: Final = ("title", "purpose", "introduction", "decision", "not_promised")
"""The round's own texts a translation gives (the promise's two: ``decision``,
``not_promised``), besides its questions'."""


class RoundTranslation(BaseModel):
    """A round's texts in one of its other languages ('' or a missing question: shown in the
    main language)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Annotated[OneLine, Field(max_length=200)] = Field(default="", description="Title.")
    purpose: Annotated[TrimmedText, Field(max_length=2000)] = Field(
        default="", description="What the answers will be used for."
    )
    introduction: Annotated[TrimmedText, Field(max_length=5000)] = Field(
        default="", description="Facts before the questions."
    )
    decision: Annotated[TrimmedText, Field(max_length=500)] = Field(
        default="", description="The promise: the decision the answers feed."
    )
    not_promised: Annotated[TrimmedText, Field(max_length=1000)] = Field(
        default="", description="The promise: what cannot be promised."
    )
    questions: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")], QuestionTranslation] = (
        Field(default_factory=dict, max_length=50, description="By question key: its texts.")
    )


class RoundLanguages(BaseModel):
    """The languages part of a round (mixed into what carries a round's texts: ``RoundAsks``,
    and the views the portal shows residents)."""

    languages: tuple[Language, ...] = Field(
        default=("sv",),
        min_length=1,
        max_length=len(LANGUAGES),
        description="The languages residents can answer in; the first is the main one, the "
        "language of the round's texts and of the answers' values.",
    )
    translations: dict[Language, RoundTranslation] = Field(
        default_factory=dict,
        description="By other language of the round: its texts in that language.",
    )

    @property
    def main_language(self) -> str:
        """The language the round's own texts are written in."""
        return self.languages[0]

    def language_for(self, *wanted: str | None) -> str:
        """The first of ``wanted`` the round is in, else its main language."""
        for language in wanted:
            if language in self.languages:
                return str(language)
        return self.main_language

    def missing_translations(self) -> dict[str, list[str]]:
        """By other language: the names of the texts still shown in the main language
        (``title``, ``decision``, ``q1.text``, ``q1.options``…); [] when complete."""
        return {
            language: missing_texts(self, self.translations.get(language))
            for language in self.languages[1:]
        }


def translation_problems(
    languages: Sequence[str],
    translations: Mapping[Any, RoundTranslation],
    questions: tuple[Question, ...],
) -> dict[str, str]:
    """What is wrong with a round's languages, by where: ``languages`` (twice the same),
    ``<lang>`` (a translation for a language the round is not in, or for its main one),
    ``<lang>.<key>`` (``unknown`` question, or ``options`` of another count)."""
    problems: dict[str, str] = {}
    if len(set(languages)) != len(languages):
        problems["languages"] = "duplicate"
    by_key = {q.key: q for q in questions}
    for language, translation in translations.items():
        if language not in languages[1:]:
            problems[language] = "not_a_language_of_the_round"
            continue
        for key, t in translation.questions.items():
            q = by_key.get(key)
            problem = "unknown" if q is None else translation_problem(q, t)
            if problem:
                problems[f"{language}.{key}"] = problem
    return problems


class InvalidLanguages(ValueError):
    """A round's languages or translations break ``translation_problems``' rules."""


class CheckedLanguages(RoundLanguages):
    """``RoundLanguages`` whose rules are checked (mixed into the commands that set them)."""

    @model_validator(mode="after")
    def _languages_follow_the_rules(self) -> Any:
        problems = translation_problems(
            self.languages, self.translations, tuple(getattr(self, "questions", ()))
        )
        if problems:
            raise InvalidLanguages(f"invalid languages: {problems}")
        return self


def missing_texts(round_texts: Any, translation: RoundTranslation | None) -> list[str]:
    """The names of the round's texts (``round_texts``: a round, its view or ask) that
    ``translation`` leaves in the main language."""
    t = translation or RoundTranslation()
    promise = getattr(round_texts, "promise", None)
    main = {
        "title": getattr(round_texts, "title", ""),
        "purpose": getattr(round_texts, "purpose", ""),
        "introduction": getattr(round_texts, "introduction", "") or "",
        "decision": getattr(promise, "decision", "") if promise is not None else "",
        "not_promised": getattr(promise, "not_promised", "") if promise is not None else "",
    }
    found = [name for name in ROUND_TEXTS if main[name] and not getattr(t, name)]
    for q in getattr(round_texts, "questions", ()):
        found += [f"{q.key}.{name}" for name in missing_in_translation(q, t.questions.get(q.key))]
    return found


Shown = TypeVar("Shown", bound=BaseModel)


def in_language(view: Shown, language: str) -> tuple[Shown, dict[str, dict[str, str]]]:
    """A round's view (anything with a round's texts and ``RoundLanguages``) with its texts in
    ``language`` where translated, and by question key the text to show for each option
    (the option itself, the value an answer carries, stays the main language's)."""
    translations = getattr(view, "translations", {}) or {}
    t = translations.get(language) if language != _main(view) else None
    questions = tuple(getattr(view, "questions", ()))
    labels = {
        q.key: option_labels(q, t.questions.get(q.key) if t else None)
        for q in questions
        if q.options
    }
    if t is None:
        return view, labels
    changes: dict[str, Any] = {
        "questions": tuple(translated_question(q, t.questions.get(q.key)) for q in questions)
    }
    for name in ("title", "purpose", "introduction"):
        if getattr(t, name) and name in type(view).model_fields:
            changes[name] = getattr(t, name)
    promise = getattr(view, "promise", None)
    if promise is not None:
        texts = {
            name: getattr(t, name) for name in ("decision", "not_promised") if getattr(t, name)
        }
        changes["promise"] = promise.model_copy(update=texts)
    return view.model_copy(update=changes), labels


def _main(view: BaseModel) -> str:
    languages = getattr(view, "languages", ()) or ("sv",)
    return str(languages[0])
