"""Who may do what on the bus: one NATS user per service, one for the portal, one for ops.

The permissions are derived from the code, never kept by hand, so they cannot drift from it:

- a service may publish what its ``PUBLISHES`` names (its outbox relay's messages), and use
  exactly the durable pull consumers its router declares (create with their filter subject,
  look up, pull, ack, file a dead letter for them), and answer the queries its router answers
  (``allow_responses``: a reply goes only to the inbox of a request it received);
- a service manages its own streams (``<OWNER>_EVT``, ``<OWNER>_CMD``) and the dead-letter
  stream, may create (never change) the streams it consumes from or publishes to, so the
  services can start in any order, and files the max-deliveries advisories of its own streams
  (it alone may read its streams by sequence, and delete from its work queue);
- the portal may send the commands and ask the queries its ``Gateway`` declares, and read the
  outcomes pushed to it (``outcome.*``), nothing else: no event, no other command, no dead
  letter;
- ``ops`` is the operator's login (dead-letter CLI, demo seed, benchmarks, tests): everything.
  It is broad on purpose; never give its password to a service.

Every user reads replies only under its own inbox prefix ``_INBOX.<user>`` (``inbox_prefix``
when connecting), so no one can read another's replies.

``python -m infra.natsauth deploy/nats`` writes the production form (passwords from the
server's environment); ``python -m infra.natsauth hash`` turns a password read from standard
input into the bcrypt hash that goes there. ``devstack`` writes the local form with generated
passwords, so every local run and test exercises the same permissions.
"""

from __future__ import annotations

import importlib
import inspect
import json
import secrets
import sys
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from contracts.envelope import Envelope
from contracts.registry import OWNERS
from contracts.subjects import (
    DEAD_LETTER_STREAM,
    dead_letter_subject,
    stream_name,
    subject_pattern,
)
from infra.bus import MAX_DELIVERIES_ADVISORY, work_queues

SERVICES = OWNERS
"""The back-end services, each its own NATS user named like the service."""
PORTAL = "portal"
OPS = "ops"
USERS = (*SERVICES, PORTAL, OPS)

OUTCOMES = "outcome.*"
"""Where commands' outcomes are pushed to the waiting portal replica (``infra.outcomes``)."""
PASSWORD_BYTES = 32
"""Random bytes in a generated password (256 bits, URL-safe base64)."""
BCRYPT_COST = 11
"""bcrypt cost of a production hash (``python -m infra.natsauth hash``): the password may
have been chosen by a person."""
LOCAL_BCRYPT_COST = 4
"""bcrypt cost in a local server's configuration. Its passwords are 256 random bits, which
no cost makes any harder to guess; a low one keeps connecting cheap (the server checks a
hash at every connection, and the tests connect often)."""


def own_streams(service: str) -> tuple[str, ...]:
    """The streams of the messages ``service`` owns, its events and its commands (none for a
    name that owns no messages, such as a test's probe service)."""
    if service not in OWNERS:
        return ()
    return (stream_name(service, "evt"), stream_name(service, "cmd"))


def inbox_prefix(user: str) -> str:
    """The subject prefix under which ``user`` receives replies: ``_INBOX.<user>``."""
    return f"_INBOX.{user}"


def new_password() -> str:
    """A fresh random password for one NATS user."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def bcrypt_hash(password: str, cost: int = BCRYPT_COST) -> str:
    """The ``$2a$`` bcrypt hash nats-server accepts in place of a password."""
    salt = bcrypt.gensalt(rounds=cost, prefix=b"2a")
    return bcrypt.hashpw(password.encode(), salt).decode()


# --- logging in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BusLogin:
    """Where and as whom a process connects to NATS. The password is never shown."""

    url: str
    user: str
    password: str | None = field(default=None, repr=False)

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``: servers, credentials, own inbox prefix."""
        options: dict[str, Any] = {
            "servers": self.url,
            "inbox_prefix": inbox_prefix(self.user),
        }
        if self.password is not None:
            options["user"] = self.user
            options["password"] = self.password
        return options

    async def connect(self, **options: Any) -> Any:
        """A ``nats.aio.client.Client`` logged in as this user (extra ``nats.connect`` options
        are passed on)."""
        import nats

        return await nats.connect(**{**self.options(), **options})


