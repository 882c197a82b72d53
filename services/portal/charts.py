"""Charts of a round's results, drawn on the server as SVG (pure functions, no I/O).

Each chart is markup-safe SVG to put inline next to the data table it draws: ``role="img"``,
a ``<title>`` that names it (``aria-labelledby``) and ``aria-describedby`` pointing at the
table, which holds the same figures for screen readers and for copying. The portal's CSP
allows no inline styles, so colours and fonts are SVG presentation attributes; nothing is
loaded from anywhere (generic font families only) and nothing runs.

Colours meet WCAG's 3:1 for graphics on white and keep it in print: bars in the portal's blue,
intervals in near-black over a white halo (visible across a bar), weighted shares as a dark
orange diamond (a shape of its own, not only a colour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_decimal, format_percent
from markupsafe import Markup

BAR = "#0b4f8a"
INK = "#1b1f24"
MUTED = "#4a5360"
GRID = "#b7c0cc"
WEIGHTED = "#8a4b00"
HALO = "#ffffff"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"

WIDTH = 640
LABEL_RIGHT = 190
"""Labels end here; the plot starts after a gap."""
PLOT_LEFT = 200
PLOT_RIGHT = 570
"""A share of 100 % ends here; the figure is written after it."""
ROW = 28
LABEL_CHARS = 26


@dataclass(frozen=True)
class Bar:
    """One option's share, its 95 % interval and the weighted share, in per cent."""

    label: str
    percent: float
    ci_low: float | None = None
    ci_high: float | None = None
    weighted: float | None = None


@dataclass(frozen=True)
class Column:
    """One value (or bin) of a scale or number question and its share."""

    label: str
    percent: float


@dataclass(frozen=True)
class Place:
    """A ranking option's average place (1 = best)."""

    label: str
    average: float


@dataclass(frozen=True)
class Day:
    """A day's answers and the response rate at its end."""

    label: str
    answers: int
    rate: float


@dataclass(frozen=True)
class Words:
    """The words a chart shows, already in the reader's language."""

    title: str
    interval: str = "95 % interval"
    weighted: str = "Weighted share"
    mean: str = "Mean"
    answers: str = "Answers"
    rate: str = "Response rate so far"
    best: str = "1 = first place"


def percent_text(value: float, lang: str) -> str:
    """``value`` (0-100) as a percentage in ``lang``, e.g. ``58,8 %`` in Swedish."""
    share = Decimal(str(round(value, 1))) / 100
    return format_percent(share, locale=lang, decimal_quantization=False)


def number_text(value: float, lang: str) -> str:
    """A number as ``lang`` writes it."""
    return format_decimal(value, locale=lang)


def short(label: str, limit: int = LABEL_CHARS) -> str:
    """A label cut to ``limit`` characters with an ellipsis (the table has it whole)."""
    label = " ".join(label.splitlines())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _clamp(percent: float) -> float:
    return max(0.0, min(100.0, percent))


def _open(chart_id: str, described_by: str, height: float, title: str, css: str) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" id="{id}" '
        'viewBox="0 0 {w} {h}" width="100%" role="img" focusable="false" '
        'aria-labelledby="{id}-title" aria-describedby="{table}" '
        'font-family="{font}" font-size="14">'
        '<title id="{id}-title">{title}</title>'
        '<rect x="0" y="0" width="{w}" height="{h}" fill="{paper}"/>'
    ).format(
        css=css,
        id=chart_id,
        w=WIDTH,
        h=_n(height),
        table=described_by,
        font=FONT,
        title=title,
        paper=HALO,
    )


_CLOSE = Markup("</svg>")


def _label(
    x: float, y: float, text: str, anchor: str = "start", fill: str = INK, shorten: bool = False
) -> Markup:
    """A text; a shortened one carries the whole text as a tooltip."""
    shown = short(text) if shorten else text
    tip = Markup("<title>{}</title>").format(text) if shown != text else Markup("")
    return Markup('<text x="{}" y="{}" text-anchor="{}" fill="{}">{}{}</text>').format(
        _n(x), _n(y), anchor, fill, tip, shown
    )


