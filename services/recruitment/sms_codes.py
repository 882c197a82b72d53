"""Sign-up by mobile number: a 6-digit code by SMS confirms it.

A sign-up with a number and no e-mail address claims the number in the council
(``member_phones``, keyed by a hash of council and number), records the member as pending and,
in the same write, the ``SendMessage`` of the SMS carrying the code (sealed: only dispatch
opens it). The code is kept only as an HMAC under the installation's seal keys
(``sms_codes``, one document per number, keyed by the same hash), with when it expires
(``CODE_TTL``) and the wrong attempts so far: after ``MAX_ATTEMPTS`` the code is void, and a
right one is used once. The same document limits SMS to one per number per ``SMS_INTERVAL``,
whoever signs the number up and however often.

Nobody learns from a sign-up or a code whether a number is a member: a sign-up for a member's
number sends nothing and is answered like any other, and every code that does not confirm is
refused alike (``invalid_code``), whether wrong, expired, void or for a number with no code.
Unconfirmed sign-ups are erased after ``expiry.PENDING_DAYS`` like those by mail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import structlog
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.dispatch import SendMessage
from contracts.recruitment import ConfirmByCode, EnrolMember
from infra import outcomes
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import epoch_ms, new_document, with_outbox
from services.recruitment import counts, domain, handlers, open_campaigns

log = structlog.get_logger()

CODE_TTL = timedelta(minutes=10)
"""How long a code confirms."""
SMS_INTERVAL = timedelta(minutes=10)
"""At most one SMS per number in this long (a new code only once the last has expired)."""
MAX_ATTEMPTS = 5
"""Wrong codes tried for a number before its code is void."""
CODE_DIGITS = 6


def _now_ms() -> int:
    """The time codes are checked against (tests move it on instead of waiting)."""
    return epoch_ms()


def new_code() -> str:
    """A fresh random 6-digit code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _keys(rt: Runtime) -> list[bytes]:
    # One HMAC key per seal key: a code made just before a rotation still confirms.
    return [
        hashlib.sha256(b"sms-code:" + k.strip().encode()).digest()
        for k in rt.settings.seal_keys.split(",")
        if k.strip()
    ]


def code_hashes(rt: Runtime, key: str, code: str) -> list[str]:
    """What a code for the number ``key`` is stored as, under each seal key (the first is
    how new codes are stored). Keyed: six digits alone would be found by trying them all."""
    return [hmac.new(k, f"{key}:{code}".encode(), "sha256").hexdigest() for k in _keys(rt)]


