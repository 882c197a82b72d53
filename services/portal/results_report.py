"""A round's results as a printable PDF report (A4), from the figures rounds sent (pure).

Title, purpose, dates and response rate, what the figures can say (the self-selected panel's
caveat or the weighting's description), each question's table with a simple bar drawing, the
breakdowns with suppressed groups as "–", participation per day, channel and group, and the
staff's notes on groups reached another way. Like the letters, it uses the PDF's built-in
fonts in Windows-1252, which has every Swedish and Nordic letter (``letters.printable``).

Rendering is CPU work: call ``render`` in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from contracts.rounds import BreakdownCell, OptionCount, QuestionResult, RoundResults
from services.portal.charts import number_text, percent_text
from services.portal.domain import (
    ANSWER_CHANNELS,
    GENDERS,
    INVITATION_CHANNELS,
    ROUND_STATES,
    YES_NO_LABELS,
)
from services.portal.i18n import N_
from services.portal.letters import printable
from services.portal.results_files import TEXTS_APART, answer_days, caveat

FONT: Final = "Helvetica"
LEFT: Final = 20.0
WIDTH: Final = 170.0
BLUE: Final = (11, 79, 138)
INK: Final = (27, 31, 36)
HIDDEN: Final = "–"
WIDE_BREAKDOWN: Final = 6
"""Breakdowns of questions with more options than this are printed one row per group and
option, so the columns stay readable."""

REPORT = N_("Results report")
PAGE = N_("Page %(n)s of %(total)s")
ANSWER_DAYS = N_("Answers came in from %(first)s to %(last)s.")
WITHHELD = N_(
    "The answers are shown once %(n)s residents have answered. Until then only the response "
    "rate is shown, so that nobody's answer can be followed as it arrives."
)

Translate = Callable[[str], str]
Plural = Callable[[str, str, int], str]


class _Report(FPDF):
    page_words = "%(n)s / %(total)s"

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(*INK)
        text = self.page_words % {"n": self.page_no(), "total": "{nb}"}
        self.cell(0, 6, printable(text), align="C")


class _Writer:
    """Writes the report's parts in order onto one PDF."""

    def __init__(self, results: RoundResults, translate: Translate, plural: Plural, lang: str):
        self.results = results
        self._ = translate
        self.plural = plural
        self.lang = lang
        self.pdf = _Report(format="A4")
        self.pdf.core_fonts_encoding = "cp1252"
        self.pdf.page_words = translate(PAGE)
        self.pdf.set_margins(LEFT, 18, LEFT)
        self.pdf.set_auto_page_break(True, margin=20)
        self.pdf.set_text_color(*INK)

    def percent(self, value: float | None) -> str:
        return "" if value is None else percent_text(value, self.lang)

    def number(self, value: float | None) -> str:
        return "" if value is None else number_text(value, self.lang)

    def text(self, text: str, size: float = 10, style: str = "", height: float = 5) -> None:
        self.pdf.set_font(FONT, style, size)
        self.pdf.set_x(LEFT)
        self.pdf.multi_cell(WIDTH, height, printable(text), new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str, size: float = 13) -> None:
        # A heading never ends a page alone: it needs room for a few lines of what follows.
        if self.pdf.get_y() > self.pdf.page_break_trigger - 45:
            self.pdf.add_page()
        self.pdf.ln(4)
        self.text(text, size, "B", size * 0.5)
        self.pdf.ln(1)

    def table(
        self,
        caption: str,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
    ) -> None:
        """A table with its caption; the first column left, the others right-aligned."""
        if not rows:
            return
        self.text(caption, 9, "B")
        self.pdf.set_font(FONT, size=8.5)
        columns = len(widths)
        align = ("LEFT", *("RIGHT" for _ in range(columns - 1)))
        with self.pdf.table(
            col_widths=tuple(widths),
            text_align=align,
            width=WIDTH,
            align="LEFT",
            line_height=4.6,
            headings_style=FontFace(emphasis="BOLD"),
            first_row_as_headings=bool(header),
            padding=1,
        ) as table:
            if header:
                heading = table.row()
                for h in header:
                    heading.cell(printable(h))
            for values in rows:
                row = table.row()
                for v in values:
                    row.cell(printable(v))
        self.pdf.ln(3)

    def bars(self, options: Sequence[OptionCount], label: Callable[[str], str]) -> None:
        """A bar per option, its length the share of 100 %, with the 95 % interval."""
        height = 5.0 * len(options) + 4
        if self.pdf.get_y() + height > self.pdf.page_break_trigger:
            self.pdf.add_page()
        y = self.pdf.get_y()
        left, span = LEFT + 62, 90.0
        self.pdf.set_font(FONT, size=8)
        self.pdf.set_draw_color(*INK)
        for i, o in enumerate(options):
            top = y + 5 * i
            self.pdf.set_xy(LEFT, top)
            text = printable(label(o.option))
            if len(text) > 40:
                text = text[:39] + "…"
            self.pdf.cell(60, 4, text, align="R")
            self.pdf.set_fill_color(*BLUE)
            share = max(0.0, min(100.0, o.percent))
            if share > 0:
                self.pdf.rect(left, top + 0.5, span * share / 100, 3, style="F")
            if o.ci_low is not None and o.ci_high is not None:
                low = left + span * max(0.0, o.ci_low) / 100
                high = left + span * min(100.0, o.ci_high) / 100
                self.pdf.set_line_width(0.3)
                self.pdf.line(low, top + 2, high, top + 2)
                self.pdf.line(low, top + 1, low, top + 3)
                self.pdf.line(high, top + 1, high, top + 3)
            self.pdf.set_xy(left + span + 2, top)
            self.pdf.cell(20, 4, printable(self.percent(o.percent)))
        self.pdf.set_fill_color(255, 255, 255)
        self.pdf.set_y(y + height)

    # -- the parts ---------------------------------------------------------------------------

    def front(self, council: str, today: date) -> None:
        r = self.results.round
        _ = self._
        self.pdf.add_page()
        self.text(f"{_(REPORT)} · {council}", 10)
        self.pdf.ln(2)
        self.text(r.title, 18, "B", 8)
        self.pdf.ln(2)
        self.text(r.purpose, 10)
        self.pdf.ln(2)
        first, last = answer_days(self.results)
        facts = [
            (_("Status"), _(ROUND_STATES.get(r.state, r.state))),
            (_("Drafted"), r.created_at.date().isoformat()),
            (_("Invited"), self.number(r.invited)),
            (_("Answered"), self.number(r.responded)),
            (_("Response rate"), self.percent(self.results.response_rate) if r.invited else "–"),
            (_("Exported"), today.isoformat()),
        ]
        self.table(_("The round"), (), facts, (60, 110))
        if first:
            self.text(_(ANSWER_DAYS) % {"first": first, "last": last}, 10)
        if self.results.withheld_until:
            self.pdf.ln(2)
            self.text(_(WITHHELD) % {"n": self.results.withheld_until}, 10)
        elif self.results.questions:
            self.pdf.ln(2)
            self.text(caveat(self.results, _), 10, "I")

    def question(self, n: int, q: QuestionResult) -> None:
        _ = self._
        self.heading(f"{n}. {q.text}")
        self.text(
            self.plural(
                "%(n)s respondent answered this question.",
                "%(n)s respondents answered this question.",
                q.answered,
            )
            % {"n": self.number(q.answered)},
            9,
        )
        if q.mean is not None:
            line = _(
                "Mean %(mean)s (95 %% interval %(low)s–%(high)s), standard deviation %(sd)s."
            ) % {
                "mean": self.number(q.mean),
                "low": self.number(q.mean_ci_low),
                "high": self.number(q.mean_ci_high),
                "sd": self.number(q.sd),
            }
            if q.weighted_mean is not None:
                line += " " + _("Weighted mean %(mean)s.") % {"mean": self.number(q.weighted_mean)}
            self.text(line, 9)
        self.pdf.ln(1)

        def label(option: str) -> str:
            return (
                _(YES_NO_LABELS[option])
                if q.kind == "yes_no" and option in YES_NO_LABELS
                else option
            )

        if q.kind == "free_text":
            self.text(_(TEXTS_APART), 9, "I")
            return
        if q.kind == "ranking":
            rows: list[Sequence[str]] = [
                (
                    r.option,
                    self.number(r.average_rank),
                    f"{self.percent(r.first_percent)} ({self.number(r.first)})",
                    f"{self.percent(r.ci_low)}–{self.percent(r.ci_high)}"
                    if r.ci_low is not None
                    else "",
                )
                for r in q.ranks
            ]
            self.table(
                _("Ranking in question %(n)s") % {"n": n},
                (_("Option"), _("Average place"), _("Put first"), _("95 % interval")),
                rows,
                (80, 30, 30, 30),
            )
        elif q.options:
            weighted = any(o.weighted_percent is not None for o in q.options)
            header = [_("Option"), _("Answers"), _("Share"), _("95 % interval")]
            if weighted:
                header.append(_("Weighted share"))
            rows = []
            for o in q.options:
                row = [
                    label(o.option),
                    self.number(o.count),
                    self.percent(o.percent),
                    f"{self.percent(o.ci_low)}–{self.percent(o.ci_high)}"
                    if o.ci_low is not None
                    else "",
                ]
                if weighted:
                    row.append(self.percent(o.weighted_percent))
                rows.append(row)
            caption = (
                _("Places marked in question %(n)s, by kind")
                if q.kind == "map"
                else _("Answers to question %(n)s")
            ) % {"n": n}
            widths = (70, 25, 25, 30, 20) if weighted else (80, 30, 30, 30)
            self.table(caption, header, rows, widths)
            self.bars(q.options, label)
        if q.districts:
            self.table(
                _("Places marked in question %(n)s, by district") % {"n": n},
                (_("District"), _("Places"), _("Share")),
                [
                    (
                        d.option or _("Outside every district"),
                        self.number(d.count),
                        self.percent(d.percent),
                    )
                    for d in q.districts
                ],
                (100, 35, 35),
            )
        for caption, group_header, cells in (
            (_("Question %(n)s by age group"), _("Age group"), q.by_age_band),
            (_("Question %(n)s by gender"), _("Gender"), q.by_gender),
            (_("Question %(n)s by district"), _("District"), q.by_district),
        ):
            self.breakdown(caption % {"n": n}, group_header, q, cells, label)
        if q.by_age_band or q.by_gender:
            self.text(
                _(
                    "– means fewer than %(n)s respondents in the group. Such groups are hidden "
                    "so that nobody can be recognised."
                )
                % {"n": self.results.suppression_threshold},
                8,
                "I",
            )

    def breakdown(
        self,
        caption: str,
        group_header: str,
        q: QuestionResult,
        cells: Sequence[BreakdownCell],
        label: Callable[[str], str],
    ) -> None:
        """One breakdown: groups as rows, a share per option (and the mean); a suppressed
        group shows "–" everywhere."""
        if not cells:
            return
        _ = self._
        options = [o.option for o in q.options]
        with_mean = q.mean is not None

        def group_name(group: str) -> str:
            return _(GENDERS[group]) if group in GENDERS else group

        def share(cell: BreakdownCell, option: str) -> str:
            found = next((c for c in cell.counts or () if c.option == option), None)
            if found is None:
                return HIDDEN
            return f"{self.percent(found.percent)} ({self.number(found.count)})"

        if len(options) > WIDE_BREAKDOWN:
            long_rows: list[Sequence[str]] = []
            for cell in cells:
                if cell.respondents is None or cell.counts is None:
                    long_rows.append((group_name(cell.group), HIDDEN, HIDDEN, HIDDEN))
                    continue
                for option in options:
                    long_rows.append(
                        (
                            group_name(cell.group),
                            self.number(cell.respondents),
                            label(option),
                            share(cell, option),
                        )
                    )
            long_header = (group_header, _("Respondents"), _("Option"), _("Share"))
            self.table(caption, long_header, long_rows, (40, 25, 70, 35))
            return
        header = [group_header, _("Respondents"), *(label(o) for o in options)]
        if with_mean:
            header.append(_("Mean"))
        rows: list[Sequence[str]] = []
        for cell in cells:
            if cell.respondents is None or cell.counts is None:
                rows.append([group_name(cell.group), *([HIDDEN] * (len(header) - 1))])
                continue
            row = [group_name(cell.group), self.number(cell.respondents)]
            row += [share(cell, o) for o in options]
            if with_mean:
                row.append(self.number(cell.mean))
            rows.append(row)
        rest = (WIDTH - 55) / max(1, len(header) - 2)
        self.table(caption, header, rows, (35, 20, *([rest] * (len(header) - 2))))

    def participation(self) -> None:
        _ = self._
        results = self.results
        if results.by_day or results.by_channel or results.turnout:
            self.heading(_("When and how answers came in"))
        self.table(
            _("Answers per day"),
            (_("Day"), _("Answers"), _("Response rate so far")),
            [
                (d.day, self.number(d.answers), self.percent(d.cumulative_rate))
                for d in results.by_day
            ],
            (70, 50, 50),
        )
        self.table(
            _("Answers per channel"),
            (_("Channel"), _("Answers"), _("Share")),
            [
                (_(ANSWER_CHANNELS[c.channel]), self.number(c.answers), self.percent(c.percent))
                for c in results.by_channel
            ],
            (70, 50, 50),
        )
        self.table(
            _("Response rate by how the invitation went out"),
            (_("Invitation"), _("Invited"), _("Answered"), _("Response rate")),
            [
                (
                    _(INVITATION_CHANNELS[r.channel]),
                    self.number(r.invited),
                    self.number(r.answered),
                    self.percent(r.percent),
                )
                for r in results.by_invitation
            ],
            (70, 35, 35, 35),
        )
        self.table(
            _("Who took part"),
            (_("Group"), _("Invited"), _("Answered"), _("Response rate")),
            [
                (
                    _(GENDERS[t.group])
                    if t.dimension == "gender" and t.group in GENDERS
                    else t.group,
                    self.number(t.invited),
                    self.number(t.answered),
                    self.percent(t.rate),
                )
                for t in results.turnout
            ],
            (65, 35, 35, 35),
        )

    def outreach(self) -> None:
        notes = self.results.outreach
        if not notes:
            return
        self.heading(self._("Groups reached another way"))
        for note in notes:
            self.text(f"{note.groups} ({note.noted_on}, {note.noted_by})", 10, "B")
            self.text(note.method, 10)
            self.pdf.ln(2)


def render(
    results: RoundResults,
    *,
    council: str,
    translate: Translate,
    plural: Plural,
    lang: str = "sv",
    today: date | None = None,
) -> bytes:
    """The round's results report as PDF bytes."""
    writer = _Writer(results, translate, plural, lang)
    pdf = writer.pdf
    pdf.set_title(printable(results.round.title))
    pdf.set_creator("Rådslag")
    pdf.set_lang(lang)
    writer.front(council, today or date.today())
    for n, q in enumerate(results.questions, start=1):
        writer.question(n, q)
    writer.participation()
    writer.outreach()
    return bytes(pdf.output())
