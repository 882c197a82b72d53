"""Consent evidence as a previous vendor's file writes it: dates read, normalised, refused."""

from __future__ import annotations

from datetime import date

import pytest

from services.recruitment.domain import RowRejected, consent_given


def test_a_consent_date_is_read_as_the_source_wrote_it() -> None:
    today = date(2026, 11, 24)
    assert consent_given("2026-11-24", today) == "2026-11-24"
    assert consent_given("2026-11-24 08:15", today) == "2026-11-24T08:15:00"
    assert consent_given("2026-11-24T10:30:00+01:00", today) == "2026-11-24T09:30:00+00:00"
    for text, reason in [
        ("2026-11-25", "future_consent_date"),
        ("2026-11-24T23:30:00-05:00", "future_consent_date"),  # the 25th in UTC
        ("24.11.2026", "invalid_consent_date"),
        ("yesterday", "invalid_consent_date"),
        ("0999-01-01", "invalid_consent_date"),
    ]:
        with pytest.raises(RowRejected) as raised:
            consent_given(text, today)
        assert raised.value.reason == reason, text