def _whisker(x1: float, x2: float, y: float) -> Markup:
    """An interval: near-black line and end caps over a white halo."""
    parts = []
    for colour, width in ((HALO, "4"), (INK, "1.5")):
        parts.append(
            Markup(
                '<path class="chart-interval" d="M{a} {y}H{b}M{a} {t}V{u}M{b} {t}V{u}" '
                'stroke="{c}" stroke-width="{w}" fill="none"/>'
            ).format(a=_n(x1), b=_n(x2), y=_n(y), t=_n(y - 5), u=_n(y + 5), c=colour, w=width)
        )
    return Markup("").join(parts)


def _diamond(x: float, y: float, size: float = 6) -> Markup:
    return Markup(
        '<path class="chart-weighted" d="M{x} {t}L{r} {y}L{x} {b}L{l} {y}Z" fill="{c}" '
        'stroke="{halo}" stroke-width="1.5"/>'
    ).format(
        x=_n(x),
        y=_n(y),
        t=_n(y - size),
        b=_n(y + size),
        l=_n(x - size),
        r=_n(x + size),
        c=WEIGHTED,
        halo=HALO,
    )


def _grid(top: float, bottom: float, lang: str) -> Markup:
    """Vertical lines at 0, 25, 50, 75 and 100 % with their figures underneath."""
    parts = []
    for step in (0, 25, 50, 75, 100):
        x = PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * step / 100
        parts.append(
            Markup('<path d="M{x} {t}V{b}" stroke="{c}" stroke-width="1"/>').format(
                x=_n(x), t=_n(top), b=_n(bottom), c=GRID
            )
        )
        parts.append(_label(x, bottom + 14, percent_text(step, lang), "middle", MUTED))
    return Markup("").join(parts)


def share_bars(
    bars: Sequence[Bar], *, chart_id: str, described_by: str, words: Words, lang: str = "en"
) -> Markup:
    """A horizontal bar per option: its share (0-100 % across the plot), the 95 % interval as
    a whisker and the weighted share as a diamond, where the figures have them."""
    top = 10.0
    bottom = top + ROW * len(bars)
    with_interval = any(b.ci_low is not None and b.ci_high is not None for b in bars)
    with_weighted = any(b.weighted is not None for b in bars)
    legend = with_interval or with_weighted
    height = bottom + 22 + (24 if legend else 0)
    span = PLOT_RIGHT - PLOT_LEFT
    parts = [_open(chart_id, described_by, height, words.title, "chart-shares")]
    parts.append(_grid(top, bottom, lang))
    for i, bar in enumerate(bars):
        y = top + ROW * i
        middle = y + ROW / 2
        width = span * _clamp(bar.percent) / 100
        parts.append(_label(LABEL_RIGHT, middle + 4.5, bar.label, "end", shorten=True))
        parts.append(
            Markup(
                '<rect class="chart-bar" x="{x}" y="{y}" width="{w}" height="14" fill="{c}" '
                'data-percent="{p}"/>'
            ).format(x=PLOT_LEFT, y=_n(middle - 7), w=_n(width), c=BAR, p=_n(bar.percent))
        )
        if bar.ci_low is not None and bar.ci_high is not None:
            low = PLOT_LEFT + span * _clamp(bar.ci_low) / 100
            high = PLOT_LEFT + span * _clamp(bar.ci_high) / 100
            parts.append(_whisker(low, high, middle))
        if bar.weighted is not None:
            x = PLOT_LEFT + span * _clamp(bar.weighted) / 100
            parts.append(_diamond(x, middle))
        parts.append(_label(WIDTH - 2, middle + 4.5, percent_text(bar.percent, lang), "end"))
    if legend:
        y = bottom + 34
        x = float(PLOT_LEFT)
        if with_interval:
            parts.append(_whisker(x, x + 24, y - 4))
            parts.append(_label(x + 30, y, words.interval))
            x += 40 + 8 * len(words.interval)
        if with_weighted:
            parts.append(_diamond(x + 6, y - 4))
            parts.append(_label(x + 18, y, words.weighted))
    parts.append(_CLOSE)
    return Markup("").join(parts)


