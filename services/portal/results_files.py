"""A round's results as CSV files: the figures, and one question's written answers (pure).

The figures are exactly those rounds sent (``RoundResults``): nothing is recomputed here, so a
suppressed breakdown cell stays suppressed (its figures empty, with a note). Free texts are not
among the figures: they are exported apart, a page at a time (``text_lines``).

Every text a spreadsheet could take for a formula (starting with = + - @, a tab or a carriage
return) is written with a leading apostrophe (``safe``); the XLSX workbook
(``results_workbook``) has the same rows and stores such texts as strings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Final

from contracts.rounds import (
    AnswerText,
    BreakdownCell,
    OptionCount,
    Question,
    QuestionResult,
    RoundResults,
)
from services.portal.domain import SELF_SELECTED
from services.portal.i18n import N_

Translate = Callable[[str], str]
Value = str | int | float | None

COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("question_no", N_("The question's number in the round.")),
    ("question_key", N_("The question's key (stable within the round).")),
    ("kind", N_("How the question is answered (see the questions below).")),
    ("question", N_("The question as it was asked.")),
    (
        "breakdown",
        N_(
            "all: every respondent; age_band, gender, district: one group of respondents; "
            "pin_district: the places marked in a map question, by district; pin_cell: those "
            "places on a grid of about 1 km (group: the cell's centre, latitude and longitude; "
            "option: the kind of place)."
        ),
    ),
    ("group", N_("The group (empty for all respondents).")),
    ("respondents", N_("Respondents who answered the question (in the group).")),
    ("option", N_("The answer: option, value or bin. Empty: the row holds the mean.")),
    ("code", N_("The answer's code (see the questions below).")),
    ("count", N_("Respondents who gave the answer (ranking: who put it first).")),
    (
        "percent",
        N_(
            "Their share of those who answered, 0-100 (multiple choice: shares can add up to "
            "more than 100; map: share of the places marked)."
        ),
    ),
    ("ci_low", N_("Lower end of the share's 95 % confidence interval (Wilson).")),
    ("ci_high", N_("Upper end of the share's 95 % confidence interval (Wilson).")),
    ("weighted_percent", N_("The share with post-stratification weights, when weighted.")),
    ("weighted_ci_low", N_("Lower end of the weighted share's 95 % interval.")),
    ("weighted_ci_high", N_("Upper end of the weighted share's 95 % interval.")),
    ("mean", N_("Scale and number: the mean.")),
    ("sd", N_("Scale and number: the standard deviation.")),
    ("mean_ci_low", N_("Lower end of the mean's 95 % interval.")),
    ("mean_ci_high", N_("Upper end of the mean's 95 % interval.")),
    ("weighted_mean", N_("The mean with post-stratification weights, when weighted.")),
    ("average_rank", N_("Ranking: the average place given (1 = first).")),
    ("note", N_("Why a figure is missing.")),
)
NAMES: Final = tuple(name for name, _ in COLUMNS)
BREAKDOWNS: Final = (
    ("age_band", N_("By age group")),
    ("gender", N_("By gender")),
    ("district", N_("By district")),
)
SUPPRESSED = N_(
    "Hidden: fewer than %(n)s respondents in the group, or hidden so that such a group cannot "
    "be worked out."
)
TEXTS_APART = N_("Written answers are not among the figures: export them apart (texts.csv).")
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def safe(value: Value) -> Value:
    """``value``, with a leading apostrophe when it is a text a spreadsheet would run as a
    formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def filename(tenant: str, round_id: str, what: str) -> str:
    """``radslag-<council>-<round id>-<what>``, e.g. ``...-results.csv``."""
    return f"radslag-{tenant}-{round_id}-{what}"


def option_codes(question: Question | None, result: QuestionResult) -> dict[str, int]:
    """Each answer's code: the value itself for a scale, else its place in the question's
    order from 1 (options, yes = 1 and no = 2, number bins as the figures list them)."""
    if result.kind == "scale":
        codes = {}
        for o in result.options:
            try:
                codes[o.option] = int(o.option)
            except ValueError:
                continue
        return codes
    if result.kind == "yes_no":
        return {"yes": 1, "no": 2}
    if question is not None and question.options:
        return {o: i for i, o in enumerate(question.options, start=1)}
    return {o.option: i for i, o in enumerate(result.options, start=1)}


def _questions(results: RoundResults) -> dict[str, Question]:
    return {q.key: q for q in results.round.questions}