# --- what each user may do ----------------------------------------------------------------


@dataclass(frozen=True)
class Consumer:
    """A durable pull consumer a service declares in its router."""

    stream: str
    durable: str
    subject: str


@dataclass(frozen=True)
class ServiceBus:
    """What a service does on the bus, read from its router and its ``PUBLISHES``."""

    name: str
    consumers: tuple[Consumer, ...]
    answers: tuple[str, ...]
    """Subjects of the queries it answers (core request-reply)."""
    publishes: tuple[type[Envelope], ...]

    @property
    def own_streams(self) -> tuple[str, ...]:
        """The streams of the messages this service owns (its events and its commands)."""
        return own_streams(self.name)


@dataclass(frozen=True)
class Permissions:
    """One user's allow lists; everything else is refused by the server."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


def declared(router: Any) -> tuple[tuple[Consumer, ...], tuple[str, ...]]:
    """The durable pull consumers and the answered query subjects a router declares."""
    consumers: list[Consumer] = []
    answers: list[str] = []
    for sub in router.subscribers:
        subject = str(sub.subject.broker_address)
        stream = getattr(sub, "stream", None)
        if stream is not None:
            consumers.append(Consumer(stream.name, str(sub.config.durable_name), subject))
        else:
            answers.append(subject)
    return (
        tuple(sorted(consumers, key=lambda c: (c.stream, c.durable))),
        tuple(sorted(answers)),
    )


def service_bus(name: str) -> ServiceBus:
    """Read a service's consumers, answered queries and published messages from its code."""
    app = importlib.import_module(f"services.{name}.app")
    subscribers = importlib.import_module(f"services.{name}.subscribers")
    service = app.create_service()
    consumers, answers = declared(service.build_router(service.runtime))
    return ServiceBus(name, consumers, answers, tuple(subscribers.PUBLISHES))


def portal_messages() -> tuple[type[Envelope], ...]:
    """The commands and queries the portal's ``Gateway`` sends, read from its signatures."""
    from services.portal.gateway import Gateway

    found: set[type[Envelope]] = set()
    for _, method in inspect.getmembers(Gateway, inspect.isfunction):
        for hint in typing.get_type_hints(method).values():
            if isinstance(hint, type) and issubclass(hint, Envelope) and hint.kind != "evt":
                found.add(hint)
    return tuple(sorted(found, key=subject_pattern))


def service_permissions(bus: ServiceBus, portal_sends: Iterable[type[Envelope]]) -> Permissions:
    """A service's permissions (see the module's docstring)."""
    api = "$JS.API"
    own = set(bus.own_streams)
    managed = own | {DEAD_LETTER_STREAM}
    # It creates what it consumes from if missing (Service.start): the services may start in
    # any order. What it publishes to, the owner creates (until then the outbox waits).
    touched = {c.stream for c in bus.consumers}
    publish: set[str] = set()
    for stream in managed:
        publish |= {f"{api}.STREAM.CREATE.{stream}", f"{api}.STREAM.UPDATE.{stream}"}
    for stream in touched - managed:
        publish.add(f"{api}.STREAM.CREATE.{stream}")
    for stream in own:
        # Filing an exhausted message of any consumer of its own streams (infra.deadletter).
        publish.add(f"{api}.STREAM.MSG.GET.{stream}")
        publish.add(dead_letter_subject(stream, "*"))
        if stream in work_queues():
            publish.add(f"{api}.STREAM.MSG.DELETE.{stream}")
    for c in bus.consumers:
        publish |= {
            f"{api}.CONSUMER.INFO.{c.stream}.{c.durable}",
            f"{api}.CONSUMER.CREATE.{c.stream}.{c.durable}.{c.subject}",
            f"{api}.CONSUMER.MSG.NEXT.{c.stream}.{c.durable}",
            f"$JS.ACK.{c.stream}.{c.durable}.>",
        }
        if c.stream not in own:
            publish.add(dead_letter_subject(c.stream, c.durable))
    publish |= {subject_pattern(m) for m in bus.publishes}
    consumed = {c.subject for c in bus.consumers}
    if any(subject_pattern(m) in consumed for m in portal_sends if m.kind == "cmd"):
        publish.add(OUTCOMES)  # it settles commands the portal waits for
    subscribe = {f"{inbox_prefix(bus.name)}.>", *bus.answers}
    subscribe |= {MAX_DELIVERIES_ADVISORY.format(stream=s, consumer="*") for s in own}
    return Permissions(tuple(sorted(publish)), tuple(sorted(subscribe)), bool(bus.answers))


