"""A round's results as an XLSX workbook (``openpyxl``): the figures of ``results_files`` on a
sheet for all respondents and one per breakdown, participation, and a codebook that says what
every question, code, group and column means (pure, no I/O).

Texts are stored as strings whatever they start with, so no spreadsheet runs one as a formula.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from contracts.rounds import Question, QuestionResult, RoundResults
from services.portal.domain import (
    ANSWER_CHANNELS,
    GENDERS,
    INVITATION_CHANNELS,
    ROUND_STATES,
    YES_NO_LABELS,
)
from services.portal.i18n import N_
from services.portal.results_files import (
    BREAKDOWNS,
    COLUMNS,
    NAMES,
    TEXTS_APART,
    Translate,
    Value,
    answer_days,
    caveat,
    figure_rows,
)

KINDS: Final[Mapping[str, str]] = {
    "single_choice": N_("Single choice"),
    "multiple_choice": N_("Multiple choice"),
    "scale": N_("Scale"),
    "number": N_("Number"),
    "yes_no": N_("Yes or no"),
    "free_text": N_("Free text"),
    "ranking": N_("Ranking"),
    "map": N_("Places on a map"),
}
UNDER_16 = N_("Under 16 (members younger than the age bands)")


def _sheet_title(text: str) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in text).strip()
    return cleaned[:31] or "Sheet"


def _put(sheet: Worksheet, values: Sequence[Value], bold: bool = False) -> None:
    """Append a row; texts are strings whatever they start with, never formulas."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
        if bold:
            cell.font = Font(bold=True)


def _table(sheet: Worksheet, rows: Iterable[Mapping[str, Value]]) -> None:
    _put(sheet, NAMES, bold=True)
    for r in rows:
        _put(sheet, [r.get(c) for c in NAMES])
    sheet.freeze_panes = "A2"
    for letter, width in (("A", 6), ("B", 14), ("C", 14), ("D", 40), ("F", 14), ("H", 24)):
        sheet.column_dimensions[letter].width = width


def workbook(
    results: RoundResults, translate: Translate, council: str, today: date | None = None
) -> bytes:
    """The round's figures as an XLSX workbook: all respondents, one sheet per breakdown,
    participation (per day, channel and group) and the codebook."""
    _ = translate
    rows = list(figure_rows(results, translate))
    book = Workbook()
    figures = book.active
    assert figures is not None
    figures.title = _sheet_title(_("Figures"))
    _table(figures, (r for r in rows if r["breakdown"] in ("all", "pin_district")))
    for breakdown, title in BREAKDOWNS:
        sheet = book.create_sheet(_sheet_title(translate(title)))
        _table(sheet, (r for r in rows if r["breakdown"] == breakdown))
    _participation(book.create_sheet(_sheet_title(_("Participation"))), results, translate)
    _codebook(book.create_sheet(_sheet_title(_("Codebook"))), results, translate, council, today)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _participation(sheet: Worksheet, results: RoundResults, translate: Translate) -> None:
    _ = translate
    _put(sheet, [_("Answers per day")], bold=True)
    _put(sheet, ["day", "answers", "cumulative_rate"], bold=True)
    for d in results.by_day:
        _put(sheet, [d.day, d.answers, d.cumulative_rate])
    _put(sheet, [])
    _put(sheet, [_("Answers per channel")], bold=True)
    _put(sheet, ["channel", "answers", "percent", "label"], bold=True)
    for c in results.by_channel:
        _put(sheet, [c.channel, c.answers, c.percent, translate(ANSWER_CHANNELS[c.channel])])
    _put(sheet, [])
    _put(sheet, [_("Response rate by how the invitation went out")], bold=True)
    _put(sheet, ["invitation_channel", "invited", "answered", "rate", "label"], bold=True)
    for r in results.by_invitation:
        _put(
            sheet,
            [
                r.channel,
                r.invited,
                r.answered,
                r.percent,
                translate(INVITATION_CHANNELS[r.channel]),
            ],
        )
    _put(sheet, [])
    _put(sheet, [_("Who took part")], bold=True)
    _put(sheet, ["breakdown", "group", "invited", "answered", "rate"], bold=True)
    for t in results.turnout:
        _put(sheet, [t.dimension, t.group, t.invited, t.answered, t.rate])
    sheet.column_dimensions["A"].width = 14
    sheet.column_dimensions["B"].width = 14