def distribution(
    columns: Sequence[Column],
    *,
    chart_id: str,
    described_by: str,
    words: Words,
    lang: str = "en",
    mean_at: float | None = None,
    mean_text: str = "",
) -> Markup:
    """A column per value (scale) or bin (number), height by share; ``mean_at`` (a position in
    columns, 0 = the first's centre) draws the mean as a dashed line."""
    top, bottom, left, right = 24.0, 184.0, 40.0, float(WIDTH - 10)
    height = bottom + 30
    highest = max((c.percent for c in columns), default=0.0)
    ceiling = max(10.0, math.ceil(highest / 10) * 10)
    slot = (right - left) / max(1, len(columns))
    parts = [_open(chart_id, described_by, height, words.title, "chart-distribution")]
    for step in (0.0, ceiling / 2, ceiling):
        y = bottom - (bottom - top) * step / ceiling
        parts.append(
            Markup('<path d="M{l} {y}H{r}" stroke="{c}" stroke-width="1"/>').format(
                l=_n(left), r=_n(right), y=_n(y), c=GRID
            )
        )
        parts.append(_label(left - 4, y + 4, percent_text(step, lang), "end", MUTED))
    limit = max(3, int(slot / 7.5))
    for i, column in enumerate(columns):
        centre = left + slot * (i + 0.5)
        h = (bottom - top) * _clamp(column.percent) / ceiling
        width = slot * 0.7
        parts.append(
            Markup(
                '<rect class="chart-bar" x="{x}" y="{y}" width="{w}" height="{h}" fill="{c}" '
                'data-percent="{p}"/>'
            ).format(
                x=_n(centre - width / 2),
                y=_n(bottom - h),
                w=_n(width),
                h=_n(h),
                c=BAR,
                p=_n(column.percent),
            )
        )
        if slot >= 28:
            parts.append(
                _label(centre, bottom - h - 4, percent_text(column.percent, lang), "middle")
            )
        shown = short(column.label, limit)
        tip = Markup("<title>{}</title>").format(column.label) if shown != column.label else ""
        parts.append(
            Markup('<text x="{}" y="{}" text-anchor="middle" fill="{}">{}{}</text>').format(
                _n(centre), _n(bottom + 16), INK, tip, shown
            )
        )
    if mean_at is not None and columns:
        x = left + slot * (mean_at + 0.5)
        parts.append(
            Markup(
                '<path class="chart-mean" d="M{x} {t}V{b}" stroke="{c}" stroke-width="2" '
                'stroke-dasharray="5 3"/>'
            ).format(x=_n(x), t=_n(top - 8), b=_n(bottom), c=WEIGHTED)
        )
        anchor = "start" if x < (left + right) / 2 else "end"
        parts.append(_label(x + (4 if anchor == "start" else -4), top - 10, mean_text, anchor))
    parts.append(_CLOSE)
    return Markup("").join(parts)


def ranking(
    places: Sequence[Place],
    *,
    chart_id: str,
    described_by: str,
    words: Words,
    lang: str = "en",
) -> Markup:
    """Each option's average place on an axis from 1 (best, left) to the number of options,
    as a dot on a line from the first place."""
    count = max(2, len(places))
    top = 24.0
    bottom = top + ROW * len(places)
    height = bottom + 24
    span = PLOT_RIGHT - PLOT_LEFT

    def at(place: float) -> float:
        return PLOT_LEFT + span * (min(max(place, 1.0), count) - 1) / (count - 1)

    parts = [_open(chart_id, described_by, height, words.title, "chart-ranking")]
    parts.append(_label(PLOT_LEFT, 14, words.best, "start", MUTED))
    for place in range(1, count + 1):
        x = at(place)
        parts.append(
            Markup('<path d="M{x} {t}V{b}" stroke="{c}" stroke-width="1"/>').format(
                x=_n(x), t=_n(top), b=_n(bottom), c=GRID
            )
        )
        parts.append(_label(x, bottom + 14, str(place), "middle", MUTED))
    for i, p in enumerate(places):
        middle = top + ROW * i + ROW / 2
        x = at(p.average)
        parts.append(_label(LABEL_RIGHT, middle + 4.5, p.label, "end", shorten=True))
        parts.append(
            Markup('<path d="M{a} {y}H{b}" stroke="{c}" stroke-width="3"/>').format(
                a=PLOT_LEFT, b=_n(x), y=_n(middle), c=BAR
            )
        )
        parts.append(
            Markup(
                '<circle class="chart-place" cx="{x}" cy="{y}" r="6" fill="{c}" stroke="{h}" '
                'stroke-width="1.5" data-average="{v}"/>'
            ).format(x=_n(x), y=_n(middle), c=BAR, h=HALO, v=_n(p.average))
        )
        parts.append(_label(WIDTH - 2, middle + 4.5, number_text(p.average, lang), "end"))
    parts.append(_CLOSE)
    return Markup("").join(parts)