def portal_permissions(sends: Iterable[type[Envelope]]) -> Permissions:
    """The portal sends its commands and queries; it reads only its inbox and its outcomes."""
    return Permissions(
        tuple(sorted(subject_pattern(m) for m in sends)),
        tuple(sorted((f"{inbox_prefix(PORTAL)}.>", OUTCOMES))),
    )


OPS_PERMISSIONS = Permissions(publish=(">",), subscribe=(">",))
"""The operator's tools may do anything (see the module's docstring)."""


def permissions() -> dict[str, Permissions]:
    """Every user's permissions, derived from the code."""
    sends = portal_messages()
    result = {name: service_permissions(service_bus(name), sends) for name in SERVICES}
    result[PORTAL] = portal_permissions(sends)
    result[OPS] = OPS_PERMISSIONS
    return result


# --- the server's configuration -----------------------------------------------------------


def _allow(kind: str, subjects: Iterable[str]) -> list[str]:
    """One ``publish``/``subscribe`` allow list, a subject per line (readable diffs)."""
    pad = " " * 10
    return [
        f"        {kind}: {{allow: [",
        *(f"{pad}{json.dumps(subject)}," for subject in subjects),
        "        ]}",
    ]


def render_authorization(
    passwords: Mapping[str, str], grants: Mapping[str, Permissions] | None = None
) -> str:
    """nats-server's ``authorization`` block: one entry per user in ``passwords``, whose
    values are written as given (a quoted bcrypt hash, or an unquoted ``$VARIABLE``)."""
    grants = grants if grants is not None else permissions()
    lines = ["authorization {", "  users = ["]
    for user in USERS:
        if user not in passwords:
            continue
        p = grants[user]
        lines += [
            "    {",
            f"      user: {json.dumps(user)}",
            f"      password: {passwords[user]}",
            "      permissions: {",
            *_allow("publish", p.publish),
            *_allow("subscribe", p.subscribe),
        ]
        if p.allow_responses:
            # A reply only to the inbox of a request it received, once, within 2 minutes.
            lines.append("        allow_responses: true")
        lines += ["      }", "    }"]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def local_authorization(passwords: Mapping[str, str]) -> str:
    """The block for a local server: every password hashed with bcrypt."""
    return render_authorization(
        {u: json.dumps(bcrypt_hash(p, LOCAL_BCRYPT_COST)) for u, p in passwords.items()}
    )


def password_variable(user: str) -> str:
    """The server's environment variable holding ``user``'s bcrypt hash in production."""
    return f"NATS_PASSWORD_HASH_{user.upper()}"


PRODUCTION_HEADER = """\
# Generated by `make natsauth` (python -m infra.natsauth deploy/nats) from the services' code:
# do not edit; a test fails when it differs from what the code generates.
#
# One user per service, the portal and ops. The server reads each user's bcrypt hash from its
# environment (NATS_PASSWORD_HASH_<USER>; make one with `python -m infra.natsauth hash`); the
# process of that user gets the plain password as NATS_USER / NATS_PASSWORD.
"""


def production_authorization() -> str:
    """The committed ``deploy/nats/authorization.conf``."""
    return PRODUCTION_HEADER + render_authorization({u: f"${password_variable(u)}" for u in USERS})


def main(argv: list[str]) -> int:
    if argv[:1] == ["hash"]:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("usage: python -m infra.natsauth hash < password-file", file=sys.stderr)
            return 2
        print(bcrypt_hash(password))
        return 0
    target = Path(argv[0] if argv else "deploy/nats")
    target.mkdir(parents=True, exist_ok=True)
    path = target / "authorization.conf"
    path.write_text(production_authorization())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
