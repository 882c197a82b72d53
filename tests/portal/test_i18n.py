"""Languages: every msgid has a Swedish translation, every msgid of the residents' pages a
Norwegian bokmål one; Swedish by default, English or bokmål on request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from services.portal.i18n import Catalogues
from tests.portal.conftest import check_page

PORTAL = Path(__file__).parents[2] / "services" / "portal"


def extracted_msgids() -> set[str | tuple[str, ...]]:
    with (PORTAL / "babel.cfg").open() as fp:
        method_map, options_map = parse_mapping_cfg(fp)  # type: ignore[no-untyped-call]
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        PORTAL, method_map, options_map
    ):
        found.add(message)
    return found


def test_extraction_finds_templates_and_code() -> None:
    msgids = extracted_msgids()
    assert "Join the citizen panel" in msgids  # a template
    assert "You must give your consent to join the panel." in msgids  # code (N_)
    assert len(msgids) > 150


RESIDENT_TEMPLATES = (
    "base.html",
    "_forms.html",
    "_questions.html",
    "_map.html",
    "answer.html",
    "answer_pick.html",
    "answer_status.html",
    "poll_status.html",
    "polls.html",
    "confirm.html",
    "confirm_ask.html",
)
"""The pages residents read in a round's language (the layout, answering, polls, confirming)."""


def resident_msgids() -> set[str | tuple[str, ...]]:
    """The msgids of the residents' pages: their templates', and the answers' messages."""
    from services.portal import domain

    found: set[str | tuple[str, ...]] = set()
    for name in RESIDENT_TEMPLATES:
        path = PORTAL / "templates" / name
        for _line, message, _comments, _context in extract_from_file(
            "jinja2", path, options={"trimmed": "true"}
        ):
            found.add(message)
    found |= set(domain.YES_NO_LABELS.values()) | set(domain.ANSWER_PROBLEMS.values())
    found.add("Answer at least one question before you send.")
    return found


def untranslated(language: str, msgids: set[str | tuple[str, ...]]) -> list[object]:
    """The msgids the language's catalogue lacks (or leaves empty or fuzzy)."""
    with (PORTAL / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale=language)
    missing: list[object] = []
    for msgid in msgids:
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        strings = (
            ()
            if message is None
            else (message.string if isinstance(message.string, tuple) else (message.string,))
        )
        if message is None or not all(strings) or message.fuzzy:
            missing.append(msgid)
    return missing


def test_every_msgid_has_a_swedish_translation() -> None:
    assert untranslated("sv", extracted_msgids()) == []


def test_every_msgid_of_the_residents_pages_has_a_bokmal_translation() -> None:
    msgids = resident_msgids()
    assert "Send my answers" in msgids
    assert "Choose one of the options." in msgids
    assert untranslated("nb", msgids) == []


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_placeholders_match_the_english(language: str) -> None:
    import re

    with (PORTAL / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale=language)
    placeholder = re.compile(r"%\(\w+\)s")
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(placeholder.findall(str(ids[-1])))
        for string in strings:
            assert set(placeholder.findall(str(string))) == expected, message.id


def test_catalogues_translate_and_fall_back() -> None:
    catalogues = Catalogues()
    assert catalogues.languages[0] == "sv"
    assert "en" in catalogues.languages
    assert catalogues.gettext("sv", "Sign in") == "Logga in"
    assert catalogues.gettext("en", "Sign in") == "Sign in"
    assert catalogues.gettext("xx", "Sign in") == "Logga in"  # unknown → default
    assert catalogues.choose("da", None) == "sv"
    assert catalogues.choose("nb", None) == "nb"
    assert catalogues.gettext("nb", "Send my answers") == "Send svarene mine"
    # What the partial bokmål catalogue lacks is shown in Swedish, not in English.
    assert catalogues.gettext("nb", "Sign in") == "Logga in"
    assert catalogues.choose(None, "en") == "en"
    assert catalogues.ngettext(
        "sv",
        "%(n)s respondent answered this question.",
        "%(n)s respondents answered this question.",
        2,
    ).startswith("%(n)s personer")


def test_a_new_language_is_just_a_catalogue(tmp_path: Path) -> None:
    for lang, text in (("sv", "Logga inn"), ("nb", "Logg inn")):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(
            f'msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n\nmsgid "Sign in"\nmsgstr "{text}"\n',
            encoding="utf-8",
        )
    catalogues = Catalogues(tmp_path)
    assert catalogues.languages == ("sv", "nb")
    assert catalogues.gettext("nb", "Sign in") == "Logg inn"
    assert catalogues.language_name("nb") == "Norsk bokmål"


async def test_swedish_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/join")
    assert response.status_code == 200
    page = check_page(response.text, "sv")
    assert page.h1_text.strip() == "Gå med i medborgarpanelen"
    assert "lang=" not in response.headers.get("set-cookie", "")


async def test_english_on_request_and_remembered(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/join?lang=en")
    page = check_page(response.text, "en")
    assert page.h1_text.strip() == "Join the citizen panel"
    assert "lang=en" in response.headers["set-cookie"]
    # The cookie keeps English on the next page without the parameter.
    later = await client.get("/t/gnosjo/")
    check_page(later.text, "en")
    assert "Citizen panel of Gnosjö kommun" in later.text
    # And the switch goes back.
    back = await client.get("/t/gnosjo/?lang=sv")
    check_page(back.text, "sv")


async def test_unknown_language_falls_back_to_swedish(client: httpx.AsyncClient) -> None:
    response = await client.get("/?lang=klingon")
    check_page(response.text, "sv")


async def test_language_switch_links_every_language(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/results")
    assert 'href="/t/gnosjo/results?lang=en" lang="en" hreflang="en"' in response.text
    assert 'aria-current="true">Svenska</a>' in response.text
