"""Tokens, e-mail normalisation, templates and the outbox update."""

from __future__ import annotations

import pytest

from contracts.dispatch import SendMessage
from infra.store import with_outbox
from infra.tokens import derived_id, new_token, token_hash
from services.dispatch import templates
from services.recruitment import domain as recruitment


def test_tokens_are_long_random_and_stored_only_as_hashes() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 for t in tokens)  # 32 bytes, URL-safe base64
    token = next(iter(tokens))
    assert token_hash(token) != token
    assert len(token_hash(token)) == 64
    assert derived_id("a", "b") == derived_id("a", "b") != derived_id("a", "c")


def test_email_is_normalised_and_checked() -> None:
    assert recruitment.normalise_email("  Anna@Example.SE ") == "anna@example.se"
    for bad in ("anna", "anna@", "a b@example.se", "@example.se"):
        with pytest.raises(recruitment.InvalidEmail):
            recruitment.normalise_email(bad)


def test_templates_render_in_the_member_language_with_every_placeholder() -> None:
    params = {"title": "Buss", "purpose": "Plan", "link": "http://x/t/ale/a/tok"}
    sv = templates.render("round_invitation", "sv", params)
    en = templates.render("round_invitation", "en", params)
    assert sv.subject == "Ny enkät: Buss"
    assert en.subject == "New questions: Buss"
    assert "http://x/t/ale/a/tok" in sv.body
    assert templates.render("round_invitation", "fi", params).subject == sv.subject
    with pytest.raises(templates.UnknownTemplate):
        templates.render("round_invitation", "sv", {"title": "x"})
    with pytest.raises(templates.UnknownTemplate):
        templates.render("no_such_template", "sv", {})


def test_outbox_update_adds_entries_and_counts_them() -> None:
    a = SendMessage(tenant="ale", member_id="m", template="t")
    b = SendMessage(tenant="ale", member_id="n", template="t")
    update = with_outbox({"$set": {"state": "open"}}, a, b)
    assert update["$set"]["state"] == "open"
    assert update["$set"][f"outbox.{a.message_id}"]["subject"] == "dispatch.ale.cmd.send_message"
    assert update["$inc"] == {"outbox_pending": 2}
    assert with_outbox({"$set": {}}) == {"$set": {}}


def test_dead_letter_reasons_do_not_quote_personal_data() -> None:
    import pydantic

    from contracts.recruitment import EnrolMember
    from infra.bus import _describe

    body = b'{"tenant": "ale", "email": "secret@person.se", "birth_year": 1800}'
    with pytest.raises(pydantic.ValidationError) as caught:
        EnrolMember.model_validate_json(body)
    reason = _describe(caught.value)
    assert "birth_year" in reason
    assert "secret@person.se" not in reason


def test_every_mail_names_its_council_and_how_to_leave() -> None:
    params = {"title": "Buss", "purpose": "Plan", "link": "http://x/t/ale/a/tok"}
    leave = "http://x/t/ale/leave/tok2"
    sv = templates.render("round_invitation", "sv", {**params, "council": "Ale kommun"})
    assert "Medborgarpanelen i Ale kommun" in sv.body
    assert "Lämna panelen" not in sv.body  # no link known: no promise of one
    both = templates.render(
        "feedback_published",
        "en",
        {
            "title": "Buss",
            "text": "Done",
            "link": "http://x",
            "council": "Ale kommun",
            "leave_link": leave,
        },
    )
    assert both.body.endswith(f"Leave the panel here (your details are erased):\n{leave}\n")
    assert "The citizen panel of Ale kommun" in both.body
    # Without a council name (a contact recorded before names were sent), no footer.
    assert "--" not in templates.render("round_invitation", "sv", params).body


def test_free_ports_are_never_handed_out_twice() -> None:
    from devstack.processes import free_port

    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == 200


def test_a_one_click_invitation_lists_each_answer_with_its_link() -> None:
    params = {
        "title": "Parken",
        "purpose": "Planen",
        "question": "Fler bänkar?",
        "choices": "Ja / Yes: https://x/a/t?pick=1\nNej / No: https://x/a/t?pick=2",
        "link": "https://x/a/t",
    }
    sv = templates.render("round_invitation", "sv", params)
    assert sv.subject == "Ny fråga: Parken"
    assert "Fler bänkar?" in sv.body
    assert "Ja / Yes: https://x/a/t?pick=1" in sv.body
    assert "du får bekräfta det" in sv.body
    assert "Answer here: https://x/a/t" in templates.render_sms(
        "round_invitation", "en", {**params, "council": "Ale"}
    )
    by_sms = templates.render_sms(
        "round_invitation",
        "sv",
        {**params, "council": "Ale", "number": "1", "total": "2", "sms_choices": "1=Ja 2=Nej"},
    )
    assert by_sms.startswith("Medborgarpanelen i Ale: Parken. Fråga 1/2: Fler bänkar? 1=Ja 2=Nej")


def test_a_reminder_carries_the_one_click_answers_or_the_sms_question_as_the_invitation() -> None:
    params = {
        "title": "Parken",
        "closes": "2026-12-01",
        "question": "Fler bänkar?",
        "choices": "Ja / Yes: https://x/a/t?pick=1\nNej / No: https://x/a/t?pick=2",
        "link": "https://x/a/t",
    }
    quick = templates.render("round_reminder", "sv", params)
    assert quick.subject == "Påminnelse: Parken"
    assert "Ja / Yes: https://x/a/t?pick=1" in quick.body
    assert "öppen till och med 2026-12-01" in quick.body
    plain = templates.render("round_reminder", "en", {**params, "choices": ""})
    assert "?pick=" not in plain.body
    by_sms = templates.render_sms(
        "round_reminder",
        "sv",
        {**params, "council": "Ale", "number": "1", "total": "2", "sms_choices": "1=Ja 2=Nej"},
    )
    assert by_sms.startswith("Medborgarpanelen i Ale: påminnelse om Parken, öppen till 2026-12-01.")
    assert "Fråga 1/2: Fler bänkar? 1=Ja 2=Nej Svara med siffran." in by_sms
    assert "Fråga" not in templates.render_sms("round_reminder", "sv", {**params, "council": "Ale"})


def test_a_rounds_texts_reach_a_member_in_their_language_where_translated() -> None:
    from services.rounds import languages

    doc = {
        "languages": ["sv", "en"],
        "questions": [{"key": "bench"}],
        "translations": {
            "en": {"title": "The park", "questions": {"bench": {"text": "More benches?"}}}
        },
    }
    params = {
        "title": "Parken",
        "purpose": "Planen",
        "question": "Fler bänkar?",
        "choices": "Ja / Yes: https://x/a/t?pick=1",
        "link": "https://x/a/t",
    } | languages.mail_params(doc, ("title", "purpose", "question"))
    assert params["title@en"] == "The park"
    assert "purpose@en" not in params  # untranslated: the main language's stands
    en = templates.render("round_invitation", "en", params)
    assert en.subject == "A new question: The park"
    assert "More benches?" in en.body
    assert "What the answer will be used for: Planen" in en.body
    sv = templates.render("round_invitation", "sv", params)
    assert sv.subject == "Ny fråga: Parken"
    assert "The park" not in sv.body
