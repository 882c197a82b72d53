"""The portal's pure rules: sign-up, answers, round form, rate limits, redirects."""

from __future__ import annotations

import pytest

from services.portal import domain, round_builder
from tests.portal.fakes import QUESTIONS


def sign_up(**changes: object) -> tuple[domain.SignUp | None, dict[str, str]]:
    fields: dict[str, object] = {
        "email": "anna@example.se",
        "birth_year": "1984",
        "gender": "female",
        "district": "  Hillerstorp   centrum ",
        "consent": True,
        "this_year": 2026,
    }
    fields.update(changes)
    return domain.check_sign_up(**fields)  # type: ignore[arg-type]


def test_a_valid_sign_up_is_cleaned() -> None:
    valid, errors = sign_up()
    assert errors == {}
    assert valid == domain.SignUp("anna@example.se", 1984, "female", "Hillerstorp centrum")


def test_every_wrong_field_gets_a_message() -> None:
    valid, errors = sign_up(
        email="not-an-address", birth_year="19x4", gender="robot", district=" ", consent=False
    )
    assert valid is None
    assert set(errors) == {"email", "birth_year", "gender", "district", "consent"}


def test_consent_is_required() -> None:
    valid, errors = sign_up(consent=False)
    assert valid is None
    assert errors == {"consent": "You must give your consent to join the panel."}


def test_birth_year_must_be_plausible() -> None:
    assert "birth_year" in sign_up(birth_year="1899")[1]
    assert "birth_year" in sign_up(birth_year="2027")[1]
    assert "birth_year" in sign_up(birth_year="")[1]
    assert sign_up(birth_year=" 2026 ")[0] is not None


def test_email_shapes() -> None:
    assert sign_up(email="a@b")[1]
    assert sign_up(email="a b@c.se")[1]
    assert sign_up(email="x" * 250 + "@c.se")[1]
    assert not sign_up(email=" a.b+panel@kommun.gnosjo.se ")[1]


def test_answers_must_be_options_and_short() -> None:
    answers, errors = domain.check_answers(QUESTIONS, {"q1": "Yes", "q2": "  More books  "})
    assert errors == {}
    assert answers == {"q1": "Yes", "q2": "More books"}

    _, errors = domain.check_answers(QUESTIONS, {"q1": "Maybe", "q2": "x" * 2001})
    assert set(errors) == {"q1", "q2"}


def test_questions_may_be_skipped_but_not_all() -> None:
    answers, errors = domain.check_answers(QUESTIONS, {"q1": "No"})
    assert (answers, errors) == ({"q1": "No"}, {})
    _, errors = domain.check_answers(QUESTIONS, {"q1": "", "q2": "  "})
    assert set(errors) == {"_form"}


def _blocks(choice: str, options: str, free: str = "") -> list[dict[str, str]]:
    return [
        {**round_builder.empty_block("q1"), "text": choice, "options": options},
        {**round_builder.empty_block("q2", "free_text"), "text": free},
    ]


def test_round_form_builds_questions() -> None:
    draft, errors = domain.check_round_form(
        title=" Library ",
        purpose="Opening hours",
        blocks=_blocks("Open on Sundays?", "Yes\n\n No \nYes\nDon't know\n", "Anything else?"),
    )
    assert errors == {}
    assert draft is not None
    assert draft.title == "Library"
    assert draft.questions[0].options == ("Yes", "No", "Don't know")
    assert [q.kind for q in draft.questions] == ["single_choice", "free_text"]


def test_round_form_needs_two_options_and_the_rest() -> None:
    draft, errors = domain.check_round_form(title="", purpose="", blocks=_blocks("Q", "Only one"))
    assert draft is None
    assert set(errors) == {"title", "purpose", "q1"}


def test_free_text_question_is_optional() -> None:
    draft, _ = domain.check_round_form(title="T", purpose="P", blocks=_blocks("Q", "A\nB"))
    assert draft is not None
    assert len(draft.questions) == 1


def test_a_sliding_window_weighs_the_previous_window_by_what_is_left_of_it() -> None:
    window = domain.SlidingWindow(limit=10, seconds=60)
    start = 1_800_000_000_000 - 1_800_000_000_000 % 60_000  # a window's first millisecond
    assert window.start(start) == start
    assert window.start(start + 59_999) == start
    assert window.start(start + 60_000) == start + 60_000
    # A quarter into the window, three quarters of the previous one still count.
    assert window.estimate(8, 3, start + 15_000) == 8 * 0.75 + 3
    assert window.allows(8, 4, start + 15_000)  # 6 + 4 = 10
    assert not window.allows(8, 5, start + 15_000)  # 11
    # No double burst at the edge: a full previous window leaves no room at its end.
    assert not window.allows(10, 1, start)
    assert window.allows(10, 1, start + 6_000)  # 10 * 0.9 + 1 = 10
    assert window.allows(0, 10, start + 59_999)
    assert not window.allows(0, 11, start)


def test_a_sliding_window_says_when_to_try_again() -> None:
    window = domain.SlidingWindow(limit=10, seconds=60)
    start = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
    # Over only because of the previous window: wait until enough of it slid out. With 8
    # before and 5 now, one more fits once 8 * (1 - f) + 6 <= 10, i.e. at f = 0.5.
    assert not window.allows(8, 5, start + 15_000)
    assert window.retry_after(8, 5, start + 15_000) == 15
    assert not window.allows(8, 6, start + 29_000)
    assert window.allows(8, 6, start + 30_000)
    # Over in this window alone: the next window, once 11 * (1 - f) + 1 <= 10, f = 2/11.
    assert window.retry_after(0, 11, start + 15_000) == 45 + 11
    assert not window.allows(11, 1, start + 60_000 + 10_000)
    assert window.allows(11, 1, start + 60_000 + 11_000)
    # Never less than a second.
    assert window.retry_after(0, 11, start + 59_999) >= 1
    assert window.retry_after(10, 0, start + 59_999) == 1
    with pytest.raises(ValueError, match="at least 1"):
        domain.SlidingWindow(limit=0, seconds=60)


def test_clients_are_counted_by_ipv4_address_or_ipv6_slash_64() -> None:
    assert domain.client_key("203.0.113.5") == "203.0.113.5"
    assert domain.client_key("::ffff:203.0.113.5") == "203.0.113.5"
    assert domain.client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert domain.client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert domain.client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert domain.client_key("unknown") == "unknown"


def test_safe_next_stays_on_the_councils_pages() -> None:
    prefix = "/t/gnosjo/staff/"
    assert (
        domain.safe_next("/t/gnosjo/staff/rounds/x", prefix, prefix) == "/t/gnosjo/staff/rounds/x"
    )
    assert domain.safe_next("https://evil.example/", prefix, prefix) == prefix
    assert domain.safe_next("/t/gnosjo/staff//evil.example", prefix, prefix) == prefix
    assert domain.safe_next("/t/other/staff/", prefix, prefix) == prefix
    assert domain.safe_next(None, prefix, prefix) == prefix


def test_tokens_and_ids() -> None:
    assert domain.is_link_token("A" * 43)
    assert not domain.is_link_token("short")
    assert not domain.is_link_token("a" * 30 + "/..")
    assert domain.is_round_id("0b3c8a9e-5a1f-4a57-9a0e-6c3d1f7e2b10")
    assert not domain.is_round_id("../etc")
