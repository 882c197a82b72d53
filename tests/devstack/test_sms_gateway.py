"""Tests of the 46elks-style SMS gateway simulator."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from devstack.devtools import DevTools
from devstack.sms_gateway import SmsGateway, sms_parts
from devstack.testing import CallbackServer, wait_until

SMS_USER = "radslag"
SMS_PASSWORD = "s3cret"
AUTH = (SMS_USER, SMS_PASSWORD)


def _client(devtools: DevTools) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=devtools.http_url, timeout=5)


async def _stored(client: httpx.AsyncClient, sms_id: str) -> dict[str, Any]:
    response = await client.get(f"/dev/sms/messages/{sms_id}")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def test_send_returns_created_and_delivery_receipt_arrives(
    devtools: DevTools, callback_server: CallbackServer
) -> None:
    async with _client(devtools) as client:
        response = await client.post(
            "/a1/sms",
            auth=AUTH,
            data={
                "from": "Radslag",
                "to": "+46701234567",
                "message": "Din kod är 123456",
                "whendelivered": f"{callback_server.url}/receipt",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert re.fullmatch(r"s[0-9a-f]{32}", body["id"])
        assert body["status"] == "created"
        assert (body["from"], body["to"], body["message"]) == (
            "Radslag",
            "+46701234567",
            "Din kod är 123456",
        )
        assert body["parts"] == 1
        assert body["cost"] == 3500
        datetime.fromisoformat(body["created"])

        (receipt,) = await callback_server.wait_for("/receipt")
        assert receipt.method == "POST"
        assert receipt.form["id"] == body["id"]
        assert receipt.form["status"] == "delivered"
        datetime.fromisoformat(receipt.form["delivered"])

        # The outcome of the callback is recorded on the stored message.
        stored = await wait_until(
            lambda: _callback_done(client, body["id"]), what="callback outcome recorded"
        )
        assert stored["status"] == "delivered"
        assert stored["direction"] == "outgoing"
        assert stored["callback"]["ok"] is True
        assert stored["callback"]["attempts"] == 1


async def _callback_done(client: httpx.AsyncClient, sms_id: str) -> dict[str, Any] | None:
    stored = await _stored(client, sms_id)
    callback = stored.get("callback") or {}
    return stored if callback.get("ok") is not None else None


async def test_number_ending_in_0000_gets_failed_receipt(
    devtools: DevTools, callback_server: CallbackServer
) -> None:
    async with _client(devtools) as client:
        response = await client.post(
            "/a1/sms",
            auth=AUTH,
            data={
                "from": "+46766861004",
                "to": "+46700000000",
                "message": "x",
                "whendelivered": f"{callback_server.url}/receipt",
            },
        )
        assert response.status_code == 200
        (receipt,) = await callback_server.wait_for("/receipt")
        assert receipt.form["status"] == "failed"
        stored = await _stored(client, response.json()["id"])
        assert stored["status"] == "failed"


async def test_without_callback_message_is_still_delivered(devtools: DevTools) -> None:
    async with _client(devtools) as client:
        response = await client.post(
            "/a1/sms", auth=AUTH, data={"from": "Radslag", "to": "+46701234567", "message": "hi"}
        )
        sms_id = response.json()["id"]

        async def delivered() -> bool:
            return bool((await _stored(client, sms_id))["status"] == "delivered")

        await wait_until(delivered, what="delivery")
        assert (await _stored(client, sms_id))["callback"] is None


async def test_failing_callback_is_retried_and_recorded(
    devtools: DevTools, callback_server: CallbackServer
) -> None:
    callback_server.respond_with(500)
    async with _client(devtools) as client:
        response = await client.post(
            "/a1/sms",
            auth=AUTH,
            data={
                "from": "Radslag",
                "to": "+46701234567",
                "message": "retry me",
                "whendelivered": f"{callback_server.url}/receipt",
            },
        )
        await callback_server.wait_for("/receipt", count=2)
        await wait_until(
            lambda: _callback_attempts(client, response.json()["id"], 2), what="2nd attempt"
        )
        stored = await _stored(client, response.json()["id"])
        assert stored["callback"]["ok"] is True
        assert stored["callback"]["attempts"] == 2


async def _callback_attempts(client: httpx.AsyncClient, sms_id: str, attempts: int) -> bool:
    callback = (await _stored(client, sms_id)).get("callback") or {}
    return callback.get("ok") is True and callback.get("attempts") == attempts


async def test_bad_credentials_get_401(devtools: DevTools) -> None:
    sms = {"from": "Radslag", "to": "+46701234567", "message": "x"}
    cases: list[tuple[str, Any]] = [
        ("missing", None),
        ("wrong-password", (SMS_USER, "wrong")),
        ("wrong-user", ("someone", SMS_PASSWORD)),
        ("not-basic", None),
    ]
    # One server for all cases: starting a server per case would dominate suite time.
    async with _client(devtools) as client:
        for name, auth in cases:
            headers = {"Authorization": "Bearer abc"} if name == "not-basic" else None
            response = await client.post("/a1/sms", auth=auth, data=sms, headers=headers)
            assert response.status_code == 401, name
            assert "error" in response.json(), name
            assert response.headers["www-authenticate"].startswith("Basic"), name
        assert (await client.get("/dev/sms/messages")).json() == []


async def test_invalid_input_gets_400(devtools: DevTools) -> None:
    ok = {"from": "Radslag", "to": "+46701234567", "message": "x"}
    cases: list[tuple[dict[str, str], str]] = [
        ({**ok, "to": "0701234567"}, "'to'"),  # national format, not E.164
        ({**ok, "to": "+46 70 123 45 67"}, "'to'"),
        ({**ok, "to": "+4670abc"}, "'to'"),
        ({**ok, "message": ""}, "message"),
        ({**ok, "message": "x" * 1601}, "too long"),
        ({"from": "Radslag", "to": "+46701234567"}, "'message'"),
        ({"from": "Radslag", "message": "x"}, "'to'"),
        ({**ok, "from": "R"}, "'from'"),
        ({**ok, "from": "ThisIsTooLong"}, "'from'"),
        ({**ok, "whendelivered": "nope"}, "whendelivered"),
    ]
    async with _client(devtools) as client:
        for fields, fragment in cases:
            response = await client.post("/a1/sms", auth=AUTH, data=fields)
            assert response.status_code == 400, fields
            assert fragment in response.json()["error"], (fields, response.json())
        # Nothing invalid was stored; the longest allowed message is accepted.
        assert (await client.get("/dev/sms/messages")).json() == []
        longest = await client.post("/a1/sms", auth=AUTH, data={**ok, "message": "y" * 1600})
        assert longest.status_code == 200
        assert longest.json()["parts"] == 11


async def test_outage_toggle_gives_503(devtools: DevTools) -> None:
    sms = {"from": "Radslag", "to": "+46701234567", "message": "x"}
    async with _client(devtools) as client:
        assert (await client.post("/dev/sms/outage", json={"on": True})).json() == {"outage": True}
        response = await client.post("/a1/sms", auth=AUTH, data=sms)
        assert response.status_code == 503
        assert "error" in response.json()
        assert (await client.get("/dev/sms/outage")).json() == {"outage": True}

        assert (await client.post("/dev/sms/outage", json={"on": False})).json() == {
            "outage": False
        }
        assert (await client.post("/a1/sms", auth=AUTH, data=sms)).status_code == 200


async def test_simulated_inbound_reaches_inbound_callback(
    devtools: DevTools, callback_server: CallbackServer
) -> None:
    async with _client(devtools) as client:
        response = await client.post(
            "/dev/sms/inbound",
            json={"from": "+46709876543", "to": "+46766861004", "message": "JA tack"},
        )
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["direction"] == "incoming"
        assert record["callback"]["ok"] is True

        (forwarded,) = callback_server.requests_to("/inbound")
        assert forwarded.form["id"] == record["id"]
        assert forwarded.form["from"] == "+46709876543"
        assert forwarded.form["to"] == "+46766861004"
        assert forwarded.form["message"] == "JA tack"
        datetime.fromisoformat(forwarded.form["created"])

        bad = await client.post(
            "/dev/sms/inbound", json={"from": "070", "to": "+46766861004", "message": "x"}
        )
        assert bad.status_code == 400

        # Listing shows both directions, newest first, filterable.
        await client.post(
            "/a1/sms", auth=AUTH, data={"from": "Radslag", "to": "+46709876543", "message": "Tack!"}
        )
        listing = (await client.get("/dev/sms/messages")).json()
        assert [m["direction"] for m in listing] == ["outgoing", "incoming"]
        assert all("status" in m for m in listing)
        only_in = (await client.get("/dev/sms/messages", params={"direction": "incoming"})).json()
        assert [m["id"] for m in only_in] == [record["id"]]
        by_number = (
            await client.get("/dev/sms/messages", params={"number": "+46709876543"})
        ).json()
        assert len(by_number) == 2


async def test_inbound_without_url_is_only_stored(tmp_path: Path) -> None:
    gateway = SmsGateway(tmp_path, username="u", password="p")
    await gateway.start()
    try:
        record = await gateway.simulate_inbound("+46709876543", "+46766861004", "hej")
        assert record["callback"] is None
        assert gateway.messages() == [record]
    finally:
        await gateway.stop()


async def test_messages_survive_restart(tmp_path: Path) -> None:
    gateway = SmsGateway(tmp_path, username="u", password="p", delivery_delay=0.01)
    await gateway.start()
    try:
        sent = gateway.send("Radslag", "+46701234567", "persist me")
        await wait_until(lambda: (gateway.get(sent["id"]) or {}).get("status") == "delivered")
    finally:
        await gateway.stop()

    reopened = SmsGateway(tmp_path, username="u", password="p")
    try:
        (stored,) = reopened.messages()
        assert stored["id"] == sent["id"]
        assert stored["status"] == "delivered"
        assert stored["message"] == "persist me"
    finally:
        await reopened.stop()


def test_sms_parts() -> None:
    assert sms_parts("a" * 160) == 1
    assert sms_parts("a" * 161) == 2
    assert sms_parts("å" * 160) == 1  # Swedish letters are in the GSM 03.38 alphabet
    assert sms_parts("€" * 80) == 1  # extension characters count double
    assert sms_parts("€" * 81) == 2
    assert sms_parts("ł" * 70) == 1  # not GSM: UCS-2
    assert sms_parts("ł" * 71) == 2
    assert sms_parts("😀" * 35) == 1  # surrogate pairs count as two
