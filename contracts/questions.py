"""A round's questions and the rules their answers follow, shared by everyone who checks them.

The rules live here, next to the ``Question`` message part, because three places apply the very
same ones: the portal (to tell the resident what is wrong, in their language), the rounds service
(which refuses what does not fit, whoever sent it) and the results (which count what was taken).

Kinds of question and the answer each takes, as sent in ``SubmitResponse.answers`` and as stored:

=================  ============================  ===========================================
kind               sent                          stored (``check_answers``' clean value)
=================  ============================  ===========================================
single_choice      the option's text             the option's text
multiple_choice    the options' texts            the options picked, in the question's order
scale              a whole number (or its text)  the number
number             a number (or its text)        the number (int when whole numbers only)
yes_no             ``yes`` or ``no``             ``yes`` or ``no``
free_text          text                          the text
ranking            every option, best first      every option, best first
map                pins (a point and/or a        the pins, each {lat, lon, district,
                   district, category, comment)  category, comment} without empty parts
=================  ============================  ===========================================

Skip logic: a question with ``show_if`` is shown only when the earlier question it names was
answered with one of the listed values (for multiple choice: any of them picked). An answer to a
question the resident's own answers hide is refused (``hidden``), as is any answer of the wrong
type, out of range, too long or for an unknown question.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.text import OneLine, TrimmedText

QuestionKind = Literal[
    "single_choice",
    "multiple_choice",
    "scale",
    "number",
    "yes_no",
    "free_text",
    "ranking",
    "map",
]
KINDS: Final[tuple[str, ...]] = get_args(QuestionKind)
OPTION_KINDS: Final = frozenset({"single_choice", "multiple_choice", "ranking"})
"""Kinds whose answers are among the question's options (a map's options are pin categories)."""
CONDITION_KINDS: Final = frozenset({"single_choice", "multiple_choice", "yes_no", "scale"})
"""Kinds a later question's ``show_if`` can depend on: their answers are a few known values."""
YES_NO: Final = ("yes", "no")
FREE_TEXT_LIMIT: Final = 5000
"""Longest limit a free-text question can set (its own default is 2000)."""
MAX_PINS: Final = 20
MAX_RANKED: Final = 10


class ShowIf(BaseModel):
    """Skip logic: show the question only for certain answers to an earlier one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(pattern=r"^[a-z0-9_]{1,40}$", description="Key of an earlier question.")
    answers: tuple[Annotated[OneLine, Field(min_length=1, max_length=200)], ...] = Field(
        min_length=1,
        max_length=20,
        description="Its answers that show this question (option text, yes/no, scale value).",
    )


class MapPin(BaseModel):
    """One pin a resident placed: a point on the map, a district, or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS 84).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS 84).")
    district: Annotated[OneLine, Field(max_length=100)] | None = Field(
        default=None, description="The district it is in (or, without a map, chosen)."
    )
    category: Annotated[OneLine, Field(max_length=200)] | None = Field(
        default=None, description="One of the question's categories."
    )
    comment: Annotated[TrimmedText, Field(max_length=500)] | None = Field(
        default=None, description="What the resident wrote about the place."
    )


Answer = str | int | float | tuple[str, ...] | tuple[MapPin, ...]
"""One answer as sent (see the table above)."""


