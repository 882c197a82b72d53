"""Sending in batches: ``SendMessage`` deliveries that arrive together share their store trips.

Each delivery hands its command to the ``Mailroom`` and awaits its own outcome. The way out
has three stages; the first and the last are ``Batcher``s that take every item waiting at
that moment in one go:

1. **claim**: one read of the message records and one of the contacts for the whole batch,
   then one ``insert_many`` of claims (``_id`` = the command's message id, state ``sending``,
   this process as ``owner``, a short lease). A claim that already exists and whose lease ran
   out (its sender died) is taken over by a guarded update; one read tells which of those this
   batch won;
2. **send**: each won claim's mail goes out on its own over the SMTP pool, many in parallel;
3. **record**: one ``bulk_write`` of guarded updates ``sending`` → ``sent``, each carrying its
   ``MessageSent`` in the document's outbox; then the relay publishes what was written.

Why one mail per message, whatever the redeliveries, copies and crashes:

- Copies of a message in this process share one attempt (``_attempts``): the second waits for
  the first and takes its outcome.
- Across processes, only the holder of the claim sends. A claim is created by inserting the
  message's own id (unique) or taken over by an update that matches only an expired lease, so
  one claimant wins each round; the per-batch ``claim`` token read back says which.
- A live sender never loses its claim: ``keep_claims`` renews the lease of every claim this
  process holds every ``HEARTBEAT_SECONDS``, well inside ``CLAIM_LEASE``. A copy that meets a
  claim still held is retried when that lease would end (``RetryLater``), not on the back-off
  schedule, so it neither sends nor wastes its deliveries.
- A message recorded ``sent`` is never sent again; the transition is guarded by the prior
  state, so ``MessageSent`` is written once.
- A dead sender's claims expire at most ``CLAIM_LEASE`` after its last heartbeat, before
  JetStream redelivers what it had taken (ack wait, 60 s): the redelivery takes them over and
  sends what was not recorded.

The one gap no protocol closes: a crash after the SMTP server accepted a mail and before the
next status write (a few milliseconds: each mail is recorded right after its own send, not
after its batch's) sends that mail again on recovery, with the same Message-ID header.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from contracts.dispatch import MessageSent, SendMessage
from infra.batching import Batcher
from infra.bus import Rejected, RetryLater
from infra.sealing import Unsealable
from infra.service import Runtime
from infra.store import DUPLICATE_KEY, Document, epoch_ms, with_outbox
from infra.tokens import derived_id
from services.dispatch import invalid_contacts, templates
from services.dispatch.channels import (
    ChannelError,
    ChannelRefused,
    ContactRefused,
    SmsClient,
    SmtpPool,
    compose,
    envelope_sender,
)

log = structlog.get_logger()

CLAIM_LEASE = timedelta(seconds=45)
"""How long a claim lasts without a heartbeat: a dead sender's work waits at most this long."""
HEARTBEAT_SECONDS = 10.0
"""How often a live process renews the leases of the claims it holds."""
BATCH = 256
"""Most commands claimed, or sends recorded, in one store round trip."""
RECORD_RETRIES = (0.2, 1.0, 3.0)
"""Pauses between attempts to record a mail that went out (a store hiccup must not resend it)."""
DONE_STATES = ("sent", "rejected", "failed")
"""A message in one of these states is never sent again: it went out, the SMS provider refused
it for good (rejected), or the mail server refused its recipient for good (failed)."""


def _lease_ms() -> int:
    """``CLAIM_LEASE`` in milliseconds (read at each use, so settings and tests can change it).
    Leases are epoch milliseconds: see ``infra.store.epoch_ms``."""
    return epoch_ms(CLAIM_LEASE)


def _expired(record: Document, now_ms: int) -> Any:
    """The filter on ``lease_until_ms`` that matches this claim only while its lease is over
    (a claim from before leases were numbers has none, and is over)."""
    return {"$lt": now_ms} if record.get("lease_until_ms") is not None else None


class ContactMissing(Exception):
    """The contact has not reached the replica yet; retried with back-off."""


def forgotten_key(tenant: str, member_id: str) -> str:
    """How dispatch remembers that a member was erased without keeping their id."""
    return hashlib.sha256(f"forgotten:{tenant}:{member_id}".encode()).hexdigest()


