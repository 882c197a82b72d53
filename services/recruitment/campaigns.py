"""Invited recruitment: a campaign's register extract, its stratified draw, the invitation
codes and their redemption (see ``contracts.campaigns``).

Storage, chosen for a 1 000 000-row extract on the embedded store (figures in the README):

* ``register_rows``: the extract until the draw, one document per batch and stratum
  (``<campaign>:<batch>:<stratum>``) holding that part's people as one JSON text, in file order.
  A row per document costs ten times as much to write, and nothing ever queries one person
  of an extract: the draw reads back only the parts it picked from.
* ``register_batches``: one report per batch (``<campaign>:<batch>``): its counts, its
  refusals (row numbers and reasons, never values) and how many people of each stratum it
  holds. It is written last: a second copy of a batch finds it and changes nothing.
* ``invitees``: the people drawn (``<campaign>:<n>``), with the hashes of their link and short
  code, the working ones sealed for the letters.
* ``drawn_persons``: a salted hash of each person drawn and when, to leave them out of the
  next campaigns' draws. The only thing kept after a campaign closes, with counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.bands import age_band
from contracts.campaigns import (
    CampaignList,
    CampaignView,
    CloseCampaign,
    CreateCampaign,
    DrawSample,
    FinishRegister,
    GetCampaign,
    GetInvitationCode,
    GetLetters,
    GetRegisterRejections,
    ImportRegister,
    InvitedView,
    Letter,
    Letters,
    ListCampaigns,
    RedeemInvitation,
    RegisterRejections,
    StratumView,
)
from contracts.dispatch import SendMessage
from contracts.panels import GENERAL
from contracts.recruitment import ContactRecorded, MemberErased, RowRejection
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import DUPLICATE_KEY, Document, epoch_ms, new_document, with_outbox
from infra.tokens import derived_id, new_token, token_hash
from services.recruitment import counts, domain, panels, register
from services.recruitment.handlers import _council, _districts, _member_document, _member_events

log = structlog.get_logger()

MONTH_MS = epoch_ms(timedelta(days=30))
FETCH_IDS = 200
"""Register parts read back per query while drawing."""
WRITE_CHUNK = 1000
"""Documents per insert while drawing."""
CLOSE_SWEEP_INTERVAL = timedelta(hours=1)


async def create_indexes(db: Any) -> None:
    """Look-ups by code and by campaign; members by e-mail and register key across councils'
    extracts (to leave members out of a draw)."""
    await db.invitees.create_index("link_hash", unique=True, sparse=True)
    await db.invitees.create_index("code_hash", unique=True, sparse=True)
    await db.invitees.create_index("campaign")
    await db.members.create_index("email")
    await db.members.create_index("person", sparse=True)


def _today() -> date:
    return datetime.now(UTC).date()


def _id_range(prefix: str) -> dict[str, str]:
    """Every ``_id`` that starts with ``prefix:`` (";" sorts right after ":")."""
    return {"$gte": f"{prefix}:", "$lt": f"{prefix};"}


def _batch_id(campaign_id: str, batch_no: int) -> str:
    return f"{campaign_id}:{batch_no:06d}"


def _part_id(campaign_id: str, batch_no: int, stratum: int) -> str:
    return f"{campaign_id}:{batch_no:06d}:{stratum:04d}"


async def _campaign(rt: Runtime, tenant: str, campaign_id: str) -> Document | None:
    doc = await rt.db.campaigns.find_one({"_id": campaign_id})
    if doc is None or doc["tenant"] != tenant:
        return None  # another council's campaign is no campaign of this one
    return doc


async def _salt(rt: Runtime, tenant: str) -> str:
    """The council's secret salt for register keys, made on first use."""
    council = await _council(rt, tenant)
    if council.get("person_salt"):
        return str(council["person_salt"])
    await rt.db.tenants.update_one(
        {"_id": tenant, "person_salt": {"$exists": False}}, {"$set": {"person_salt": new_token()}}
    )
    return str((await _council(rt, tenant))["person_salt"])


def _expired(campaign: Document) -> bool:
    return campaign["state"] == "closed" or _today() > date.fromisoformat(campaign["closes_on"])


# -- commands ---------------------------------------------------------------------------------


