"""The envelope every message carries, and the three kinds of message built on it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_TENANT_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def _check_tenant(value: str) -> str:
    # The tenant is a subject token, so it must not contain dots, wildcards or spaces.
    if not _TENANT_RE.fullmatch(value):
        raise ValueError(
            "tenant must be 2-40 lowercase letters, digits or _, starting with a letter"
        )
    return value


TenantSlug = Annotated[str, AfterValidator(_check_tenant)]
"""A council's short name as used in subjects, URLs and documents, e.g. ``gnosjo``."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


class Envelope(BaseModel):
    """Fields every message carries, whatever its kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: ClassVar[str]
    """The service that owns the message's subject (set on each concrete message class)."""
    kind: ClassVar[Literal["evt", "cmd", "qry"]]
    """Command, event or query: the third token of the subject."""
    name: ClassVar[str]
    """The message's lowercase snake_case name: the last token of the subject."""

    message_id: str = Field(
        default_factory=_new_id,
        description="Unique id of this message (UUID text); also sent as the Nats-Msg-Id header "
        "so JetStream drops a duplicate publish.",
    )
    tenant: TenantSlug = Field(description="The council this message belongs to.")
    occurred_at: datetime = Field(
        default_factory=_now, description="When the message was created, in UTC."
    )
    correlation_id: str = Field(
        default_factory=_new_id,
        description="Shared by every message that one user action caused; follow it in the logs.",
    )
    causation_id: str | None = Field(
        default=None, description="The message_id of the message that caused this one, if any."
    )
    schema_version: int = Field(default=1, description="Version of this message's schema.")

    def caused(self) -> dict[str, str]:
        """Envelope fields for a message that this one causes: same correlation, this as cause."""
        return {
            "tenant": self.tenant,
            "correlation_id": self.correlation_id,
            "causation_id": self.message_id,
        }

    @classmethod
    def follow(cls, cause: Envelope, **fields: object) -> Self:
        """Build this message as a consequence of ``cause`` (same tenant and correlation)."""
        return cls.model_validate({**cause.caused(), **fields})


class Command(Envelope):
    """An imperative message with exactly one owner, e.g. ``SendMessage``."""

    kind: ClassVar[Literal["evt", "cmd", "qry"]] = "cmd"


class Event(Envelope):
    """Something that happened, past tense, with any number of subscribers."""

    kind: ClassVar[Literal["evt", "cmd", "qry"]] = "evt"


class Query(Envelope):
    """A request/reply question that never changes state."""

    kind: ClassVar[Literal["evt", "cmd", "qry"]] = "qry"
