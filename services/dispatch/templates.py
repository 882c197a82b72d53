"""Message templates per language. ``$name`` placeholders are filled from the command's params."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


class UnknownTemplate(KeyError):
    """No such template, or a placeholder without a value."""


@dataclass(frozen=True)
class Rendered:
    """A message ready for its channel."""

    subject: str
    body: str


_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "confirm_membership": {
        "sv": (
            "Bekräfta att du vill vara med i medborgarpanelen",
            "Hej!\n\nTack för att du vill vara med i medborgarpanelen i $council. "
            "Bekräfta din anmälan genom att öppna länken och trycka på knappen:\n\n$link\n\n"
            "Om det inte var du som anmälde dig kan du bortse från det här meddelandet.\n",
        ),
        "en": (
            "Confirm that you want to join the citizen panel",
            "Hello,\n\nThank you for signing up to the citizen panel of $council. "
            "Confirm by opening this link and pressing the button:\n\n$link\n\n"
            "If you did not sign up, you can ignore this message.\n",
        ),
    },
    "round_invitation": {
        "sv": (
            "Ny enkät: $title",
            "Hej!\n\nDu är inbjuden att svara på en ny enkät i medborgarpanelen: $title\n\n"
            "Vad svaren ska användas till: $purpose\n\n"
            "Svara via din personliga länk (dela den inte med någon):\n$link\n",
        ),
        "en": (
            "New questions: $title",
            "Hello,\n\nYou are invited to answer new questions in the citizen panel: $title\n\n"
            "What the answers will be used for: $purpose\n\n"
            "Answer through your personal link (do not share it):\n$link\n",
        ),
    },
    "round_reminder": {
        "sv": (
            "Påminnelse: $title",
            "Hej!\n\nDu har inte svarat på enkäten i medborgarpanelen ännu: $title\n\n"
            "Den är öppen till och med $closes. Varje svar räknas, och det tar bara några "
            "minuter.\n\nSvara via din personliga länk (dela den inte med någon):\n$link\n\n"
            "Har du redan svarat via en tidigare länk behöver du inte göra något mer.\n",
        ),
        "en": (
            "Reminder: $title",
            "Hello,\n\nYou have not yet answered the citizen panel's questions: $title\n\n"
            "They are open until $closes. Every answer counts, and it only takes a few "
            "minutes.\n\nAnswer through your personal link (do not share it):\n$link\n\n"
            "If you have already answered through an earlier link, there is nothing more to do.\n",
        ),
    },
    "round_invitation_quick": {
        "sv": (
            "Ny fråga: $title",
            "Hej!\n\nDu är inbjuden att svara på en fråga i medborgarpanelen: $title\n\n"
            "Vad svaret ska användas till: $purpose\n\n$question\n\n"
            "Svara med ett klick på ditt svar (du får bekräfta det på sidan som öppnas):\n\n"
            "$choices\n\n"
            "Eller öppna din personliga länk (dela den inte med någon):\n$link\n",
        ),
        "en": (
            "A new question: $title",
            "Hello,\n\nYou are invited to answer a question in the citizen panel: $title\n\n"
            "What the answer will be used for: $purpose\n\n$question\n\n"
            "Answer with one click on your answer (you confirm it on the page that opens):\n\n"
            "$choices\n\n"
            "Or open your personal link (do not share it):\n$link\n",
        ),
    },
    "round_reminder_quick": {
        "sv": (
            "Påminnelse: $title",
            "Hej!\n\nDu har inte svarat på frågan i medborgarpanelen ännu: $title\n\n"
            "Den är öppen till och med $closes.\n\n$question\n\n"
            "Svara med ett klick på ditt svar (du får bekräfta det på sidan som öppnas):\n\n"
            "$choices\n\n"
            "Eller öppna din personliga länk (dela den inte med någon):\n$link\n\n"
            "Har du redan svarat via en tidigare länk behöver du inte göra något mer.\n",
        ),
        "en": (
            "Reminder: $title",
            "Hello,\n\nYou have not yet answered the citizen panel's question: $title\n\n"
            "It is open until $closes.\n\n$question\n\n"
            "Answer with one click on your answer (you confirm it on the page that opens):\n\n"
            "$choices\n\n"
            "Or open your personal link (do not share it):\n$link\n\n"
            "If you have already answered through an earlier link, there is nothing more to do.\n",
        ),
    },
    "feedback_published": {
        "sv": (
            "Återkoppling: $title",
            'Hej!\n\nTack för att du var med i enkäten "$title". '
            "Så här har svaren använts:\n\n$text\n\nResultaten finns här: $link\n",
        ),
        "en": (
            "Feedback: $title",
            'Hello,\n\nThank you for taking part in "$title". '
            "This is how the answers were used:\n\n$text\n\nThe results: $link\n",
        ),
    },
    "member_sign_in": {
        "sv": (
            "Logga in i medborgarpanelen",
            "Hej!\n\nNågon (förhoppningsvis du) bad om en inloggningslänk till medborgarpanelen "
            "i $council. Öppna länken och tryck på knappen för att logga in. Länken fungerar en "
            "gång och i $minutes minuter:\n\n$link\n\n"
            "Om det inte var du kan du bortse från det här meddelandet.\n",
        ),
        "en": (
            "Sign in to the citizen panel",
            "Hello,\n\nSomeone (we hope you) asked for a sign-in link to the citizen panel of "
            "$council. Open the link and press the button to sign in. It works once, for "
            "$minutes minutes:\n\n$link\n\nIf it was not you, you can ignore this message.\n",
        ),
    },
    "confirm_email_change": {
        "sv": (
            "Bekräfta din nya e-postadress",
            "Hej!\n\nEn medlem i medborgarpanelen i $council vill byta till den här "
            "e-postadressen. Bekräfta genom att öppna länken och trycka på knappen:\n\n$link\n\n"
            "Om det inte var du kan du bortse från det här meddelandet.\n",
        ),
        "en": (
            "Confirm your new e-mail address",
            "Hello,\n\nA member of the citizen panel of $council wants to use this address. "
            "Confirm by opening the link and pressing the button:\n\n$link\n\n"
            "If it was not you, you can ignore this message.\n",
        ),
    },
    "register_invitation": {
        "sv": (
            "Inbjudan till medborgarpanelen i $council",
            "Hej!\n\nDu har lottats fram bland kommunens invånare för att bjudas in till "
            "medborgarpanelen i $council. Panelen får några frågor om året om sådant kommunen "
            "ska besluta om, och politikerna berättar vad de gjort med svaren.\n\n"
            "Gå med via din personliga länk senast $closes:\n$link\n\n"
            "Eller skriv in koden $code på kommunens panelsida. Vill du inte vara med behöver "
            "du inte göra något: dina uppgifter raderas när inbjudan går ut.\n",
        ),
        "en": (
            "Invitation to the citizen panel of $council",
            "Hello,\n\nYou have been chosen at random among the residents to be invited to the "
            "citizen panel of $council. The panel is asked a few questions a year, and the "
            "politicians tell it what they did with the answers.\n\n"
            "Join through your personal link by $closes:\n$link\n\n"
            "Or type the code $code on the council's panel page. If you do not want to take "
            "part, do nothing: your details are erased when the invitation ends.\n",
        ),
    },
    "term_ending": {
        "sv": (
            "Din tid i medborgarpanelen tar snart slut",
            "Hej!\n\nDin tid som medlem i medborgarpanelen i $council tar slut $ends. "
            "Tack för att du har varit med! Därefter raderas dina uppgifter, och nya "
            "medlemmar lottas fram i stället.\n",
        ),
        "en": (
            "Your time in the citizen panel ends soon",
            "Hello,\n\nYour term as a member of the citizen panel of $council ends on $ends. "
            "Thank you for taking part! Your details are then erased, and new members are "
            "drawn instead.\n",
        ),
    },
    "join_other_panel": {
        "sv": (
            "Du är redan med i kommunens panel",
            "Hej!\n\nNågon, troligen du, anmälde den här adressen till $panel i $council. "
            "Du är redan medlem i en av kommunens paneler. Vill du vara med i $panel också? "
            "Logga in på din sida och välj den där:\n\n$link\n\n"
            "Var det inte du behöver du inte göra något.\n",
        ),
        "en": (
            "You are already on the council's panel",
            "Hello,\n\nSomeone, probably you, signed this address up for $panel of $council. "
            "You are already a member of one of the council's panels. Would you like to join "
            "$panel too? Sign in to your page and choose it there:\n\n$link\n\n"
            "If it was not you, there is nothing to do.\n",
        ),
    },
    "panel_leaving": {
        "sv": (
            "Du lämnar snart $panel",
            "Hej!\n\nDin tid i $panel i $council tar slut $ends. Tack för att du har varit "
            "med! Du är kvar i kommunens andra paneler du tillhör, och dina uppgifter finns "
            "kvar för dem.\n",
        ),
        "en": (
            "You will soon leave $panel",
            "Hello,\n\nYour time in $panel of $council ends on $ends. Thank you for taking "
            "part! You stay in the council's other panels you belong to, and your details are "
            "kept for them.\n",
        ),
    },
    "term_ending_renewable": {
        "sv": (
            "Din tid i medborgarpanelen tar snart slut",
            "Hej!\n\nDin tid som medlem i medborgarpanelen i $council tar slut $ends. "
            "Tack för att du har varit med! Vill du fortsätta en ny period? Öppna länken "
            "och tryck på knappen:\n\n$link\n\n"
            "Gör du inget lämnar du panelen $ends och dina uppgifter raderas.\n",
        ),
        "en": (
            "Your time in the citizen panel ends soon",
            "Hello,\n\nYour term as a member of the citizen panel of $council ends on $ends. "
            "Thank you for taking part! Would you like to stay for another term? Open the "
            "link and press the button:\n\n$link\n\n"
            "If you do nothing, you leave the panel on $ends and your details are erased.\n",
        ),
    },
}


_FOOTERS: dict[str, tuple[str, str]] = {
    # (without a link to leave, with one)
    "sv": (
        "\n-- \nMedborgarpanelen i $council, på regionens plattform Rådslag.\n",
        "\n-- \nMedborgarpanelen i $council, på regionens plattform Rådslag.\n"
        "Vill du inte vara med längre? Lämna panelen här (dina uppgifter raderas):\n"
        "$leave_link\n",
    ),
    "en": (
        "\n-- \nThe citizen panel of $council, on the region's Rådslag platform.\n",
        "\n-- \nThe citizen panel of $council, on the region's Rådslag platform.\n"
        "No longer want to take part? Leave the panel here (your details are erased):\n"
        "$leave_link\n",
    ),
}
"""Under every mail: the council, and the member's own link to leave (when known)."""


_VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    # A round of one choice question lists its answers as links (rounds' one-click mail).
    "round_invitation": (("choices", "round_invitation_quick"),),
    "round_reminder": (("choices", "round_reminder_quick"),),
}
_SMS_VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    # A round answered by SMS asks its first question in the invitation.
    "round_invitation": (("sms_choices", "round_invitation_sms_ready"),),
    "round_reminder": (("sms_choices", "round_reminder_sms_ready"),),
}
"""Texts a message takes when it carries a value: the message keeps its template's name (in
data copies and metrics), its text fits what it carries."""


def _variant(
    template: str, params: dict[str, str], variants: dict[str, tuple[tuple[str, str], ...]]
) -> str:
    for key, variant in variants.get(template, ()):
        if params.get(key):
            return variant
    return template


def in_language(params: dict[str, str], locale: str) -> dict[str, str]:
    """``params`` with the values given for ``locale`` (``title@en``) in place of the plain
    ones (``title``): a round's texts in the member's language where the round has them."""
    suffix = f"@{locale}"
    return params | {
        name.removesuffix(suffix): value for name, value in params.items() if name.endswith(suffix)
    }


def render(template: str, locale: str, params: dict[str, str]) -> Rendered:
    """The template in ``locale`` (Swedish if missing) with every placeholder filled, and
    the footer naming the council and, when ``leave_link`` is given, how to leave."""
    template = _variant(template, params, _VARIANTS)
    params = in_language(params, locale)
    try:
        by_locale = _TEMPLATES[template]
    except KeyError as exc:
        raise UnknownTemplate(template) from exc
    language = locale if locale in by_locale else "sv"
    subject, body = by_locale[language]
    plain, with_link = _FOOTERS.get(language, _FOOTERS["sv"])
    if params.get("council"):
        body += with_link if params.get("leave_link") else plain
    try:
        return Rendered(Template(subject).substitute(params), Template(body).substitute(params))
    except (KeyError, ValueError) as exc:
        raise UnknownTemplate(f"{template}: missing or bad placeholder {exc}") from exc


