"""A round's languages as the rounds service keeps them: stored beside its texts, returned in
every view that shows them (the answers keep the main language's option texts, so nothing
else here knows of languages)."""

from __future__ import annotations

from typing import Any

from contracts.languages import RoundLanguages, RoundTranslation
from infra.store import Document


def stored(asks: RoundLanguages) -> dict[str, Any]:
    """The fields of a round's document that keep its languages and translations."""
    return {
        "languages": list(asks.languages),
        "translations": {
            language: translation.model_dump(mode="json")
            for language, translation in asks.translations.items()
        },
    }


def of(doc: Document) -> dict[str, Any]:
    """A round document's languages and translations, as the views' fields (a round stored
    before it had languages is Swedish only)."""
    return {
        "languages": tuple(doc.get("languages") or ("sv",)),
        "translations": {
            language: RoundTranslation.model_validate(translation)
            for language, translation in (doc.get("translations") or {}).items()
        },
    }


def mail_params(doc: Document, names: tuple[str, ...]) -> dict[str, str]:
    """The round's texts ``names`` (``title``, ``purpose``, ``question``: its first
    question's) in each of its other languages, as ``<name>@<language>``, for dispatch to
    use in a member's language (``templates.render`` takes ``title@en`` over ``title`` for a
    member who reads English); texts left untranslated are left out (the main language's
    stand)."""
    main = (doc.get("languages") or ("sv",))[0]
    found: dict[str, str] = {}
    for language, raw in (doc.get("translations") or {}).items():
        if language == main:
            continue
        translation = RoundTranslation.model_validate(raw)
        for name in names:
            if name == "question":
                first = (doc.get("questions") or [{}])[0].get("key", "")
                q = translation.questions.get(first)
                value = q.text if q is not None else ""
            else:
                value = str(getattr(translation, name, "") or "")
            if value:
                found[f"{name}@{language}"] = value
    return found
