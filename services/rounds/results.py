"""A round's results, computed from its kept counters (``tallies``) alone (pure, no I/O).

Every figure comes from the cells: respondents per age band × gender × district, and per
question the answers in each cell. Breakdowns add cells up; small groups are suppressed as
before (primary and secondary suppression, see ``_breakdown``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from contracts.bands import AGE_BANDS
from contracts.map import MOST_CELLS
from contracts.rounds import (
    BreakdownCell,
    ChannelCount,
    DayCount,
    InvitationChannelRate,
    OptionCount,
    PinCell,
    Question,
    QuestionResult,
    RankCount,
)
from services.rounds import statistics, tallies
from services.rounds.tallies import Cells

GENDERS = ("female", "male", "other", "undisclosed")
OUTSIDE_BANDS = "0-15"
"""The breakdown group of respondents in no age band (members under 16): a group like the
others, suppressed like them, so totals minus the shown cells never single them out."""
NAMED_BANDS = tuple(name for name, _, _ in AGE_BANDS)
BANDS = (OUTSIDE_BANDS, *NAMED_BANDS)

Cell = tuple[str, str, str]
"""(age band, gender, district) of respondents."""
Weights = Mapping[Cell, float]
Channel = Literal["web", "sms", "paper", "mail", "poll"]


def wilson(count: float, n: float) -> tuple[float, float]:
    """The 95 % Wilson interval of ``count`` of ``n`` (``n`` may be an effective size), in
    per cent, rounded as the figures are shown; (0, 0) when ``n`` is 0."""
    found = statistics.wilson(count, n)
    if found is None:
        return (0.0, 0.0)
    return (round(100 * found.low, 1), round(100 * found.high, 1))


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _band(band: str) -> str:
    return band if band in NAMED_BANDS else OUTSIDE_BANDS


def _cells(counters: Mapping[str, float], kind: str) -> dict[tuple[str, ...], float]:
    return dict(tallies.per_cell(counters, kind))


def _by_value(counters: Mapping[str, float], kind: str = "v") -> dict[str, dict[Cell, float]]:
    """value → cell → count, from the ``v`` (or other) counters of a question."""
    out: dict[str, dict[Cell, float]] = {}
    for parts, amount in _cells(counters, kind).items():
        value, cell = parts[0], (parts[1], parts[2], parts[3])
        into = out.setdefault(value, {})
        into[cell] = into.get(cell, 0) + amount
    return out


def _answered(counters: Mapping[str, float]) -> dict[Cell, float]:
    return {(p[0], p[1], p[2]): a for p, a in _cells(counters, "_").items()}


def _tally(counts: Mapping[Cell, float], weights: Weights) -> statistics.Tally:
    """Σw and Σw² of the respondents counted per cell."""
    total = statistics.Tally(total=0.0, squares=0.0)
    for cell, n in counts.items():
        w = weights.get(cell, 0.0)
        total += statistics.Tally(total=w * n, squares=w * w * n)
    return total


def _option(
    option: str,
    values: Mapping[Cell, float],
    base: Mapping[Cell, float],
    weights: Weights | None,
) -> OptionCount:
    count = sum(values.values())
    n = sum(base.values())
    low, high = wilson(count, n)
    w_percent = w_low = w_high = None
    if weights is not None:
        weighted = statistics.weighted_proportion(_tally(values, weights), _tally(base, weights))
        if weighted is not None:
            w_percent = round(100 * weighted.estimate, 1)
            w_low, w_high = round(100 * weighted.low, 1), round(100 * weighted.high, 1)
    return OptionCount(
        option=option,
        count=round(count),
        percent=_percent(count, n),
        ci_low=low if n else None,
        ci_high=high if n else None,
        weighted_percent=w_percent,
        weighted_ci_low=w_low,
        weighted_ci_high=w_high,
    )


def _breakdown(
    groups: Sequence[str],
    group_of: Callable[[Cell], str],
    base: Mapping[Cell, float],
    options: Sequence[str],
    values: Mapping[str, Mapping[Cell, float]],
    threshold: int,
    means: Callable[[Callable[[Cell], bool]], float | None] | None = None,
) -> tuple[BreakdownCell, ...]:
    """Cells per group, small ones hidden, plus enough others that none can be worked out.

    The question's totals are shown, so one hidden cell (or hidden cells adding up to fewer
    than ``threshold``) could be recovered by subtraction; the smallest shown cells are then
    hidden too (secondary suppression) until the hidden ones together are at least
    ``threshold`` or nothing is shown.
    """
    size = dict.fromkeys(groups, 0.0)
    for cell, n in base.items():
        g = group_of(cell)
        if g in size:
            size[g] += n
    hidden = {g for g in groups if 0 < size[g] < threshold}
    shown = sorted((g for g in groups if size[g] >= threshold), key=lambda g: size[g])
    while hidden and sum(size[g] for g in hidden) < threshold and shown:
        hidden.add(shown.pop(0))
    out = []
    for g in groups:
        if g in hidden or not size[g]:
            out.append(BreakdownCell(group=g, respondents=None, counts=None))
            continue

        def inside(cell: Cell, g: str = g) -> bool:
            return group_of(cell) == g

        group_base = {c: n for c, n in base.items() if inside(c)}
        counts = tuple(
            _option(o, {c: n for c, n in values.get(o, {}).items() if inside(c)}, group_base, None)
            for o in options
        )
        out.append(
            BreakdownCell(
                group=g,
                respondents=round(size[g]),
                counts=counts,
                mean=means(inside) if means else None,
            )
        )
    return tuple(out)


def question_results(
    questions: Sequence[Question],
    kept: Cells,
    weights: Weights | None = None,
    threshold: int = 5,
) -> tuple[QuestionResult, ...]:
    """Counts, shares with intervals, means, ranks and suppressed breakdowns per question."""
    respondents = {(p[0], p[1], p[2]): a for p, a in _cells(kept.get("r", {}), "n").items()}
    districts = sorted({c[2] for c in respondents if c[2]})
    results = []
    for index, q in enumerate(questions):
        counters = kept.get(str(index), {})
        base = _answered(counters)
        answered = round(sum(base.values()))
        values = _by_value(counters)
        options: tuple[str, ...] = q.values() if q.kind in ("yes_no", "scale") else q.options
        if q.kind == "number":
            options = tuple(tallies.number_bins(q))
        if q.kind == "ranking":
            values = _ranking_firsts(counters)  # options' counts: first places
        mean = sd = low = high = w_mean = None
        means: Callable[[Callable[[Cell], bool]], float | None] | None = None
        if q.kind in ("scale", "number"):
            sums = _sums(q, counters, values)
            mean, sd, low, high = _moments(*sums(lambda _c: True))
            if weights is not None:
                w_mean = _weighted_mean(sums, weights, base)

            def means(inside: Callable[[Cell], bool], sums: _Sums = sums) -> float | None:
                return _moments(*sums(inside))[0]

        base_for_options = base
        if q.kind == "map":
            # Categories as shares of pins (a resident can place several).
            pins = _cells(counters, "d")
            base_for_options = {}
            for parts, n in pins.items():
                cell = (parts[1], parts[2], parts[3])
                base_for_options[cell] = base_for_options.get(cell, 0) + n
        option_counts = tuple(
            _option(o, values.get(o, {}), base_for_options, weights) for o in options
        )

        def breakdown(
            groups: Sequence[str],
            group_of: Callable[[Cell], str],
            base: Mapping[Cell, float] = base,
            options: Sequence[str] = options,
            values: Mapping[str, Mapping[Cell, float]] = values,
            means: Callable[[Callable[[Cell], bool]], float | None] | None = means,
            texts_only: bool = q.kind == "free_text",
        ) -> tuple[BreakdownCell, ...]:
            if texts_only:
                return ()
            return _breakdown(groups, group_of, base, options, values, threshold, means)

        results.append(
            QuestionResult(
                key=q.key,
                text=q.text,
                kind=q.kind,
                answered=answered,
                options=option_counts,
                by_age_band=breakdown(BANDS, lambda c: _band(c[0])),
                by_gender=breakdown(GENDERS, lambda c: c[1]),
                by_district=breakdown(districts, lambda c: c[2]),
                mean=mean,
                sd=sd,
                mean_ci_low=low,
                mean_ci_high=high,
                weighted_mean=w_mean,
                ranks=_ranks(q, counters, answered) if q.kind == "ranking" else (),
                districts=_pin_districts(counters) if q.kind == "map" else (),
                pins=_pin_cells(counters) if q.kind == "map" else (),
                texts=answered if q.kind == "free_text" else 0,
            )
        )
    return tuple(results)


_Sums = Callable[[Callable[[Cell], bool]], tuple[float, float, float]]


def _sums(
    q: Question, counters: Mapping[str, float], values: Mapping[str, Mapping[Cell, float]]
) -> _Sums:
    """n, Σx, Σx² of the respondents in the cells ``inside`` accepts."""
    if q.kind == "number":
        n_cells = _answered(counters)
        s_cells = {(p[0], p[1], p[2]): a for p, a in _cells(counters, "s").items()}
        q_cells = {(p[0], p[1], p[2]): a for p, a in _cells(counters, "q").items()}

        def number_sums(inside: Callable[[Cell], bool]) -> tuple[float, float, float]:
            return (
                sum(n for c, n in n_cells.items() if inside(c)),
                sum(s for c, s in s_cells.items() if inside(c)),
                sum(s for c, s in q_cells.items() if inside(c)),
            )

        return number_sums

    def scale_sums(inside: Callable[[Cell], bool]) -> tuple[float, float, float]:
        n = total = squares = 0.0
        for value, cells in values.items():
            x = float(value)
            for cell, count in cells.items():
                if inside(cell):
                    n += count
                    total += count * x
                    squares += count * x * x
        return n, total, squares

    return scale_sums


def _moments(
    n: float, total: float, squares: float
) -> tuple[float | None, float | None, float | None, float | None]:
    """Mean, standard deviation and the mean's 95 % interval (Student's t) from n, Σx, Σx²."""
    found = statistics.mean(statistics.Moments.of(n, total, squares)) if n > 0 else None
    if found is None:
        return None, None, None, None

    def shown(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return shown(found.estimate), shown(found.sd), shown(found.low), shown(found.high)


def _weighted_mean(sums: _Sums, weights: Weights, base: Mapping[Cell, float]) -> float | None:
    total = statistics.Moments.of(0, 0, 0)
    for cell in base:

        def only(c: Cell, cell: Cell = cell) -> bool:
            return c == cell

        total += statistics.Moments.of(*sums(only)).scaled(weights.get(cell, 0.0))
    found = statistics.mean(total)
    return None if found is None else round(found.estimate, 2)


def _ranking_firsts(counters: Mapping[str, float]) -> dict[str, dict[Cell, float]]:
    out: dict[str, dict[Cell, float]] = {}
    for parts, amount in _cells(counters, "r").items():
        option, place, cell = parts[0], parts[1], (parts[2], parts[3], parts[4])
        if place == "1":
            into = out.setdefault(option, {})
            into[cell] = into.get(cell, 0) + amount
    return out


def _ranks(q: Question, counters: Mapping[str, float], answered: int) -> tuple[RankCount, ...]:
    places: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    for parts, amount in _cells(counters, "r").items():
        option, place = parts[0], int(parts[1])
        places[option] += place * amount  # type: ignore[assignment]
        if place == 1:
            firsts[option] += amount  # type: ignore[assignment]
    out = []
    for option in q.options:
        low, high = wilson(firsts[option], answered)
        out.append(
            RankCount(
                option=option,
                average_rank=round(places[option] / answered, 2) if answered else 0.0,
                first=round(firsts[option]),
                first_percent=_percent(firsts[option], answered),
                ci_low=low if answered else None,
                ci_high=high if answered else None,
            )
        )
    return tuple(sorted(out, key=lambda r: r.average_rank))


def _pin_districts(counters: Mapping[str, float]) -> tuple[OptionCount, ...]:
    per: Counter[str] = Counter()
    for parts, amount in _cells(counters, "d").items():
        per[parts[0]] += amount  # type: ignore[assignment]
    total = sum(per.values())
    return tuple(
        OptionCount(option=d, count=round(n), percent=_percent(n, total))
        for d, n in sorted(per.items(), key=lambda item: (-item[1], item[0]))
    )


def _pin_cells(counters: Mapping[str, float]) -> tuple[PinCell, ...]:
    """The grid cells of a map question's pins, fullest first (at most ``MOST_CELLS``)."""
    cells = [
        PinCell(lat=float(parts[0]), lon=float(parts[1]), category=parts[2], count=round(n))
        for parts, n in _cells(counters, "g").items()
        if len(parts) == 3 and round(n) > 0
    ]
    cells.sort(key=lambda c: (-c.count, c.lat, c.lon, c.category))
    return tuple(cells[:MOST_CELLS])


