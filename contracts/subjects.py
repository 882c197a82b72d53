"""Subject and stream names. Services build subjects only through these helpers.

Subjects read ``<owner>.<tenant>.<evt|cmd|qry>.<name>``, e.g.
``recruitment.gnosjo.evt.member_enrolled``. Streams are one per owner and kind:
``RECRUITMENT_EVT`` (limits retention) and ``DISPATCH_CMD`` (work queue).
"""

from __future__ import annotations

from typing import Literal

from contracts.envelope import Envelope

MessageKind = Literal["evt", "cmd", "qry"]

DEAD_LETTER_STREAM = "DEAD_LETTER"
"""The stream holding messages that were invalid or exhausted their deliveries."""


def subject_for(message: type[Envelope] | Envelope, tenant: str | None = None) -> str:
    """The subject a message is published on: its class's owner/kind/name plus the tenant."""
    cls = message if isinstance(message, type) else type(message)
    if tenant is None:
        if isinstance(message, type):
            raise ValueError("a tenant is needed to build the subject of a message class")
        tenant = message.tenant
    return f"{cls.owner}.{tenant}.{cls.kind}.{cls.name}"


def subject_pattern(message: type[Envelope]) -> str:
    """The subject of a message class for every tenant (``*`` in the tenant token)."""
    return f"{message.owner}.*.{message.kind}.{message.name}"


def stream_name(owner: str, kind: MessageKind) -> str:
    """The stream holding an owner's messages of one kind, e.g. ``ROUNDS_CMD``."""
    return f"{owner.upper()}_{kind.upper()}"


def stream_subjects(owner: str, kind: MessageKind) -> list[str]:
    """The subjects a stream captures: every tenant's messages of that owner and kind."""
    return [f"{owner}.*.{kind}.>"]


def tenant_of_subject(subject: str) -> str | None:
    """The tenant token of a message subject, or None when the subject is not ours."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[2] not in ("evt", "cmd", "qry"):
        return None
    return parts[1]


def dead_letter_subject(stream: str, consumer: str) -> str:
    """Where a consumer files a message it gave up on: ``deadletter.<stream>.<consumer>``."""
    return f"deadletter.{stream.lower()}.{consumer}"
