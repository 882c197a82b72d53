"""The bus refuses what a client has no business doing, on the server `make up` runs.

Every process logs in as its own NATS user with the permissions ``infra.natsauth`` derives
from the code. A refused publish is dropped by the server (JetStream never acks it, nothing
reaches the stream) and a refused subscription never receives anything; either way the server
tells the client, which is what these tests listen for, beside checking the effect.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from contracts.rounds import ListRounds, RoundList
from devstack.processes import executable, free_port, wait_for_port
from infra.natsauth import USERS, BusLogin, bcrypt_hash, new_password, password_variable
from infra.queries import ask
from tests.conftest import Infra, Stack

pytestmark = pytest.mark.bus_refusals

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
T = "gnosjo"
REFUSED_WITHIN = 0.5
"""Seconds to wait for what a refused request would have answered."""


class Client:
    """A NATS client logged in as one user that keeps what the server told it went wrong."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Any = None

    async def on_error(self, exc: Exception) -> None:
        self.errors.append(str(exc))

    def refused(self, what: str, subject: str) -> bool:
        """The server said it refused ``what`` ("publish"/"subscription") on ``subject``."""
        expected = f'permissions violation for {what} to "{subject}"'.lower()
        return any(expected in e.lower() for e in self.errors)


@asynccontextmanager
async def logged_in(login: BusLogin) -> AsyncIterator[Client]:
    client = Client()
    client.nc = await login.connect(error_cb=client.on_error, allow_reconnect=False)
    try:
        yield client
    finally:
        await client.nc.close()


async def connect_fails(url: str, **credentials: Any) -> str:
    """Try to connect once; return why the server refused."""

    async def quiet(_: Exception) -> None:
        return None

    with pytest.raises(nats.errors.Error) as refused:
        await nats.connect(
            url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=quiet, **credentials
        )
    return str(refused.value)


async def publish_is_refused(stack: Stack, user: str, subject: str, stream: str) -> None:
    """``user`` publishes on ``subject``: no ack, the server says why, the stream has nothing."""
    async with logged_in(stack.infra.login(user)) as client:
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await client.nc.jetstream().publish(
                subject, b"{}", headers={"Nats-Msg-Id": str(uuid.uuid4())}, timeout=REFUSED_WITHIN
            )
        assert client.refused("publish", subject), client.errors
    with pytest.raises(NotFoundError):
        await stack.js.get_last_msg(stream, subject)


async def subscription_is_refused(stack: Stack, user: str, subject: str, probe: str) -> None:
    """``user`` subscribes to ``subject``: refused, and a message on ``probe`` (which the
    subject matches, published by ops) never reaches it."""
    async with logged_in(stack.infra.login(user)) as client:
        sub = await client.nc.subscribe(subject)
        await client.nc.flush()
        await stack.nc.publish(probe, b"{}")
        await stack.nc.flush()
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=REFUSED_WITHIN)
        assert client.refused("subscription", subject), client.errors


async def test_an_anonymous_client_is_refused(infra: Infra) -> None:
    assert "authorization violation" in (await connect_fails(infra.nats_url)).lower()


async def test_a_wrong_or_another_users_password_is_refused(infra: Infra) -> None:
    wrong = await connect_fails(infra.nats_url, user="rounds", password="not-the-password")
    assert "authorization violation" in wrong.lower()
    portals = infra.nats_passwords["portal"]
    borrowed = await connect_fails(infra.nats_url, user="rounds", password=portals)
    assert "authorization violation" in borrowed.lower()
    # The right one is let in (so the refusals above are about the passwords).
    nc = await infra.connect("rounds")
    await nc.close()


async def test_a_service_publishes_what_it_owns_and_nothing_else(stack: Stack) -> None:
    # Allowed: rounds publishes its own event (a body that is no event: it is dead-lettered
    # as invalid, nothing else happens).
    async with logged_in(stack.infra.login("rounds")) as client:
        ack = await client.nc.jetstream().publish(f"rounds.{T}.evt.round_opened", b"{}", timeout=5)
        assert ack.stream == "ROUNDS_EVT"
        assert client.errors == []
    # Refused: another owner's commands and events.
    for subject, stream in (
        (f"recruitment.{T}.cmd.register_tenant", "RECRUITMENT_CMD"),
        (f"recruitment.{T}.evt.member_enrolled", "RECRUITMENT_EVT"),
        (f"feedback.{T}.evt.feedback_published", "FEEDBACK_EVT"),
        (f"dispatch.{T}.evt.message_sent", "DISPATCH_EVT"),
    ):
        await publish_is_refused(stack, "rounds", subject, stream)
    for subject in (f"rounds.{T}.cmd.submit_response", f"rounds.{T}.cmd.close_round"):
        await publish_is_refused(stack, "dispatch", subject, "ROUNDS_CMD")
    # The portal sends staff commands but cannot forge an event.
    await publish_is_refused(stack, "portal", f"rounds.{T}.evt.round_closed", "ROUNDS_EVT")


