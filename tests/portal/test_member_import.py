"""Members moving in from a previous vendor, in the portal: the file read in batches with
Swedish columns, the staff page (upload, progress bar, counts, rejected rows) and the JSON
API, with CSRF, roles and a wrong header, against a fake gateway."""

from __future__ import annotations

import io
import re
import uuid

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from contracts.recruitment import MAX_IMPORT_ROWS, ImportMembers
from infra.store import Document
from services.portal.accounts import create_account
from services.portal.member_file import batches
from services.portal.register_file import RegisterFileError
from tests.portal.conftest import PASSWORD, api_login, check_page, form_login, text_of
from tests.portal.fakes import FakeGateway

HEADER = "e-post;födelseår;kön;distrikt;samtyckesdatum;samtyckesversion\n"


def members_file(rows: int, bad: tuple[int, ...] = ()) -> bytes:
    """A vendor's export with ``rows`` members; the rows numbered in ``bad`` lack an @."""
    lines = [HEADER]
    for n in range(1, rows + 1):
        email = f"person{n}.example.se" if n in bad else f"person{n}@example.se"
        lines.append(f"{email};1970;K;Hillerstorp;2025-03-14;2024-2\n")
    return "".join(lines).encode()


def test_a_file_is_read_in_batches_with_swedish_columns_and_the_last_marked() -> None:
    found = list(batches(io.BytesIO(members_file(2 * MAX_IMPORT_ROWS + 3))))
    assert [(first, len(rows), last) for first, rows, last in found] == [
        (1, MAX_IMPORT_ROWS, False),
        (MAX_IMPORT_ROWS + 1, MAX_IMPORT_ROWS, False),
        (2 * MAX_IMPORT_ROWS + 1, 3, True),
    ]
    row = found[0][1][0]
    assert (row.email, row.birth_year, row.gender, row.district, row.locale) == (
        "person1@example.se",
        1970,
        "female",
        "Hillerstorp",
        "sv",
    )
    assert (row.consent_date, row.consent_version) == ("2025-03-14", "2024-2")
    uuid.UUID(row.member_id)  # the portal chooses each member's id
    ids = {r.member_id for _, rows, _ in found for r in rows}
    assert len(ids) == 2 * MAX_IMPORT_ROWS + 3
    # English names, commas, a locale, a year that is no year (recruitment refuses it).
    english = (
        b"email,birth_year,gender,district,locale,consent_date,consent_version\n"
        b"a@b.se,19x0,man,Gnosj\xc3\xb6,EN,2024-01-02T10:00:00+01:00,v1\n"
    )
    [(_, [only], last)] = list(batches(io.BytesIO(english)))
    assert (only.birth_year, only.gender, only.locale, last) == (0, "male", "en", True)
    assert only.consent_date == "2024-01-02T10:00:00+01:00"
    with pytest.raises(RegisterFileError, match="Missing columns: consent_date"):
        list(batches(io.BytesIO(b"email,birth_year,gender,district,consent_version\n")))
    with pytest.raises(RegisterFileError, match="no rows"):
        list(batches(io.BytesIO(HEADER.encode() + b"\n\n")))
    with pytest.raises(RegisterFileError, match="empty"):
        list(batches(io.BytesIO(b"")))