async def create_campaign(rt: Runtime, cmd: CreateCampaign) -> None:
    """Record a new campaign, importing; a copy of the command changes nothing."""
    await _council(rt, cmd.tenant)
    try:
        closes = date.fromisoformat(cmd.closes_on)
    except ValueError:
        await rt.settle(cmd, "refused", "invalid_date")
        return
    if closes < _today():
        await rt.settle(cmd, "refused", "closes_in_the_past")
        return
    if cmd.panel != GENERAL and await panels.panel_document(rt, cmd.tenant, cmd.panel) is None:
        await rt.settle(cmd, "refused", "unknown_panel")
        return
    await _salt(rt, cmd.tenant)
    try:
        await rt.db.campaigns.insert_one(
            {
                "_id": cmd.campaign_id,
                "tenant": cmd.tenant,
                "title": cmd.title,
                "closes_on": cmd.closes_on,
                "exclude_drawn_months": cmd.exclude_drawn_months,
                "panel": cmd.panel,
                "state": "importing",
                "created_by": cmd.message_id,
                "created_at_ms": epoch_ms(cmd.occurred_at),
            }
        )
    except DuplicateKeyError:
        existing = await rt.db.campaigns.find_one({"_id": cmd.campaign_id}, {"created_by": 1})
        if existing is None or existing.get("created_by") != cmd.message_id:
            await rt.settle(cmd, "refused", "campaign_exists")
            return
    await rt.settle(cmd, "done")


async def _excluded(
    rt: Runtime, tenant: str, rows: list[register.CheckedRow], months: int, now_ms: int
) -> dict[int, str]:
    """Rows to leave out of the draw, by row number: already members (by e-mail, mobile or
    register key), or drawn by a campaign in the last ``months`` months."""
    found: dict[int, str] = {}
    keys = {r.key: r.number for r in rows}
    emails = {r.person.email: r.number for r in rows if r.person.email}
    mobiles = {r.person.mobile: r.number for r in rows if r.person.mobile}
    if emails:
        async for m in rt.db.members.find(
            {"email": {"$in": list(emails)}, "tenant": tenant}, {"email": 1}
        ):
            found[emails[m["email"]]] = "already_member"
    if mobiles:
        async for m in rt.db.members.find(
            {"phone": {"$in": list(mobiles)}, "tenant": tenant}, {"phone": 1}
        ):
            found[mobiles[m["phone"]]] = "already_member"
    async for m in rt.db.members.find(
        {"person": {"$in": list(keys)}, "tenant": tenant}, {"person": 1}
    ):
        found[keys[m["person"]]] = "already_member"
    if months:
        cutoff = now_ms - months * MONTH_MS
        async for d in rt.db.drawn_persons.find(
            {"_id": {"$in": [f"{tenant}:{k}" for k in keys]}, "drawn_at_ms": {"$gte": cutoff}},
            {"_id": 1},
        ):
            found.setdefault(keys[d["_id"].split(":", 1)[1]], "drawn_recently")
    return found


async def import_register(rt: Runtime, cmd: ImportRegister) -> None:
    """Check and keep one batch of a campaign's extract (see the module's storage notes)."""
    campaign = await _campaign(rt, cmd.tenant, cmd.campaign_id)
    if campaign is None:
        raise Rejected("unknown campaign")
    batch_id = _batch_id(cmd.campaign_id, cmd.batch_no)
    if await rt.db.register_batches.find_one({"_id": batch_id}, {"_id": 1}) is not None:
        return  # a copy of a batch handled before
    if campaign["state"] != "importing":
        raise Rejected(f"campaign is {campaign['state']}: its extract cannot change")
    council = await _council(rt, cmd.tenant)
    salt = await _salt(rt, cmd.tenant)
    panel = str(campaign.get("panel") or GENERAL)
    settings = panels.settings_of(await panels.panel_document(rt, cmd.tenant, panel))
    kept, refused = register.check_rows(
        cmd.rows,
        cmd.first_row,
        _districts(council),
        _today().year,
        salt,
        str(council.get("country") or "SE"),
        max(settings.min_age, register.MIN_AGE),
    )
    left_out = await _excluded(
        rt, cmd.tenant, kept, int(campaign["exclude_drawn_months"]), epoch_ms(cmd.occurred_at)
    )
    # People the campaign's panel does not take (too old for a youth panel, another
    # district for a district's panel) are left out too.
    for row in kept:
        age = _today().year - row.person.birth_year
        too_old = settings.max_age is not None and age > settings.max_age
        elsewhere = bool(settings.districts) and row.person.district not in settings.districts
        if row.number not in left_out and (too_old or elsewhere):
            left_out[row.number] = "not_for_this_panel"
    parts: dict[int, list[list[Any]]] = defaultdict(list)
    for row in kept:
        if row.number not in left_out:
            parts[row.stratum].append([row.number, row.key, *row.person.fields()])
    documents = [
        {
            "_id": _part_id(cmd.campaign_id, cmd.batch_no, stratum),
            "campaign": cmd.campaign_id,
            "rows": json.dumps(people, ensure_ascii=False, separators=(",", ":")),
        }
        for stratum, people in sorted(parts.items())
    ]
    if documents:
        try:
            await rt.db.register_rows.insert_many(documents, ordered=False)
        except BulkWriteError as exc:  # parts an earlier copy wrote: the same content
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
    rejections = sorted(refused + list(left_out.items()))
    with contextlib.suppress(DuplicateKeyError):  # a concurrent copy wrote it first
        await rt.db.register_batches.insert_one(
            {
                "_id": batch_id,
                "tenant": cmd.tenant,
                "campaign": cmd.campaign_id,
                "batch_no": cmd.batch_no,
                "rows": len(cmd.rows),
                "eligible": len(kept) - len(left_out),
                "rejected": len(refused),
                "excluded": len(left_out),
                "strata": {str(h): len(p) for h, p in parts.items()},
                "rejections": [{"row": n, "reason": r} for n, r in rejections],
            }
        )


