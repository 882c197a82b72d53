"""Results charts drawn on the server as SVG: well-formed, named, tied to their data table,
drawn to scale, escaped, and free of inline styles, scripts and outside resources."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from markupsafe import Markup

from contracts.rounds import RoundResults
from services.portal import charts, results_charts
from services.portal.charts import Bar, Column, Day, Place, Words
from services.portal.i18n import Catalogues
from services.rounds import results as computed
from services.rounds import tallies
from tests.portal.fakes import round_view
from tests.unit.test_questions import ALL, _people

SVG = "{http://www.w3.org/2000/svg}"
WORDS = Words(title="Answers to question 1")


def parsed(svg: Markup) -> ET.Element:
    """The chart as XML (it must parse), after the checks every chart passes."""
    text = str(svg)
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby")
    # No inline styles (the CSP forbids them), nothing that runs, nothing fetched.
    assert "style=" not in text
    assert "<script" not in text.lower()
    assert "href" not in text
    assert re.findall(r"https?://[^\"]+", text) == ["http://www.w3.org/2000/svg"]
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}rect") if e.get("class") == "chart-bar"]


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]


def test_share_bars_are_one_per_option_and_to_scale() -> None:
    svg = charts.share_bars(
        [Bar("Yes", 60.0, 45.0, 73.0), Bar("No", 30.0, 18.0, 45.0), Bar("Don't know", 10.0)],
        chart_id="chart-answers-q1",
        described_by="answers-q1",
        words=WORDS,
        lang="sv",
    )
    root = parsed(svg)
    assert root.get("aria-describedby") == "answers-q1"
    assert root.findtext(f"{SVG}title") == "Answers to question 1"
    drawn = bars(root)
    assert len(drawn) == 3
    widths = [float(b.get("width", "")) for b in drawn]
    # Lengths proportional to the shares: 60 : 30 : 10.
    assert widths[0] / 60 == widths[1] / 30 == widths[2] / 10
    assert widths[0] == (charts.PLOT_RIGHT - charts.PLOT_LEFT) * 0.6
    labels = texts(root)
    assert "Yes" in labels
    assert "Don't know" in labels
    assert "60\xa0%" in labels  # the share, as Swedish writes it
    # Two intervals (whiskers, each over its halo) and their legend; no weighted markers.
    intervals = [e for e in root.iter(f"{SVG}path") if e.get("class") == "chart-interval"]
    assert len(intervals) == 2 * 3
    assert not [e for e in root.iter(f"{SVG}path") if e.get("class") == "chart-weighted"]
    assert "95 % interval" in labels


def test_the_weighted_share_is_a_marker_where_it_is_given() -> None:
    root = parsed(
        charts.share_bars(
            [Bar("Yes", 60.0, weighted=52.0), Bar("No", 40.0, weighted=48.0)],
            chart_id="c",
            described_by="t",
            words=WORDS,
        )
    )
    markers = [e for e in root.iter(f"{SVG}path") if e.get("class") == "chart-weighted"]
    assert len(markers) == 2 + 1  # one per bar and one in the legend
    span = charts.PLOT_RIGHT - charts.PLOT_LEFT
    assert markers[0].get("d", "").startswith(f"M{charts.PLOT_LEFT + span * 0.52:.1f}")
    assert "Weighted share" in texts(root)


def test_option_texts_are_escaped() -> None:
    svg = charts.share_bars(
        [Bar("<script>alert(1)</script>", 50.0), Bar('A "quoted" & <b>bold</b> one', 50.0)],
        chart_id='c"><script>',
        described_by="t",
        words=Words(title="<img src=x onerror=alert(1)>"),
    )
    root = parsed(svg)
    assert not list(root.iter("script"))
    assert not list(root.iter(f"{SVG}script"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in str(svg)
    assert "<script>alert(1)</script>" in texts(root)
    assert root.findtext(f"{SVG}title") == "<img src=x onerror=alert(1)>"
    assert root.get("id") == 'c"><script>'


def test_long_labels_are_shortened_with_the_whole_text_as_a_tooltip() -> None:
    long = "A very long option that would run into the bars if it were drawn whole"
    root = parsed(
        charts.share_bars([Bar(long, 100.0)], chart_id="c", described_by="t", words=WORDS)
    )
    label = next(e for e in root.iter(f"{SVG}text") if e.find(f"{SVG}title") is not None)
    tooltip = label.find(f"{SVG}title")
    assert tooltip is not None
    assert tooltip.text == long
    shown = tooltip.tail or ""
    assert shown.endswith("…")
    assert len(shown) == charts.LABEL_CHARS
    assert long.startswith(shown[:-1])


def test_distribution_columns_are_to_scale_with_the_mean() -> None:
    root = parsed(
        charts.distribution(
            [
                Column(str(v), p)
                for v, p in zip(range(1, 6), (10.0, 20.0, 40.0, 20.0, 10.0), strict=True)
            ],
            chart_id="c",
            described_by="t",
            words=WORDS,
            mean_at=2.0,
            mean_text="Mean 3",
        )
    )
    heights = [float(b.get("height", "")) for b in bars(root)]
    assert len(heights) == 5
    assert heights[2] == 2 * heights[1] == 4 * heights[0]
    assert [e for e in root.iter(f"{SVG}path") if e.get("class") == "chart-mean"]
    assert "Mean 3" in texts(root)


def test_ranking_places_each_option_by_its_average_place() -> None:
    root = parsed(
        charts.ranking(
            [Place("Lights", 1.25), Place("Toilets", 2.0), Place("Benches", 2.75)],
            chart_id="c",
            described_by="t",
            words=WORDS,
        )
    )
    dots = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "chart-place"]
    xs = [float(d.get("cx", "")) for d in dots]
    assert len(xs) == 3
    # 1 is the left end, 3 (the number of options) the right; 2.0 sits in the middle.
    assert xs[1] == (charts.PLOT_LEFT + charts.PLOT_RIGHT) / 2
    assert xs[0] < xs[1] < xs[2]


def test_answers_per_day_are_columns_with_the_running_rate() -> None:
    root = parsed(
        charts.days(
            [Day("11-20", 10, 20.0), Day("11-21", 30, 80.0), Day("11-22", 5, 90.0)],
            chart_id="c",
            described_by="t",
            words=WORDS,
        )
    )
    heights = [float(b.get("height", "")) for b in bars(root)]
    assert heights[1] == 3 * heights[0] == 6 * heights[2]
    assert [e for e in root.iter(f"{SVG}path") if e.get("class") == "chart-rate"]
    assert {"11-20", "11-21", "11-22", "Answers", "Response rate so far"} <= set(texts(root))


def test_each_kind_of_question_gets_its_chart() -> None:
    people = _people(
        30,
        {
            "park": "yes",
            "how": ["Walk", "Bus"],
            "happy": 4,
            "visits": 10,
            "why": "Quiet",
            "rank": ["Lights", "Toilets", "Benches"],
            "place": [{"district": "Kisa", "category": "Nice"}],
        },
    ) + _people(10, {"park": "no", "happy": 2, "visits": 20}, gender="male")
    kept = tallies.sum_cells(ALL, people)
    results = RoundResults(
        round=round_view("r", state="closed", questions=ALL),
        response_rate=80.0,
        suppression_threshold=5,
        questions=computed.question_results(ALL, kept),
        by_day=computed.by_day(kept, 50),
    )
    catalogues = Catalogues()

    def swedish(message: str) -> str:
        return catalogues.gettext("sv", message)

    drawn = {
        q.key: results_charts.question_chart(q, n, f"answers-{q.key}", swedish, "sv")
        for n, q in enumerate(results.questions, start=1)
    }
    classes = {key: parsed(svg).get("class") for key, svg in drawn.items() if svg}
    assert classes == {
        "park": "chart chart-shares",
        "how": "chart chart-shares",
        "happy": "chart chart-distribution",
        "visits": "chart chart-distribution",
        "rank": "chart chart-ranking",
        "place": "chart chart-shares",
    }
    assert drawn["why"] == ""
    assert drawn["bike"] == ""
    park = parsed(drawn["park"])
    assert park.findtext(f"{SVG}title") == "Diagram: andelar av svaren på fråga 1"
    assert {"Ja", "Nej"} <= set(texts(park))
    days = parsed(results_charts.day_chart(results.by_day, "answers-per-day", swedish, "sv"))
    assert days.get("aria-describedby") == "answers-per-day"


def test_the_portals_stylesheet_leaves_the_drawing_to_the_chart() -> None:
    # CSS beats SVG presentation attributes: a rule for a chart part's class (a width, a fill)
    # would redraw every bar the same, so the parts' classes are the charts' own.
    css = (Path(charts.__file__).parent / "static" / "portal.css").read_text()
    drawn = str(
        charts.share_bars(
            [Bar("A", 50.0, 40.0, 60.0, 55.0)], chart_id="c", described_by="t", words=WORDS
        )
        + charts.distribution(
            [Column("1", 50.0)], chart_id="c", described_by="t", words=WORDS, mean_at=0
        )
        + charts.ranking([Place("A", 1.0)], chart_id="c", described_by="t", words=WORDS)
        + charts.days([Day("11-20", 1, 5.0)], chart_id="c", described_by="t", words=WORDS)
    )
    parts = set(re.findall(r'class="(chart-[a-z]+)"', drawn))
    assert parts == {f"chart-{p}" for p in ("bar", "interval", "weighted", "mean", "place", "rate")}
    for part in parts:
        assert f".{part}" not in css, part