def figure_rows(results: RoundResults, translate: Translate) -> Iterator[dict[str, Value]]:
    """Every figure of the round, one row per question × answer, and per breakdown group."""
    _ = translate
    definitions = _questions(results)
    hidden = translate(SUPPRESSED) % {"n": results.suppression_threshold}
    for n, q in enumerate(results.questions, start=1):
        codes = option_codes(definitions.get(q.key), q)
        base: dict[str, Value] = {
            "question_no": n,
            "question_key": q.key,
            "kind": q.kind,
            "question": q.text,
        }
        row = partial(_row, base)
        if q.kind == "free_text":
            yield row("all", "", q.answered, note=translate(TEXTS_APART))
            continue
        if q.kind == "ranking":
            for r in q.ranks:
                yield row(
                    "all",
                    "",
                    q.answered,
                    option=r.option,
                    code=codes.get(r.option),
                    count=r.first,
                    percent=r.first_percent,
                    ci_low=r.ci_low,
                    ci_high=r.ci_high,
                    average_rank=r.average_rank,
                )
        else:
            for o in q.options:
                yield row("all", "", q.answered, **_shares(o, codes))
        if q.mean is not None:
            yield row(
                "all",
                "",
                q.answered,
                option="",
                mean=q.mean,
                sd=q.sd,
                mean_ci_low=q.mean_ci_low,
                mean_ci_high=q.mean_ci_high,
                weighted_mean=q.weighted_mean,
            )
        for d in q.districts:
            yield row(
                "pin_district",
                d.option,
                None,
                option="",
                count=d.count,
                percent=d.percent,
                note="" if d.option else _("Outside every district"),
            )
        for p in q.pins:
            yield row(
                "pin_cell", f"{p.lat:.3f} {p.lon:.3f}", None, option=p.category, count=p.count
            )
        for breakdown, cells in (
            ("age_band", q.by_age_band),
            ("gender", q.by_gender),
            ("district", q.by_district),
        ):
            for cell in cells:
                yield from _cell_rows(q, cell, codes, hidden, partial(row, breakdown))


def _row(
    base: Mapping[str, Value],
    breakdown: str,
    group: str,
    respondents: int | None,
    **figures: Value,
) -> dict[str, Value]:
    out: dict[str, Value] = dict.fromkeys(NAMES)
    out.update(base)
    out.update(breakdown=breakdown, group=group, respondents=respondents)
    out.update(figures)
    return out


def _shares(o: OptionCount, codes: Mapping[str, int]) -> dict[str, Value]:
    return {
        "option": o.option,
        "code": codes.get(o.option),
        "count": o.count,
        "percent": o.percent,
        "ci_low": o.ci_low,
        "ci_high": o.ci_high,
        "weighted_percent": o.weighted_percent,
        "weighted_ci_low": o.weighted_ci_low,
        "weighted_ci_high": o.weighted_ci_high,
    }


def _cell_rows(
    q: QuestionResult,
    cell: BreakdownCell,
    codes: Mapping[str, int],
    hidden: str,
    row: Callable[..., dict[str, Value]],
) -> Iterator[dict[str, Value]]:
    """One group's rows; a suppressed group keeps every figure empty, with the note."""
    if cell.respondents is None or cell.counts is None:
        for o in q.options:
            yield row(cell.group, None, option=o.option, code=codes.get(o.option), note=hidden)
        if q.mean is not None:
            yield row(cell.group, None, option="", note=hidden)
        return
    for o in cell.counts:
        yield row(cell.group, cell.respondents, **_shares(o, codes))
    if q.mean is not None:
        yield row(cell.group, cell.respondents, option="", mean=cell.mean)


def csv_text(rows: Iterable[Mapping[str, Value]]) -> str:
    """The rows as CSV (UTF-8 with a byte order mark, so spreadsheets read å, ä and ö), with
    the column names first."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(NAMES)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else safe(r.get(c)) for c in NAMES])
    return out.getvalue()


def text_lines(texts: Iterable[AnswerText], start: int) -> str:
    """CSV lines of written answers, numbered from ``start`` + 1."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n, t in enumerate(texts, start=start + 1):
        writer.writerow([n, safe(t.text), safe("; ".join(t.tags))])
    return out.getvalue()


TEXT_HEADER: Final = "\ufeffno,text,tags\r\n"
"""The first line of a written answers' CSV."""


def caveat(results: RoundResults, translate: Translate) -> str:
    """What the figures can say: the weighting's description when weighted, else the
    self-selected panel's caveat (as the results page says)."""
    if results.weighting is not None and results.weighting.applied:
        return results.weighting.description
    return translate(SELF_SELECTED)


def answer_days(results: RoundResults) -> tuple[str, str]:
    """The first and last day answers came in ('' when none did)."""
    if not results.by_day:
        return "", ""
    return results.by_day[0].day, results.by_day[-1].day
