"""Health, metrics, correlation ids, security headers and the developer pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx

from contracts.recruitment import EnrolMember
from devstack.devtools import DevTools
from devstack.processes import free_port
from services.portal.settings import PortalSettings
from tests.portal.conftest import check_page, client_for, running
from tests.portal.fakes import FakeGateway

JOIN = {
    "email": "anna@example.se",
    "birth_year": "1984",
    "gender": "female",
    "district": "Hillerstorp",
    "consent": "yes",
}


@asynccontextmanager
async def health_endpoint(status: int) -> AsyncIterator[str]:
    """A tiny HTTP server on 127.0.0.1 answering every request with ``status``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.json() == {"status": "ok", "service": "portal"}


async def test_ready_names_the_service_that_is_down(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with health_endpoint(200) as up, health_endpoint(503) as starting:
        urls = f"recruitment={up}, rounds={down},dispatch={starting} , feedback={up}"
        configured = settings.model_copy(update={"service_health_urls": urls})
        async with running(configured, gateway) as app, client_for(app) as client:
            response = await client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["not_ready"] == ["dispatch", "rounds"]
    assert body["checks"]["recruitment"] == "ok"
    assert body["checks"]["rounds"].startswith("unreachable")
    assert body["checks"]["dispatch"] == "HTTP 503"


async def test_ready_when_everything_is(settings: PortalSettings, gateway: FakeGateway) -> None:
    async with health_endpoint(200) as up:
        urls = ",".join(
            f"{name}={up}" for name in ("recruitment", "rounds", "dispatch", "feedback")
        )
        configured = settings.model_copy(update={"service_health_urls": urls})
        async with running(configured, gateway) as app, client_for(app) as client:
            response = await client.get("/health/ready")
            gateway.is_ready = False
            disconnected = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["portal_store"] == "ok"
    assert disconnected.status_code == 503
    assert disconnected.json()["not_ready"] == ["bus"]


async def test_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/t/gnosjo/")
    await client.get("/t/nowhere/")
    await client.post("/t/gnosjo/join", data=JOIN)
    text = (await client.get("/metrics")).text
    assert (
        'radslag_portal_requests_total{method="GET",route="/t/{tenant}/",status="200"} 1.0' in text
    )
    assert (
        'radslag_portal_requests_total{method="GET",route="/t/{tenant}/",status="404"} 1.0' in text
    )
    assert 'radslag_portal_commands_published_total{command="enrol_member"} 1.0' in text
    assert "/t/gnosjo/" not in text  # labelled by template, never by the concrete path


async def test_commands_carry_the_requests_correlation_id(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post("/t/gnosjo/join", data=JOIN)
    [command] = gateway.sent(EnrolMember)
    assert response.headers["x-correlation-id"] == command.correlation_id
    given = "c0ffee00-1111-2222-3333-444455556666"
    await client.post("/t/gnosjo/join", data=JOIN, headers={"X-Correlation-ID": given})
    assert gateway.sent(EnrolMember)[1].correlation_id == given
    assert [q.correlation_id for q in gateway.queries if q.name == "list_tenants"]


async def test_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    css = await client.get("/static/portal.css")
    assert css.status_code == 200
    assert "focus-visible" in css.text
    assert "cache-control" not in css.headers or "no-store" not in css.headers["cache-control"]


async def test_dev_pages_are_absent_without_devtools(client: httpx.AsyncClient) -> None:
    assert (await client.get("/dev/")).status_code == 404
    assert (await client.get("/dev/mail/abc")).status_code == 404


async def test_dev_pages_show_mail_and_sms(
    tmp_path: Path, settings: PortalSettings, gateway: FakeGateway
) -> None:
    async with DevTools(tmp_path / "devtools", sms_user="u", sms_password="p") as tools:
        mail = EmailMessage()
        mail["From"] = "panel@gnosjo.se"
        mail["To"] = "anna@example.se"
        mail["Subject"] = "Bekräfta ditt medlemskap"
        mail.set_content(
            "Hej <b>Anna</b>!\nBekräfta här: http://127.0.0.1:8000/t/gnosjo/join/confirm/abc?a=1&b=2.\n"
        )
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=tools.smtp_port)
        await tools.sms.simulate_inbound("+46701234567", "+46766860000", "STOPP")
        configured = settings.model_copy(update={"devtools_url": tools.http_url})
        async with running(configured, gateway) as app, client_for(app) as client:
            listing = await client.get("/dev/")
            assert listing.status_code == 200, listing.text
            check_page(listing.text)
            assert "Bekräfta ditt medlemskap" in listing.text
            assert "STOPP" in listing.text
            mail_id = tools.mailbox.list_mails(limit=1)[0][0].id
            assert f'href="/dev/mail/{mail_id}"' in listing.text
            shown = await client.get(f"/dev/mail/{mail_id}")
            assert shown.status_code == 200
            check_page(shown.text)
            link = "http://127.0.0.1:8000/t/gnosjo/join/confirm/abc?a=1&amp;b=2"
            assert f'<a href="{link}">{link}</a>.' in shown.text
            assert "Hej &lt;b&gt;Anna&lt;/b&gt;!" in shown.text
            assert (await client.get("/dev/mail/nope")).status_code == 404
            assert (await client.get("/dev/mail/..%2F..%2Fetc")).status_code == 404


async def test_dev_page_when_devtools_is_down(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    configured = settings.model_copy(update={"devtools_url": f"http://127.0.0.1:{free_port()}"})
    async with running(configured, gateway) as app, client_for(app) as client:
        response = await client.get("/dev/")
    assert response.status_code == 503
    assert "Devtools-servern svarade inte" in response.text


async def test_an_unexpected_error_shows_a_friendly_page(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    async def broken(query: object) -> None:
        raise RuntimeError("boom")

    gateway.list_published = broken  # type: ignore[assignment,method-assign]
    async with running(settings, gateway) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/t/gnosjo/results")
            api = await client.get("/api/t/gnosjo/published")
    assert page.status_code == 500
    assert check_page(page.text).h1_text.strip() == "Något gick fel"
    assert "boom" not in page.text
    assert api.status_code == 500
    assert api.json()["detail"] == "internal error"