async def finish_register(rt: Runtime, cmd: FinishRegister) -> None:
    """Record how many batches the extract has: the import is complete once all are in."""
    campaign = await _campaign(rt, cmd.tenant, cmd.campaign_id)
    if campaign is None:
        raise Rejected("unknown campaign")
    await rt.db.campaigns.update_one(
        {"_id": cmd.campaign_id, "state": "importing"},
        {"$set": {"batches_expected": cmd.batches, "rows_sent": cmd.rows}},
    )


async def _reports(rt: Runtime, campaign_id: str, fields: Iterable[str]) -> list[Document]:
    projection = dict.fromkeys(fields, 1)
    reports = await rt.db.register_batches.find(
        {"_id": _id_range(campaign_id)}, projection
    ).to_list()
    reports.sort(key=lambda r: int(r["batch_no"]))
    return reports


async def _panel_by_stratum(
    rt: Runtime, tenant: str, districts: list[str], panel_name: str
) -> dict[int, int]:
    """Active members of the panel per stratum (those in none are not counted)."""
    index = {s: i for i, s in enumerate(register.strata(districts))}
    year = _today().year
    panel: dict[int, int] = defaultdict(int)
    async for m in rt.db.members.find(
        {"tenant": tenant, "state": "active", **panels.members_of(panel_name)},
        {"birth_year": 1, "gender": 1, "district_code": 1},
    ):
        key = (m.get("district_code", "") if districts else "", age_band(m["birth_year"], year))
        h = index.get((*key, m["gender"]))
        if h is not None:
            panel[h] += 1
    return panel


def _seed(cmd: DrawSample) -> int:
    """The given seed, or one derived from the command (so that a redelivery draws the same)."""
    if cmd.seed is not None:
        return cmd.seed
    return int(hashlib.sha256(cmd.message_id.encode()).hexdigest()[:13], 16)


