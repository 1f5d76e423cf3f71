"""A reconcile that fails on a bad object leaves a Warning Event and the queue keeps going."""

import asyncio

from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import Controller, event_on_error


def test_a_failing_reconcile_records_one_event_and_other_keys_still_run(
    registry: Registry,
) -> None:
    registry.create(
        "configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}},
        "default",
    )
    done: list[str] = []

    async def reconcile(key: str) -> float | None:
        if key.endswith("bad"):
            raise TypeError("'str' object has no attribute 'get'")
        done.append(key)
        return None

    async def main() -> None:
        ctrl = Controller(
            "test", reconcile, on_error=event_on_error(registry, "configmaps", "test")
        )
        stopping = asyncio.Event()
        task = asyncio.create_task(ctrl.run(stopping))
        ctrl.enqueue("default/bad")
        ctrl.enqueue("default/good")
        await asyncio.sleep(0.5)  # several retries of the bad key, with backoff
        stopping.set()
        await task

    asyncio.run(main())
    assert done == ["default/good"]
    events = [e for e in registry.list("events", "default") if e["reason"] == "ReconcileError"]
    assert len(events) == 1
    assert events[0]["involvedObject"]["name"] == "bad"
    assert "'str' object has no attribute 'get'" in events[0]["message"]