_SMS_TEMPLATES: dict[str, dict[str, str]] = {
    "confirm_code": {
        "sv": "$code är din kod till medborgarpanelen i $council. Den gäller i $minutes minuter.",
        "en": "$code is your code for the citizen panel of $council. It is valid $minutes minutes.",
    },
    "confirm_phone_change": {
        "sv": "$code är din kod för att byta mobilnummer i medborgarpanelen i $council. Den "
        "gäller i $minutes minuter.",
        "en": "$code is your code to change your mobile number for the citizen panel of "
        "$council. It is valid $minutes minutes.",
    },
    "member_sign_in_code": {
        "sv": "$code är din kod för att logga in i medborgarpanelen i $council. Den gäller en "
        "gång i $minutes minuter.",
        "en": "$code is your code to sign in to the citizen panel of $council. It works once, "
        "for $minutes minutes.",
    },
    "round_invitation": {
        "sv": "Medborgarpanelen i $council: ny enkät, $title. Svara här: $link",
        "en": "Citizen panel of $council: new questions, $title. Answer here: $link",
    },
    "round_reminder": {
        "sv": "Medborgarpanelen i $council: påminnelse om enkäten $title, öppen till $closes. "
        "Svara här: $link",
        "en": "Citizen panel of $council: a reminder of $title, open until $closes. "
        "Answer here: $link",
    },
    "feedback_published": {
        "sv": "Medborgarpanelen i $council: så användes svaren i $title: $link",
        "en": "Citizen panel of $council: how the answers to $title were used: $link",
    },
    "register_invitation": {
        "sv": "Du har lottats fram till medborgarpanelen i $council. Gå med senast $closes: "
        "$link (kod $code)",
        "en": "You have been drawn for the citizen panel of $council. Join by $closes: "
        "$link (code $code)",
    },
    "term_ending": {
        "sv": "Medborgarpanelen i $council: din tid som medlem tar slut $ends. Tack!",
        "en": "Citizen panel of $council: your term ends on $ends. Thank you!",
    },
    "panel_leaving": {
        "sv": "$council: din tid i $panel tar slut $ends. Du är kvar i dina andra paneler. Tack!",
        "en": "$council: your time in $panel ends on $ends. You stay in your other panels.",
    },
    "term_ending_renewable": {
        "sv": "Medborgarpanelen i $council: din tid tar slut $ends. Vill du stanna? $link",
        "en": "Citizen panel of $council: your term ends on $ends. Stay on? $link",
    },
}
"""SMS texts: short, each names the council (no footer: every part of an SMS costs)."""