class Question(BaseModel):
    """One question of a round."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9_]{1,40}$", description="Stable key within the round.")
    kind: QuestionKind = Field(description="How it is answered.")
    text: OneLine = Field(min_length=1, max_length=500, description="The question as shown.")
    options: tuple[Annotated[OneLine, Field(min_length=1, max_length=200)], ...] = Field(
        default=(),
        max_length=20,
        description="Options (single/multiple choice, ranking) or pin categories (map).",
    )
    hint: Annotated[TrimmedText, Field(max_length=500)] | None = Field(
        default=None, description="Help shown under the question."
    )
    min_picks: int | None = Field(
        default=None, ge=1, le=20, description="Multiple choice: pick at least this many."
    )
    max_picks: int | None = Field(
        default=None, ge=1, le=20, description="Multiple choice: pick at most this many."
    )
    scale_min: int = Field(default=1, ge=0, le=1, description="Scale: lowest value.")
    scale_max: int = Field(default=5, ge=2, le=10, description="Scale: highest value.")
    low_label: Annotated[OneLine, Field(max_length=100)] | None = Field(
        default=None, description="Scale: what the lowest value means."
    )
    high_label: Annotated[OneLine, Field(max_length=100)] | None = Field(
        default=None, description="Scale: what the highest value means."
    )
    minimum: float | None = Field(default=None, description="Number: smallest accepted.")
    maximum: float | None = Field(default=None, description="Number: largest accepted.")
    whole_numbers: bool = Field(default=True, description="Number: whole numbers only.")
    unit: Annotated[OneLine, Field(max_length=40)] | None = Field(
        default=None, description="Number: its unit, shown after the field."
    )
    max_length: int = Field(
        default=2000, ge=1, le=FREE_TEXT_LIMIT, description="Free text: most characters."
    )
    max_pins: int = Field(default=3, ge=1, le=MAX_PINS, description="Map: most pins.")
    show_if: ShowIf | None = Field(
        default=None, description="Skip logic: shown only for these answers to an earlier one."
    )

    def values(self) -> tuple[str, ...]:
        """The answers a condition on this question can name (``CONDITION_KINDS`` only)."""
        if self.kind == "yes_no":
            return YES_NO
        if self.kind == "scale":
            return tuple(str(v) for v in range(self.scale_min, self.scale_max + 1))
        return self.options


def question_problems(questions: Sequence[Question]) -> dict[str, str]:
    """What is wrong with a questionnaire, by question key (``questions`` for the whole):
    codes ``duplicate_keys``, ``options``, ``picks``, ``range``, ``condition``."""
    problems: dict[str, str] = {}
    keys = [q.key for q in questions]
    if len(set(keys)) != len(keys):
        problems["questions"] = "duplicate_keys"
    earlier: dict[str, Question] = {}
    for q in questions:
        problem = _definition_problem(q, earlier)
        if problem:
            problems.setdefault(q.key, problem)
        earlier[q.key] = q
    return problems


def _definition_problem(q: Question, earlier: Mapping[str, Question]) -> str | None:
    distinct = len(set(q.options))
    if distinct != len(q.options):
        return "options"
    if q.kind in ("single_choice", "multiple_choice") and distinct < 2:
        return "options"
    if q.kind == "ranking" and not 2 <= distinct <= MAX_RANKED:
        return "options"
    if q.kind not in OPTION_KINDS and q.kind != "map" and q.options:
        return "options"
    if q.kind == "multiple_choice":
        low, high = q.min_picks or 1, q.max_picks or distinct
        if not low <= high <= distinct:
            return "picks"
    elif q.min_picks is not None or q.max_picks is not None:
        return "picks"
    if q.kind == "scale" and q.scale_min >= q.scale_max:
        return "range"
    for bound in (q.minimum, q.maximum):
        if bound is not None and (q.kind != "number" or not math.isfinite(bound)):
            return "range"
    if q.minimum is not None and q.maximum is not None and q.minimum > q.maximum:
        return "range"
    if q.show_if is not None:
        source = earlier.get(q.show_if.question)
        if source is None or source.kind not in CONDITION_KINDS:
            return "condition"
        if not set(q.show_if.answers) <= set(source.values()):
            return "condition"
    return None


SECONDS: Final = {
    "single_choice": 10,
    "multiple_choice": 15,
    "scale": 8,
    "number": 10,
    "yes_no": 6,
    "free_text": 60,
    "ranking": 25,
    "map": 45,
}
"""About how long a resident takes over one question of each kind, reading included."""
ADVICE: Final = {"fewest": 3, "most": 8, "minutes": 10}
"""The seeds' advice: 3-8 questions, under 10 minutes."""


