"""dispatch killed with SIGKILL mid-send and restarted at once: nothing lost, nothing twice.

dispatch runs as a real process (as in the local stack). A few hundred invitations are on
their way when it is killed; the new process resumes the work of the dead one (its claims
expire within ``CLAIM_LEASE``, JetStream redelivers what it had taken after the ack wait),
every member ends up with exactly one mail, well within two minutes of the restart, and
nothing reaches the dead-letter stream.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from contracts.dispatch import SendMessage
from devstack.devtools import DevTools
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.store import connect, database
from tests.conftest import Infra
from tests.service.processes import ServiceProcess

T = "kinda"
MEMBERS = 300
RECOVERY_DEADLINE = 130.0
"""Seconds after the restart by which every member must have their mail (goal: 2 minutes)."""


async def test_killed_mid_send_resumes_and_sends_each_invitation_once(
    infra: Infra, devtools: DevTools, tmp_path: Path
) -> None:
    client = connect(infra.mongodb_url)
    db = database(client, "dispatch")
    members = [str(uuid.uuid4()) for _ in range(MEMBERS)]
    await db.contacts.insert_many(
        [
            {"_id": f"{T}:{m}", "tenant": T, "member_id": m, "email": f"{m}@kinda.example"}
            for m in members
        ]
    )
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(devtools.smtp_port)}
    first = ServiceProcess("dispatch", infra, tmp_path / "dispatch-1.log", **smtp)
    second = ServiceProcess("dispatch", infra, tmp_path / "dispatch-2.log", **smtp)
    nc = await infra.connect()
    js = nc.jetstream()
    try:
        await first.start()
        store = devtools.mailbox.store

        def store_then_stall(*args: Any) -> Any:
            summary = store(*args)
            if devtools.mailbox.count() == MEMBERS // 4:
                devtools.smtp.pause()
            return summary

        devtools.mailbox.store = store_then_stall  # type: ignore[method-assign]
        for m in members:
            await publish(
                js,
                SendMessage(
                    tenant=T,
                    member_id=m,
                    template="round_invitation",
                    params={"title": "Kisa", "purpose": "Skolvägar", "link": f"http://l/{m}"},
                ),
            )
        # Stall the SMTP server after a quarter of the mails so the kill lands mid-send: mails
        # are claimed and on their way, held before their content is sent. Kill once every
        # mail the server accepted is also recorded sent: a mail accepted in the milliseconds
        # before its status write is the one case no protocol closes (it would be sent again,
        # with the same Message-ID).
        await wait_until(lambda: devtools.smtp.held > 0, timeout=60, what="sends held")

        async def accepted_are_recorded() -> bool:
            sent = await db.messages.count_documents({"state": "sent"})
            return sent == devtools.mailbox.count()

        await wait_until(accepted_are_recorded, timeout=10, what="accepted mails recorded")
        before = devtools.mailbox.count()
        in_flight = await db.messages.count_documents({"state": "sending"})
        assert 0 < before < MEMBERS
        assert in_flight > 0

        first.kill()
        restarted = time.monotonic()
        await second.start()
        devtools.smtp.resume()

        def everyone_has_mail() -> bool:
            addresses = {
                r for m in devtools.mailbox.list_mails(limit=10_000)[0] for r in m.rcpt_tos
            }
            return len(addresses) >= MEMBERS

        await wait_until(
            everyone_has_mail,
            timeout=RECOVERY_DEADLINE,
            interval=0.5,
            what="every member's invitation after the restart",
        )
        recovered_in = time.monotonic() - restarted
        mails, total = devtools.mailbox.list_mails(limit=10_000)
        per_member: dict[str, int] = {}
        for mail in mails:
            for to in mail.rcpt_tos:
                per_member[to] = per_member.get(to, 0) + 1
        assert total == MEMBERS, f"{total - MEMBERS} extra mails"
        assert set(per_member) == {f"{m}@kinda.example" for m in members}
        assert set(per_member.values()) == {1}

        async def all_recorded() -> bool:
            return await db.messages.count_documents({"state": "sent"}) == MEMBERS

        await wait_until(all_recorded, timeout=30, what="every message recorded sent")
        assert await list_dead_letters(js) == []
        print(f"in flight at the kill: {in_flight}; all mails {recovered_in:.1f} s after restart")
    finally:
        first.stop()
        second.stop()
        await nc.close()
        await client.close()
