"""A round's results to take away: CSV and XLSX figures with a codebook, written answers as
CSV a page at a time, and the PDF report; with the results page's access rules."""

from __future__ import annotations

import csv
import io
import re
import zlib
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from contracts.rounds import (
    GetResults,
    ListAnswerTexts,
    OutreachNote,
    Question,
    RoundResults,
    Turnout,
    Weighting,
)
from services.portal.accounts import create_account
from services.portal.results_files import NAMES
from services.rounds import results as computed
from services.rounds import tallies
from tests.portal.conftest import PASSWORD, api_login, check_page, text_of
from tests.portal.fakes import FakeGateway, round_view
from tests.portal.test_results_kinds import _results
from tests.portal.test_staff import ROUND, login
from tests.unit.test_questions import ALL, _people

pytestmark = pytest.mark.usefixtures("accounts")

BASE = f"/t/gnosjo/staff/rounds/{ROUND}"
API = f"/api/t/gnosjo/rounds/{ROUND}"
TRICKY = Question(
    key="pick",
    kind="single_choice",
    text="Which one?",
    options=("=1+1", "@SUM(A1)", "Plain"),
)
TITLE = "Parken vid sjön: öppettider"


def _tricky_results(
    gateway: FakeGateway, monkeypatch: Any, weighting: Weighting | None = None
) -> RoundResults:
    """A closed round whose option texts look like spreadsheet formulas, with a group small
    enough to be suppressed (3 of gender 'other', which hides the men too), an outreach note
    and, when given, weighting."""
    view = round_view(ROUND, state="closed", questions=(TRICKY,), title=TITLE)
    gateway.rounds[("gnosjo", ROUND)] = view
    people = (
        _people(20, {"pick": "=1+1"})
        + _people(10, {"pick": "Plain"}, gender="male")
        + _people(3, {"pick": "@SUM(A1)"}, gender="other", band="16-29")
    )
    kept = tallies.sum_cells((TRICKY,), people)
    questions = computed.question_results((TRICKY,), kept)
    if weighting is not None:
        first = questions[0]
        weighted = tuple(
            o.model_copy(update={"weighted_percent": 50.0, "weighted_ci_low": 40.0})
            for o in first.options
        )
        questions = (first.model_copy(update={"options": weighted}),)
    figures = RoundResults(
        round=view,
        response_rate=82.5,
        suppression_threshold=5,
        questions=questions,
        by_day=computed.by_day(kept, 40),
        by_channel=computed.by_channel(kept),
        turnout=(Turnout(dimension="gender", group="female", invited=25, answered=20, rate=80.0),),
        outreach=(
            OutreachNote(
                groups="Unga män i Kisa",
                method="Ett skolbesök: 40 elever svarade på samma frågor.",
                noted_by="anna",
                noted_on="2026-11-21",
            ),
        ),
        weighting=weighting,
    )

    async def get_results(query: GetResults) -> RoundResults | None:
        gateway._asked(query)
        return figures if (query.tenant, query.round_id) == ("gnosjo", ROUND) else None

    monkeypatch.setattr(gateway, "get_results", get_results)
    return figures


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _pdf_text(pdf: bytes) -> bytes:
    """Every content stream of the PDF, inflated: the text fpdf wrote, in Windows-1252."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            out.append(match.group(1))
    return b"\n".join(out)


async def test_csv_has_a_row_per_question_answer_and_group(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    response = await client.get(f"{BASE}/results.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="radslag-gnosjo-{ROUND}-results.csv"'
    )
    rows = _rows(response)
    assert list(rows[0]) == list(NAMES)
    every = {(r["question_key"], r["option"]): r for r in rows if r["breakdown"] == "all"}
    yes = every[("park", "yes")]
    assert (yes["code"], yes["count"], yes["percent"], yes["ci_low"], yes["ci_high"]) == (
        "1",
        "30",
        "75.0",
        "59.8",
        "85.8",
    )
    assert every[("how", "Bus")]["code"] == "3"
    assert every[("happy", "")]["mean"] == "3.5"  # the mean's own row
    assert every[("happy", "4")]["code"] == "4"  # a scale's code is its value
    assert every[("rank", "Lights")]["average_rank"] == "1.0"
    by_gender = {
        (r["question_key"], r["group"], r["option"]): r for r in rows if r["breakdown"] == "gender"
    }
    assert by_gender[("park", "male", "no")]["count"] == "10"
    assert any(r["breakdown"] == "pin_district" and r["group"] == "Kisa" for r in rows)
    # Free texts are not among the figures: a row says where they are.
    why = [r for r in rows if r["question_key"] == "why"]
    assert len(why) == 1
    assert "texts.csv" in why[0]["note"]
    assert "Svar 1" not in response.text
    assert "Quiet" not in response.text


async def test_suppressed_groups_stay_suppressed_and_formulas_stay_text(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    figures = _tricky_results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    rows = _rows(await client.get(f"{BASE}/results.csv"))
    sent = {c.group: c for c in figures.questions[0].by_gender}
    assert sent["other"].counts is None
    assert sent["male"].counts is None  # hidden too, or 'other' could be worked out
    for group in ("other", "male"):
        hidden = [r for r in rows if r["breakdown"] == "gender" and r["group"] == group]
        assert len(hidden) == 3
        for r in hidden:
            assert r["respondents"] == r["count"] == r["percent"] == r["ci_low"] == ""
            assert r["note"].startswith("Dolt: färre än 5 svarande")
    female = [r for r in rows if r["breakdown"] == "gender" and r["group"] == "female"]
    assert [r["count"] for r in female] == ["20", "0", "0"]
    # Texts a spreadsheet would run get an apostrophe; the figures are untouched.
    options = [r["option"] for r in rows if r["breakdown"] == "all"]
    assert options == ["'=1+1", "'@SUM(A1)", "Plain"]
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())


async def test_xlsx_has_figures_breakdowns_and_a_codebook(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    response = await client.get(f"{BASE}/results.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert (
        f'filename="radslag-gnosjo-{ROUND}-results.xlsx"' in response.headers["content-disposition"]
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "Siffror",
        "Per åldersgrupp",
        "Per kön",
        "Per kommundel",
        "Deltagande",
        "Kodbok",
    ]
    figures = list(book["Siffror"].iter_rows(values_only=True))
    assert figures[0] == NAMES
    assert {r[4] for r in figures[1:]} == {"all", "pin_district"}
    assert {r[4] for r in list(book["Per kön"].iter_rows(values_only=True))[1:]} == {"gender"}
    codebook = list(book["Kodbok"].iter_rows(values_only=True))
    cells = [c for row in codebook for c in row if c is not None]
    facts = {row[0]: row[1] for row in codebook if row[0] and row[1] is not None}
    assert facts["Rubrik"] == "Library opening hours"
    assert facts["Syfte"] == "The culture committee decides on opening hours in May."
    assert facts["Inbjudna"] == 40
    assert facts["Svarat"] == 17
    assert facts["Skapad som utkast"] == "2026-03-01"
    assert facts["Första svaren"] == facts["Sista svaren"] == "2026-11-20"
    assert "Grupper med färre än 5 svarande döljs" in facts["Gräns för att dölja grupper"]
    assert facts["Vad siffrorna säger"].startswith("Panelens svar är ingen undersökning")
    # Every question: key, kind, text, its codes, scale labels, range and unit, skip logic.
    questions = {row[1]: row for row in codebook if row[2] in {q.kind for q in ALL}}
    assert set(questions) == {q.key for q in ALL}
    assert questions["happy"][2:5] == ("scale", "Skala", "How happy?")
    assert questions["how"][5] == "Visas bara när fråga park besvarades med: yes"
    assert questions["how"][6] == "Välj 1 till 2"
    assert questions["visits"][6] == "Intervall 0–60; Enhet: times; Heltal"
    codes = {(row[1], row[7]): (row[8], row[9]) for row in codebook if row[7] is not None}
    assert codes[("how", 2)] == ("Bike", None)
    assert codes[("park", 1)] == ("yes", "Ja")
    assert codes[("happy", 1)] == ("1", "Not")
    assert codes[("happy", 5)] == ("5", "Very")
    assert codes[("rank", 3)] == ("Benches", None)
    assert codes[("place", 1)] == ("Danger", None)
    assert ("visits", 1) in codes  # the number's bins as the figures list them
    assert "Fritext" in cells
    assert "average_rank" in cells  # the columns are explained
    assert "Under 16 (medlemmar yngre än åldersgrupperna)" in cells


async def test_xlsx_keeps_formulas_as_text_and_describes_the_weighting(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    weighting = Weighting(
        applied=True,
        description="Weighted by age band, gender and district to the council's population.",
        effective_n=28.4,
    )
    _tricky_results(gateway, monkeypatch, weighting)
    await login(client, "gnosjo", "anna")
    book = load_workbook(io.BytesIO((await client.get(f"{BASE}/results.xlsx")).content))
    sheet = book["Siffror"]
    option = sheet.cell(row=2, column=NAMES.index("option") + 1)
    assert option.value == "=1+1"
    assert option.data_type == "s"  # a string, never a formula
    assert sheet.cell(row=2, column=NAMES.index("weighted_percent") + 1).value == 50.0
    facts = {row[0]: row[1] for row in book["Kodbok"].iter_rows(values_only=True) if row[0]}
    assert facts["Vad siffrorna säger"] == weighting.description
    assert facts["Effektiv urvalsstorlek"] == 28.4
    hidden = [
        row for row in book["Per kön"].iter_rows(values_only=True) if row[5] in ("male", "other")
    ]
    assert len(hidden) == 6
    assert all(row[6] is None and row[9] is None for row in hidden)


async def test_written_answers_are_streamed_page_by_page(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any, db: Any
) -> None:
    _results(gateway, monkeypatch)
    texts = [f"Svar {n}" for n in range(450)]
    texts[7] = '=HYPERLINK("http://evil.example/","klicka")'
    texts[8] = 'Två rader,\nmed kommatecken och "citat"'
    gateway.answer_texts[("gnosjo", ROUND, "why")] = texts
    gateway.text_tags[("gnosjo", ROUND, "why", f"{1:032x}")] = ("cost", "safety")
    await login(client, "gnosjo", "anna")
    response = await client.get(f"{BASE}/questions/why/texts.csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        f'attachment; filename="radslag-gnosjo-{ROUND}-why-texts.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["no", "text", "tags"]
    assert len(rows) == 451
    assert rows[1] == ["1", "Svar 0", ""]
    assert rows[2] == ["2", "Svar 1", "cost; safety"]
    assert rows[450] == ["450", "Svar 449", ""]
    assert rows[8][1] == "'" + texts[7]
    assert rows[9][1] == texts[8]
    # Asked a page of at most 200 at a time, following the cursor.
    pages = [(q.after, q.limit) for q in gateway.asked(ListAnswerTexts)]
    assert pages == [("", 200), ("200", 200), ("400", 200)]
    # Copying written answers out is in the audit trail.
    entry = await db.audit.find_one({"action": "written_answers_csv"})
    assert entry is not None
    assert entry["username"] == "anna"
    # Only questions with written answers; unknown ones are 404.
    assert (await client.get(f"{BASE}/questions/park/texts.csv")).status_code == 404
    assert (await client.get(f"{BASE}/questions/nope/texts.csv")).status_code == 404
    assert (await client.get(f"{BASE}/questions/Bad!/texts.csv")).status_code == 404


async def test_pdf_report_has_the_round_its_tables_and_notes(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _tricky_results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    response = await client.get(f"{BASE}/results.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="radslag-gnosjo-{ROUND}-results.pdf"'
    )
    assert response.content.startswith(b"%PDF")
    text = _pdf_text(response.content)
    for words in (
        TITLE,  # with its Swedish letters
        "Resultatrapport",
        "Svarsfrekvens",
        "82,5",
        "Panelens svar",
        "Which one?",
        "Fråga 1 per kön",
        "Unga män i Kisa",
        "Ett skolbesök",
    ):
        assert words.encode("cp1252") in text, words
    # Suppressed groups are shown as an en dash, never as figures.
    assert b"(\x96)" in text


async def test_the_api_serves_the_same_files(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    for path in ("results.csv", "results.xlsx", "results.pdf", "questions/why/texts.csv"):
        assert (await client.get(f"{API}/{path}")).status_code == 401
    await api_login(client, "gnosjo", "anna")
    csv_file = await client.get(f"{API}/results.csv")
    assert csv_file.status_code == 200
    assert _rows(csv_file)[0]["question_key"] == "park"
    assert (await client.get(f"{API}/results.xlsx")).content.startswith(b"PK")
    assert (await client.get(f"{API}/results.pdf")).content.startswith(b"%PDF")
    texts = await client.get(f"{API}/questions/why/texts.csv")
    assert texts.status_code == 200
    assert texts.text.count("Svar ") == 120
    missing = await client.get(f"/api/t/gnosjo/rounds/{ROUND[:-1]}1/results.csv")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "unknown round or question"
    assert (await client.get(f"{API}/questions/park/texts.csv")).status_code == 404
    openapi = (await client.get("/api/openapi.json")).json()
    assert "/api/t/{tenant}/rounds/{round_id}/results.xlsx" in openapi["paths"]


FILES = ("results.csv", "results.xlsx", "results.pdf", "questions/why/texts.csv")


async def test_another_councils_staff_get_none_of_the_files(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    gateway.rounds[("vaggeryd", ROUND)] = round_view(ROUND, state="closed", title="Vaggeryd")
    await login(client, "vaggeryd", "ville")
    for path in FILES:
        # gnosjo's round under gnosjo's address: not signed in there.
        page = await client.get(f"{BASE}/{path}")
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/t/gnosjo/staff/login")
        assert (await client.get(f"{API}/{path}")).status_code == 401, path
        # gnosjo's round asked for as vaggeryd's: rounds finds no such round of vaggeryd.
        mine = await client.get(f"/t/vaggeryd/staff/rounds/{ROUND}/{path}")
        assert mine.status_code == 404, path
    assert not [q for q in gateway.asked(GetResults) if q.tenant == "gnosjo"]


async def test_an_account_limited_to_other_panels_gets_none_of_the_files(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any, db: Any
) -> None:
    _results(gateway, monkeypatch)  # a round of the general panel
    await create_account(db, "ung", PASSWORD, "gnosjo", "staff", panels=("youth",))
    await login(client, "gnosjo", "ung")
    for path in FILES:
        assert (await client.get(f"{BASE}/{path}")).status_code == 404, path
    api = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with api:
        await api_login(api, "gnosjo", "ung")
        for path in FILES:
            assert (await api.get(f"{API}/{path}")).status_code == 404, path
    # The round's figures were never even asked for.
    assert gateway.asked(GetResults) == []
    assert gateway.asked(ListAnswerTexts) == []


async def test_the_results_page_links_the_files_and_draws_its_charts(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    response = await client.get(f"{BASE}/results")
    check_page(response.text)
    html = response.text
    for path in ("results.pdf", "results.xlsx", "results.csv", "questions/why/texts.csv"):
        assert f'href="{BASE}/{path}"' in html
    text = text_of(html)
    assert "Rapport att skriva ut (PDF)" in text
    assert "Siffror med kodbok (Excel)" in text
    assert "Ladda ner de skrivna svaren (CSV)" in text
    charts = re.findall(r"<svg .*?</svg>", html, re.DOTALL)
    # park, how, happy, visits, rank, place, and the answers per day.
    assert len(charts) == 7
    tables = set(re.findall(r'<table id="([^"]+)"', html))
    for chart in charts:
        described = re.search(r'aria-describedby="([^"]+)"', chart)
        assert described
        assert described.group(1) in tables  # the table it draws is on the page
        assert "style=" not in chart
    assert "Diagram: svarens fördelning i fråga 3" in html
    # The page's policy allows no inline styles or scripts, and the charts need none.
    assert "style-src 'self'" in response.headers["content-security-policy"]


async def test_files_speak_the_readers_language_and_work_while_answers_are_withheld(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _tricky_results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    rows = _rows(await client.get(f"{BASE}/results.csv", params={"lang": "en"}))
    hidden = next(r for r in rows if r["group"] == "other")
    assert hidden["note"].startswith("Hidden: fewer than 5 respondents")
    book = load_workbook(io.BytesIO((await client.get(f"{BASE}/results.xlsx")).content))
    assert book.sheetnames[-1] == "Codebook"
    # An open round with too few answers yet: the files hold the round and no figures.
    monkeypatch.undo()
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open")
    gateway.withhold_results = True
    assert _rows(await client.get(f"{BASE}/results.csv")) == []
    pdf = await client.get(f"{BASE}/results.pdf")
    assert b"Resultatrapport" not in _pdf_text(pdf.content)  # the cookie chose English
    assert b"Results report" in _pdf_text(pdf.content)
    assert b"The answers are shown once 20 residents have answered" in _pdf_text(pdf.content)
    assert (await client.get(f"{BASE}/results.xlsx")).status_code == 200
