"""The round builder: the new-round and edit forms' questions, promise, plan and settings.

The form holds one block of fields per question (``q<n>_kind``, ``q<n>_text``,
``q<n>_options`` …, with a hidden stable ``q<n>_key``); buttons add a question, remove one or
move one up or down, re-showing the form without saving. The questions are checked by the
rules the rounds service applies (``contracts.questions``), and the form warns when the round
grows past the seeds' advice (3-8 questions, under 10 minutes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError

from contracts import questions as rules
from contracts.rounds import STAGES, Plan, Promise, Question
from contracts.text import clean_line, clean_text
from services.portal import builder_languages
from services.portal.i18n import N_

MAX_QUESTIONS: Final = 50
KINDS: Final = {
    "single_choice": N_("Single choice"),
    "multiple_choice": N_("Multiple choice"),
    "scale": N_("Scale"),
    "number": N_("Number"),
    "yes_no": N_("Yes or no"),
    "free_text": N_("Free text"),
    "ranking": N_("Ranking"),
    "map": N_("Places on a map"),
}
FIELDS: Final = (
    "key",
    "kind",
    "text",
    "options",
    "hint",
    "min_picks",
    "max_picks",
    "scale_max",
    "low_label",
    "high_label",
    "minimum",
    "maximum",
    "unit",
    "decimals",
    "max_length",
    "max_pins",
    "show_if",
    "show_answers",
)
PROBLEMS: Final = {
    "duplicate_keys": N_("Each question needs its own key."),
    "options": N_(
        "Check the options: two or more different ones where the kind takes them "
        "(at most 10 for a ranking), none where it does not."
    ),
    "picks": N_("The least and most picks must fit the number of options."),
    "range": N_("Check the range: the lowest must be below the highest."),
    "condition": N_(
        "A question can only depend on an earlier choice, yes/no or scale question, and on "
        "answers it has."
    ),
}
STAGE_LABELS: Final = {
    "questions": N_("Questions"),
    "approval": N_("Political approval"),
    "dispatch": N_("Sending and reminders"),
    "analysis": N_("Analysis"),
    "feedback": N_("Feedback to the panel"),
}
CHECKLIST: Final = {
    "goal": N_("The round's goal"),
    "deadline": N_("When the results are needed"),
    "follow_up_owner": N_("The named owner of the follow-up"),
    "owner:questions": N_("An owner of the questions"),
    "owner:approval": N_("An owner of the political approval"),
    "owner:dispatch": N_("An owner of sending and reminders"),
    "owner:analysis": N_("An owner of the analysis"),
    "owner:feedback": N_("An owner of the feedback to the panel"),
}
"""The planning checklist's open points, as the round's page lists them."""
ADVICE: Final = {
    "few": N_("Fewer than 3 questions: is there enough to learn from?"),
    "many": N_("More than 8 questions: panels answer best when a round is short."),
    "long": N_("It takes 10 minutes or more to answer: consider fewer or simpler questions."),
}
_KEY = re.compile(r"^[a-z0-9_]{1,40}$")

Block = dict[str, str]
Errors = dict[str, str]


def empty_block(key: str, kind: str = "single_choice") -> Block:
    """A new question's fields."""
    return dict.fromkeys(FIELDS, "") | {"key": key, "kind": kind}


def _new_key(blocks: Sequence[Block]) -> str:
    taken = {b["key"] for b in blocks}
    n = len(blocks) + 1
    while f"q{n}" in taken:
        n += 1
    return f"q{n}"


def blocks_from_form(form: Any) -> list[Block]:
    """The question blocks as posted, in order (a block without a kind is no block)."""
    blocks: list[Block] = []
    for n in range(1, MAX_QUESTIONS + 1):
        kind = str(form.get(f"q{n}_kind", "") or "")
        if kind not in KINDS:
            continue
        block = {name: str(form.get(f"q{n}_{name}", "") or "") for name in FIELDS}
        block["kind"] = kind
        if not _KEY.fullmatch(block["key"]):
            block["key"] = _new_key(blocks)
        blocks.append(block)
    return blocks


