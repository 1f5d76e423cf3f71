"""The change feed: registry watches that keep a cache and wake the page streams."""

from __future__ import annotations

import asyncio

from hyperpod.apiserver.registry import Registry
from hyperpod.dashboard.feed import ChangeFeed


def cm(name: str, value: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default"}, "data": {"v": value}}


def test_a_change_wakes_the_waiters_and_the_cache_follows_the_watch(registry: Registry) -> None:
    registry.create("configmaps", cm("before", "0"))

    async def body() -> None:
        feed = ChangeFeed(registry, ["configmaps", "secrets"], cached=["configmaps"])
        stopping = asyncio.Event()
        task = asyncio.create_task(feed.run(stopping))
        try:
            while feed.objects("configmaps") is None:
                await asyncio.sleep(0.01)
            names = {o["metadata"]["name"] for o in feed.objects("configmaps") or []}
            assert names == {"before"}
            assert feed.objects("secrets") is None  # watched, not cached: read from the registry
            seen = feed.snapshot(["configmaps"])
            assert not await feed.changed(seen, 0.05)
            registry.create("configmaps", cm("after", "1"))
            assert await feed.changed(seen, 5)
            assert {o["metadata"]["name"] for o in feed.objects("configmaps", "default") or []} == {
                "before",
                "after",
            }
            seen = feed.snapshot(["configmaps"])
            registry.delete("configmaps", "before", "default")
            assert await feed.changed(seen, 5)
            assert [o["metadata"]["name"] for o in feed.objects("configmaps") or []] == ["after"]
            assert feed.objects("configmaps", "other") == []
        finally:
            stopping.set()
            await asyncio.wait_for(task, 5)

    asyncio.run(body())
