"""The portal's pure rules: sign-up, answers, round form, rate limits, redirects."""

from __future__ import annotations

from services.portal import domain
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


def test_round_form_builds_questions() -> None:
    draft, errors = domain.check_round_form(
        title=" Library ",
        purpose="Opening hours",
        choice_text="Open on Sundays?",
        choice_options="Yes\n\n No \nYes\nDon't know\n",
        free_text="Anything else?",
    )
    assert errors == {}
    assert draft is not None
    assert draft.title == "Library"
    assert draft.questions[0].options == ("Yes", "No", "Don't know")
    assert [q.kind for q in draft.questions] == ["single_choice", "free_text"]


def test_round_form_needs_two_options_and_the_rest() -> None:
    draft, errors = domain.check_round_form(
        title="", purpose="", choice_text="", choice_options="Only one", free_text=""
    )
    assert draft is None
    assert set(errors) == {"title", "purpose", "choice_text", "choice_options"}


def test_free_text_question_is_optional() -> None:
    draft, _ = domain.check_round_form(
        title="T", purpose="P", choice_text="Q", choice_options="A\nB", free_text=""
    )
    assert draft is not None
    assert len(draft.questions) == 1


def test_rate_limiter_refills() -> None:
    limiter = domain.RateLimiter(burst=2, per_minute=60)
    assert limiter.allow("ip", 0.0)
    assert limiter.allow("ip", 0.0)
    assert not limiter.allow("ip", 0.1)
    assert limiter.retry_after("ip", 0.1) >= 1
    assert limiter.allow("other", 0.1)
    assert limiter.allow("ip", 1.2)


def test_rate_limiter_forgets_idle_clients() -> None:
    limiter = domain.RateLimiter(burst=1, per_minute=60, max_keys=10)
    for i in range(50):
        limiter.allow(f"ip{i}", float(i) * 10)
    assert len(limiter._buckets) <= 11


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
