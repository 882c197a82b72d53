"""The response rate per invitation channel, read from the kept counters."""

from __future__ import annotations

from contracts.rounds import InvitationChannelRate, Question
from services.rounds import results, tallies

QUESTIONS = (Question(key="ok", kind="yes_no", text="OK?"),)


def _response(invited_by: str | None, channel: str = "web") -> dict[str, object]:
    response: dict[str, object] = {
        "answers": {"ok": "yes"},
        "age_band": "30-44",
        "gender": "female",
        "district": "Kisa",
        "received_on": "2026-11-25",
        "channel": channel,
    }
    if invited_by:
        response["invited_by"] = invited_by
    return response


def test_rates_per_invitation_channel_count_every_way_of_answering() -> None:
    people = (
        [_response("email")] * 6
        + [_response("email", "paper")] * 2
        + [_response("sms", "sms")] * 3
        + [_response(None)]  # answered before dispatch's report arrived
    )
    kept = tallies.sum_cells(QUESTIONS, people)
    rows = results.by_invitation(kept, invited=30, sent={"email": 16, "sms": 10})
    assert rows == (
        InvitationChannelRate(channel="email", invited=16, answered=8, percent=50.0),
        InvitationChannelRate(channel="sms", invited=10, answered=3, percent=30.0),
        InvitationChannelRate(channel="not_sent", invited=4, answered=1, percent=25.0),
    )


def test_no_invitations_no_rates() -> None:
    assert results.by_invitation({}, invited=0, sent={}) == ()
    kept = tallies.sum_cells(QUESTIONS, [_response("email")])
    assert results.by_invitation(kept, invited=5, sent={"email": 5}) == (
        InvitationChannelRate(channel="email", invited=5, answered=1, percent=20.0),
    )