def _sms(rt: Runtime, cmd: EnrolMember, member_id: str, council: str, code: str) -> SendMessage:
    return SendMessage.follow(
        cmd,
        member_id=member_id,
        channel="sms",
        template="confirm_code",
        params={"council": council},
        # The code confirms a membership: it travels sealed, like a link.
        sealed=rt.sealer.seal_params({"code": code, "minutes": str(CODE_TTL.seconds // 60)}),
    )


async def _new_code(rt: Runtime, key: str, tenant: str, member_id: str) -> str | None:
    """A fresh code for the number ``key``, stored; None if its last SMS is too recent (or a
    concurrent sign-up made one first)."""
    now = _now_ms()
    code = new_code()
    fields = {
        "tenant": tenant,
        "member_id": member_id,
        "code_hash": code_hashes(rt, key, code)[0],
        "expires_at_ms": now + epoch_ms(CODE_TTL),
        "attempts": 0,
        "state": "open",
        "sent_at_ms": now,
    }
    last = await rt.db.sms_codes.find_one({"_id": key}, {"sent_at_ms": 1})
    if last is None:
        try:
            await rt.db.sms_codes.insert_one({"_id": key, **fields})
        except DuplicateKeyError:
            return None
        return code
    if now - int(last["sent_at_ms"]) < epoch_ms(SMS_INTERVAL):
        return None
    # Guarded by the last send's time: of concurrent sign-ups, one makes the code.
    result = await rt.db.sms_codes.update_one(
        {"_id": key, "sent_at_ms": last["sent_at_ms"]}, {"$set": fields}
    )
    return code if result.matched_count else None


async def enrol_by_phone(rt: Runtime, cmd: EnrolMember) -> None:
    """Record a sign-up by mobile number only as pending and send the code by SMS.

    Signing the number up again while pending sends a new code only after ``SMS_INTERVAL``
    (the newest details win, as by mail); a member's number gets nothing, and the same answer.
    """
    council_doc = await handlers._council(rt, cmd.tenant)
    council = str(council_doc["display_name"])
    member = handlers._details(cmd, council_doc)
    await handlers.check_against_panel(rt, cmd, member)
    key = domain.phone_key(cmd.tenant, member.phone)
    if not await handlers.claim_phone(rt, cmd.tenant, member.phone, cmd.member_id):
        await _signed_up_again(rt, cmd, member, council, key)
        return
    if await rt.db.members.find_one({"_id": cmd.member_id}, {"_id": 1}) is not None:
        return  # a redelivery: its code went out (or is in the outbox)
    code = await _new_code(rt, key, cmd.tenant, cmd.member_id)
    if code is None:
        # The number's last SMS is recent (an earlier sign-up, since erased): no new one.
        await handlers.release_phone(rt, cmd.tenant, member.phone, cmd.member_id)
        return
    contact, leave = handlers._contact(
        rt, cmd, cmd.member_id, "", cmd.locale, council, member.phone
    )
    await rt.db.leave_links.insert_one(leave)
    document = {
        **handlers._member_document(
            cmd, member, consent_version=cmd.consent_version, state="pending", source="web"
        ),
        "heard_from": cmd.heard_from,
        "works_for_council": handlers._yes_no(cmd.works_for_council),
        # The expiry sweep reads when the last opt-in message went out, mail or SMS.
        "mailed_at_ms": epoch_ms(cmd.occurred_at),
        "signed_up_at_ms": epoch_ms(cmd.occurred_at),
    }
    try:
        await rt.db.members.insert_one(
            new_document(document, contact, _sms(rt, cmd, cmd.member_id, council, code))
        )
    except DuplicateKeyError:
        await rt.db.leave_links.delete_one({"_id": leave["_id"]})
        return
    await counts.move(rt, cmd.tenant, pending=1)
    await open_campaigns.signed_up(rt, cmd.tenant, cmd.via)
    await rt.flush("members", [cmd.member_id])


async def _signed_up_again(
    rt: Runtime, cmd: EnrolMember, member: domain.MemberDetails, council: str, key: str
) -> None:
    claim = await rt.db.member_phones.find_one({"_id": key})
    existing = None if claim is None else await rt.db.members.find_one({"_id": claim["member_id"]})
    if existing is None or existing.get("enrolled_by") == cmd.message_id:
        return
    if existing["state"] != "pending":
        return  # a member already: say nothing that would tell a stranger so
    await handlers.take_newest_details(rt, cmd, member, existing)
    code = await _new_code(rt, key, cmd.tenant, existing["_id"])
    if code is None:
        return  # the code sent recently stays the one to use
    result = await rt.db.members.update_one(
        {"_id": existing["_id"], "state": "pending"},
        with_outbox(
            {"$set": {"mailed_at_ms": epoch_ms(cmd.occurred_at), "enrolled_by": cmd.message_id}},
            _sms(rt, cmd, existing["_id"], council, code),
        ),
    )
    if result.matched_count:
        await rt.flush("members", [existing["_id"]])


async def confirm_by_code(rt: Runtime, cmd: ConfirmByCode) -> None:
    """Confirm the pending sign-up of ``cmd.phone`` if ``cmd.code`` is its code, still valid;
    a wrong code counts an attempt. The outcome is kept for the portal."""
    settled = await outcomes.read(rt.db, cmd.message_id, cmd.tenant)
    if settled.status != "pending":
        return  # a redelivery of a confirmation already answered
    council = await handlers._council(rt, cmd.tenant)
    try:
        phone = handlers.checked_phone(cmd.phone, council)
    except Rejected:
        await rt.settle(cmd, "refused", "invalid_code")
        return
    key = domain.phone_key(cmd.tenant, phone)
    hashes = code_hashes(rt, key, cmd.code)
    now = _now_ms()
    taken = await rt.db.sms_codes.find_one_and_update(
        {
            "_id": key,
            "tenant": cmd.tenant,
            "state": "open",
            "code_hash": {"$in": hashes},
            "attempts": {"$lt": MAX_ATTEMPTS},
            "expires_at_ms": {"$gt": now},
        },
        {"$set": {"state": "used", "used_by": cmd.message_id}},
    )
    if taken is None:
        taken = await rt.db.sms_codes.find_one({"_id": key, "tenant": cmd.tenant})
        if taken is None or taken.get("used_by") != cmd.message_id:
            await rt.settle(cmd, "refused", await _wrong(rt, key, taken, hashes))
            return
    member = await rt.db.members.find_one({"_id": taken["member_id"], "tenant": cmd.tenant})
    if member is None or member["state"] not in ("pending", "active"):
        await rt.settle(cmd, "refused", "invalid_code")
        return
    status, reason = await handlers.activate(rt, cmd, member)
    await rt.settle(cmd, status, reason)


async def _wrong(rt: Runtime, key: str, found: dict[str, object] | None, hashes: list[str]) -> str:
    """Count a wrong attempt on the number's open code (void after ``MAX_ATTEMPTS``); the
    reason to give: ``already_used`` only to whoever has the right code of a used one."""
    if found is not None and found.get("state") == "used" and found.get("code_hash") in hashes:
        return "already_used"
    counted = await rt.db.sms_codes.find_one_and_update(
        {"_id": key, "state": "open"},
        {"$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if counted is not None and int(counted["attempts"]) >= MAX_ATTEMPTS:
        await rt.db.sms_codes.update_one({"_id": key, "state": "open"}, {"$set": {"state": "void"}})
        log.info("sms code void after too many attempts", tenant=counted["tenant"])
    return "invalid_code"
