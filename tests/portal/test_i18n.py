"""Languages: every msgid has a Swedish translation; Swedish by default, English on request."""

from __future__ import annotations

from pathlib import Path

import httpx
from babel.messages.extract import extract_from_dir
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


def test_every_msgid_has_a_swedish_translation() -> None:
    with (PORTAL / "locale" / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale="sv")
    missing = []
    for msgid in extracted_msgids():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        strings = (
            ()
            if message is None
            else (message.string if isinstance(message.string, tuple) else (message.string,))
        )
        if message is None or not all(strings) or message.fuzzy:
            missing.append(msgid)
    assert missing == []


def test_swedish_placeholders_match_the_english() -> None:
    import re

    with (PORTAL / "locale" / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale="sv")
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
    assert catalogues.choose("nb", None) == "sv"
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
