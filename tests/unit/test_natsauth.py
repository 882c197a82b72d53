"""The NATS permissions derived from the code: what each user may do, and the committed form."""

from __future__ import annotations

from pathlib import Path

import bcrypt

from contracts.registry import MESSAGES
from contracts.subjects import subject_pattern
from devstack.processes import nats_config
from infra.natsauth import (
    OPS,
    PORTAL,
    SERVICES,
    USERS,
    BusLogin,
    Permissions,
    permissions,
    production_authorization,
    service_bus,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
GRANTS = permissions()


def _messages(p: Permissions) -> set[str]:
    """The message subjects (``owner.*.kind.name``) a user may publish."""
    return {s for s in p.publish if s.count(".") == 3 and s.split(".")[2] in ("evt", "cmd", "qry")}


def test_the_committed_authorization_is_what_the_code_generates() -> None:
    path = DEPLOY / "authorization.conf"
    assert path.read_text() == production_authorization(), f"{path} is stale: run 'make natsauth'"
    assert "include ./authorization.conf" in (DEPLOY / "nats-server.conf").read_text()


def test_the_portal_sends_staff_commands_and_queries_and_reads_no_event() -> None:
    portal = GRANTS[PORTAL]
    assert {
        "rounds.*.cmd.open_round",
        "rounds.*.cmd.close_round",
        "rounds.*.cmd.submit_response",
        "feedback.*.cmd.publish_feedback",
        "recruitment.*.cmd.enrol_member",
        "rounds.*.qry.get_results",
    } <= set(portal.publish)
    assert set(portal.publish) == _messages(portal)  # no JetStream API, no dead letters
    assert not [s for s in portal.publish if ".evt." in s]
    # Commands only staff and residents send (staff import members from a file, in
    # batches); not the single import the demo tools use, nor another owner's.
    assert "recruitment.*.cmd.import_members" in portal.publish
    assert "recruitment.*.cmd.import_member" not in portal.publish
    assert "dispatch.*.cmd.send_message" not in portal.publish
    assert set(portal.subscribe) == {"_INBOX.portal.>", "outcome.*"}
    assert not portal.allow_responses


def test_each_service_publishes_exactly_what_its_code_does() -> None:
    owners = {subject_pattern(m): m.owner for m in MESSAGES}
    for name in SERVICES:
        bus = service_bus(name)
        grants = GRANTS[name]
        assert _messages(grants) == {subject_pattern(m) for m in bus.publishes}
        # Its events are its own; commands go to their owners, never another's events.
        for subject in _messages(grants):
            assert ".cmd." in subject or owners[subject] == name, (name, subject)
        assert f"_INBOX.{name}.>" in grants.subscribe
        assert not [s for s in grants.subscribe if s.startswith("_INBOX.") and name not in s]
        assert grants.allow_responses == bool(bus.answers)
        for c in bus.consumers:
            assert f"$JS.API.CONSUMER.MSG.NEXT.{c.stream}.{c.durable}" in grants.publish
            assert f"$JS.ACK.{c.stream}.{c.durable}.>" in grants.publish
            # Only with its own filter: no consumer on subjects it does not use.
            create = f"$JS.API.CONSUMER.CREATE.{c.stream}.{c.durable}.{c.subject}"
            assert create in grants.publish
        assert not [s for s in grants.publish if s.endswith(".>") and "$JS.ACK." not in s]


def test_only_a_streams_owner_reads_it_by_sequence_or_changes_it() -> None:
    for name in SERVICES:
        for subject in GRANTS[name].publish:
            if ".STREAM.MSG." in subject or ".STREAM.UPDATE." in subject:
                stream = subject.rsplit(".", 1)[1]
                assert stream.startswith(f"{name.upper()}_") or stream == "DEAD_LETTER", subject
            if ".STREAM.MSG.DELETE." in subject:
                assert subject.endswith("_CMD"), subject  # work queues only
    # rounds consumes recruitment's MemberEnrolled but may not read its contacts.
    assert "$JS.API.STREAM.MSG.GET.RECRUITMENT_EVT" not in GRANTS["rounds"].publish


def test_only_services_that_settle_the_portals_commands_push_outcomes() -> None:
    assert "outcome.*" in GRANTS["rounds"].publish
    assert "outcome.*" in GRANTS["recruitment"].publish
    assert "outcome.*" not in GRANTS["dispatch"].publish


def test_ops_is_the_one_broad_user() -> None:
    assert GRANTS[OPS].publish == (">",)
    assert [u for u in USERS if ">" in GRANTS[u].publish or ">" in GRANTS[u].subscribe] == [OPS]


def test_a_local_configuration_holds_hashes_never_passwords(tmp_path: Path) -> None:
    passwords = {user: f"secret-of-{user}" for user in USERS}
    text = nats_config(tmp_path, 4222, 8222, passwords)
    assert "listen: 127.0.0.1:4222" in text
    for user, password in passwords.items():
        assert password not in text
        hashed = text.split(f'user: "{user}"', 1)[1].split("password: ", 1)[1].split("\n", 1)[0]
        assert bcrypt.checkpw(password.encode(), hashed.strip('"').encode())


def test_a_login_never_shows_its_password() -> None:
    login = BusLogin("nats://127.0.0.1:4222", "rounds", "hunter2")
    assert "hunter2" not in repr(login)
    assert login.options()["inbox_prefix"] == "_INBOX.rounds"