@pytest.mark.usefixtures("accounts")
async def test_staff_import_members_through_the_api(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    headers = {
        "X-CSRF-Token": await api_login(client, "gnosjo", "anna"),
        "content-type": "text/csv",
    }
    # A large file is cut into batches of MAX_IMPORT_ROWS, all under one import id.
    sent = await client.put(
        "/api/t/gnosjo/imports",
        params={"source": "Netigate export 2026"},
        content=members_file(2 * MAX_IMPORT_ROWS + 5, bad=(3, MAX_IMPORT_ROWS + 7)),
        headers=headers,
    )
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert (body["batches"], body["rows"]) == (3, 2 * MAX_IMPORT_ROWS + 5)
    commands = gateway.sent(ImportMembers)
    assert [(c.batch_no, c.first_row, len(c.rows), c.last_batch) for c in commands] == [
        (1, 1, MAX_IMPORT_ROWS, False),
        (2, MAX_IMPORT_ROWS + 1, MAX_IMPORT_ROWS, False),
        (3, 2 * MAX_IMPORT_ROWS + 1, 5, True),
    ]
    assert {c.import_id for c in commands} == {body["import_id"]}
    first = commands[0]
    assert (first.tenant, first.source, first.consent_source) == (
        "gnosjo",
        "file",
        "Netigate export 2026",
    )
    assert first.require_consent_evidence

    status = (await client.get(f"/api/t/gnosjo/imports/{body['import_id']}")).json()
    assert status["done"] is True
    assert (status["batches_done"], status["batches_expected"]) == (3, 3)
    assert (status["accepted"], status["rejected"]) == (2 * MAX_IMPORT_ROWS + 3, 2)
    # The rejected rows, page by page: number and reason, never the values.
    listed = await client.get(f"/api/t/gnosjo/imports/{body['import_id']}/rejections.csv")
    assert listed.status_code == 200
    assert listed.text.splitlines() == [
        "row,reason",
        "3,invalid_email",
        f"{MAX_IMPORT_ROWS + 7},invalid_email",
    ]
    assert "example.se" not in listed.text

    # The upload is documented in the OpenAPI document, as text/csv.
    spec = (await client.get("/api/openapi.json")).json()
    put = spec["paths"]["/api/t/{tenant}/imports"]["put"]
    assert "text/csv" in put["requestBody"]["content"]


@pytest.mark.usefixtures("accounts")
async def test_the_api_checks_csrf_the_header_the_source_and_the_role(
    client: httpx.AsyncClient, gateway: FakeGateway, db: AsyncDatabase[Document]
) -> None:
    anonymous = await client.put(
        "/api/t/gnosjo/imports", params={"source": "Netigate"}, content=members_file(1)
    )
    assert anonymous.status_code == 401
    token = await api_login(client, "gnosjo", "anna")
    no_csrf = await client.put(
        "/api/t/gnosjo/imports",
        params={"source": "Netigate"},
        content=members_file(1),
        headers={"content-type": "text/csv"},
    )
    assert no_csrf.status_code == 403
    headers = {"X-CSRF-Token": token, "content-type": "text/csv"}
    wrong = await client.put(
        "/api/t/gnosjo/imports",
        params={"source": "Netigate"},
        content=b"email;birth_year;gender\na@b.se;1970;K\n",
        headers=headers,
    )
    assert wrong.status_code == 400
    assert "consent_date" in wrong.json()["errors"]["file"]
    no_source = await client.put("/api/t/gnosjo/imports", content=members_file(1), headers=headers)
    assert no_source.status_code == 422
    assert gateway.sent(ImportMembers) == []
    # Another council's staff cannot follow this council's imports.
    other = await client.get("/api/t/vaggeryd/imports/abc")
    assert other.status_code == 401
    # A role without contact details cannot import them.
    await create_account(db, "stina", PASSWORD, "gnosjo", "analyst")
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as a:
        analyst_headers = {
            "X-CSRF-Token": await api_login(a, "gnosjo", "stina"),
            "content-type": "text/csv",
        }
        refused = await a.put(
            "/api/t/gnosjo/imports",
            params={"source": "Netigate"},
            content=members_file(1),
            headers=analyst_headers,
        )
        assert refused.status_code == 403
    assert gateway.sent(ImportMembers) == []


async def staff_page_csrf(client: httpx.AsyncClient) -> str:
    response = await form_login(client, "/t/gnosjo/staff/login", "anna")
    assert response.status_code == 303, response.text
    page = await client.get("/t/gnosjo/staff/import")
    assert page.status_code == 200, page.text
    check_page(page.text)
    assert 'href="/t/gnosjo/staff/import"' in page.text  # in the staff bar
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


@pytest.mark.usefixtures("accounts")
async def test_staff_upload_on_the_page_and_watch_the_progress(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await staff_page_csrf(client)
    upload = {"members": ("netigate.csv", members_file(2 * MAX_IMPORT_ROWS + 1, bad=(2,)))}
    # Without the form's CSRF token: refused, nothing sent.
    forged = await client.post(
        "/t/gnosjo/staff/import", data={"source": "Netigate export 2026"}, files=upload
    )
    assert forged.status_code == 403
    assert gateway.sent(ImportMembers) == []
    # Without a source: the form again, with the error.
    missing = await client.post(
        "/t/gnosjo/staff/import", data={"csrf_token": csrf, "source": ""}, files=upload
    )
    assert missing.status_code == 400
    assert "Ange varifrån filen kommer" in text_of(missing.text)
    # A wrong header: the form again, naming the missing columns.
    wrong = await client.post(
        "/t/gnosjo/staff/import",
        data={"csrf_token": csrf, "source": "Netigate export 2026"},
        files={"members": ("x.csv", b"namn;adress\nA;B\n")},
    )
    assert wrong.status_code == 400
    assert "Missing columns" in wrong.text
    assert gateway.sent(ImportMembers) == []

    gateway.imports_handled = 1  # recruitment has handled one batch of three so far
    sent = await client.post(
        "/t/gnosjo/staff/import",
        data={"csrf_token": csrf, "source": "Netigate export 2026"},
        files=upload,
    )
    assert sent.status_code == 303
    page_url = sent.headers["location"]
    import_id = page_url.rsplit("/", 1)[-1]
    assert len(gateway.sent(ImportMembers)) == 3
    waiting = await client.get(page_url)
    assert waiting.status_code == 200
    check_page(waiting.text)
    assert 'http-equiv="refresh"' in waiting.text
    assert "Filen läses" in text_of(waiting.text)  # the total is not known yet
    gateway.imports_handled = None  # now every batch is handled
    done_url = page_url
    done = await client.get(done_url)
    assert done.status_code == 200
    assert 'http-equiv="refresh"' not in done.text
    text = text_of(done.text)
    assert "Filen har importerats." in text
    assert "Importerade medlemmar 2 000" in text.replace("\u00a0", " ")
    assert f"/api/t/gnosjo/imports/{import_id}/rejections.csv" in done.text
    unknown = await client.get("/t/gnosjo/staff/import/not..an..id")
    assert unknown.status_code == 404
