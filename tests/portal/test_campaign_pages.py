"""Invited recruitment in the portal: the staff pages and API of a campaign (the register
extract streamed in batches, the draw, letters, refused rows) and the joining page of a
person invited, against a fake gateway."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from contracts.campaigns import (
    MAX_REGISTER_ROWS,
    CloseCampaign,
    CreateCampaign,
    DrawSample,
    FinishRegister,
    ImportRegister,
    InvitedView,
    RedeemInvitation,
)
from contracts.recruitment import Outcome, RowRejection
from services.portal.register_file import RegisterFileError, batches
from tests.portal.conftest import api_login, check_page, form_login, text_of
from tests.portal.fakes import TOKEN, FakeGateway

HEADER = "namn;adress;postnummer;postort;födelseår;kön;distrikt;e-post;mobil\n"


def extract(rows: int) -> bytes:
    lines = [HEADER]
    for n in range(rows):
        lines.append(f"Person {n};Storgatan {n};335 30;Gnosjö;1970;K;Hillerstorp;;\n")
    return "".join(lines).encode()


async def staff_csrf(client: httpx.AsyncClient) -> str:
    response = await form_login(client, "/t/gnosjo/staff/login", "anna")
    assert response.status_code == 303, response.text
    page = await client.get("/t/gnosjo/staff/campaigns")
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_an_extract_is_read_in_batches_with_row_numbers_and_swedish_columns() -> None:
    import io

    text = extract(MAX_REGISTER_ROWS * 2 + 5).decode()
    # An empty line is not a row; a short row gets empty values; a quoted field keeps its ;.
    text = text.replace("Person 3;", '"Person; 3";', 1) + "\n\nBara namn\n"
    found = list(batches(io.BytesIO(text.encode())))
    assert [(first, len(rows)) for first, rows in found] == [
        (1, MAX_REGISTER_ROWS),
        (MAX_REGISTER_ROWS + 1, MAX_REGISTER_ROWS),
        (2 * MAX_REGISTER_ROWS + 1, 6),
    ]
    # In REGISTER_COLUMNS' order, whatever the file's: name, address, postcode, town,
    # birth_year, gender, district, email, mobile.
    assert found[0][1][0] == (
        "Person 0",
        "Storgatan 0",
        "335 30",
        "Gnosjö",
        "1970",
        "K",
        "Hillerstorp",
        "",
        "",
    )
    assert found[0][1][3][0] == "Person; 3"
    assert found[-1][1][-1] == ("Bara namn", "", "", "", "", "", "", "", "")
    # Not UTF-8: the bytes become U+FFFD (recruitment refuses such values, row by row).
    latin = HEADER.encode() + "Åsa;Storgatan 1;;;1970;K;Gnosjö;;\n".encode("latin-1")
    [(_, [row])] = list(batches(io.BytesIO(latin)))
    assert "\ufffd" in row[0]
    # Long values: batches are cut short so that every command fits in a bus message.
    long = "å" * 300
    wide = HEADER.encode() + (";".join([long] * 9) + "\n").encode() * 3000
    cut = list(batches(io.BytesIO(wide)))
    assert sum(len(rows) for _, rows in cut) == 3000
    for first, rows in cut:
        command = ImportRegister(
            tenant="gnosjo", campaign_id="c", batch_no=1, first_row=first, rows=tuple(rows)
        )
        assert len(command.model_dump_json().encode()) < 1024 * 1024
    with pytest.raises(RegisterFileError, match="Missing columns: birth_year"):
        list(batches(io.BytesIO(b"name,address,gender,district\nA,B,K,C\n")))
    with pytest.raises(RegisterFileError, match="empty"):
        list(batches(io.BytesIO(b"")))


@pytest.mark.usefixtures("accounts")
async def test_staff_run_a_campaign_through_the_api(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    created = await client.post(
        "/api/t/gnosjo/campaigns",
        json={"title": "Brev våren 2027", "closes_on": "2099-03-31"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign_id"]
    [create] = gateway.sent(CreateCampaign)
    assert (create.exclude_drawn_months, create.closes_on) == (24, "2099-03-31")

    # The extract streams in: 4 005 rows are three batches, then the totals.
    sent = await client.put(
        f"/api/t/gnosjo/campaigns/{campaign_id}/register",
        content=extract(4005),
        headers={**headers, "content-type": "text/csv"},
    )
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"batches": 3, "rows": 4005}
    imports = gateway.sent(ImportRegister)
    assert [(c.batch_no, c.first_row, len(c.rows)) for c in imports] == [
        (1, 1, 2000),
        (2, 2001, 2000),
        (3, 4001, 5),
    ]
    [finish] = gateway.sent(FinishRegister)
    assert (finish.batches, finish.rows) == (3, 4005)
    # One extract per campaign.
    again = await client.put(
        f"/api/t/gnosjo/campaigns/{campaign_id}/register",
        content=extract(1),
        headers={**headers, "content-type": "text/csv"},
    )
    assert again.status_code == 409
    view = (await client.get(f"/api/t/gnosjo/campaigns/{campaign_id}")).json()
    assert (view["batches_done"], view["batches_expected"], view["rows"]) == (3, 3, 4005)

    drawn = await client.post(
        f"/api/t/gnosjo/campaigns/{campaign_id}/draw",
        json={"size": 500, "method": "boost", "seed": 99},
        headers=headers,
    )
    assert drawn.status_code == 200, drawn.text
    [draw] = gateway.sent(DrawSample)
    assert (draw.size, draw.method, draw.seed, draw.expected_response_pct) == (500, "boost", 99, 15)

    pdf = await client.get(f"/api/t/gnosjo/campaigns/{campaign_id}/letters.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert len(pdf.content) > 1000

    gateway.rejections = [
        RowRejection(row=3, reason="invalid_birth_year"),
        RowRejection(row=9, reason="already_member"),
        RowRejection(row=12, reason="too_young"),
    ]
    listed = await client.get(f"/api/t/gnosjo/campaigns/{campaign_id}/rejections.csv")
    assert listed.status_code == 200
    assert listed.text.splitlines() == [
        "row,reason",
        "3,invalid_birth_year",
        "9,already_member",
        "12,too_young",
    ]

    closed = await client.post(f"/api/t/gnosjo/campaigns/{campaign_id}/close", headers=headers)
    assert closed.status_code == 200
    assert len(gateway.sent(CloseCampaign)) == 1
    gone = await client.get(f"/api/t/gnosjo/campaigns/{campaign_id}/letters.pdf")
    assert gone.status_code == 404


@pytest.mark.usefixtures("accounts")
async def test_campaign_routes_check_the_staff_role_the_council_and_the_file(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    anonymous = await client.get("/api/t/gnosjo/campaigns")
    assert anonymous.status_code == 401
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    created = await client.post(
        "/api/t/gnosjo/campaigns",
        json={"title": "Brev", "closes_on": "2099-03-31"},
        headers=headers,
    )
    campaign_id = created.json()["campaign_id"]
    no_csrf = await client.put(
        f"/api/t/gnosjo/campaigns/{campaign_id}/register",
        content=extract(1),
        headers={"content-type": "text/csv"},
    )
    assert no_csrf.status_code == 403
    wrong = await client.put(
        f"/api/t/gnosjo/campaigns/{campaign_id}/register",
        content=b"name,address\nA,B\n",
        headers={**headers, "content-type": "text/csv"},
    )
    assert wrong.status_code == 400
    assert "birth_year" in wrong.json()["errors"]["file"]
    assert gateway.sent(ImportRegister) == []
    past = await client.post(
        "/api/t/gnosjo/campaigns",
        json={"title": "Old", "closes_on": "2001-01-01"},
        headers=headers,
    )
    assert past.status_code == 400
    # Staff of another council: the campaign is unknown there, and the session is not theirs.
    other = await client.get(f"/api/t/vaggeryd/campaigns/{campaign_id}")
    assert other.status_code == 401
    unknown = await client.get("/api/t/gnosjo/campaigns/no-such-campaign")
    assert unknown.status_code == 404


@pytest.mark.usefixtures("accounts")
async def test_staff_pages_upload_follow_draw_and_print(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await staff_csrf(client)
    listing = await client.get("/t/gnosjo/staff/campaigns")
    check_page(listing.text)
    assert "Det finns inga kampanjer än." in text_of(listing.text)
    bad = await client.post(
        "/t/gnosjo/staff/campaigns",
        data={"csrf_token": csrf, "title": "x", "closes_on": "igår", "exclude_drawn_months": "-1"},
    )
    assert bad.status_code == 400
    check_page(bad.text)
    assert "Ge kampanjen en rubrik" in bad.text
    made = await client.post(
        "/t/gnosjo/staff/campaigns",
        data={
            "csrf_token": csrf,
            "title": "Brev våren",
            "closes_on": "2099-03-31",
            "exclude_drawn_months": "12",
        },
    )
    assert made.status_code == 303
    page_url = made.headers["location"].split("?")[0]
    campaign_id = page_url.rsplit("/", 1)[1]
    page = await client.get(made.headers["location"])
    check_page(page.text)
    assert "Ladda upp registerutdraget" in page.text

    no_file = await client.post(f"{page_url}/register", data={"csrf_token": csrf})
    assert no_file.status_code == 400
    check_page(no_file.text)
    uploaded = await client.post(
        f"{page_url}/register",
        data={"csrf_token": csrf},
        files={"register": ("utdrag.csv", extract(2500), "text/csv")},
    )
    assert uploaded.status_code == 303, uploaded.text
    assert [len(c.rows) for c in gateway.sent(ImportRegister)] == [2000, 500]
    # While recruitment imports, the page shows a progress bar and refreshes itself.
    gateway._campaign("gnosjo", campaign_id, batches_done=1, rows=2000)
    progress = await client.get(uploaded.headers["location"])
    check_page(progress.text)
    assert '<progress id="import-progress" max="2" value="1">' in progress.text
    assert 'http-equiv="refresh"' in progress.text
    assert "Ladda upp registerutdraget" not in progress.text
    gateway._campaign("gnosjo", campaign_id, batches_done=2, rows=2500)
    done = await client.get(uploaded.headers["location"])
    assert "<progress" not in done.text
    assert "Dra urvalet" in done.text

    too_many = await client.post(
        f"{page_url}/draw", data={"csrf_token": csrf, "size": "999999", "method": "boost"}
    )
    assert too_many.status_code == 400
    assert gateway.sent(DrawSample) == []
    drawn = await client.post(
        f"{page_url}/draw",
        data={"csrf_token": csrf, "size": "300", "method": "boost", "seed": ""},
    )
    assert drawn.status_code == 303
    [draw] = gateway.sent(DrawSample)
    assert (draw.size, draw.method, draw.seed) == (300, "boost", None)
    letters = await client.get(drawn.headers["location"])
    check_page(letters.text)
    assert f"/api/t/gnosjo/campaigns/{campaign_id}/letters.pdf" in letters.text
    closed = await client.post(f"{page_url}/close", data={"csrf_token": csrf})
    assert closed.status_code == 303
    assert gateway.sent(CloseCampaign)
    # Without the CSRF token nothing happens.
    forged = await client.post(f"{page_url}/close", data={})
    assert forged.status_code == 403


def invited_view(state: str = "invited") -> InvitedView:
    return InvitedView(
        name="Anna Berg",
        birth_year=1970,
        gender="female",
        district="Hillerstorp",
        email="",
        state=state,  # type: ignore[arg-type]
        closes_on="2099-03-31",
    )


async def test_a_person_invited_joins_with_the_code_from_the_letter(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.invited["7K3QMX9C2D"] = invited_view()
    gateway.invited[TOKEN] = invited_view()
    form = await client.get("/t/gnosjo/invited")
    check_page(form.text)
    unknown = await client.post("/t/gnosjo/invited", data={"code": "AAAAA-BBBBB"})
    assert unknown.status_code == 400
    assert "Vi känner inte igen koden" in unknown.text
    typed = await client.post("/t/gnosjo/invited", data={"code": "7k3qm x9c2d"})
    assert typed.status_code == 303
    assert typed.headers["location"] == "/t/gnosjo/invited/7K3QMX9C2D"
    page = await client.get(typed.headers["location"])
    assert page.status_code == 200
    check_page(page.text)
    assert "Välkommen, Anna Berg." in text_of(page.text)
    assert "Hillerstorp" in page.text
    missing = await client.post(typed.headers["location"], data={"email": "anna@example.se"})
    assert missing.status_code == 400
    assert gateway.sent(RedeemInvitation) == []
    joined = await client.post(
        f"/t/gnosjo/invited/{TOKEN}", data={"email": "anna@example.se", "consent": "yes"}
    )
    assert joined.status_code == 200
    check_page(joined.text)
    assert "Välkommen till medborgarpanelen" in joined.text
    [redeem] = gateway.sent(RedeemInvitation)
    assert (redeem.code, redeem.email, redeem.consent_version) == (
        TOKEN,
        "anna@example.se",
        "2026-1",
    )
    gateway.redeem_outcome = Outcome(status="refused", reason="already_used")
    used = await client.post(
        f"/t/gnosjo/invited/{TOKEN}", data={"email": "anna@example.se", "consent": "yes"}
    )
    assert "Den har redan använts" in used.text
    gateway.invited[TOKEN] = invited_view("expired")
    expired = await client.get(f"/t/gnosjo/invited/{TOKEN}")
    assert expired.status_code == 404
    assert "Sista dagen har passerat" in expired.text
    nobody = await client.get("/t/gnosjo/invited/ZZZZZZZZZZ")
    assert nobody.status_code == 404
    check_page(nobody.text)


async def test_the_invitation_api_and_its_rate_limit(
    client: httpx.AsyncClient, gateway: FakeGateway, settings: object
) -> None:
    gateway.invited[TOKEN] = invited_view()
    found = await client.get(f"/api/t/gnosjo/invited/{TOKEN}")
    assert found.status_code == 200
    assert found.json()["name"] == "Anna Berg"
    assert (await client.get("/api/t/gnosjo/invited/ZZZZZZZZZZ")).status_code == 404
    refused = await client.post(
        f"/api/t/gnosjo/invited/{TOKEN}", json={"email": "a@example.se", "consent": False}
    )
    assert refused.status_code == 400
    joined = await client.post(
        f"/api/t/gnosjo/invited/{TOKEN}", json={"email": "a@example.se", "consent": True}
    )
    assert joined.status_code == 200
    gateway.redeem_outcome = Outcome(status="refused", reason="unknown_code")
    unknown = await client.post(
        f"/api/t/gnosjo/invited/{TOKEN}", json={"email": "a@example.se", "consent": True}
    )
    assert unknown.status_code == 404
    # Guessing short codes runs into the per-client limit (100 a window in these tests).
    statuses = [
        (await client.get("/api/t/gnosjo/invited/AAAAAAAAAA")).status_code for _ in range(100)
    ]
    assert statuses[-1] == 429


@pytest.mark.usefixtures("accounts")
async def test_staff_actions_and_copies_of_personal_data_are_in_the_audit_trail(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    created = await client.post(
        "/api/t/gnosjo/campaigns",
        json={"title": "Brev", "closes_on": "2099-03-31"},
        headers=headers,
    )
    campaign_id = created.json()["campaign_id"]
    await client.get(f"/api/t/gnosjo/campaigns/{campaign_id}")  # a read: not recorded
    refused = await client.post(  # refused (no CSRF): not an action taken
        f"/api/t/gnosjo/campaigns/{campaign_id}/close"
    )
    assert refused.status_code == 403
    gateway._campaign("gnosjo", campaign_id, state="drawn")
    assert (
        await client.get(f"/api/t/gnosjo/campaigns/{campaign_id}/letters.pdf")
    ).status_code == 200
    trail = (await client.get("/api/t/gnosjo/audit")).json()
    # Opening the API session is done before a staff session exists: not in the trail.
    assert [(e["username"], e["action"], e["target"]) for e in trail] == [
        ("anna", "letters_pdf", {"campaign_id": campaign_id}),
        ("anna", "create_campaign", {}),
    ]
    page = await client.get("/t/gnosjo/staff/audit")
    check_page(page.text)
    assert "letters_pdf" in page.text
    # Another council's staff see only their own council's trail.
    other = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with other:
        await api_login(other, "vaggeryd", "ville")
        assert (await other.get("/api/t/vaggeryd/audit")).json() == []


@pytest.mark.usefixtures("accounts")
async def test_members_are_searched_without_contacts_and_roles_gate_personal_data(
    client: httpx.AsyncClient, gateway: FakeGateway, db: Any
) -> None:
    from services.portal.accounts import create_account
    from tests.portal.conftest import PASSWORD

    await api_login(client, "gnosjo", "anna")
    found = (await client.get("/api/t/gnosjo/members?gender=female&limit=1")).json()
    assert [m["member_id"][:8] for m in found["members"]] == ["00000001"]
    assert "email" not in found["members"][0]
    page = await client.get("/t/gnosjo/staff/members?district=Hillerstorp")
    check_page(page.text)
    assert "00000002-0000-4000-8000-000000000000" in page.text
    assert "@" not in text_of(page.text).replace("Inloggad som", "")
    # An analyst searches, but may not copy a member's data or print letters.
    await create_account(db, "stina", PASSWORD, "gnosjo", "analyst")
    analyst = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with analyst:
        await api_login(analyst, "gnosjo", "stina")
        assert (await analyst.get("/api/t/gnosjo/members")).status_code == 200
        member = gateway.members[0].member_id
        refused = await analyst.get(f"/api/t/gnosjo/members/{member}/data")
        assert refused.status_code == 403
        letters = await analyst.get("/api/t/gnosjo/campaigns/any-campaign/letters.pdf")
        assert letters.status_code == 403


@pytest.mark.usefixtures("accounts")
async def test_open_campaign_links_count_sign_ups_and_the_join_page_welcomes_what_is_lacking(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    from contracts.campaigns import StartOpenCampaign
    from contracts.recruitment import EnrolMember, Representativeness, Share
    from tests.portal.test_public_pages import JOIN

    csrf = await staff_csrf(client)
    page = await client.get("/t/gnosjo/staff/campaigns")
    assert "?via=friend" in page.text
    bad = await client.post(
        "/t/gnosjo/staff/open-campaigns",
        data={"csrf_token": csrf, "slug": "Friend!", "open_title": "x", "target": "0"},
    )
    assert bad.status_code == 400
    check_page(bad.text)
    made = await client.post(
        "/t/gnosjo/staff/open-campaigns",
        data={
            "csrf_token": csrf,
            "slug": "var-2027",
            "open_title": "Vårmarknaden",
            "starts_on": "2027-04-01",
            "ends_on": "2027-04-30",
            "target": "50",
        },
    )
    assert made.status_code == 303
    [started] = gateway.sent(StartOpenCampaign)
    assert (started.slug, started.target) == ("var-2027", 50)
    listed = await client.get("/t/gnosjo/staff/campaigns")
    assert '<progress max="50" value="0"' in listed.text
    api = (await client.get("/api/t/gnosjo/open-campaigns")).json()
    assert [c["slug"] for c in api["campaigns"]] == ["friend", "var-2027"]

    # The join page carries the link's name into the sign-up, and names what the panel lacks.
    gateway.representativeness = Representativeness(
        source="SCB 2025",
        index=70.0,
        members_compared=100,
        members_not_compared=0,
        by_age_band=(
            Share(
                group="16-29",
                members=5,
                panel_share=5.0,
                population_share=20.0,
                gap=-15.0,
                to_match=20,
            ),
        ),
        by_gender=(
            Share(
                group="male",
                members=40,
                panel_share=40.0,
                population_share=50.0,
                gap=-10.0,
                to_match=10,
            ),
        ),
        by_district=(),
        recruit_next=(),
        rejected_rows=(),
    )
    join = await client.get("/t/gnosjo/join?via=var-2027")
    check_page(join.text)
    assert "Panelen behöver särskilt fler:" in join.text
    assert "personer i åldern 16-29, män." in text_of(join.text)
    assert 'name="via" value="var-2027"' in join.text
    odd = await client.get("/t/gnosjo/join?via=<script>")
    assert 'name="via"' not in odd.text
    await client.post("/t/gnosjo/join", data={**JOIN, "via": "var-2027"})
    assert gateway.sent(EnrolMember)[-1].via == "var-2027"