def estimated_minutes(questions: Sequence[Question]) -> float:
    """About how many minutes a round takes to answer (every question shown), to warn staff
    when it grows past the seeds' advice."""
    seconds = 30 + sum(SECONDS[q.kind] + 2 * len(q.options) for q in questions)
    return round(seconds / 60, 1)


def advice(questions: Sequence[Question]) -> list[str]:
    """Where a questionnaire goes past the seeds' advice: ``few``, ``many``, ``long``."""
    found = []
    if len(questions) < ADVICE["fewest"]:
        found.append("few")
    if len(questions) > ADVICE["most"]:
        found.append("many")
    if estimated_minutes(questions) >= ADVICE["minutes"]:
        found.append("long")
    return found


class InvalidQuestions(ValueError):
    """A questionnaire breaks ``question_problems``' rules."""


def checked_questions(questions: tuple[Question, ...]) -> tuple[Question, ...]:
    """``questions`` if they follow the rules, else ``InvalidQuestions`` (for validators)."""
    problems = question_problems(questions)
    if problems:
        raise InvalidQuestions(f"invalid questions: {problems}")
    return questions


class Questionnaire(BaseModel):
    """Validates a tuple of questions as a whole (mixed into the messages that carry one)."""

    @model_validator(mode="after")
    def _questions_follow_the_rules(self) -> Any:
        questions = getattr(self, "questions", ())
        if questions:
            checked_questions(tuple(questions))
        return self


# --- answers -----------------------------------------------------------------------------


def shown(questions: Sequence[Question], answers: Mapping[str, Any]) -> set[str]:
    """Keys of the questions shown to a resident who gave ``answers`` (clean values)."""
    visible: set[str] = set()
    for q in questions:
        condition = q.show_if
        if condition is None:
            visible.add(q.key)
            continue
        if condition.question not in visible:
            continue
        given = answers.get(condition.question)
        picked = {str(v) for v in given} if isinstance(given, list | tuple) else {str(given)}
        if given is not None and picked & set(condition.answers):
            visible.add(q.key)
    return visible


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
        return number
    return None


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and not value


def check_answer(q: Question, value: Any) -> Any:
    """The clean value of one non-empty answer, or ``ValueError`` whose text is the problem's
    code: ``wrong_type``, ``not_an_option``, ``too_few``, ``too_many``, ``out_of_range``,
    ``not_whole``, ``too_long``, ``not_a_ranking``, ``bad_pin``."""
    kind = q.kind
    if kind in ("single_choice", "yes_no", "free_text"):
        if not isinstance(value, str):
            raise ValueError("wrong_type")
        text = value.strip()
        if kind == "free_text":
            if len(text) > q.max_length:
                raise ValueError("too_long")
            return text
        if text not in (YES_NO if kind == "yes_no" else q.options):
            raise ValueError("not_an_option")
        return text
    if kind in ("multiple_choice", "ranking"):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("wrong_type")
        picked = [v.strip() for v in value]
        if any(v not in q.options for v in picked) or len(set(picked)) != len(picked):
            raise ValueError("not_an_option")
        if kind == "ranking":
            if len(picked) != len(q.options):
                raise ValueError("not_a_ranking")
            return picked
        if len(picked) < (q.min_picks or 1):
            raise ValueError("too_few")
        if len(picked) > (q.max_picks or len(q.options)):
            raise ValueError("too_many")
        return [o for o in q.options if o in picked]
    if kind in ("scale", "number"):
        number = _number(value)
        if number is None or not math.isfinite(number):
            raise ValueError("wrong_type")
        whole = kind == "scale" or q.whole_numbers
        if whole and number != int(number):
            raise ValueError("not_whole")
        low, high = (q.scale_min, q.scale_max) if kind == "scale" else (q.minimum, q.maximum)
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValueError("out_of_range")
        return int(number) if whole else number
    # map
    if not isinstance(value, list | tuple):
        raise ValueError("wrong_type")
    if len(value) > q.max_pins:
        raise ValueError("too_many")
    pins = []
    for raw in value:
        try:
            pin = raw if isinstance(raw, MapPin) else MapPin.model_validate(raw)
        except ValueError:
            raise ValueError("bad_pin") from None
        if pin.district is None and (pin.lat is None or pin.lon is None):
            raise ValueError("bad_pin")
        if (pin.lat is None) != (pin.lon is None):
            raise ValueError("bad_pin")
        if pin.category is not None and pin.category not in q.options:
            raise ValueError("not_an_option")
        pins.append(pin.model_dump(exclude_none=True))
    return pins


