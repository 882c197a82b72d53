"""Invitation letters as one print-ready PDF (A4, one page per person, the address placed for
a C5/DL window envelope), each with the personal code and a QR code of the personal link.

Rendering is CPU work (about 3 ms a letter, most of it the QR code): call ``render`` in a
worker thread.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import segno
from fpdf import FPDF

from contracts.campaigns import Letter

FONT = "Helvetica"


@dataclass(frozen=True)
class LetterText:
    """The words of the letter, in one language."""

    heading: str
    body: str
    steps: str
    code_label: str
    closes: str
    footer: str


TEXTS = {
    "sv": LetterText(
        heading="Inbjudan till {genitive} medborgarpanel",
        body=(
            "Du har lottats fram bland kommunens invånare för att bjudas in till "
            "medborgarpanelen. Panelen får några frågor om året om sådant kommunen ska besluta "
            "om, och politikerna berättar vad de gjort med svaren. Det tar bara några minuter "
            "varje gång, och vi behöver höra just dig för att panelen ska spegla kommunen."
        ),
        steps=(
            "Skanna QR-koden med mobilen, eller gå till {url} och skriv in din kod. "
            "Du kan lämna panelen när du vill."
        ),
        code_label="Din kod",
        closes="Inbjudan gäller till och med {closes}.",
        footer="Information in English: scan the code or visit the address above.",
    ),
    "en": LetterText(
        heading="Invitation to join the citizen panel of {council}",
        body=(
            "You have been chosen at random among the residents to be invited to the citizen "
            "panel. The panel is asked a few questions a year about what the council is about "
            "to decide, and the politicians tell it what they did with the answers. It takes a "
            "few minutes each time, and we need to hear you for the panel to be like the "
            "council's residents."
        ),
        steps=(
            "Scan the QR code with your phone, or go to {url} and type your code. "
            "You can leave the panel whenever you like."
        ),
        code_label="Your code",
        closes="The invitation is valid until {closes}.",
        footer="Information på svenska: skanna koden eller gå till adressen ovan.",
    ),
}


def genitive(name: str) -> str:
    """A Swedish genitive: "Kinda kommuns", "Ljusdals", but "Ånäs" stays."""
    return name if name[-1:].lower() in ("s", "x", "z") else f"{name}s"


def printable(text: str) -> str:
    """Text the PDF's built-in fonts can print (Windows-1252: every Nordic letter): other
    letters lose their accents, and what is still left over becomes '?'."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        pass
    return "".join(c if _fits(c) else _base(c) if _fits(_base(c)) else "?" for c in text)


_UNDECOMPOSED = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Ħ": "H", "ħ": "h"}
"""Letters Unicode does not decompose into a base letter and an accent."""


def _base(c: str) -> str:
    return _UNDECOMPOSED.get(c) or unicodedata.normalize("NFKD", c)[:1] or "?"


def _fits(c: str) -> bool:
    try:
        c.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _lines(pdf: FPDF, text: str) -> list[str]:
    """``text`` broken into the lines of the letter's width."""
    lines = pdf.multi_cell(170, 5.5, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)
    return [str(line) for line in lines]


def _qr_png(link: str) -> io.BytesIO:
    # A fixed mask: choosing the best of eight takes most of the time and gains nothing a
    # printed code needs.
    code = segno.make(link, error="m", mask=0, boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=4, border=0)
    out.seek(0)
    return out


def render(
    letters: Sequence[Letter],
    *,
    council: str,
    closes_on: str,
    short_url: str,
    language: str = "sv",
    today: date | None = None,
) -> bytes:
    """One PDF of the letters, in order."""
    words = TEXTS.get(language, TEXTS["sv"])
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = "cp1252"
    pdf.set_auto_page_break(False)
    heading = printable(words.heading.format(council=council, genitive=genitive(council)))
    pdf.set_title(heading)
    pdf.set_creator("Rådslag")
    # The letter's fixed text is broken into lines once, not once per letter.
    pdf.add_page()
    pdf.set_font(FONT, size=11)
    body = _lines(pdf, printable(words.body))
    steps = _lines(pdf, printable(words.steps.format(url=short_url)))
    closes = printable(words.closes.format(closes=closes_on))
    dated = (today or date.today()).isoformat()
    for n, letter in enumerate(letters):
        if n:
            pdf.add_page()
        pdf.set_font(FONT, "B", 12)
        pdf.set_xy(20, 18)
        pdf.cell(100, 6, printable(council))
        pdf.set_font(FONT, size=10)
        pdf.set_xy(150, 18)
        pdf.cell(40, 6, dated, align="R")
        # The address, where a window envelope shows it.
        pdf.set_font(FONT, size=11)
        lines = [letter.name, letter.address, f"{letter.postcode} {letter.town}".strip()]
        for i, line in enumerate(line for line in lines if line):
            pdf.set_xy(110, 50 + 5.5 * i)
            pdf.cell(85, 5.5, printable(line))
        pdf.set_font(FONT, "B", 15)
        pdf.set_xy(20, 95)
        pdf.cell(170, 8, heading)
        pdf.set_font(FONT, size=11)
        y = 108.0
        for line in body:
            pdf.set_xy(20, y)
            pdf.cell(170, 5.5, line)
            y += 5.5
        y += 4
        for line in steps:
            pdf.set_xy(20, y)
            pdf.cell(170, 5.5, line)
            y += 5.5
        pdf.image(_qr_png(letter.link), x=20, y=y + 8, w=40, h=40)
        pdf.set_xy(70, y + 14)
        pdf.cell(100, 6, printable(words.code_label))
        pdf.set_font("Courier", "B", 20)
        pdf.set_xy(70, y + 22)
        pdf.cell(100, 10, letter.code)
        pdf.set_font(FONT, size=10)
        pdf.set_xy(70, y + 36)
        pdf.cell(120, 5.5, printable(short_url))
        pdf.set_xy(20, y + 56)
        pdf.cell(170, 5.5, closes)
        pdf.set_font(FONT, "I", 9)
        pdf.set_xy(20, 275)
        pdf.cell(170, 5, printable(words.footer))
    return bytes(pdf.output())
