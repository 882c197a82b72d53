"""Ready rounds to start from: common questions of Swedish councils' panels, as drafts staff
adapt (``/t/<council>/staff/rounds/new?template=<name>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from contracts.rounds import Question


@dataclass(frozen=True)
class RoundTemplate:
    """A ready round: its title, purpose and questions."""

    title: str
    purpose: str
    questions: tuple[Question, ...]


SATISFIED = ("Mycket nöjd", "Ganska nöjd", "Varken eller", "Ganska missnöjd", "Mycket missnöjd")

TEMPLATES: Final = {
    "library": RoundTemplate(
        title="Bibliotekets öppettider",
        purpose="Kulturnämnden beslutar om nya öppettider. Svaren visar när invånarna vill "
        "använda biblioteket.",
        questions=(
            Question(key="use", kind="yes_no", text="Har du besökt biblioteket det senaste året?"),
            Question(
                key="when",
                kind="multiple_choice",
                text="När skulle du helst besöka biblioteket?",
                options=("Vardagar före 17", "Vardagskvällar", "Lördagar", "Söndagar"),
                max_picks=2,
            ),
            Question(
                key="satisfied",
                kind="scale",
                text="Hur nöjd är du med bibliotekets öppettider i dag?",
                low_label="Mycket missnöjd",
                high_label="Mycket nöjd",
            ),
            Question(key="else", kind="free_text", text="Vad mer vill du säga om biblioteket?"),
        ),
    ),
    "park": RoundTemplate(
        title="Parker och grönområden",
        purpose="Samhällsbyggnadsnämnden prioriterar upprustningen av kommunens parker. Svaren "
        "visar vad som behövs mest och var.",
        questions=(
            Question(
                key="often",
                kind="single_choice",
                text="Hur ofta besöker du kommunens parker?",
                options=("Varje vecka", "Varje månad", "Några gånger om året", "Aldrig"),
            ),
            Question(
                key="needs",
                kind="ranking",
                text="Rangordna vad parkerna behöver mest.",
                options=("Belysning", "Toaletter", "Bänkar", "Lekplatser"),
            ),
            Question(
                key="places",
                kind="map",
                text="Finns det platser som känns otrygga eller som borde rustas upp?",
                options=("Otrygg plats", "Behöver rustas upp"),
            ),
            Question(key="else", kind="free_text", text="Har du andra förslag om parkerna?"),
        ),
    ),
    "traffic": RoundTemplate(
        title="Trafiksäkerhet nära skolan",
        purpose="Tekniska nämnden planerar åtgärder för säkrare skolvägar inför nästa budget.",
        questions=(
            Question(
                key="travel",
                kind="single_choice",
                text="Hur tar sig barnen i ditt hushåll oftast till skolan?",
                options=("Går", "Cyklar", "Buss", "Skjutsas med bil", "Inga barn i skolåldern"),
            ),
            Question(
                key="safe",
                kind="scale",
                text="Hur säker upplever du skolvägen?",
                low_label="Inte alls säker",
                high_label="Helt säker",
            ),
            Question(
                key="minutes",
                kind="number",
                text="Hur många minuter tar skolvägen?",
                minimum=0,
                maximum=120,
                unit="minuter",
            ),
            Question(
                key="where",
                kind="map",
                text="Var på skolvägen känns det osäkert?",
                options=("Korsning", "Saknas trottoar", "Hög hastighet"),
            ),
        ),
    ),
}
"""The ready rounds, by name."""
