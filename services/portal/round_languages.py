"""A round's pages for residents in the round's languages (the answer page, the one-click pick
page, quick polls, the preview, and their status pages).

The language shown is the one the visitor asked for (``?lang=``, remembered in the portal's
language cookie) or reads the portal in, when the round has it; else the round's main language.
The round's texts come from its translation into that language (the main language's where a
text is not translated), and the page's own words from that language's catalogue. The values
posted stay the main language's option texts: only what is shown changes.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from pydantic import BaseModel

from contracts.languages import in_language
from services.portal.i18n import Catalogues

View = TypeVar("View", bound=BaseModel)


def language_of(request: Request, view: BaseModel) -> str:
    """The language to show a round's page in, for this visitor."""
    visitor = str(getattr(request.state, "lang", ""))
    languages = tuple(getattr(view, "languages", ()) or ("sv",))
    return visitor if visitor in languages else str(languages[0])


def shown(request: Request, view: View) -> tuple[View, dict[str, Any]]:
    """``view`` with its texts in the visitor's language of the round, and what ``render``
    needs besides: the page's language, the switch offering the round's languages (keeping
    the page's other parameters, e.g. ``pick`` or ``size``) and each question's option
    labels (``option_labels``)."""
    language = language_of(request, view)
    localized, labels = in_language(view, language)
    catalogues: Catalogues = request.app.state.catalogues
    languages = tuple(getattr(view, "languages", ()) or ("sv",))
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return localized, {
        "lang": language,
        "languages": [(code, catalogues.language_name(code)) for code in languages],
        "switch_query": urlencode(kept),
        "option_labels": labels,
    }