async def draw_sample(rt: Runtime, cmd: DrawSample) -> None:
    """Draw the sample: allocate the size over the strata, pick each stratum's people at
    random (reproducibly from the seed), and give each an invitation with its codes.

    Safe to run again for the same command: the seed, the picks and the invitees' ids are
    the same; invitees written by an earlier attempt keep their codes."""
    campaign = await _campaign(rt, cmd.tenant, cmd.campaign_id)
    if campaign is None:
        await rt.settle(cmd, "refused", "unknown_campaign")
        return
    if campaign["state"] == "drawn":
        same = campaign.get("drawn_by") == cmd.message_id
        await rt.settle(cmd, "done" if same else "refused", None if same else "already_drawn")
        return
    if campaign["state"] == "closed":
        await rt.settle(cmd, "refused", "campaign_closed")
        return
    reports = await _reports(rt, cmd.campaign_id, ("batch_no", "strata"))
    expected = campaign.get("batches_expected")
    if expected is None or len(reports) < expected:
        await rt.settle(cmd, "refused", "import_incomplete")
        return
    council = await _council(rt, cmd.tenant)
    districts = _districts(council)
    eligible: dict[int, int] = defaultdict(int)
    for report in reports:
        for h, n in report["strata"].items():
            eligible[int(h)] += int(n)
    panel = (
        await _panel_by_stratum(rt, cmd.tenant, districts, str(campaign.get("panel") or GENERAL))
        if cmd.method == "boost"
        else {}
    )
    allocation = register.allocate(
        cmd.size,
        eligible,
        method=cmd.method,
        panel=panel,
        response_rate=cmd.expected_response_pct / 100,
    )
    seed = _seed(cmd)
    picks: dict[str, list[int]] = defaultdict(list)  # part id -> positions
    for h, wanted in sorted(allocation.items()):
        ordinals = register.draw_ordinals(seed, h, eligible[h], wanted)
        counts_by_batch = [(int(r["batch_no"]), int(r["strata"].get(str(h), 0))) for r in reports]
        for batch_no, position in register.locate(ordinals, counts_by_batch):
            picks[_part_id(cmd.campaign_id, batch_no, h)].append(position)
    drawn = await _picked_people(rt, picks)
    invited = await _write_invitees(rt, cmd, drawn)
    await _remember_drawn(rt, cmd.tenant, [key for _, key, _ in drawn])
    await rt.db.campaigns.update_one(
        {"_id": cmd.campaign_id, "state": "importing"},
        {
            "$set": {
                "state": "drawn",
                "drawn_by": cmd.message_id,
                "drawn_at_ms": epoch_ms(cmd.occurred_at),
                "seed": seed,
                "method": cmd.method,
                "size": cmd.size,
                "invited": {str(h): n for h, n in invited.items()},
            }
        },
    )
    # The extract has served its purpose: only the people drawn are kept, until the close.
    await rt.db.register_rows.delete_many({"_id": _id_range(cmd.campaign_id)})
    log.info("sample drawn", campaign=cmd.campaign_id, invited=len(drawn), seed=seed)
    await rt.settle(cmd, "done")


async def _picked_people(
    rt: Runtime, picks: dict[str, list[int]]
) -> list[tuple[int, str, register.Person]]:
    """(stratum, register key, person) of each pick, in part order; a person picked twice
    (in two batches of the same file) counts once."""
    found: list[tuple[int, str, register.Person]] = []
    seen: set[str] = set()
    part_ids = sorted(picks)
    for start in range(0, len(part_ids), FETCH_IDS):
        chunk = part_ids[start : start + FETCH_IDS]
        parts = {
            d["_id"]: d["rows"]
            async for d in rt.db.register_rows.find({"_id": {"$in": chunk}}, {"rows": 1})
        }
        for part_id in chunk:
            people = json.loads(parts[part_id])
            stratum = int(part_id.rsplit(":", 1)[1])
            for position in picks[part_id]:
                _, key, *fields = people[position]
                if key not in seen:
                    seen.add(key)
                    found.append((stratum, key, register.Person.from_fields(fields)))
    return found


def contact_id(invitee_id: str) -> str:
    """The id a person drawn has in dispatch's contact book, and as a member if they join."""
    return derived_id("invitee", invitee_id)


def _invitee(
    rt: Runtime,
    cmd: DrawSample,
    n: int,
    stratum: int,
    key: str,
    person: register.Person,
    council: Document,
    closes_on: str,
) -> Document:
    """A person drawn, with their codes; with an e-mail address or mobile number from the
    register, the document carries the contact for dispatch and the invitation itself."""
    token, code = new_token(), register.new_short_code()
    link = f"{rt.settings.portal_url.rstrip('/')}/t/{cmd.tenant}/invited/{token}"
    doc = {
        "_id": f"{cmd.campaign_id}:{n:06d}",
        "tenant": cmd.tenant,
        "campaign": cmd.campaign_id,
        "stratum": stratum,
        "person": key,
        "name": person.name,
        "address": person.address,
        "postcode": person.postcode,
        "town": person.town,
        "birth_year": person.birth_year,
        "gender": person.gender,
        "district": person.district,
        "email": person.email,
        "mobile": person.mobile,
        "link_hash": token_hash(token),
        "code_hash": token_hash(code),
        "sealed": rt.sealer.seal_params({"link": link, "code": code}),
        "state": "invited",
    }
    if not (person.email or person.mobile):
        return doc
    doc["contacted"] = "yes"
    who = contact_id(str(doc["_id"]))
    contact = ContactRecorded(
        tenant=cmd.tenant,
        message_id=derived_id(str(doc["_id"]), "contact"),
        correlation_id=cmd.correlation_id,
        member_id=who,
        email=person.email or None,
        phone=person.mobile or None,
        council=str(council["display_name"]),
    )
    invitation = SendMessage(
        tenant=cmd.tenant,
        message_id=derived_id(str(doc["_id"]), "invitation"),
        correlation_id=cmd.correlation_id,
        member_id=who,
        template="register_invitation",
        params={"closes": closes_on},
        sealed=rt.sealer.seal_params({"link": link, "code": register.show_code(code)}),
    )
    return new_document(doc, contact, invitation)