# A round answered by SMS: the mail is the round's usual invitation, the SMS asks its first
# question (rounds' ``services.rounds.sms``).
_SMS_QUESTION = {
    "sv": "Fråga $number/$total: $question $choices Svara med siffran.",
    "en": "Question $number/$total: $question $choices Reply with the number.",
}
_SMS_TEMPLATES["round_invitation_sms_ready"] = {
    "sv": "Medborgarpanelen i $council: $title. "
    + _SMS_QUESTION["sv"].replace("$choices", "$sms_choices")
    + " Eller svara på webben: $link",
    "en": "Citizen panel of $council: $title. "
    + _SMS_QUESTION["en"].replace("$choices", "$sms_choices")
    + " Or answer on the web: $link",
}
_SMS_TEMPLATES["round_reminder_sms_ready"] = {
    "sv": "Medborgarpanelen i $council: påminnelse om $title, öppen till $closes. "
    + _SMS_QUESTION["sv"].replace("$choices", "$sms_choices")
    + " Eller svara på webben: $link",
    "en": "Citizen panel of $council: a reminder of $title, open until $closes. "
    + _SMS_QUESTION["en"].replace("$choices", "$sms_choices")
    + " Or answer on the web: $link",
}
_SMS_TEMPLATES["round_sms_question"] = _SMS_QUESTION
_SMS_TEMPLATES["round_sms_invalid"] = {
    "sv": "Vi förstod inte svaret. Svara med en av siffrorna. " + _SMS_QUESTION["sv"],
    "en": "We did not understand the answer. Reply with one of the numbers. " + _SMS_QUESTION["en"],
}
_SMS_TEMPLATES["round_sms_thanks"] = {
    "sv": "Tack för dina svar! Medborgarpanelen i $council.",
    "en": "Thank you for your answers! Citizen panel of $council.",
}


def has_sms(template: str) -> bool:
    """Whether ``template`` has an SMS text (one without goes by e-mail only)."""
    return template in _SMS_TEMPLATES


def render_sms(template: str, locale: str, params: dict[str, str]) -> str:
    """The SMS text of ``template`` in ``locale`` (Swedish if missing), filled in."""
    template = _variant(template, params, _SMS_VARIANTS)
    params = in_language(params, locale)
    try:
        by_locale = _SMS_TEMPLATES[template]
    except KeyError as exc:
        raise UnknownTemplate(f"{template} (no SMS text)") from exc
    text = by_locale.get(locale, by_locale["sv"])
    try:
        return Template(text).substitute(params)
    except (KeyError, ValueError) as exc:
        raise UnknownTemplate(f"{template}: missing or bad placeholder {exc}") from exc
