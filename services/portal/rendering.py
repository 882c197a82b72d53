"""Server-rendered HTML: the Jinja2 environment, its translation and formatting, ``render``."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from services.portal import builder_languages, results_charts
from services.portal.domain import (
    ANSWER_CHANNELS,
    GENDERS,
    HEARD_FROM,
    INVITATION_CHANNELS,
    ROUND_STATES,
    SELF_SELECTED,
    YES_NO_LABELS,
)
from services.portal.i18n import Catalogues
from services.portal.round_builder import KINDS as QUESTION_KINDS

TEMPLATE_DIR = Path(__file__).parent / "templates"
TIMEZONE = ZoneInfo("Europe/Stockholm")
_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def build_environment(catalogues: Catalogues) -> Environment:
    """The template environment, translating into the ``lang`` of each render's context."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True

    @pass_context
    def gettext(context: Context, message: str) -> str:
        return catalogues.gettext(context.get("lang", catalogues.default), message)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
        return catalogues.ngettext(context.get("lang", catalogues.default), singular, plural, n)

    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]

    @pass_context
    def translate(context: Context, message: str) -> str:
        # For msgids that come from code (marked with N_ there), not literal in a template.
        return catalogues.gettext(context.get("lang", catalogues.default), message)

    @pass_context
    def number(context: Context, value: float) -> str:
        return format_decimal(value, locale=context.get("lang", catalogues.default))

    @pass_context
    def percent(context: Context, value: float) -> str:
        share = Decimal(str(round(value, 1))) / 100
        return format_percent(
            share, locale=context.get("lang", catalogues.default), decimal_quantization=False
        )

    @pass_context
    def when(context: Context, value: datetime | None) -> str:
        if value is None:
            return ""
        lang = context.get("lang", catalogues.default)
        local = value.astimezone(TIMEZONE)
        day = format_date(local, "medium", locale=lang)
        return f"{day} {format_time(local, 'HH:mm', locale=lang)}"

    @pass_context
    def answer_label(context: Context, value: str, question: Any) -> str:
        """An answer as the resident reads it: yes/no translated, an option in the page's
        language of the round (``option_labels``, see ``round_languages``), others as they are."""
        labels = (context.get("option_labels") or {}).get(getattr(question, "key", None)) or {}
        if value in labels:
            return str(labels[value])
        if getattr(question, "kind", None) == "yes_no":
            return translate(context, YES_NO_LABELS.get(value, value))
        return str(value)

    @pass_context
    def question_chart(context: Context, question: Any, n: int, table_id: str) -> Markup:
        """The SVG chart of a question's figures, described by the table ``table_id``."""
        lang = context.get("lang", catalogues.default)
        return results_charts.question_chart(
            question, n, table_id, lambda m: catalogues.gettext(lang, m), lang
        )

    @pass_context
    def day_chart(context: Context, by_day: Any, table_id: str) -> Markup:
        """The SVG chart of answers per day, described by the table ``table_id``."""
        lang = context.get("lang", catalogues.default)
        return results_charts.day_chart(
            by_day, table_id, lambda m: catalogues.gettext(lang, m), lang
        )

    env.globals.update(
        question_chart=question_chart,
        day_chart=day_chart,
        self_selected=SELF_SELECTED,
        question_kinds=QUESTION_KINDS,
        answer_channels=ANSWER_CHANNELS,
        invitation_channels=INVITATION_CHANNELS,
        translate=translate,
        genders=GENDERS,
        heard_from=HEARD_FROM,
        round_states=ROUND_STATES,
        language_gaps=builder_languages.missing,
        language_name=catalogues.language_name,
    )
    env.filters.update(
        number=number,
        percent=percent,
        when=when,
        paragraphs=paragraphs,
        linkify=linkify,
        answer_label=answer_label,
    )
    return env


def paragraphs(text: str) -> Markup:
    """Plain text as HTML paragraphs: blank lines separate paragraphs, newlines break lines."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(line) for line in block.split("\n")))
        for block in blocks
    )


def linkify(text: str) -> Markup:
    """Plain text with its http(s) links made clickable; everything else escaped."""
    parts: list[Markup] = []
    position = 0
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        end = match.start() + len(url)
        parts.append(escape(text[position : match.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(url))
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page in the visitor's language, with what every page needs."""
    env: Environment = request.app.state.templates
    catalogues: Catalogues = request.app.state.catalogues
    lang = str(getattr(request.state, "lang", catalogues.default))
    session = context.get("staff")
    values: dict[str, Any] = {
        "lang": lang,
        "languages": [(code, catalogues.language_name(code)) for code in catalogues.languages],
        "path": request.url.path,
        "council": None,
        "staff": None,
        "csrf_token": getattr(session, "csrf_token", None),
        "errors": {},
        "values": {},
        "notice": None,
        "devtools": bool(request.app.state.settings.devtools_url),
    }
    values.update(context)
    html = env.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)