def apply_action(blocks: list[Block], action: str) -> list[Block]:
    """Add a question, or remove one or move one (``remove:2``, ``up:3``, ``down:1``)."""
    if action == "add" and len(blocks) < MAX_QUESTIONS:
        return [*blocks, empty_block(_new_key(blocks))]
    verb, _, number = action.partition(":")
    if not number.isdigit() or not 1 <= int(number) <= len(blocks):
        return blocks
    i = int(number) - 1
    moved = list(blocks)
    if verb == "remove":
        del moved[i]
    elif verb == "up" and i > 0:
        moved[i - 1], moved[i] = moved[i], moved[i - 1]
    elif verb == "down" and i < len(moved) - 1:
        moved[i + 1], moved[i] = moved[i], moved[i + 1]
    return moved


def _lines(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for line in text.splitlines():
        option = clean_line(line)
        if option and option not in found:
            found.append(option)
    return tuple(found)


def _number(text: str) -> float | None:
    text = text.strip().replace(",", ".").replace(" ", "")
    if not text:
        return None
    return float(text)


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text else None


def questions_from_blocks(blocks: Sequence[Block]) -> tuple[list[Question], Errors]:
    """The questions of the blocks that have a text, and the errors by block (``q<n>``)."""
    questions: list[Question] = []
    errors: Errors = {}
    positions: dict[str, int] = {}
    for n, block in enumerate(blocks, start=1):
        text = clean_line(block["text"])
        if not text:
            if any(block[f] for f in ("options", "hint")):
                errors[f"q{n}"] = N_("Write the question, or remove it.")
            continue
        fields: dict[str, Any] = {"key": block["key"], "kind": block["kind"], "text": text}
        try:
            if block["kind"] in ("single_choice", "multiple_choice", "ranking", "map"):
                fields["options"] = _lines(block["options"])
            if block["hint"].strip():
                fields["hint"] = clean_text(block["hint"])
            if block["kind"] == "multiple_choice":
                fields["min_picks"] = _whole(block["min_picks"])
                fields["max_picks"] = _whole(block["max_picks"])
            if block["kind"] == "scale":
                fields["scale_max"] = _whole(block["scale_max"]) or 5
                fields["low_label"] = clean_line(block["low_label"]) or None
                fields["high_label"] = clean_line(block["high_label"]) or None
            if block["kind"] == "number":
                fields["minimum"] = _number(block["minimum"])
                fields["maximum"] = _number(block["maximum"])
                fields["unit"] = clean_line(block["unit"]) or None
                fields["whole_numbers"] = block["decimals"] != "yes"
            if block["kind"] == "free_text" and block["max_length"].strip():
                fields["max_length"] = _whole(block["max_length"])
            if block["kind"] == "map" and block["max_pins"].strip():
                fields["max_pins"] = _whole(block["max_pins"])
            if block["show_if"]:
                answers = [a.strip() for a in block["show_answers"].split(";") if a.strip()]
                fields["show_if"] = {"question": block["show_if"], "answers": answers}
            questions.append(Question.model_validate(fields))
            positions[block["key"]] = n
        except (ValueError, ValidationError):
            errors[f"q{n}"] = N_(
                "Check this question's settings: a number, range or label does not fit."
            )
    for key, code in rules.question_problems(questions).items():
        where = f"q{positions[key]}" if key in positions else "questions"
        errors.setdefault(where, PROBLEMS.get(code, code))
    if not questions and not errors:
        errors["questions"] = N_("Add at least one question.")
    return questions, errors


def blocks_from_questions(questions: Sequence[Question]) -> list[Block]:
    """The blocks that show a round's questions in the form (to edit them)."""
    blocks: list[Block] = []
    for q in questions:
        block = empty_block(q.key, q.kind)

        def shown(value: float | None) -> str:
            return "" if value is None else f"{value:g}"

        block.update(
            text=q.text,
            options="\n".join(q.options),
            hint=q.hint or "",
            min_picks=str(q.min_picks or ""),
            max_picks=str(q.max_picks or ""),
            scale_max=str(q.scale_max),
            low_label=q.low_label or "",
            high_label=q.high_label or "",
            minimum=shown(q.minimum),
            maximum=shown(q.maximum),
            unit=q.unit or "",
            decimals="" if q.whole_numbers else "yes",
            max_length=str(q.max_length),
            max_pins=str(q.max_pins),
            show_if=q.show_if.question if q.show_if else "",
            show_answers="; ".join(q.show_if.answers) if q.show_if else "",
        )
        blocks.append(block)
    return blocks


def advice(questions: Sequence[Question]) -> tuple[float, list[str]]:
    """The estimated minutes and the seeds' advice the questions go past (messages)."""
    if not questions:
        return 0.0, []
    return rules.estimated_minutes(questions), [ADVICE[a] for a in rules.advice(questions)]


# --- promise, plan and settings ------------------------------------------------------------

_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})?$")