class SendInFlight(RetryLater):
    """Another process holds the claim to send this message; retried when its lease ends."""


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, composed and ready for its channel."""

    recipient: str
    data: bytes
    channel: str = "email"
    """The channel it goes on: "email", or "sms" (``data`` is then the text, UTF-8)."""
    to_contact: bool = True
    """Whether ``recipient`` is the contact book's (not a new address being confirmed)."""


def _retrieve(future: asyncio.Future[None]) -> None:
    # Copies may not be waiting: mark the outcome seen so asyncio does not warn about it.
    if not future.cancelled():
        future.exception()


def _channel(cmd: SendMessage, contact: Document) -> str:
    """The channel a message goes on: a member with only a mobile number gets everything by
    SMS, and one who prefers SMS (and has a number) every message sent on the default
    channel that has an SMS text, unless the message must keep its channel (it goes to one
    address: a sign-in link, a new address to confirm)."""
    if cmd.channel != "email" or not contact.get("phone"):
        return cmd.channel
    if not contact.get("email"):
        # Only a number: everything by SMS, but a message that must keep its channel (a link
        # to confirm a first address, sent there) stays e-mail.
        return "email" if cmd.keep_channel else "sms"
    if contact.get("channel") == "sms" and not cmd.keep_channel and templates.has_sms(cmd.template):
        return "sms"
    return "email"