async def _write_invitees(
    rt: Runtime, cmd: DrawSample, drawn: list[tuple[int, str, register.Person]]
) -> dict[int, int]:
    """Store an invitation per person drawn; those an earlier attempt wrote stay as they are
    (their codes may be printed already). A code that collides with another campaign's is
    made again."""
    campaign = await rt.db.campaigns.find_one({"_id": cmd.campaign_id}, {"closes_on": 1})
    council = await _council(rt, cmd.tenant)
    closes_on = str((campaign or {}).get("closes_on", ""))

    def make(n: int, h: int, key: str, person: register.Person) -> Document:
        return _invitee(rt, cmd, n, h, key, person, council, closes_on)

    documents = [make(n, h, key, p) for n, (h, key, p) in enumerate(drawn, 1)]
    for start in range(0, len(documents), WRITE_CHUNK):
        todo = documents[start : start + WRITE_CHUNK]
        for _ in range(5):
            try:
                await rt.db.invitees.insert_many(todo, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
            ids = [d["_id"] for d in todo]
            there = {d["_id"] async for d in rt.db.invitees.find({"_id": {"$in": ids}}, {"_id": 1})}
            todo = [
                make(int(d["_id"].rsplit(":", 1)[1]), d["stratum"], d["person"], p)
                for d, p in ((d, _person_of(d)) for d in todo if d["_id"] not in there)
            ]
            if not todo:
                break
        else:
            raise RuntimeError("could not store invitations")  # retried by the bus
    # The invitations by mail or SMS go out now (the relay's sweep would, a little later).
    contacted = [d["_id"] for d in documents if d.get("contacted")]
    for start in range(0, len(contacted), WRITE_CHUNK):
        await rt.flush("invitees", contacted[start : start + WRITE_CHUNK])
    invited: dict[int, int] = defaultdict(int)
    for h, _, _ in drawn:
        invited[h] += 1
    return invited


def _person_of(doc: Document) -> register.Person:
    return register.Person(
        doc["name"],
        doc["address"],
        doc["postcode"],
        doc["town"],
        int(doc["birth_year"]),
        doc["gender"],
        doc["district"],
        doc["email"],
        doc["mobile"],
    )


async def _remember_drawn(rt: Runtime, tenant: str, keys: list[str]) -> None:
    now = epoch_ms()
    for start in range(0, len(keys), WRITE_CHUNK):
        await rt.db.drawn_persons.bulk_write(
            [
                UpdateOne(
                    {"_id": f"{tenant}:{key}"},
                    {"$set": {"tenant": tenant, "drawn_at_ms": now}},
                    upsert=True,
                )
                for key in keys[start : start + WRITE_CHUNK]
            ],
            ordered=False,
        )


IDENTITY = ("name", "address", "postcode", "town", "email", "mobile", "sealed")
"""What an invitee's record loses when the campaign closes (with its code hashes)."""


async def forget_person(rt: Runtime, tenant: str, key: str) -> None:
    """An erased member who joined by invitation: their invitations lose name, address and
    contacts, and their register key goes (so nothing here can be matched to them again)."""
    await rt.db.invitees.update_many(
        {"person": key, "tenant": tenant},
        {"$unset": dict.fromkeys((*IDENTITY, "link_hash", "code_hash", "person"), "")},
    )
    await rt.db.drawn_persons.delete_one({"_id": f"{tenant}:{key}"})


async def _forget_contact(rt: Runtime, tenant: str, invitee_id: str, *, flush: bool = True) -> None:
    """Dispatch forgets the contact a person drawn was invited at (once)."""
    forget = MemberErased(
        tenant=tenant,
        message_id=derived_id(invitee_id, "forget"),
        member_id=contact_id(invitee_id),
        reason="unconfirmed",
    )
    await rt.db.invitees.update_one(
        {"_id": invitee_id, "contacted": "yes"},
        with_outbox({"$set": {"contacted": "forgotten"}}, forget),
    )
    if flush:
        await rt.flush("invitees", [invitee_id])


async def close_campaign(rt: Runtime, cmd: CloseCampaign) -> None:
    """Close the campaign now (staff)."""
    campaign = await _campaign(rt, cmd.tenant, cmd.campaign_id)
    if campaign is None:
        await rt.settle(cmd, "refused", "unknown_campaign")
        return
    await _close(rt, campaign)
    await rt.settle(cmd, "done")


async def _close(rt: Runtime, campaign: Document) -> None:
    """Codes stop working; the extract and the invitees' identity are deleted. Idempotent."""
    campaign_id = campaign["_id"]
    await rt.db.campaigns.update_one(
        {"_id": campaign_id}, {"$set": {"state": "closed", "closed_at_ms": epoch_ms()}}
    )
    await rt.db.register_rows.delete_many({"_id": _id_range(campaign_id)})
    # People mailed or texted who did not join: dispatch forgets the contact it was given.
    forgetting = [
        str(invitee["_id"])
        async for invitee in rt.db.invitees.find(
            {"campaign": campaign_id, "contacted": "yes", "state": "invited"}, {"_id": 1}
        )
    ]
    for invitee_id in forgetting:
        await _forget_contact(rt, str(campaign["tenant"]), invitee_id, flush=False)
    for start in range(0, len(forgetting), WRITE_CHUNK):
        await rt.flush("invitees", forgetting[start : start + WRITE_CHUNK])
    await rt.db.invitees.update_many(
        {"campaign": campaign_id, "link_hash": {"$exists": True}},
        {"$unset": dict.fromkeys((*IDENTITY, "link_hash", "code_hash"), "")},
    )
    log.info("campaign closed", campaign=campaign_id)


async def close_due(rt: Runtime) -> int:
    """Close every campaign whose last day has passed; how many."""
    today = _today().isoformat()
    closed = 0
    async for campaign in rt.db.campaigns.find(
        {"state": {"$ne": "closed"}, "closes_on": {"$lt": today}}
    ):
        await _close(rt, campaign)
        closed += 1
    return closed


async def close_forever(rt: Runtime) -> None:
    """Close campaigns past their last day, now and every hour (in the background)."""
    while True:
        try:
            await close_due(rt)
        except Exception as exc:
            log.error("closing campaigns failed", error=repr(exc)[:300])
        await asyncio.sleep(CLOSE_SWEEP_INTERVAL.total_seconds())


async def _invitee_of(rt: Runtime, tenant: str, code: str) -> Document | None:
    """The invitee a link token or a typed short code belongs to."""
    short = register.normalise_code(code)
    field, value = ("code_hash", short) if register.is_short_code(short) else ("link_hash", code)
    return await rt.db.invitees.find_one({field: token_hash(value), "tenant": tenant})


async def redeem_invitation(rt: Runtime, cmd: RedeemInvitation) -> None:
    """The person drawn joins the panel, active at once (the code came by post to the
    register's address): the member's background is the register's."""
    invitee = await _invitee_of(rt, cmd.tenant, cmd.code)
    if invitee is None:
        await rt.settle(cmd, "refused", "unknown_code")
        return
    if invitee["state"] == "joined":
        same = invitee.get("joined_by") == cmd.message_id
        await rt.settle(cmd, "done" if same else "refused", None if same else "already_used")
        return
    campaign = await _campaign(rt, cmd.tenant, invitee["campaign"])
    if campaign is None or _expired(campaign):
        await rt.settle(cmd, "refused", "expired")
        return
    try:
        email = domain.normalise_email(cmd.email)
    except domain.InvalidEmail:
        await rt.settle(cmd, "refused", "invalid_email")
        return
    panel = str(campaign.get("panel") or GENERAL)
    panel_doc = await panels.panel_document(rt, cmd.tenant, panel)
    problem = panels.eligibility_problem(
        panels.settings_of(panel_doc),
        age=cmd.occurred_at.year - int(invitee["birth_year"]),
        connection="resident",
        district_code=str(invitee["district"]),
        email=True,
        phone=False,
    )
    if problem is not None or (panel != GENERAL and panel_doc is None):
        # The panel's rules changed since the draw (or the panel is gone): not this panel.
        await rt.settle(cmd, "refused", "not_eligible")
        return
    if cmd.consent_version not in await panels.consent_versions(rt, cmd.tenant, panel):
        await rt.settle(cmd, "refused", "unknown_consent_version")
        return
    council = await _council(rt, cmd.tenant)
    member_id = contact_id(str(invitee["_id"]))
    member = domain.MemberDetails(
        member_id=member_id,
        email=email,
        birth_year=int(invitee["birth_year"]),
        gender=invitee["gender"],
        district=invitee["district"],
        locale=cmd.locale,
        district_code=invitee["district"],
    )
    document = {
        **_member_document(
            cmd,
            member,
            consent_version=cmd.consent_version,
            state="active",
            source="register_sample",
            panel=str(campaign.get("panel") or GENERAL),
        ),
        "confirmed_at": cmd.occurred_at,
        "person": invitee["person"],
        "campaign": invitee["campaign"],
        "heard_from": cmd.heard_from,
        "works_for_council": "",
    }
    contact, enrolled, leave = _member_events(
        rt, cmd, member, str(council["display_name"]), str(campaign.get("panel") or GENERAL)
    )
    new = True
    try:
        await rt.db.leave_links.insert_one(leave)
        await rt.db.members.insert_one(new_document(document, contact, enrolled))
    except DuplicateKeyError:
        new = False
        await rt.db.leave_links.delete_one({"_id": leave["_id"]})
        # Either an earlier copy of this command inserted the member, or the address is a
        # member already: the invitation is used either way, and nothing tells which.
    joined = await rt.db.invitees.update_one(
        {"_id": invitee["_id"], "state": "invited"},
        {
            "$set": {
                "state": "joined",
                "joined_by": cmd.message_id,
                "joined_at_ms": epoch_ms(cmd.occurred_at),
            }
        },
    )
    if new and joined.matched_count:
        await counts.move(rt, cmd.tenant, active=1)
    elif (
        not new
        and invitee.get("contacted") == "yes"
        and await rt.db.members.find_one({"_id": member_id}, {"_id": 1}) is None
    ):
        # The address given is another member's: the contact the invitation was sent to is
        # not a member's, and dispatch forgets it.
        await _forget_contact(rt, cmd.tenant, str(invitee["_id"]))
    await rt.flush("members", [member_id])
    await rt.settle(cmd, "done")


# -- queries ----------------------------------------------------------------------------------


async def get_invitation_code(rt: Runtime, q: GetInvitationCode) -> InvitedView | None:
    """What a code stands for, to pre-fill the joining page; None for an unknown code."""
    invitee = await _invitee_of(rt, q.tenant, q.code)
    if invitee is None:
        return None
    campaign = await _campaign(rt, q.tenant, invitee["campaign"])
    if campaign is None:
        return None
    state = invitee["state"]
    if state == "invited" and _expired(campaign):
        state = "expired"
    return InvitedView(
        name=invitee["name"],
        birth_year=int(invitee["birth_year"]),
        gender=invitee["gender"],
        district=invitee["district"],
        email=invitee["email"],
        state=state,
        closes_on=campaign["closes_on"],
        panel=str(campaign.get("panel") or GENERAL),
    )


async def _joined_by_stratum(rt: Runtime, campaign_id: str) -> dict[int, int]:
    """People drawn who joined, per stratum: counted from the invitees themselves."""
    cursor = await rt.db.invitees.aggregate(
        [
            {"$match": {"campaign": campaign_id, "state": "joined"}},
            {"$group": {"_id": "$stratum", "n": {"$sum": 1}}},
        ]
    )
    rows = await cursor.to_list()
    return {int(r["_id"]): int(r["n"]) for r in rows}


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


async def _view(rt: Runtime, campaign: Document, *, strata: bool) -> CampaignView:
    reports = await _reports(
        rt, campaign["_id"], ("batch_no", "rows", "eligible", "rejected", "excluded", "strata")
    )
    invited = {int(h): int(n) for h, n in (campaign.get("invited") or {}).items()}
    joined = await _joined_by_stratum(rt, campaign["_id"]) if campaign.get("invited") else {}
    views: list[StratumView] = []
    if strata:
        council = await _council(rt, campaign["tenant"])
        eligible: dict[int, int] = defaultdict(int)
        for report in reports:
            for h, n in report["strata"].items():
                eligible[int(h)] += int(n)
        for h, (district, band, gender) in enumerate(register.strata(_districts(council))):
            if eligible.get(h) or invited.get(h):
                views.append(
                    StratumView(
                        district=district,
                        age_band=band,
                        gender="female" if gender == "female" else "male",
                        eligible=eligible.get(h, 0),
                        invited=invited.get(h, 0),
                        joined=joined.get(h, 0),
                        conversion=round(100 * joined.get(h, 0) / invited[h], 1)
                        if invited.get(h)
                        else 0.0,
                    )
                )
    return CampaignView(
        campaign_id=campaign["_id"],
        title=campaign["title"],
        state=campaign["state"],
        created_on=_date(int(campaign["created_at_ms"])),
        closes_on=campaign["closes_on"],
        exclude_drawn_months=int(campaign["exclude_drawn_months"]),
        panel=str(campaign.get("panel") or GENERAL),
        batches_expected=campaign.get("batches_expected"),
        batches_done=len(reports),
        rows=sum(int(r["rows"]) for r in reports),
        eligible=sum(int(r["eligible"]) for r in reports),
        rejected=sum(int(r["rejected"]) for r in reports),
        excluded=sum(int(r["excluded"]) for r in reports),
        seed=campaign.get("seed"),
        method=campaign.get("method", ""),
        invited=sum(invited.values()),
        joined=sum(joined.values()),
        strata=tuple(views),
    )


async def get_campaign(rt: Runtime, q: GetCampaign) -> CampaignView | None:
    campaign = await _campaign(rt, q.tenant, q.campaign_id)
    return None if campaign is None else await _view(rt, campaign, strata=True)


async def list_campaigns(rt: Runtime, q: ListCampaigns) -> CampaignList:
    campaigns = await rt.db.campaigns.find({"tenant": q.tenant}).to_list()
    campaigns.sort(key=lambda c: -int(c["created_at_ms"]))
    return CampaignList(
        campaigns=tuple([await _view(rt, c, strata=False) for c in campaigns[:100]])
    )


REJECTION_PAGE_BATCHES = 25
"""Batches per page of ``GetRegisterRejections`` (up to 50 000 rows' refusals)."""


async def get_register_rejections(
    rt: Runtime, q: GetRegisterRejections
) -> RegisterRejections | None:
    campaign = await _campaign(rt, q.tenant, q.campaign_id)
    if campaign is None:
        return None
    reports = await rt.db.register_batches.find(
        {"_id": {"$gt": _batch_id(q.campaign_id, q.after_batch), "$lt": f"{q.campaign_id};"}},
        {"batch_no": 1, "rejections": 1},
    ).to_list()
    reports.sort(key=lambda r: int(r["batch_no"]))
    page = reports[:REJECTION_PAGE_BATCHES]
    return RegisterRejections(
        rejections=tuple(
            RowRejection(row=int(r["row"]), reason=str(r["reason"]))
            for report in page
            for r in report["rejections"]
        ),
        next_batch=int(page[-1]["batch_no"]) if len(reports) > len(page) else None,
    )


async def get_letters(rt: Runtime, q: GetLetters) -> Letters | None:
    """A page of a drawn campaign's letters, with the working codes opened; None unless the
    campaign is drawn (not closed)."""
    campaign = await _campaign(rt, q.tenant, q.campaign_id)
    if campaign is None or campaign["state"] != "drawn":
        return None
    council = await _council(rt, q.tenant)
    page = (
        # Not those erased since (they asked to be forgotten, and have joined).
        await rt.db.invitees.find({"_id": _id_range(q.campaign_id), "sealed": {"$exists": True}})
        .sort("_id", 1)
        .skip(q.offset)
        .limit(q.limit)
        .to_list()
    )
    letters = []
    for doc in page:
        opened = rt.sealer.open_params(doc["sealed"])
        letters.append(
            Letter(
                name=doc["name"],
                address=doc["address"],
                postcode=doc["postcode"],
                town=doc["town"],
                link=opened["link"],
                code=register.show_code(opened["code"]),
            )
        )
    return Letters(
        council=str(council["display_name"]),
        closes_on=campaign["closes_on"],
        total=sum(int(n) for n in (campaign.get("invited") or {}).values()),
        letters=tuple(letters),
    )
