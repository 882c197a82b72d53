"""The group-commit batcher: concurrent callers share one call, each keeps its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from infra.batching import Batcher


async def test_concurrent_items_share_batches_and_keep_their_own_results() -> None:
    seen: list[list[int]] = []

    async def work(items: Sequence[int]) -> list[int | BaseException]:
        seen.append(list(items))
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(work, max_size=8)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert sorted(i for batch in seen for i in batch) == list(range(20))
    assert all(len(batch) <= 8 for batch in seen)
    assert len(seen) < 20  # they were batched
    assert batcher.items == 20


async def test_one_item_fails_alone_and_a_failed_batch_fails_every_caller() -> None:
    async def work(items: Sequence[int]) -> list[int | BaseException]:
        if 99 in items:
            raise RuntimeError("store down")
        return [ValueError(f"bad {i}") if i == 3 else i for i in items]

    batcher: Batcher[int, int] = Batcher(work)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert results[:3] == [0, 1, 2]
    assert results[4] == 4
    assert isinstance(results[3], ValueError)
    with pytest.raises(RuntimeError):
        await batcher.submit(99)
    assert await batcher.submit(7) == 7  # the batcher goes on after a failure


async def test_a_lone_item_is_not_held_back() -> None:
    calls: list[Sequence[str]] = []

    async def work(items: Sequence[str]) -> list[str | BaseException]:
        calls.append(items)
        return list(items)

    batcher: Batcher[str, str] = Batcher(work)
    assert await batcher.submit("a") == "a"
    assert await batcher.submit("b") == "b"
    assert [list(c) for c in calls] == [["a"], ["b"]]
