"""A member adds or changes their mobile number from their own page, re-confirmed by a code
sent to the new number (as a new address is re-confirmed by a link).

One pending change per member (``phone_changes``, keyed by council and member): the new
number, the code's keyed hash (its own HMAC input: no sign-up or sign-in code confirms it),
``sms_codes.CODE_TTL`` to type it, ``sms_codes.MAX_ATTEMPTS`` tries, single use. The
code's SMS goes to the new number (sealed as ``recipient``), never to the contact book's. On
confirmation the number is claimed for the member (one member per number in a council), the
old claim is released, and the contact book learns the number in the same guarded update
that changes the member. Erasure deletes a pending change (``self_service.COLLECTIONS``).
"""

from __future__ import annotations

from pymongo import ReturnDocument

from contracts.dispatch import SendMessage
from contracts.membership import ChangeMyPhone, ConfirmPhoneChange
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, epoch_ms, with_outbox
from services.recruitment import domain, handlers, self_service, sms_codes

TEMPLATE = "confirm_phone_change"


def _key(tenant: str, member_id: str) -> str:
    return f"{tenant}:{member_id}"


def _hashes(rt: Runtime, key: str, phone: str, code: str) -> list[str]:
    return sms_codes.code_hashes(rt, f"phone-change:{key}:{phone}", code)


async def change_my_phone(rt: Runtime, cmd: ChangeMyPhone) -> None:
    """Text a code to the new number; nothing changes until it is typed. Refused:
    ``no_session``, ``invalid_phone``, ``same_phone``. Whether the number is another
    member's is told only to whoever types its code (``phone_taken`` at confirmation): the
    answer here is the same for any number, so no one learns who is a member."""
    member = await self_service.member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    council = await handlers._council(rt, cmd.tenant)
    try:
        phone = handlers.checked_phone(cmd.phone, council)
    except Rejected:
        await rt.settle(cmd, "refused", "invalid_phone")
        return
    if phone == member.get("phone"):
        await rt.settle(cmd, "refused", "same_phone")
        return
    key = _key(cmd.tenant, str(member["_id"]))
    pending = await rt.db.phone_changes.find_one({"_id": key})
    if pending is not None and pending.get("by") == cmd.message_id:
        # A redelivery: the code in the outbox's SMS stays the one to type.
        await rt.flush("members", [member["_id"]])
        await rt.settle(cmd, "done")
        return
    code = sms_codes.new_code()
    await rt.db.phone_changes.replace_one(
        {"_id": key},
        {
            "_id": key,
            **self_service._expiring(
                cmd,
                sms_codes.CODE_TTL,
                member_id=member["_id"],
                phone=phone,
                old_phone=str(member.get("phone") or ""),
                code_hash=_hashes(rt, key, phone, code)[0],
                attempts=0,
                state="sent",
                by=cmd.message_id,
            ),
        },
        upsert=True,
    )
    sms = SendMessage.follow(
        cmd,
        member_id=member["_id"],
        template=TEMPLATE,
        channel="sms",
        keep_channel=True,
        params={"minutes": str(int(sms_codes.CODE_TTL.total_seconds()) // 60)},
        # The code and the new number travel sealed: no copy of the queue can use them.
        sealed=rt.sealer.seal_params({"code": code, "recipient": phone}),
    )
    # A redelivery (no outcome recorded yet) finds this command's SMS in the outbox already.
    await rt.db.members.update_one(
        {
            "_id": member["_id"],
            "tenant": cmd.tenant,
            "$or": [
                {"phone_change_by": {"$exists": False}},
                {"phone_change_by": {"$ne": cmd.message_id}},
            ],
        },
        with_outbox({"$set": {"phone_change_by": cmd.message_id}}, sms),
    )
    await rt.flush("members", [member["_id"]])
    await rt.settle(cmd, "done")


async def confirm_phone_change(rt: Runtime, cmd: ConfirmPhoneChange) -> None:
    """The right code makes the new number the member's. Refused: ``no_session``,
    ``invalid_code`` (wrong, or none pending; counts a try), ``expired``, ``phone_taken``
    (the number became another member's meanwhile)."""
    member = await self_service.member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    key = _key(cmd.tenant, str(member["_id"]))
    change = await rt.db.phone_changes.find_one({"_id": key, "state": "sent"})
    if change is None:
        await rt.settle(cmd, "refused", "invalid_code")
        return
    phone = str(change["phone"])
    if change["code_hash"] not in _hashes(rt, key, phone, cmd.code.strip()):
        await _count_wrong(rt, key)
        await rt.settle(cmd, "refused", "invalid_code")
        return
    if int(change["attempts"]) >= sms_codes.MAX_ATTEMPTS:
        await rt.settle(cmd, "refused", "invalid_code")
        return
    if int(change["expires_ms"]) <= epoch_ms():
        await rt.settle(cmd, "refused", "expired")
        return
    if not await handlers.claim_phone(rt, cmd.tenant, phone, str(member["_id"])):
        await rt.settle(cmd, "refused", "phone_taken")
        return
    await _take_number(rt, cmd, member, phone)
    # The number before the change, as recorded with it (a redelivery after the member took
    # the new number still frees the old one).
    old = str(change.get("old_phone") or "")
    if old and old != phone:
        await handlers.release_phone(rt, cmd.tenant, old, str(member["_id"]))
    # Used up, and nothing kept: a redelivery finds the recorded outcome first.
    await rt.db.phone_changes.delete_one({"_id": key})
    await rt.settle(cmd, "done")


async def _count_wrong(rt: Runtime, key: str) -> None:
    """One more wrong code; past ``MAX_ATTEMPTS`` the pending change is void."""
    counted = await rt.db.phone_changes.find_one_and_update(
        {"_id": key, "state": "sent"},
        {"$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if counted is not None and int(counted["attempts"]) >= sms_codes.MAX_ATTEMPTS:
        await rt.db.phone_changes.update_one({"_id": key}, {"$set": {"state": "void"}})


async def _take_number(rt: Runtime, cmd: ConfirmPhoneChange, member: Document, phone: str) -> None:
    """The member's number becomes ``phone``, and the contact book learns it."""
    council = str((await handlers._council(rt, cmd.tenant))["display_name"])
    contact, leave = handlers._contact(
        rt,
        cmd,
        member["_id"],
        domain.email_of(member.get("email")) or "",
        member.get("locale") or "sv",
        council,
        phone,
        domain.channel_of(member),
    )
    await rt.db.leave_links.insert_one(leave)  # before the contact that carries it
    await self_service._revise(rt, cmd, member, {"phone": phone}, contact)
