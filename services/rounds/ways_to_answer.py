"""What an invitation or a reminder carries besides the personal link: the one-click answers
of a round of one choice or yes/no question (mail), and the first question of a round answered
by SMS. Dispatch picks the text that fits what a message carries (``round_invitation`` →
``round_invitation_quick`` or ``…_sms_ready``; the same for ``round_reminder``)."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.rounds import Question
from services.rounds import domain, sms


def params(questions: Sequence[Question], *, by_sms: bool = True) -> dict[str, str]:
    """The plain values: the one-click question's text, and the SMS's first question (left
    out when ``by_sms`` is False: a member already in an SMS conversation is not asked the
    first question again)."""
    found: dict[str, str] = {}
    if domain.one_click(questions):
        found["question"] = questions[0].text
    if by_sms and sms.sms_ready(list(questions)):
        found |= sms.invitation_params(list(questions))
    return found


def sealed(questions: Sequence[Question], link: str) -> dict[str, str]:
    """The values that must be sealed: the personal link and, for a one-click round, its
    answer links."""
    found = {"link": link}
    if domain.one_click(questions):
        found["choices"] = domain.one_click_choices(link, questions[0])
    return found