def days(
    counts: Sequence[Day],
    *,
    chart_id: str,
    described_by: str,
    words: Words,
    lang: str = "en",
) -> Markup:
    """A column of answers per day (left axis) and the response rate so far as a line
    (right axis, 0-100 %)."""
    top, bottom, left, right = 20.0, 170.0, 44.0, float(WIDTH - 50)
    height = bottom + 52
    most = max((d.answers for d in counts), default=0)
    ceiling = _nice_ceiling(most)
    slot = (right - left) / max(1, len(counts))
    every = max(1, math.ceil(len(counts) / 12))
    parts = [_open(chart_id, described_by, height, words.title, "chart-days")]
    for step in (0.0, 0.5, 1.0):
        y = bottom - (bottom - top) * step
        parts.append(
            Markup('<path d="M{l} {y}H{r}" stroke="{c}" stroke-width="1"/>').format(
                l=_n(left), r=_n(right), y=_n(y), c=GRID
            )
        )
        parts.append(_label(left - 4, y + 4, number_text(ceiling * step, lang), "end", MUTED))
        parts.append(_label(right + 4, y + 4, percent_text(100 * step, lang), "start", MUTED))
    points = []
    for i, d in enumerate(counts):
        centre = left + slot * (i + 0.5)
        h = (bottom - top) * d.answers / ceiling if ceiling else 0.0
        width = slot * 0.7
        parts.append(
            Markup(
                '<rect class="chart-bar" x="{x}" y="{y}" width="{w}" height="{h}" fill="{c}" '
                'data-answers="{a}"/>'
            ).format(
                x=_n(centre - width / 2), y=_n(bottom - h), w=_n(width), h=_n(h), c=BAR, a=d.answers
            )
        )
        points.append((centre, bottom - (bottom - top) * _clamp(d.rate) / 100))
        if i % every == 0:
            parts.append(_label(centre, bottom + 14, d.label, "middle"))
    if points:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{_n(x)} {_n(y)}" for i, (x, y) in enumerate(points)
        )
        for colour, stroke in ((HALO, "5"), (WEIGHTED, "2")):
            parts.append(
                Markup(
                    '<path class="chart-rate" d="{d}" stroke="{c}" stroke-width="{w}" fill="none"/>'
                ).format(d=path, c=colour, w=stroke)
            )
        for x, y in points:
            parts.append(
                Markup('<circle cx="{x}" cy="{y}" r="3" fill="{c}"/>').format(
                    x=_n(x), y=_n(y), c=WEIGHTED
                )
            )
    y = bottom + 40
    parts.append(
        Markup('<rect x="{x}" y="{y}" width="14" height="10" fill="{c}"/>').format(
            x=_n(left), y=_n(y - 9), c=BAR
        )
    )
    parts.append(_label(left + 20, y, words.answers))
    x = left + 40 + 8 * len(words.answers)
    parts.append(
        Markup('<path d="M{a} {y}H{b}" stroke="{c}" stroke-width="2"/>').format(
            a=_n(x), b=_n(x + 20), y=_n(y - 4), c=WEIGHTED
        )
    )
    parts.append(_label(x + 26, y, words.rate))
    parts.append(_CLOSE)
    return Markup("").join(parts)


def _nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return float(factor * power)
    return float(10 * power)
