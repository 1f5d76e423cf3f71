"""Pod informers share one watch and one cache; each still sees every change, late ones too."""

from __future__ import annotations

import asyncio
from typing import Any

from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.runtime import Informer


def pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }


async def settle(cond: Any) -> None:
    for _ in range(200):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_two_pod_informers_share_objects_and_a_late_one_gets_what_exists(
    registry: Registry,
) -> None:
    async def run() -> None:
        registry.create("pods", pod("a"), "default")
        first, second = Informer(registry, "pods"), Informer(registry, "pods")
        seen1: list[tuple[str, str]] = []
        seen2: list[tuple[str, str]] = []
        first.add_handler(lambda t, o, _old: seen1.append((t, o["metadata"]["name"])))
        second.add_handler(lambda t, o, _old: seen2.append((t, o["metadata"]["name"])))
        first.start()
        await asyncio.wait_for(first.synced.wait(), 5)
        registry.create("pods", pod("b"), "default")
        await settle(lambda: len(seen1) == 2)
        second.start()  # joins late: what the first has seen arrives as ADDED
        await asyncio.wait_for(second.synced.wait(), 5)
        assert sorted(seen2) == [("ADDED", "a"), ("ADDED", "b")]
        registry.delete("pods", "a", "default", grace_period_seconds=0)
        await settle(lambda: ("DELETED", "a") in seen1 and ("DELETED", "a") in seen2)
        assert first.cache is second.cache  # one decoded copy of each pod
        assert first.get("default/b") is second.get("default/b")
        await first.stop()
        registry.create("pods", pod("c"), "default")
        await settle(lambda: ("ADDED", "c") in seen2)
        assert ("ADDED", "c") not in seen1  # a stopped informer hears nothing more
        await second.stop()
        other = Informer(registry, "nodes")
        assert other.cache is not first.cache

    asyncio.run(run())


def test_kueue_workload_informers_share_one_decoded_copy(registry: Registry) -> None:
    from hyperpod.api import kueue as api
    from hyperpod.apiserver.registry import CRD_RESOURCE

    for crd in api.crds():
        registry.create(CRD_RESOURCE, crd)
    resource = f"workloads.{api.GROUP}"
    body = {
        "apiVersion": f"{api.GROUP}/v1beta1",
        "kind": "Workload",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"podSets": [{"name": "main", "count": 1, "template": pod("x")}]},
    }

    async def run() -> None:
        registry.create(resource, body, "default")
        kueue, metrics = Informer(registry, resource), Informer(registry, resource)
        kueue.start()
        metrics.start()
        await asyncio.wait_for(kueue.synced.wait(), 5)
        await asyncio.wait_for(metrics.synced.wait(), 5)
        assert kueue.get("default/w") is metrics.get("default/w")
        await kueue.stop()
        await metrics.stop()

    asyncio.run(run())
