"""One e-mail address is one mailbox: nothing that adds recipients or headers gets through."""

from __future__ import annotations

import pytest

from contracts.addresses import InvalidEmail, normalise_email
from services.portal import domain as portal


@pytest.mark.parametrize(
    "bad",
    [
        "postmaster,alice@example.se",
        "alice@example.se,bob@example.se",
        "alice@example.se;bob@example.se",
        "Alice <alice@example.se>",
        '"a b"@example.se',
        "alice@[127.0.0.1]",
        "alice@example.se\r\nBcc: bob@example.se",
        "alice@localhost",
        "alice@panel.local",
        "åsa@example.se",
        "a..b@example.se",
        "",
        "x" * 250 + "@example.se",
    ],
)
def test_anything_but_one_mailbox_is_refused(bad: str) -> None:
    with pytest.raises(InvalidEmail):
        normalise_email(bad)
    _, errors = portal.check_sign_up(
        email=bad,
        birth_year="1980",
        gender="female",
        district="Surte",
        consent=True,
        this_year=2026,
    )
    assert "email" in errors


def test_addresses_are_trimmed_lower_cased_and_idn_domains_kept_as_ascii() -> None:
    assert normalise_email("  Anna@Example.SE ") == "anna@example.se"
    assert normalise_email("anna@räksmörgås.se") == "anna@xn--rksmrgs-5wao1o.se"