def round_facts(
    results: RoundResults, translate: Translate, council: str, today: date | None = None
) -> list[tuple[str, Value]]:
    """The round's facts as label and value, for the codebook."""
    _ = translate
    r = results.round
    first, last = answer_days(results)
    facts: list[tuple[str, Value]] = [
        (_("Council"), council),
        (_("Title"), r.title),
        (_("Purpose"), r.purpose),
        (_("Panel"), r.panel),
        (_("Status"), translate(ROUND_STATES.get(r.state, r.state))),
        (_("Drafted"), r.created_at.date().isoformat()),
        (_("First answers"), first),
        (_("Last answers"), last),
        (_("Invited"), r.invited),
        (_("Answered"), r.responded),
        (_("Response rate"), results.response_rate),
        (
            _("Suppression threshold"),
            _(
                "Groups with fewer than %(n)s respondents are hidden, with as many others as "
                "it takes so that none can be worked out."
            )
            % {"n": results.suppression_threshold},
        ),
        (_("What the figures say"), caveat(results, translate)),
    ]
    if results.weighting is not None and results.weighting.effective_n is not None:
        facts.append((_("Effective sample size"), results.weighting.effective_n))
    facts.append((_("Exported"), (today or date.today()).isoformat()))
    return facts


def question_notes(q: Question, translate: Translate) -> str:
    """What limits a question's answers, in words (range, unit, picks, length, places)."""
    _ = translate
    notes = []
    if q.kind == "scale":
        notes.append(_("From %(low)s to %(high)s") % {"low": q.scale_min, "high": q.scale_max})
    if q.kind == "number":
        low = "" if q.minimum is None else f"{q.minimum:g}"
        high = "" if q.maximum is None else f"{q.maximum:g}"
        notes.append(_("Range %(low)s–%(high)s") % {"low": low, "high": high})
        if q.unit:
            notes.append(_("Unit: %(unit)s") % {"unit": q.unit})
        if q.whole_numbers:
            notes.append(_("Whole numbers"))
    if q.kind == "multiple_choice":
        picks = {"low": q.min_picks or 1, "high": q.max_picks or len(q.options)}
        notes.append(_("Pick %(low)s to %(high)s") % picks)
    if q.kind == "free_text":
        notes.append(_("At most %(n)s characters") % {"n": q.max_length})
    if q.kind == "map":
        notes.append(_("At most %(n)s places") % {"n": q.max_pins})
    return "; ".join(notes)


def skip_logic(q: Question, translate: Translate) -> str:
    """The condition that shows a question, in words ('' when it is always shown)."""
    _ = translate
    if q.show_if is None:
        return ""
    return _("Shown only when question %(key)s was answered: %(answers)s") % {
        "key": q.show_if.question,
        "answers": ", ".join(q.show_if.answers),
    }


def value_labels(
    q: Question, result: QuestionResult | None, translate: Translate
) -> list[tuple[int | None, str, str]]:
    """A question's answers as (code, value, label)."""
    if q.kind == "free_text":
        return []
    if q.kind == "yes_no":
        return [
            (1, "yes", translate(YES_NO_LABELS["yes"])),
            (2, "no", translate(YES_NO_LABELS["no"])),
        ]
    if q.kind == "scale":
        out: list[tuple[int | None, str, str]] = []
        for v in range(q.scale_min, q.scale_max + 1):
            label = q.low_label if v == q.scale_min else q.high_label if v == q.scale_max else None
            out.append((v, str(v), label or ""))
        return out
    if q.kind == "number":
        bins = result.options if result is not None else ()
        return [(i, o.option, "") for i, o in enumerate(bins, start=1)]
    return [(i, o, "") for i, o in enumerate(q.options, start=1)]


def _codebook(
    sheet: Worksheet,
    results: RoundResults,
    translate: Translate,
    council: str,
    today: date | None,
) -> None:
    _ = translate
    _put(sheet, [_("The round")], bold=True)
    for label, value in round_facts(results, translate, council, today):
        _put(sheet, [label, value])
    _put(sheet, [])
    _put(sheet, [_("Questions")], bold=True)
    _put(
        sheet,
        [
            "question_no",
            "question_key",
            "kind",
            _("Kind"),
            "question",
            _("Shown"),
            _("Limits"),
            "code",
            "value",
            _("Label"),
        ],
        bold=True,
    )
    figures = {q.key: q for q in results.questions}
    for n, q in enumerate(results.round.questions, start=1):
        _put(
            sheet,
            [
                n,
                q.key,
                q.kind,
                translate(KINDS.get(q.kind, q.kind)),
                q.text,
                skip_logic(q, translate),
                question_notes(q, translate),
            ],
        )
        for code, value, label in value_labels(q, figures.get(q.key), translate):
            _put(sheet, [n, q.key, None, None, None, None, None, code, value, label])
        if q.kind == "free_text":
            _put(sheet, [n, q.key, None, None, None, None, translate(TEXTS_APART)])
    _put(sheet, [])
    _put(sheet, [_("Groups")], bold=True)
    _put(sheet, ["breakdown", "group", _("Label")], bold=True)
    _put(sheet, ["age_band", "0-15", translate(UNDER_16)])
    for gender, label in GENDERS.items():
        _put(sheet, ["gender", gender, translate(label)])
    _put(sheet, [])
    _put(sheet, [_("Columns of the figures")], bold=True)
    for name, meaning in COLUMNS:
        _put(sheet, [name, translate(meaning)])
    for letter, width in (("A", 24), ("B", 40), ("D", 16), ("E", 40), ("F", 24), ("G", 24)):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
