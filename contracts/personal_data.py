"""What a service holds about one member, for the member's copy of their data (GDPR art. 15).

Each service that holds something about members answers its own ``GetMemberData`` query with
a ``PersonalData``: named sections of records, each a flat map of field to value, in words a
resident can read. The portal puts the services' answers together into one file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Value = str | int | bool | None


class PersonalData(BaseModel):
    """One service's records about one member, by section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(description="The service that holds these records.")
    sections: dict[str, list[dict[str, Value]]] = Field(
        description="Records by what they are (membership, invitations, messages …)."
    )
    note: str = Field(default="", description="What the service keeps that is not listed.")
