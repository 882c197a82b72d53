"""Signing in by a code sent by SMS, for members who have a mobile number (some have nothing
else): the same session as the mailed link opens (``self_service``), reached another way.

A request names a number. If it is an active member's in the council (its claim in
``member_phones``), a fresh 6-digit code is kept as an HMAC (``sms_codes.code_hashes``, under
a key of its own so a sign-up code never signs in) in ``sign_in_codes``: one document per
number, keyed like its claim, with when it expires (``sms_codes.CODE_TTL``), the wrong
attempts so far (void after ``sms_codes.MAX_ATTEMPTS``) and whether it was used. The SMS that
carries it rides in the member's outbox (sealed), written after the code, so it never arrives
before the code works. One SMS per number per ``sms_codes.SMS_INTERVAL``, however often asked,
unless the last code was used (the member signed in with it, and may again a little later).

Nobody learns from a request whether a number is a member's: the outcome is ``done`` either
way. A code that does not open a session is refused ``invalid_code`` (wrong, void, or no code
for the number), except that whoever types the right code hears that it ``expired`` or was
``already_used``.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.dispatch import SendMessage
from contracts.membership import OpenMemberSessionByCode, RequestSignInCode
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, epoch_ms, with_outbox
from infra.tokens import derived_id
from services.recruitment import domain, handlers, self_service, sms_codes

log = structlog.get_logger()

AGAIN_AFTER_USE = timedelta(minutes=1)
"""A member who signed in with their code may ask for a new one this soon."""


def _now_ms() -> int:
    """The time codes are checked against (tests move it on instead of waiting)."""
    return epoch_ms()


def _hashes(rt: Runtime, key: str, code: str) -> list[str]:
    # Its own HMAC input: a code sent to confirm a sign-up is not a sign-in code.
    return sms_codes.code_hashes(rt, f"sign-in:{key}", code)


async def _member_of_number(rt: Runtime, tenant: str, phone: str) -> Document | None:
    """The active member whose number ``phone`` is in the council, or None."""
    claim = await rt.db.member_phones.find_one({"_id": domain.phone_key(tenant, phone)})
    if claim is None:
        return None
    return await rt.db.members.find_one(
        {"_id": claim["member_id"], "tenant": tenant, "state": "active", "phone": phone}
    )


async def _new_code(rt: Runtime, cmd: RequestSignInCode, key: str, member_id: str) -> str | None:
    """A fresh code for the number ``key``, stored; None if its last SMS is too recent (or a
    concurrent request made one first)."""
    now = _now_ms()
    code = sms_codes.new_code()
    fields = {
        "tenant": cmd.tenant,
        "member_id": member_id,
        "code_hash": _hashes(rt, key, code)[0],
        "expires_at_ms": now + epoch_ms(sms_codes.CODE_TTL),
        "attempts": 0,
        "state": "open",
        "sent_at_ms": now,
        "sent_by": cmd.message_id,
    }
    last = await rt.db.sign_in_codes.find_one({"_id": key})
    if last is None:
        try:
            await rt.db.sign_in_codes.insert_one({"_id": key, **fields})
        except DuplicateKeyError:
            return None
        return code
    since = now - int(last["sent_at_ms"])
    wait = AGAIN_AFTER_USE if last.get("state") == "used" else sms_codes.SMS_INTERVAL
    # A redelivery whose SMS never reached the outbox makes its code again.
    if last.get("sent_by") != cmd.message_id and since < epoch_ms(wait):
        return None
    # Guarded by the last send: of concurrent requests, one makes the code.
    result = await rt.db.sign_in_codes.update_one(
        {"_id": key, "sent_at_ms": last["sent_at_ms"]}, {"$set": fields}
    )
    return code if result.matched_count else None


async def request_sign_in_code(rt: Runtime, cmd: RequestSignInCode) -> None:
    """Text a sign-in code to an active member with this number; do nothing otherwise (the
    outcome is ``done`` either way, so the answer tells no one who is a member)."""
    if await self_service._handled_before(rt, cmd):
        return
    council = await handlers._council(rt, cmd.tenant)
    try:
        phone = handlers.checked_phone(cmd.phone, council)
    except Rejected:
        await rt.settle(cmd, "done")
        return
    member = await _member_of_number(rt, cmd.tenant, phone)
    if member is None or member.get("sign_in_code_by") == cmd.message_id:
        await rt.settle(cmd, "done")  # not a member's; or a redelivery whose SMS is on its way
        return
    key = domain.phone_key(cmd.tenant, phone)
    code = await _new_code(rt, cmd, key, member["_id"])
    if code is None:
        await rt.settle(cmd, "done")  # the code sent recently stays the one to use
        return
    sms = SendMessage.follow(
        cmd,
        message_id=derived_id(cmd.message_id, "sign_in_code"),
        member_id=member["_id"],
        channel="sms",
        keep_channel=True,
        template="member_sign_in_code",
        params={"council": str(council["display_name"])},
        # The code opens a session: it travels sealed, like a link.
        sealed=rt.sealer.seal_params(
            {"code": code, "minutes": str(sms_codes.CODE_TTL.seconds // 60)}
        ),
    )
    await rt.db.members.update_one(
        {"_id": member["_id"], "tenant": cmd.tenant, "state": "active"},
        with_outbox({"$set": {"sign_in_code_by": cmd.message_id}}, sms),
    )
    await rt.flush("members", [member["_id"]])
    await rt.settle(cmd, "done")


async def open_member_session_by_code(rt: Runtime, cmd: OpenMemberSessionByCode) -> None:
    """Use up the number's sign-in code and open the session the portal named by its token's
    hash; a wrong code counts an attempt. Refused: ``invalid_code``, ``expired``,
    ``already_used`` (see the module's docstring for who hears which)."""
    if await self_service._handled_before(rt, cmd):
        return
    council = await handlers._council(rt, cmd.tenant)
    try:
        phone = handlers.checked_phone(cmd.phone, council)
    except Rejected:
        await rt.settle(cmd, "refused", "invalid_code")
        return
    key = domain.phone_key(cmd.tenant, phone)
    hashes = _hashes(rt, key, cmd.code)
    taken = await rt.db.sign_in_codes.find_one_and_update(
        {
            "_id": key,
            "tenant": cmd.tenant,
            "state": "open",
            "code_hash": {"$in": hashes},
            "attempts": {"$lt": sms_codes.MAX_ATTEMPTS},
            "expires_at_ms": {"$gt": _now_ms()},
        },
        {"$set": {"state": "used", "used_by": cmd.message_id}},
    )
    if taken is None:
        found = await rt.db.sign_in_codes.find_one({"_id": key, "tenant": cmd.tenant})
        if found is None or found.get("used_by") != cmd.message_id:
            await rt.settle(cmd, "refused", await _refusal(rt, key, found, hashes))
            return
        taken = found  # a redelivery of the command that used it
    await self_service.open_session_of(
        rt, cmd, str(taken["member_id"]), cmd.session_hash, "invalid_code"
    )


async def _refusal(rt: Runtime, key: str, found: Document | None, hashes: list[str]) -> str:
    """Why a code did not open a session. The right code of a used or expired code hears so,
    while the number has tries left; anything else counts a wrong attempt on the number's
    code, whatever its state (so guessing at a used code is bounded too: past
    ``MAX_ATTEMPTS`` an open code is void and every answer is ``invalid_code``)."""
    tries_left = found is not None and int(found.get("attempts") or 0) < sms_codes.MAX_ATTEMPTS
    if found is not None and tries_left and found.get("code_hash") in hashes:
        if found.get("state") == "used":
            return "already_used"
        if found.get("state") == "open" and int(found["expires_at_ms"]) <= _now_ms():
            return "expired"
    counted = await rt.db.sign_in_codes.find_one_and_update(
        {"_id": key},
        {"$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if counted is not None and int(counted["attempts"]) >= sms_codes.MAX_ATTEMPTS:
        await rt.db.sign_in_codes.update_one(
            {"_id": key, "state": "open"}, {"$set": {"state": "void"}}
        )
        log.info("sign-in code void after too many attempts", tenant=counted["tenant"])
    return "invalid_code"
