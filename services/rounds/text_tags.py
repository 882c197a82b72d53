"""Staff's tags on written answers (free texts and pins' comments).

A tag is kept per text in ``text_tags``, under the text's ref: a hash of its response's id
(and the pin's number), never the id itself, so the tags say nothing of who wrote or when. A
page of texts reads the tags of just its texts; a tag filter reads the refs with that tag (as
many as staff tagged by hand) and pages through the responses as a search does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from contracts.rounds import TagAnswerText, TagCount
from infra import outcomes
from infra.service import Runtime
from infra.store import epoch_ms

TEXT_KINDS = ("free_text", "map")
"""Kinds of question whose answers have written texts."""


def clean_tags(tags: Iterable[str]) -> list[str]:
    """``tags`` without repeats (any case: the first spelling is kept), sorted."""
    kept: dict[str, str] = {}
    for tag in tags:
        kept.setdefault(tag.casefold(), tag)
    return sorted(kept.values(), key=str.casefold)


def _id(round_id: str, question: str, ref: str) -> str:
    return f"{round_id}:{question}:{ref}"


async def tag_answer_text(rt: Runtime, cmd: TagAnswerText) -> None:
    """Set one text's tags, or refuse (``unknown_question``) for a round or question of
    another council, or one without written answers."""
    if await outcomes.told_again(rt.db, rt.nc, cmd):
        return
    doc = await rt.db.rounds.find_one({"_id": cmd.round_id, "tenant": cmd.tenant}, {"questions": 1})
    kinds = {q["key"]: q["kind"] for q in doc["questions"]} if doc else {}
    if kinds.get(cmd.question) not in TEXT_KINDS:
        await rt.settle(cmd, "refused", "unknown_question")
        return
    key = _id(cmd.round_id, cmd.question, cmd.ref)
    tags = clean_tags(cmd.tags)
    if tags:
        await rt.db.text_tags.replace_one(
            {"_id": key},
            {
                "_id": key,
                "tenant": cmd.tenant,
                "round_id": cmd.round_id,
                "question": cmd.question,
                "ref": cmd.ref,
                "tags": tags,
                "tagged_by": cmd.tagged_by,
                "tagged_at": epoch_ms(),
            },
            upsert=True,
        )
    else:
        await rt.db.text_tags.delete_one({"_id": key, "tenant": cmd.tenant})
    await rt.settle(cmd, "done")


def _where(tenant: str, round_id: str, question: str) -> dict[str, Any]:
    return {"tenant": tenant, "round_id": round_id, "question": question}


async def tags_of(
    rt: Runtime, tenant: str, round_id: str, question: str, refs: list[str]
) -> dict[str, tuple[str, ...]]:
    """The tags of the texts ``refs`` (one page of them), by ref."""
    if not refs:
        return {}
    ids = [_id(round_id, question, ref) for ref in refs]
    found: dict[str, tuple[str, ...]] = {}
    async for doc in rt.db.text_tags.find(
        {**_where(tenant, round_id, question), "_id": {"$in": ids}}, {"ref": 1, "tags": 1}
    ):
        found[doc["ref"]] = tuple(doc["tags"])
    return found


async def refs_tagged(rt: Runtime, tenant: str, round_id: str, question: str, tag: str) -> set[str]:
    """Refs of the question's texts that carry ``tag`` (any case)."""
    wanted = tag.casefold()
    return {
        doc["ref"]
        async for doc in rt.db.text_tags.find(
            _where(tenant, round_id, question), {"ref": 1, "tags": 1}
        )
        if any(t.casefold() == wanted for t in doc["tags"])
    }


async def tag_counts(
    rt: Runtime, tenant: str, round_id: str, question: str
) -> tuple[TagCount, ...]:
    """Every tag of the question's texts with how many texts carry it, most used first."""
    counts: Counter[str] = Counter()
    spelled: dict[str, str] = {}
    async for doc in rt.db.text_tags.find(_where(tenant, round_id, question), {"tags": 1}):
        for tag in doc["tags"]:
            folded = tag.casefold()
            spelled.setdefault(folded, tag)
            counts[folded] += 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(TagCount(tag=spelled[folded], count=n) for folded, n in ordered)
