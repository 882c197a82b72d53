"""Which SMTP errors mean the address is refused for good (listed for staff, not retried)."""

from __future__ import annotations

import aiosmtplib

from services.dispatch.channels import permanent_refusal


def test_only_a_5xx_refusal_of_the_recipient_is_for_good() -> None:
    gone = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user: a@b.se", "a@b.se")
    busy = aiosmtplib.SMTPRecipientRefused(451, "try later", "a@b.se")
    assert permanent_refusal(aiosmtplib.SMTPRecipientsRefused([gone])) == "smtp_550"
    assert permanent_refusal(gone) == "smtp_550"
    assert permanent_refusal(aiosmtplib.SMTPRecipientsRefused([busy])) is None
    # The server refusing the mail itself, or not answering, is retried.
    assert permanent_refusal(aiosmtplib.SMTPDataError(554, "spam")) is None
    assert permanent_refusal(aiosmtplib.SMTPServerDisconnected("gone")) is None
    assert permanent_refusal(OSError()) is None
