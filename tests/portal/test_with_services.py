"""The pages against the real back-end services (in process, on real NATS and store).

A resident joins through the form and the mailed link; staff draft a round and submit it, the
steering group approves it, staff schedule it and its timer opens it, all in the staff pages; the
resident answers through the invitation's link; staff close the round, read the results, publish
them and the feedback, which appear on the public results page.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx

from contracts.recruitment import RegisterTenant
from infra.bus import publish
from services.portal import round_steps
from services.portal.accounts import create_account
from services.portal.app import create_app
from services.portal.settings import PortalSettings
from tests.conftest import Stack
from tests.portal.conftest import PASSWORD, client_for, form_login, text_of

T = TypeVar("T")
EMAIL = "karin@example.se"


async def poll(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 20.0) -> T:
    """Await ``check`` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def mail_paths(stack: Stack, pattern: str) -> list[str]:
    """Portal paths matching ``pattern`` in the mails to EMAIL, newest first."""
    summaries, _ = stack.devtools.mailbox.list_mails(to=EMAIL)
    found: list[str] = []
    for summary in summaries:
        text = stack.devtools.mailbox.get_mail(summary.id).text or ""
        found += re.findall(pattern, text)
    return found


async def test_a_round_through_the_pages(stack: Stack) -> None:
    await publish(stack.js, RegisterTenant(tenant="gnosjo", display_name="Gnosjö kommun"))
    settings = PortalSettings(
        **stack.infra.bus("portal"),
        mongodb_url=stack.infra.mongodb_url,
        portal_tenant_cache_seconds=0.0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as web:
        await create_account(app.state.portal.db, "anna", PASSWORD, "gnosjo", "staff")

        async def home() -> bool:
            return (await web.get("/t/gnosjo/")).status_code == 200

        await poll(home, "the council")

        # A resident joins and confirms through the mailed link.
        joined = await web.post(
            "/t/gnosjo/join",
            data={
                "email": EMAIL,
                "birth_year": "1979",
                "gender": "female",
                "district": "Hillerstorp",
                "consent": "yes",
            },
        )
        assert joined.status_code == 303

        async def confirm_link() -> list[str]:
            return mail_paths(stack, r"https?://[^/\s]+(/t/gnosjo/join/confirm/[\w-]+)")

        [confirm] = await poll(confirm_link, "the opt-in mail")
        asked = await web.get(confirm)
        assert asked.status_code == 200, asked.text
        assert "Bekräfta ditt medlemskap" in asked.text
        welcome = await web.post(confirm)
        assert welcome.status_code == 200, welcome.text
        assert "Välkommen till medborgarpanelen" in welcome.text
        again = await web.post(confirm)
        assert again.status_code == 409
        assert "Länken har redan använts" in again.text

        # Staff draft a round and submit it to the steering group.
        signed_in = await form_login(web, "/t/gnosjo/staff/login", "anna")
        assert signed_in.status_code == 303
        rounds_page = await web.get("/t/gnosjo/staff/")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', rounds_page.text)
        assert csrf
        created = await web.post(
            "/t/gnosjo/staff/rounds/new",
            data={
                "csrf_token": csrf.group(1),
                "title": "Kvällsbussar",
                "purpose": "Underlag för trafikplanen 2027.",
                "q1_kind": "single_choice",
                "q1_text": "Ska bussen gå senare?",
                "q1_options": "Ja\nNej\nVet inte",
                "q2_kind": "free_text",
                "q2_text": "Varför?",
            },
        )
        assert created.status_code == 303
        round_url = created.headers["location"].split("?")[0]
        submitted = await web.post(f"{round_url}/submit", data={"csrf_token": csrf.group(1)})
        assert submitted.headers["location"] == f"{round_url}?notice=submitted"

        # The steering group approves it, on its own page's button.
        await create_account(app.state.portal.db, "stig", PASSWORD, "gnosjo", "steering_group")
        async with client_for(app) as politician:
            assert (await form_login(politician, "/t/gnosjo/staff/login", "stig")).is_redirect
            page = await politician.get(round_url)
            assert f'action="{round_url}/approve"' in page.text
            assert f'action="{round_url}/schedule"' not in page.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            approved = await politician.post(
                f"{round_url}/approve", data={"csrf_token": token.group(1), "revision": "0"}
            )
            assert approved.headers["location"] == f"{round_url}?notice=approved"

        # Staff schedule it to open at once, with a reminder after three days.
        opens = round_steps.local_text(datetime.now(UTC) - timedelta(minutes=1))
        scheduled = await web.post(
            f"{round_url}/schedule",
            data={"csrf_token": csrf.group(1), "open_at": opens, "reminder_days": "3"},
        )
        assert scheduled.status_code == 303

        async def opened() -> httpx.Response | None:
            page = await web.get(round_url)
            return page if 'class="state state-open"' in page.text else None

        page = await poll(opened, "the round opened by its schedule")
        text = text_of(page.text)
        assert "Påminnelser" in text
        assert "3 dagar efter öppningen" in text
        for step in ("Skapad som utkast", "Godkänd av styrgruppen", "Schemalagd", "Öppnad"):
            assert step in text, step
        assert "stig" in text
        assert "Schemat" in text  # the schedule opened it, nobody by hand

        # The resident answers through the invitation's personal link, once.
        async def answer_link() -> list[str]:
            return mail_paths(stack, r"https?://[^/\s]+(/t/gnosjo/a/[\w-]+)")

        [answer] = await poll(answer_link, "the invitation")
        form = await web.get(answer)
        assert form.status_code == 200
        assert "Underlag för trafikplanen 2027." in form.text
        thanks = await web.post(answer, data={"q1": "Ja", "q2": "Jag jobbar kväll."})
        assert thanks.status_code == 200, thanks.text
        assert "Tack för dina svar" in thanks.text
        twice = await web.post(answer, data={"q1": "Nej"})
        assert twice.status_code == 409
        assert "Du har redan svarat" in twice.text

        # Staff close the round, read the results and publish feedback.
        closed = await web.post(f"{round_url}/close", data={"csrf_token": csrf.group(1)})
        assert closed.headers["location"] == f"{round_url}?notice=closed"

        async def results() -> httpx.Response | None:
            page = await web.get(f"{round_url}/results")
            return page if "Jag jobbar kväll." in page.text else None

        page = await poll(results, "the results")
        text = text_of(page.text)
        assert "Svarsfrekvens 100 %" in text
        assert "dolt: färre än" in text
        made_public = await web.post(f"{round_url}/publish", data={"csrf_token": csrf.group(1)})
        assert made_public.headers["location"] == f"{round_url}?notice=published"
        published = await web.post(
            f"{round_url}/feedback",
            data={"csrf_token": csrf.group(1), "text": "Kvällsturerna förlängs från mars."},
        )
        assert published.status_code == 303

        async def public_page() -> httpx.Response | None:
            page = await web.get("/t/gnosjo/results")
            return page if "Kvällsturerna förlängs från mars." in page.text else None

        public = await poll(public_page, "the public results")
        assert "1 medlem svarade, av 1 inbjudna." in text_of(public.text)


async def test_a_resident_joins_by_mobile_through_the_pages(stack: Stack) -> None:
    await publish(stack.js, RegisterTenant(tenant="gnosjo", display_name="Gnosjö kommun"))
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
        joined = await web.post(
            "/t/gnosjo/join",
            data={
                "phone": "070-765 43 21",
                "birth_year": "1979",
                "gender": "female",
                "district": "Hillerstorp",
                "consent": "yes",
            },
        )
        assert joined.status_code == 200  # the code page

        async def code() -> str | None:
            for sms in stack.devtools.sms.messages(number="+46707654321"):
                if match := re.match(r"^(\d{6}) ", sms["message"]):
                    return match.group(1)
            return None

        found = await poll(code, "the SMS with the code")
        data = {"phone": "+46707654321", "code": found}
        confirmed = await web.post("/t/gnosjo/join/code", data=data)
        assert confirmed.status_code == 200
        assert "Välkommen" in text_of(confirmed.text)
        again = await web.post("/t/gnosjo/join/code", data=data)
        assert again.status_code == 409