async def test_a_service_reads_no_stream_beyond_its_own_consumers(stack: Stack) -> None:
    """rounds consumes MemberEnrolled from recruitment's events, which also carry contacts
    (ContactRecorded): it can neither point a consumer at those nor read the stream."""
    async with logged_in(stack.infra.login("rounds")) as client:
        js = client.nc.jetstream(timeout=REFUSED_WITHIN)
        with pytest.raises(nats.errors.TimeoutError):
            await js.add_consumer(
                "RECRUITMENT_EVT",
                ConsumerConfig(
                    name="rounds_member_enrolled",
                    durable_name="rounds_member_enrolled",
                    filter_subject="recruitment.*.evt.contact_recorded",
                ),
            )
        with pytest.raises(nats.errors.TimeoutError):
            await js.get_msg("RECRUITMENT_EVT", 1)
        assert client.refused("publish", "$JS.API.STREAM.MSG.GET.RECRUITMENT_EVT")


async def test_the_portal_reads_only_its_replies_and_outcomes(stack: Stack) -> None:
    # Allowed: its queries are answered in its own inbox, and it hears outcomes.
    async with logged_in(stack.infra.login("portal")) as client:
        assert await ask(client.nc, ListRounds(tenant=T), RoundList) is not None
        outcomes = await client.nc.subscribe("outcome.replica1")
        await client.nc.flush()
        await stack.nc.publish("outcome.replica1", b"{}")
        assert (await outcomes.next_msg(timeout=5)).data == b"{}"
        assert client.errors == []
    # Refused: events and commands it has no use for (addresses, links), dead letters, and
    # other users' inboxes.
    for subject, probe in (
        ("recruitment.*.evt.>", f"recruitment.{T}.evt.contact_recorded"),
        ("dispatch.*.cmd.>", f"dispatch.{T}.cmd.send_message"),
        ("deadletter.>", "deadletter.dispatch_cmd.dispatch_send_message"),
        ("_INBOX.>", "_INBOX.rounds.abc.def"),
        ("_INBOX.rounds.>", "_INBOX.rounds.abc.def"),
    ):
        await subscription_is_refused(stack, "portal", subject, probe)


async def test_the_portal_cannot_read_dead_letters_through_jetstream(stack: Stack) -> None:
    async with logged_in(stack.infra.login("portal")) as client:
        js = client.nc.jetstream(timeout=REFUSED_WITHIN)
        with pytest.raises(nats.errors.TimeoutError):
            await js.stream_info("DEAD_LETTER")
        with pytest.raises(nats.errors.TimeoutError):
            await js.get_msg("DEAD_LETTER", 1)
        with pytest.raises(nats.errors.TimeoutError):
            await js.pull_subscribe("deadletter.>", durable="peek", stream="DEAD_LETTER")
        assert client.refused("publish", "$JS.API.STREAM.INFO.DEAD_LETTER")
        assert client.refused("publish", "$JS.API.STREAM.MSG.GET.DEAD_LETTER")


async def test_a_service_cannot_read_other_users_inboxes(stack: Stack) -> None:
    for subject in ("_INBOX.>", "_INBOX.portal.>", "_INBOX.*"):
        await subscription_is_refused(stack, "dispatch", subject, "_INBOX.portal.abc.def")
    # A reply to the portal reaches only the portal, in its own inbox.
    seen: list[str] = []
    async with logged_in(stack.infra.login("portal")) as client:
        reply = await client.nc.request(
            f"rounds.{T}.qry.list_rounds",
            ListRounds(tenant=T).model_dump_json().encode(),
            timeout=5,
        )
        seen.append(reply.subject)
    assert seen[0].startswith("_INBOX.portal.")


async def test_a_service_cannot_write_into_another_users_inbox(stack: Stack) -> None:
    """A responder may reply once to a request it got (allow_responses), not forge replies."""
    async with logged_in(stack.infra.login("rounds")) as client:
        inbox = "_INBOX.portal.forged.reply"
        await client.nc.publish(inbox, b'{"ok": true, "data": null}')
        await client.nc.flush()
        await asyncio.sleep(0.2)
        assert client.refused("publish", inbox), client.errors


async def test_the_production_configuration_lets_each_user_in_with_its_password(
    tmp_path: Path,
) -> None:
    """deploy/nats as an operator runs it: the bcrypt hashes in the server's environment."""
    passwords = {user: new_password() for user in USERS}
    env = {
        **os.environ,
        "SERVER_NAME": "nats-1",
        **{password_variable(u): bcrypt_hash(p, cost=4) for u, p in passwords.items()},
    }
    for name in ("nats-server.conf", "compose.conf"):
        checked = subprocess.run(
            [executable("nats-server"), "-t", "-c", str(DEPLOY / name)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # A single local node with the same authorization file.
    shutil.copy(DEPLOY / "authorization.conf", tmp_path / "authorization.conf")
    port = free_port()
    (tmp_path / "node.conf").write_text(
        f"listen: 127.0.0.1:{port}\n"
        f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        "include ./authorization.conf\n"
    )
    with (tmp_path / "node.log").open("wb") as log:
        server = subprocess.Popen(
            [executable("nats-server"), "-c", str(tmp_path / "node.conf")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc=server)
        url = f"nats://127.0.0.1:{port}"
        for user in USERS:
            nc = await BusLogin(url, user, passwords[user]).connect(allow_reconnect=False)
            await nc.close()
        refused = await connect_fails(url, user="portal", password=passwords["ops"])
        assert "authorization violation" in refused.lower()
    finally:
        server.terminate()
        server.wait(10)