def check_answers(
    questions: Sequence[Question], answers: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The clean answers (empty ones dropped) and the problems by question key: the codes of
    ``check_answer``, ``unknown`` (no such question) and ``hidden`` (the skip logic hides the
    question given the other answers). Any question may be left unanswered."""
    by_key = {q.key: q for q in questions}
    problems = {key: "unknown" for key in answers if key not in by_key}
    clean: dict[str, Any] = {}
    for q in questions:
        value = answers.get(q.key)
        if _is_empty(value):
            continue
        try:
            clean[q.key] = check_answer(q, value)
        except ValueError as exc:
            problems[q.key] = str(exc)
    visible = shown(questions, clean)
    for key in list(clean):
        if key not in visible:
            problems[key] = "hidden"
            del clean[key]
    return clean, problems


# --- languages -----------------------------------------------------------------------------

Language = Literal["sv", "nb", "en"]
"""A language a round can be answered in: Swedish, Norwegian bokmål, English."""
LANGUAGES: Final[tuple[str, ...]] = get_args(Language)


class QuestionTranslation(BaseModel):
    """One question's texts in another of the round's languages. A text left empty is shown in
    the round's main language; the answers are still the main language's option texts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: Annotated[OneLine, Field(max_length=500)] = Field(
        default="", description="The question ('' shows the main language's)."
    )
    hint: Annotated[TrimmedText, Field(max_length=500)] = Field(
        default="", description="The help under it ('' shows the main language's)."
    )
    options: tuple[Annotated[OneLine, Field(max_length=200)], ...] = Field(
        default=(),
        max_length=20,
        description="The options' (or pin categories') texts, as many and in the order of the "
        "question's; () or an empty one shows the main language's.",
    )
    low_label: Annotated[OneLine, Field(max_length=100)] = Field(
        default="", description="Scale: what the lowest value means."
    )
    high_label: Annotated[OneLine, Field(max_length=100)] = Field(
        default="", description="Scale: what the highest value means."
    )
    unit: Annotated[OneLine, Field(max_length=40)] = Field(
        default="", description="Number: its unit."
    )


def translation_problem(q: Question, t: QuestionTranslation) -> str | None:
    """What is wrong with a question's translation: ``options`` when it lists another number
    of options than the question has."""
    if t.options and len(t.options) != len(q.options):
        return "options"
    return None


def translated_question(q: Question, t: QuestionTranslation | None) -> Question:
    """``q`` with its texts in the translation's language where given (the rest in the main
    language). Its options stay the main language's: they are the values answers carry; show
    them with ``option_labels``."""
    if t is None:
        return q
    names = ("text", "hint", "low_label", "high_label", "unit")
    return q.model_copy(update={name: getattr(t, name) for name in names if getattr(t, name)})


def option_labels(q: Question, t: QuestionTranslation | None) -> dict[str, str]:
    """Each of the question's options (the value an answer carries) and the text to show for
    it in the translation's language (the option itself where not translated)."""
    given = t.options if t is not None and len(t.options) == len(q.options) else ()
    return {o: (given[i] if given and given[i] else o) for i, o in enumerate(q.options)}


def missing_in_translation(q: Question, t: QuestionTranslation | None) -> list[str]:
    """The names of ``q``'s texts that the translation leaves in the main language (e.g.
    ``text``, ``options``)."""
    found = []
    for name in ("text", "hint", "low_label", "high_label", "unit"):
        if getattr(q, name) and not (t is not None and getattr(t, name)):
            found.append(name)
    if q.options and not (t is not None and t.options and all(t.options)):
        found.append("options")
    return found
