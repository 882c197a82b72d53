"""Message contracts of Rådslag: the envelope, subject and stream helpers, and every message.

Only schemas and naming live here; no service logic. Changes are additive: a breaking change
is a new message name ending in ``_v2``.
"""

from contracts.envelope import Command, Envelope, Event, Query, TenantSlug
from contracts.subjects import (
    MessageKind,
    dead_letter_subject,
    stream_name,
    subject_for,
    subject_pattern,
    tenant_of_subject,
)

__all__ = [
    "Command",
    "Envelope",
    "Event",
    "MessageKind",
    "Query",
    "TenantSlug",
    "dead_letter_subject",
    "stream_name",
    "subject_for",
    "subject_pattern",
    "tenant_of_subject",
]
