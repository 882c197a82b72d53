"""NatsGateway against a real nats-server: commands land in JetStream, queries get answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts.recruitment import EnrolMember, ListTenants
from contracts.rounds import GetRound, ListRounds
from infra.bus import ensure_streams
from infra.queries import QueryFailed
from services.portal.app import create_app
from services.portal.gateway import NatsGateway
from services.portal.settings import PortalSettings
from tests.conftest import Infra
from tests.portal.conftest import client_for

TENANTS = {
    "tenants": [
        {
            "tenant": "gnosjo",
            "display_name": "Gnosjö kommun",
            "members_active": 1,
            "members_pending": 0,
        }
    ]
}


@pytest.fixture
async def nc(infra: Infra) -> AsyncIterator[Any]:
    connection = await infra.connect()
    await ensure_streams(connection.jetstream())

    async def list_tenants(msg: Any) -> None:
        await msg.respond(json.dumps({"ok": True, "data": TENANTS}).encode())

    async def get_round(msg: Any) -> None:
        await msg.respond(json.dumps({"ok": True, "data": None}).encode())

    await connection.subscribe("recruitment.*.qry.list_tenants", cb=list_tenants)
    await connection.subscribe("rounds.*.qry.get_round", cb=get_round)
    try:
        yield connection
    finally:
        await connection.drain()


async def test_commands_are_published_with_their_message_id(infra: Infra, nc: Any) -> None:
    gateway = await NatsGateway.connect(infra.login("portal"), timeout=2.0)
    try:
        command = EnrolMember(
            tenant="gnosjo",
            member_id="m1",
            email="anna@example.se",
            birth_year=1984,
            gender="female",
            district="Hillerstorp",
            consent_version="2026-1",
        )
        await gateway.enrol_member(command)
        await gateway.enrol_member(command)  # a retry: JetStream drops the duplicate
        stored = await nc.jetstream().get_last_msg("RECRUITMENT_CMD", "recruitment.gnosjo.cmd.>")
        assert stored.headers["Nats-Msg-Id"] == command.message_id
        assert EnrolMember.model_validate_json(stored.data) == command
        info = await nc.jetstream().stream_info("RECRUITMENT_CMD")
        assert info.state.messages == 1
        assert await gateway.ready()
    finally:
        await gateway.close()


async def test_queries_get_replies_and_not_found(infra: Infra, nc: Any) -> None:
    gateway = await NatsGateway.connect(infra.login("portal"), timeout=1.0)
    try:
        tenants = await gateway.list_tenants(ListTenants(tenant="region"))
        assert [t.tenant for t in tenants.tenants] == ["gnosjo"]
        assert await gateway.get_round(GetRound(tenant="gnosjo", round_id="r1")) is None
    finally:
        await gateway.close()


async def test_a_query_nobody_answers_fails(infra: Infra, nc: Any) -> None:
    gateway = await NatsGateway.connect(infra.login("portal"), timeout=1.0)
    try:
        with pytest.raises(QueryFailed):
            await gateway.list_rounds(ListRounds(tenant="gnosjo"))
    finally:
        await gateway.close()


async def test_the_app_wires_the_nats_gateway(infra: Infra, nc: Any) -> None:
    settings = PortalSettings(**infra.bus("portal"), mongodb_url=infra.mongodb_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.get("/")
        assert response.status_code == 200
        assert "Gnosjö kommun" in response.text
        joined = await client.post(
            "/api/t/gnosjo/members",
            json={
                "email": "anna@example.se",
                "birth_year": 1984,
                "gender": "female",
                "district": "Hillerstorp",
                "consent": True,
            },
        )
        assert joined.status_code == 202
    stored = await nc.jetstream().get_last_msg("RECRUITMENT_CMD", "recruitment.gnosjo.cmd.>")
    assert stored.headers["Nats-Msg-Id"] == joined.json()["message_id"]
    command = EnrolMember.model_validate_json(stored.data)
    assert command.correlation_id == joined.headers["x-correlation-id"]
