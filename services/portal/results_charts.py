"""The charts of a round's results as the staff results page shows them: which chart each
question gets, with its title and words in the reader's language (pure; the drawing is in
``charts``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup

from contracts.rounds import DayCount, QuestionResult
from services.portal.charts import (
    Bar,
    Column,
    Day,
    Place,
    Words,
    days,
    distribution,
    number_text,
    ranking,
    share_bars,
)
from services.portal.domain import YES_NO_LABELS
from services.portal.i18n import N_

TITLES = {
    "shares": N_("Chart: shares of the answers to question %(n)s"),
    "distribution": N_("Chart: distribution of the answers to question %(n)s"),
    "ranking": N_("Chart: average place of each option in question %(n)s"),
    "days": N_("Chart: answers per day and the response rate so far"),
}
BEST = N_("Place 1 is the best")


def _words(title: str, translate: Callable[[str], str]) -> Words:
    _ = translate
    return Words(
        title=title,
        interval=_("95 % interval"),
        weighted=_("Weighted share"),
        mean=_("Mean"),
        answers=_("Answers"),
        rate=_("Response rate so far"),
        best=translate(BEST),
    )


def question_chart(
    q: QuestionResult, n: int, table_id: str, translate: Callable[[str], str], lang: str
) -> Markup:
    """The chart of question ``n``'s figures, described by the table ``table_id``: bars of
    shares (choices, yes/no, map categories), the distribution (scale, number with a range),
    the average places (ranking); empty for free text or when there is nothing to draw."""
    chart_id = f"chart-{table_id}"

    def title(kind: str) -> str:
        return translate(TITLES[kind]) % {"n": n}

    if q.kind == "ranking":
        if not q.ranks:
            return Markup("")
        return ranking(
            [Place(r.option, r.average_rank) for r in q.ranks],
            chart_id=chart_id,
            described_by=table_id,
            words=_words(title("ranking"), translate),
            lang=lang,
        )
    if not q.options or q.kind == "free_text":
        return Markup("")
    if q.kind in ("scale", "number"):
        mean_at = None
        if q.kind == "scale" and q.mean is not None:
            try:
                mean_at = q.mean - float(q.options[0].option)
            except ValueError:
                mean_at = None
        words = _words(title("distribution"), translate)
        return distribution(
            [Column(o.option, o.percent) for o in q.options],
            chart_id=chart_id,
            described_by=table_id,
            words=words,
            lang=lang,
            mean_at=mean_at,
            mean_text=f"{words.mean} {number_text(q.mean, lang)}" if q.mean is not None else "",
        )

    def label(option: str) -> str:
        if q.kind == "yes_no":
            return translate(YES_NO_LABELS.get(option, option))
        return option

    return share_bars(
        [
            Bar(label(o.option), o.percent, o.ci_low, o.ci_high, o.weighted_percent)
            for o in q.options
        ],
        chart_id=chart_id,
        described_by=table_id,
        words=_words(title("shares"), translate),
        lang=lang,
    )


def day_chart(
    by_day: Sequence[DayCount], table_id: str, translate: Callable[[str], str], lang: str
) -> Markup:
    """Answers per day and the running response rate, described by the table ``table_id``."""
    if not by_day:
        return Markup("")
    return days(
        [
            Day(d.day[5:] if len(d.day) == 10 else d.day, d.answers, d.cumulative_rate)
            for d in by_day
        ],
        chart_id=f"chart-{table_id}",
        described_by=table_id,
        words=_words(translate(TITLES["days"]), translate),
        lang=lang,
    )