def settings_from_form(form: Any) -> tuple[dict[str, Any], dict[str, Any], Errors]:
    """The promise, plan and settings as posted: what the draft takes, the values to show
    again, and the errors."""
    values: dict[str, Any] = {
        name: str(form.get(name, "") or "").strip()
        for name in (
            "decision",
            "decided_on",
            "influence",
            "not_promised",
            "goal",
            "deadline",
            "follow_up_owner",
            "topics",
            "introduction",
        )
    }
    for stage in STAGES:
        values[f"owner_{stage}"] = clean_line(str(form.get(f"owner_{stage}", "") or ""))
    for flag in ("longitudinal", "public", "allow_changes", "review_needed"):
        values[flag] = bool(form.get(flag))
    errors: Errors = {}
    for day in ("decided_on", "deadline"):
        if not _DAY.fullmatch(values[day]):
            errors[day] = N_("Give the day as YYYY-MM-DD, or leave it empty.")
    promise = plan = None
    if not errors:
        try:
            promise = Promise(
                decision=clean_text(values["decision"]),
                decided_on=values["decided_on"],
                influence="co-determination"
                if values["influence"] == "co-determination"
                else "consultation",
                not_promised=clean_text(values["not_promised"]),
            )
            plan = Plan(
                goal=clean_text(values["goal"]),
                deadline=values["deadline"],
                owners={s: values[f"owner_{s}"] for s in STAGES if values[f"owner_{s}"]},
                follow_up_owner=clean_line(values["follow_up_owner"]),
                review_needed=values["review_needed"],
            )
        except ValidationError:
            errors["decision"] = N_("A text is too long: shorten it.")
    topics = tuple(dict.fromkeys(t for t in _lines(values["topics"]) if len(t) <= 100))
    taken = {
        "promise": promise or Promise(),
        "plan": plan or Plan(),
        "longitudinal": values["longitudinal"],
        "public": values["public"],
        "allow_changes": values["allow_changes"],
        "topics": topics,
        "introduction": clean_text(values["introduction"])[:5000],
    }
    return taken, values, errors


def settings_values(view: Any) -> dict[str, Any]:
    """A round's promise, plan and settings as the form shows them."""
    promise, plan = view.promise, view.plan
    values: dict[str, Any] = {
        "decision": promise.decision,
        "decided_on": promise.decided_on,
        "influence": promise.influence,
        "not_promised": promise.not_promised,
        "goal": plan.goal,
        "deadline": plan.deadline,
        "follow_up_owner": plan.follow_up_owner,
        "review_needed": plan.review_needed,
        "topics": "\n".join(view.target.topics),
        "longitudinal": view.longitudinal,
        "public": view.public,
        "allow_changes": view.allow_changes,
        "introduction": view.introduction,
    }
    for stage in STAGES:
        values[f"owner_{stage}"] = plan.owners.get(stage, "")
    return values | builder_languages.language_values(view)


def block_values(blocks: Sequence[Block]) -> Mapping[str, str]:
    """The blocks as the form's flat field values (``q<n>_<field>``)."""
    return {
        f"q{n}_{name}": value
        for n, block in enumerate(blocks, start=1)
        for name, value in block.items()
    }
