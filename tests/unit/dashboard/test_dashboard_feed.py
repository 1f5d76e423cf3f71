"""The change feed: registry watches that keep a cache and wake the page streams."""

from __future__ import annotations

import asyncio

from hyperpod.apiserver.registry import Registry
from hyperpod.dashboard.feed import ChangeFeed
from hyperpod.runtime.machinery import Informer


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


def test_pods_come_from_the_shared_informer_not_a_second_copy(registry: Registry) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }

    async def body() -> None:
        controller = Informer(registry, "pods")  # what the scheduler and kubelets use
        controller.start()
        feed = ChangeFeed(registry, ["pods"], cached=["pods"])
        stopping = asyncio.Event()
        task = asyncio.create_task(feed.run(stopping))
        try:
            while feed.objects("pods") is None:
                await asyncio.sleep(0.01)
            seen = feed.snapshot(["pods"])
            registry.create("pods", pod, "default")
            assert await feed.changed(seen, 5)
            [shown] = feed.objects("pods") or []
            assert shown is controller.get("default/p")  # one decoded copy for both
        finally:
            stopping.set()
            await asyncio.wait_for(task, 5)
            await controller.stop()

    asyncio.run(body())
