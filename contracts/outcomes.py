"""How a command the portal waits for went, pushed to the waiting portal replica.

Not a bus message with an owner: it goes on core NATS to ``outcome.<waiter>``, the subject one
portal replica listens on, and is never stored in a stream. The durable record stays with the
command's owner (its outcome query answers for it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import TenantSlug

OUTCOME_SUBJECT_PREFIX = "outcome."
"""Subjects on which portal replicas wait for outcomes: ``outcome.<waiter id>``."""


def outcome_subject(waiter: str) -> str:
    """The subject a portal replica with id ``waiter`` listens on."""
    return f"{OUTCOME_SUBJECT_PREFIX}{waiter}"


class CommandSettled(BaseModel):
    """A command someone waits for has been handled; its outcome is recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str = Field(description="message_id of the command.")
    tenant: TenantSlug = Field(description="The council of the command.")
    status: Literal["done", "refused"] = Field(description="done: applied; refused: not applied.")
    reason: str | None = Field(default=None, description="Why it was refused, as a short code.")
