"""A previous vendor's file of members through the portal's API against the real services:
the portal (as its own NATS user) sends the batches, recruitment imports them with each
member's consent evidence, the import is followed to its end, and uploading the file again
imports nobody twice."""

from __future__ import annotations

from contracts.recruitment import RegisterTenant
from infra.bus import publish
from services.portal.accounts import create_account
from services.portal.app import create_app
from services.portal.settings import PortalSettings
from tests.conftest import Stack
from tests.portal.conftest import PASSWORD, api_login, client_for
from tests.portal.test_with_services import poll

ROWS = 2500
"""Three batches."""


def vendor_file() -> bytes:
    lines = ["e-post;födelseår;kön;distrikt;samtyckesdatum;samtyckesversion\n"]
    for n in range(1, ROWS + 1):
        lines.append(f"p{n}@example.se;{1940 + n % 60};{'KM'[n % 2]};Kisa;2025-03-14;2024-2\n")
    lines.append("p-bad.example.se;1970;K;Kisa;2025-03-14;2024-2\n")
    lines.append("late@example.se;1970;K;Kisa;2099-01-01;2024-2\n")
    return "".join(lines).encode()


async def test_a_vendor_file_through_the_api(stack: Stack) -> None:
    await publish(
        stack.js,
        RegisterTenant(tenant="kinda", display_name="Kinda kommun", districts=("Kisa",)),
    )
    settings = PortalSettings(
        **stack.infra.bus("portal"),
        mongodb_url=stack.infra.mongodb_url,
        portal_tenant_cache_seconds=0.0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as web:
        await create_account(app.state.portal.db, "anna", PASSWORD, "kinda", "panel_manager")

        async def council() -> bool:
            return (await web.get("/t/kinda/")).status_code == 200

        await poll(council, "the council")
        headers = {"X-CSRF-Token": await api_login(web, "kinda", "anna")}

        async def upload() -> str:
            sent = await web.put(
                "/api/t/kinda/imports",
                params={"source": "Netigate export 2026"},
                content=vendor_file(),
                headers={**headers, "content-type": "text/csv"},
            )
            assert sent.status_code == 202, sent.text
            assert sent.json()["batches"] == 3
            import_id: str = sent.json()["import_id"]
            return import_id

        async def finished(import_id: str) -> dict[str, int]:
            async def done() -> dict[str, int] | None:
                status = (await web.get(f"/api/t/kinda/imports/{import_id}")).json()
                return status if status["done"] else None

            return await poll(done, f"import {import_id}", timeout=60)

        first = await upload()
        status = await finished(first)
        assert (status["accepted"], status["rejected"]) == (ROWS, 2)
        rejected = await web.get(f"/api/t/kinda/imports/{first}/rejections.csv")
        assert rejected.text.splitlines() == [
            "row,reason",
            f"{ROWS + 1},invalid_email",
            f"{ROWS + 2},future_consent_date",
        ]

        recruitment = stack.services["recruitment"].runtime.db
        member = await recruitment.members.find_one({"tenant": "kinda", "email": "p7@example.se"})
        assert member is not None
        assert member["state"] == "active"
        assert (member["consent"]["given_at"], member["consent"]["source"]) == (
            "2025-03-14",
            "Netigate export 2026",
        )
        assert member["consent"]["import_id"] == first
        copy = await web.get(f"/api/t/kinda/members/{member['_id']}/data")
        assert copy.status_code == 200, copy.text
        assert "Netigate export 2026" in copy.text

        # The same file again: nobody twice.
        second = await upload()
        again = await finished(second)
        assert (again["accepted"], again["rejected"]) == (0, ROWS + 2)
        count = len([m async for m in recruitment.members.find({"tenant": "kinda"}, {"_id": 1})])
        assert count == ROWS
