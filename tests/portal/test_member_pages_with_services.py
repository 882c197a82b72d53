"""A member's own pages against the real back-end services (in process, on real NATS and
store): sign in from the mailed link, change details (rounds learns them), copy one's data,
erase oneself."""

from __future__ import annotations

import json
import re
import uuid

from contracts.recruitment import ImportMember, RegisterTenant
from infra.bus import publish
from services.portal.app import create_app
from services.portal.membership import MEMBER_COOKIE
from services.portal.settings import PortalSettings
from tests.conftest import Stack
from tests.portal.conftest import client_for
from tests.portal.test_with_services import EMAIL, mail_paths, poll


async def test_a_member_manages_their_membership_through_the_pages(stack: Stack) -> None:
    await publish(stack.js, RegisterTenant(tenant="gnosjo", display_name="Gnosjö kommun"))
    member_id = str(uuid.uuid4())
    settings = PortalSettings(
        **stack.infra.bus("portal"),
        mongodb_url=stack.infra.mongodb_url,
        portal_tenant_cache_seconds=0.0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as web:

        async def home() -> bool:
            return (await web.get("/t/gnosjo/")).status_code == 200

        await poll(home, "the council")
        await publish(
            stack.js,
            ImportMember(
                tenant="gnosjo",
                member_id=member_id,
                email=EMAIL,
                birth_year=1979,
                gender="female",
                district="Hillerstorp",
                consent_version="2026-1",
                source="paper",
            ),
        )
        panelists = stack.services["rounds"].runtime.db.panelists

        async def in_panel() -> dict[str, object] | None:
            found: dict[str, object] | None = await panelists.find_one(
                {"_id": f"gnosjo:{member_id}"}
            )
            return found

        await poll(in_panel, "the member in rounds' panel")

        sent = await web.post("/t/gnosjo/me/sign-in", data={"contact": EMAIL})
        assert sent.status_code == 200

        async def sign_in_link() -> list[str]:
            return mail_paths(stack, r"https?://[^/\s]+(/t/gnosjo/me/sign-in/[\w-]+)")

        [link] = await poll(sign_in_link, "the sign-in mail")
        assert (await web.get(link)).status_code == 200
        signed_in = await web.post(link)
        assert signed_in.status_code == 303, signed_in.text
        assert MEMBER_COOKIE in web.cookies
        page = await web.get("/t/gnosjo/me")
        assert EMAIL in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf

        saved = await web.post(
            "/t/gnosjo/me/details",
            data={
                "csrf_token": csrf.group(1),
                "birth_year": "1999",
                "gender": "other",
                "district": "Hillerstorp",
                "locale": "en",
            },
        )
        assert saved.headers["location"] == "/t/gnosjo/me?notice=saved"

        async def changed() -> bool:
            entry = await panelists.find_one({"_id": f"gnosjo:{member_id}"})
            return entry is not None and entry["birth_year"] == 1999

        await poll(changed, "rounds learning the change")

        copy = await web.get("/t/gnosjo/me/data")
        assert copy.status_code == 200
        body = json.loads(copy.text)
        assert [s["service"] for s in body["services"]] == ["recruitment", "rounds", "dispatch"]
        assert body["services"][0]["sections"]["membership"][0]["birth_year"] == 1999

        erased = await web.post("/t/gnosjo/me/erase", data={"csrf_token": csrf.group(1)})
        assert erased.status_code == 200, erased.text
        assert MEMBER_COOKIE not in web.cookies

        async def gone() -> bool:
            return await in_panel() is None

        await poll(gone, "the member erased from rounds")


async def test_a_member_who_joined_by_sms_signs_in_by_a_code_through_the_pages(
    stack: Stack,
) -> None:
    await publish(stack.js, RegisterTenant(tenant="gnosjo", display_name="Gnosjö kommun"))
    phone = "+46701234567"
    settings = PortalSettings(
        **stack.infra.bus("portal"),
        mongodb_url=stack.infra.mongodb_url,
        portal_tenant_cache_seconds=0.0,
    )
    app = create_app(settings)

    def codes() -> list[str]:
        texts = [m["message"] for m in reversed(stack.devtools.sms.messages(number=phone))]
        return [m.group(1) for t in texts if (m := re.match(r"^(\d{6}) ", t))]

    async def code(count: int) -> str:
        await poll(lambda: _at_least(codes(), count), f"SMS code {count}")
        return codes()[count - 1]

    async with app.router.lifespan_context(app), client_for(app) as web:

        async def home() -> bool:
            return (await web.get("/t/gnosjo/")).status_code == 200

        await poll(home, "the council")
        joined = await web.post(
            "/t/gnosjo/join",
            data={
                "phone": "070-123 45 67",
                "birth_year": "1980",
                "gender": "female",
                "district": "Hillerstorp",
                "consent": "yes",
            },
        )
        assert joined.status_code == 200, joined.text
        confirmed = await web.post(
            "/t/gnosjo/join/code", data={"phone": phone, "code": await code(1)}
        )
        assert confirmed.status_code == 200, confirmed.text

        asked = await web.post("/t/gnosjo/me/sign-in", data={"contact": "070-123 45 67"})
        assert asked.status_code == 200
        signed_in = await web.post(
            "/t/gnosjo/me/code", data={"phone": phone, "code": await code(2)}
        )
        assert signed_in.status_code == 303, signed_in.text
        assert MEMBER_COOKIE in web.cookies
        page = await web.get("/t/gnosjo/me")
        assert phone in page.text


async def _at_least(items: list[str], count: int) -> bool:
    return len(items) >= count