class Mailroom:
    """Sends ``SendMessage`` commands for one dispatch process, in batches."""

    def __init__(
        self,
        rt: Runtime,
        pool: SmtpPool,
        mail_from: str,
        *,
        on_sent: Callable[[int], None] | None = None,
        sms: SmsClient | None = None,
    ) -> None:
        """``on_sent(n)`` is told how many mails each status write recorded (for metrics);
        ``sms`` sends the SMS (without it, an SMS is refused)."""
        self._rt = rt
        self._pool = pool
        self._sms = sms
        self._mail_from = mail_from
        self._sender = envelope_sender(mail_from)
        self.owner = uuid.uuid4().hex
        """This process's name on its claims (a new one at every start)."""
        self._attempts: dict[str, asyncio.Future[None]] = {}
        self._held: set[str] = set()
        self._unrecorded: set[str] = set()
        self._channels: dict[str, str] = {}
        """The channel each message held here goes on (a member without an address gets
        SMS whatever the command asked), for its claim and its ``MessageSent``."""
        self._claims: Batcher[SendMessage, Outgoing | None] = Batcher(self._claim, max_size=BATCH)
        self._records: Batcher[SendMessage, None] = Batcher(self._record, max_size=BATCH)
        self._releases: Batcher[str, None] = Batcher(self._release, max_size=BATCH)
        self._on_sent = on_sent

    @property
    def held(self) -> int:
        """Claims this process holds right now (mails on their way)."""
        return len(self._held)

    @property
    def batching(self) -> tuple[int, int]:
        """(claim batches, commands they held) so far: how much the batching shares."""
        return self._claims.batches, self._claims.items

    async def send(self, cmd: SendMessage) -> None:
        """Send the message once; returns when it is recorded sent (now or earlier)."""
        running = self._attempts.get(cmd.message_id)
        if running is not None:
            await asyncio.shield(running)
            return
        attempt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        attempt.add_done_callback(_retrieve)
        self._attempts[cmd.message_id] = attempt
        try:
            await self._send(cmd)
        except Exception as exc:
            attempt.set_exception(exc)
            raise
        except BaseException:
            attempt.cancel()
            raise
        else:
            attempt.set_result(None)
        finally:
            del self._attempts[cmd.message_id]
            self._channels.pop(cmd.message_id, None)

    async def _send(self, cmd: SendMessage) -> None:
        if cmd.message_id in self._unrecorded:
            # It went out on an earlier delivery whose status write failed: record it only.
            await self._records.submit(cmd)
            return
        outgoing = await self._claims.submit(cmd)
        if outgoing is None:
            return  # sent before
        self._held.add(cmd.message_id)
        try:
            try:
                await self._deliver(outgoing)
            except ChannelRefused as exc:
                await self._reject(cmd, outgoing, str(exc))
                return
            except ContactRefused as refused:
                # Retrying cannot help: the message is done, and the contact listed for staff.
                await self._failed(cmd, outgoing, refused.reason)
                return
            except ChannelError:
                # Give the claim back at once so the retry is not held up by the lease.
                try:
                    await self._releases.submit(cmd.message_id)
                except Exception as exc:
                    log.warning("could not release a claim", error=repr(exc)[:300])
                raise
            try:
                # Shielded: once the mail is out, a cancelled delivery must still record it.
                await asyncio.shield(self._records.submit(cmd))
            except Exception:
                self._unrecorded.add(cmd.message_id)
                raise
        finally:
            self._held.discard(cmd.message_id)

    async def _deliver(self, outgoing: Outgoing) -> None:
        if outgoing.channel == "sms":
            if self._sms is None:
                raise ChannelRefused("no SMS provider configured")
            await self._sms.send(outgoing.recipient, outgoing.data.decode())
        else:
            await self._pool.send(self._sender, outgoing.recipient, outgoing.data)

    async def _reject(self, cmd: SendMessage, outgoing: Outgoing, reason: str) -> None:
        """Record a message the provider refused for good: never sent, never retried; a
        number refused is listed for staff like a refused address."""
        await self._rt.db.messages.update_one(
            {"_id": cmd.message_id, "state": "sending", "owner": self.owner},
            {"$set": {"state": "rejected", "reason": reason, "rejected_at": datetime.now(UTC)}},
        )
        if outgoing.channel == "sms" and outgoing.to_contact:
            await invalid_contacts.record(
                self._rt, cmd, outgoing.recipient, "sms_refused", channel="sms"
            )
        log.warning("message refused by the provider", reason=reason)

    # --- stage 1: claim ---------------------------------------------------------------

    async def _claim(self, cmds: Sequence[SendMessage]) -> list[Outgoing | BaseException | None]:
        """Claim the batch's messages; per command: its mail, None if sent before, or why not."""
        db = self._rt.db
        now = datetime.now(UTC)
        now_ms = epoch_ms(now)
        lease_until = now_ms + _lease_ms()
        token = uuid.uuid4().hex
        contacts = {
            d["_id"]: d
            for d in await db.contacts.find(
                {"_id": {"$in": list({f"{c.tenant}:{c.member_id}" for c in cmds})}}
            ).to_list()
        }
        results: list[Outgoing | BaseException | None] = [None] * len(cmds)
        ready: dict[int, Outgoing] = {}
        refused: dict[int, Exception] = {}
        for i, cmd in enumerate(cmds):
            try:
                ready[i] = self._compose(cmd, contacts.get(f"{cmd.tenant}:{cmd.member_id}"))
            except Exception as exc:
                refused[i] = exc
        missing = [i for i, exc in refused.items() if isinstance(exc, ContactMissing)]
        if missing:
            # An erased member's contact is gone for good: refuse, do not wait for it.
            keys = {forgotten_key(cmds[i].tenant, cmds[i].member_id): i for i in missing}
            async for doc in db.forgotten.find({"_id": {"$in": list(keys)}}, {"_id": 1}):
                refused[keys[doc["_id"]]] = Rejected("the member was erased")
        if refused:
            # A message sent before is done, whatever its contact or template says now.
            sent = await self._states(cmds, list(refused))
            for i, reason in refused.items():
                record = sent.get(cmds[i].message_id)
                results[i] = None if record and record["state"] in DONE_STATES else reason
        # Most commands are new: insert their claims straight away. One that exists already
        # (a redelivery, a copy, a dead sender's) is looked at below.
        for i, outgoing in ready.items():
            self._channels[cmds[i].message_id] = outgoing.channel
        contested = await self._insert_claims(cmds, list(ready), now, lease_until, token, results)
        for i in ready:
            if i not in contested and results[i] is None:
                results[i] = ready[i]
        if not contested:
            return results
        records = await self._states(cmds, contested)
        takeovers = []
        for i in contested:
            record = records.get(cmds[i].message_id)
            if record is not None and record["state"] in DONE_STATES:
                results[i] = None
            elif record is not None and (record.get("lease_until_ms") or 0) < now_ms:
                takeovers.append(i)  # its sender died (or gave the claim back)
            else:
                results[i] = self._in_flight(cmds[i], record, now_ms)
        if takeovers:
            # Matches only while the lease is still over, so one claimant wins it; the token
            # read back says which.
            claim = {"$set": {"lease_until_ms": lease_until, "owner": self.owner, "claim": token}}
            await db.messages.bulk_write(
                [
                    UpdateOne(
                        {
                            "_id": cmds[i].message_id,
                            "state": "sending",
                            "lease_until_ms": _expired(records[cmds[i].message_id], now_ms),
                        },
                        claim,
                    )
                    for i in takeovers
                ],
                ordered=False,
            )
            records = await self._states(cmds, takeovers)
            for i in takeovers:
                record = records.get(cmds[i].message_id)
                if record is not None and record.get("claim") == token:
                    results[i] = ready[i]
                elif record is not None and record["state"] in DONE_STATES:
                    results[i] = None
                else:
                    results[i] = self._in_flight(cmds[i], record, now_ms)
        return results

    async def _states(self, cmds: Sequence[SendMessage], which: list[int]) -> dict[str, Document]:
        """The message records of the commands at positions ``which``, by message id."""
        return {
            d["_id"]: d
            for d in await self._rt.db.messages.find(
                {"_id": {"$in": [cmds[i].message_id for i in which]}},
                {"state": 1, "lease_until_ms": 1, "claim": 1},
            ).to_list()
        }

    async def _insert_claims(
        self,
        cmds: Sequence[SendMessage],
        inserts: list[int],
        now: datetime,
        lease_until: int,
        token: str,
        results: list[Outgoing | BaseException | None],
    ) -> list[int]:
        """Insert new claims; returns the positions someone else claimed first (duplicates)."""
        if not inserts:
            return []
        try:
            await self._rt.db.messages.insert_many(
                [self._claim_document(cmds[i], now, lease_until, token) for i in inserts],
                ordered=False,
            )
        except BulkWriteError as exc:
            contested = []
            for error in exc.details.get("writeErrors", []):
                i = inserts[error["index"]]
                if error.get("code") == DUPLICATE_KEY:
                    contested.append(i)
                else:  # not stored, so not claimed: retried like any failure
                    results[i] = RuntimeError(f"claim not stored: {error.get('errmsg')}")
            return contested
        return []

    def _compose(self, cmd: SendMessage, contact: Document | None) -> Outgoing:
        if contact is None:
            raise ContactMissing(cmd.member_id)
        channel = _channel(cmd, contact)
        # Every message names its council and carries the member's own link to leave; the
        # command's values come last, so a template's own council name wins.
        params = self._params(cmd, contact)
        # A message to confirm a new address or number goes there, not to the contact book's.
        new_address = params.pop("recipient", None)
        if channel == "sms" and (new_address or contact.get("phone")):
            number = new_address or contact["phone"]
            text = self._sms_text(cmd, contact, params)
            return Outgoing(number, text.encode(), "sms", to_contact=not new_address)
        if channel != "email" or not (new_address or contact.get("email")):
            raise Rejected(f"no {cmd.channel} channel for this member")
        recipient = new_address or contact["email"]
        try:
            rendered = templates.render(cmd.template, contact.get("locale") or "sv", params)
        except templates.UnknownTemplate as exc:
            raise Rejected(str(exc)) from exc
        try:
            data = compose(
                self._mail_from,
                recipient,
                rendered.subject,
                rendered.body,
                f"<{cmd.message_id}@radslag>",
            )
        except ValueError as exc:
            raise Rejected(f"cannot compose the mail: {exc}") from exc
        return Outgoing(recipient, data, to_contact=not new_address)

    def _params(self, cmd: SendMessage, contact: Document) -> dict[str, str]:
        try:
            params = {"council": contact.get("council") or ""}
            for sealed in (contact.get("sealed"), cmd.sealed):
                if sealed:
                    params |= self._rt.sealer.open_params(sealed)
            return params | cmd.params
        except Unsealable as exc:
            raise Rejected(f"sealed values cannot be opened: {exc}") from exc

    def _sms_text(self, cmd: SendMessage, contact: Document, params: dict[str, str]) -> str:
        try:
            return templates.render_sms(cmd.template, contact.get("locale") or "sv", params)
        except templates.UnknownTemplate as exc:
            raise Rejected(str(exc)) from exc

    def _claim_document(
        self, cmd: SendMessage, now: datetime, lease_until: int, token: str
    ) -> Document:
        return {
            "_id": cmd.message_id,
            "tenant": cmd.tenant,
            "member_id": cmd.member_id,
            "channel": self._channels.get(cmd.message_id, cmd.channel),
            "template": cmd.template,
            "state": "sending",
            "lease_until_ms": lease_until,
            "owner": self.owner,
            "claim": token,
            "correlation_id": cmd.correlation_id,
            "created_at": now,
        }

    def _in_flight(self, cmd: SendMessage, record: Document | None, now_ms: int) -> Exception:
        lease_until = (record or {}).get("lease_until_ms")
        left = (lease_until - now_ms) / 1000 if lease_until is not None else 0.0
        # Try again just after the holder's lease would end; at once if it already has.
        delay = min(max(left, 0.0), CLAIM_LEASE.total_seconds()) + 1.0
        return SendInFlight(f"another sender holds {cmd.message_id}", delay)

    async def _failed(self, cmd: SendMessage, outgoing: Outgoing, reason: str) -> None:
        """The recipient was refused for good: the message is done (``failed``, with the
        reason) and, if it went to the contact book's address, the member is listed."""
        await self._rt.db.messages.update_one(
            {"_id": cmd.message_id, "state": "sending"},
            {"$set": {"state": "failed", "reason": reason, "failed_at_ms": epoch_ms()}},
        )
        if outgoing.to_contact:
            await invalid_contacts.record(
                self._rt, cmd, outgoing.recipient, reason, channel=outgoing.channel
            )
        log.info("recipient refused for good", send_id=cmd.message_id, reason=reason)

    # --- stage 3: record --------------------------------------------------------------

    async def _record(self, cmds: Sequence[SendMessage]) -> list[None]:
        now = datetime.now(UTC)
        events = [
            MessageSent.follow(
                cmd,
                message_id=derived_id(cmd.message_id, "message_sent"),
                send_id=cmd.message_id,
                channel=self._channels.get(cmd.message_id, cmd.channel),
                template=cmd.template,
                sender_ref=cmd.sender_ref,
            )
            for cmd in cmds
        ]
        updates = [
            UpdateOne(
                {"_id": cmd.message_id, "state": "sending"},
                with_outbox({"$set": {"state": "sent", "sent_at": now}}, event),
            )
            for cmd, event in zip(cmds, events, strict=True)
        ]
        result = await self._write_sent(updates)
        for cmd in cmds:
            self._unrecorded.discard(cmd.message_id)
        if self._on_sent is not None:
            self._on_sent(result.modified_count)
        try:
            if result.modified_count == len(updates):
                await self._rt.publish_written(
                    "messages",
                    [(c.message_id, e) for c, e in zip(cmds, events, strict=True)],
                    sole=True,  # a sent message's outbox never gets another entry
                )
            else:
                # Some were recorded by another sender: publish only what this write stored.
                await self._rt.flush("messages", [c.message_id for c in cmds])
        except Exception as exc:  # the sweep publishes them a little later
            log.warning("could not publish MessageSent yet", error=repr(exc)[:300])
        return [None] * len(cmds)

    async def _write_sent(self, updates: list[UpdateOne]) -> Any:
        for pause in RECORD_RETRIES:
            try:
                return await self._rt.db.messages.bulk_write(updates, ordered=False)
            except Exception as exc:
                log.warning("could not record sent mails, retrying", error=repr(exc)[:300])
                await asyncio.sleep(pause)
        return await self._rt.db.messages.bulk_write(updates, ordered=False)

    async def _release(self, ids: Sequence[str]) -> list[None]:
        await self._rt.db.messages.update_many(
            {"_id": {"$in": list(ids)}, "state": "sending", "owner": self.owner},
            {"$set": {"lease_until_ms": epoch_ms()}},
        )
        return [None] * len(ids)

    # --- heartbeat --------------------------------------------------------------------

    async def renew(self) -> int:
        """Extend the lease of every claim this process holds; returns how many matched."""
        if not self._held:
            return 0
        result = await self._rt.db.messages.update_many(
            {"_id": {"$in": list(self._held)}, "state": "sending", "owner": self.owner},
            {"$set": {"lease_until_ms": epoch_ms() + _lease_ms()}},
        )
        return int(result.matched_count)

    async def keep_claims(self, _: Any = None) -> None:
        """Renew held claims every ``HEARTBEAT_SECONDS`` until cancelled (a background job)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):
                await self.renew()
