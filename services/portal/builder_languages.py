"""The round builder's languages: which languages a round is offered in (the first is the one
its texts are written in), and each other language's texts, filled in next to the main ones.

Fields: ``main_language`` (sv, nb or en), ``language_<code>`` (checked: also offered in it),
and per language ``tr_<code>_<text>`` for the round's texts and ``tr_<code>_<key>_<field>``
for a question's (``<key>`` its stable key; options one per line, as many as the question's).
A text left empty is shown in the main language.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError

from contracts.languages import LANGUAGES, ROUND_TEXTS, RoundTranslation
from contracts.questions import Question, QuestionTranslation
from contracts.text import clean_line, clean_text
from services.portal.i18n import N_

QUESTION_TEXTS: Final = ("text", "hint", "options", "low_label", "high_label", "unit")
TEXT_NAMES: Final = {
    "title": N_("Title"),
    "purpose": N_("What the answers will be used for"),
    "introduction": N_("Introduction with facts (optional)"),
    "decision": N_("The decision the answers feed"),
    "not_promised": N_("What cannot be promised"),
    "text": N_("Question"),
    "hint": N_("Hint"),
    "options": N_("Options"),
    "low_label": N_("Scale: what the lowest value means"),
    "high_label": N_("Scale: what the highest value means"),
    "unit": N_("Unit"),
}
"""How the builder and the round's page name each text a translation can give."""
_ONE_LINE: Final = frozenset({"title", "text", "low_label", "high_label", "unit"})


def _text(name: str, raw: str) -> str:
    return clean_line(raw) if name in _ONE_LINE else clean_text(raw)


def languages_from_form(
    form: Any, questions: Sequence[Question]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The languages and translations as posted: what the draft takes (``languages``,
    ``translations``), the values to show again, and the errors by field."""
    values: dict[str, Any] = {
        name: str(value or "")
        for name, value in form.multi_items()
        if name.startswith("tr_") or name.startswith("language_") or name == "main_language"
    }
    main = values.get("main_language") or "sv"
    if main not in LANGUAGES:
        main = "sv"
    values["main_language"] = main
    languages = (main, *(c for c in LANGUAGES if c != main and values.get(f"language_{c}")))
    errors: dict[str, str] = {}
    translations: dict[str, RoundTranslation] = {}
    for code in languages[1:]:
        texts = {n: _text(n, values.get(f"tr_{code}_{n}", "")) for n in ROUND_TEXTS}
        by_key: dict[str, QuestionTranslation] = {}
        for q in questions:
            given = {n: values.get(f"tr_{code}_{q.key}_{n}", "") for n in QUESTION_TEXTS}
            options = tuple(clean_line(o) for o in given.pop("options").splitlines() if o.strip())
            if options and len(options) != len(q.options):
                errors[f"tr_{code}_{q.key}_options"] = N_(
                    "Give as many options as the question has, in the same order, or none."
                )
                options = ()
            fields = {n: _text(n, v) for n, v in given.items()}
            if options or any(fields.values()):
                by_key[q.key] = QuestionTranslation(options=options, **_fitting(fields))
        try:
            translations[code] = RoundTranslation(questions=by_key, **texts)
        except ValidationError:
            errors[f"tr_{code}_title"] = N_("A text is too long: shorten it.")
    return {"languages": languages, "translations": translations}, values, errors


def _fitting(fields: dict[str, str]) -> dict[str, str]:
    """Question texts cut to the lengths the contract takes (the form's maxlength says so)."""
    limits = {"text": 500, "hint": 500, "low_label": 100, "high_label": 100, "unit": 40}
    return {n: v[: limits[n]] for n, v in fields.items()}


def language_values(view: Any) -> dict[str, Any]:
    """A round's languages and translations as the form shows them."""
    languages = tuple(getattr(view, "languages", ()) or ("sv",))
    values: dict[str, Any] = {"main_language": languages[0]}
    for code in languages[1:]:
        values[f"language_{code}"] = "yes"
    for code, t in (getattr(view, "translations", {}) or {}).items():
        for name in ROUND_TEXTS:
            values[f"tr_{code}_{name}"] = getattr(t, name)
        for key, qt in t.questions.items():
            for name in QUESTION_TEXTS:
                value = getattr(qt, name)
                values[f"tr_{code}_{key}_{name}"] = "\n".join(value) if name == "options" else value
    return values


def missing(view: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """By other language of the round, the texts still shown in the main language, as
    (question key or '', the text's name msgid), for the round's page."""
    found = []
    for code, names in view.missing_translations().items():
        texts = []
        for name in names:
            key, _, field = name.rpartition(".")
            texts.append((key, TEXT_NAMES.get(field, field)))
        found.append((code, texts))
    return found