def respondent_cells(kept: Cells) -> dict[Cell, float]:
    """Respondents per (age band, gender, district) cell: what weighting rakes."""
    return {(p[0], p[1], p[2]): a for p, a in _cells(kept.get("r", {}), "n").items()}


def by_day(kept: Cells, invited: int) -> tuple[DayCount, ...]:
    """Answers per day, with the running response rate."""
    days = sorted((p[0], a) for p, a in _cells(kept.get("r", {}), "day").items() if p[0])
    out, running = [], 0.0
    for day, n in days:
        running += n
        out.append(DayCount(day=day, answers=round(n), cumulative_rate=_percent(running, invited)))
    return tuple(out)


def by_invitation(
    kept: Cells, invited: int, sent: Mapping[str, int]
) -> tuple[InvitationChannelRate, ...]:
    """Response rate per channel the invitations went out on: ``sent`` invitations per channel
    (from dispatch's reports), answers per channel of the answering member's invitation (kept
    with the respondents); invitations no channel took are ``not_sent``."""
    if invited <= 0:
        return ()
    answered = {p[0]: a for p, a in _cells(kept.get("r", {}), "invited").items()}
    everyone = sum(_cells(kept.get("r", {}), "n").values())
    rows: list[InvitationChannelRate] = []
    for channel in ("email", "sms"):
        n, a = int(sent.get(channel, 0)), round(answered.get(channel, 0))
        if n or a:
            rows.append(_rate(channel, n, a))
    rest = invited - sum(r.invited for r in rows)
    rest_answered = round(everyone) - sum(r.answered for r in rows)
    if rest > 0 or rest_answered > 0:
        rows.append(_rate("not_sent", max(rest, 0), max(rest_answered, 0)))
    return tuple(rows)


def _rate(channel: Literal["email", "sms", "not_sent"], n: int, a: int) -> InvitationChannelRate:
    return InvitationChannelRate(channel=channel, invited=n, answered=a, percent=_percent(a, n))


def by_channel(kept: Cells) -> tuple[ChannelCount, ...]:
    """Answers per channel."""
    per = {p[0]: a for p, a in _cells(kept.get("r", {}), "channel").items()}
    total = sum(per.values())
    known: tuple[Channel, ...] = ("web", "sms", "paper", "mail", "poll")
    return tuple(
        ChannelCount(channel=c, answers=round(per[c]), percent=_percent(per[c], total))
        for c in known
        if per.get(c)
    )
