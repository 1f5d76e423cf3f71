"""A reconcile that fails on a bad object leaves a Warning Event and the queue keeps going."""

import asyncio

import pytest

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


def test_events_skip_only_the_type_walk_and_what_they_store_passes_it(registry: Registry) -> None:
    from hyperpod.apiserver import typecheck
    from hyperpod.apiserver.errors import Invalid
    from hyperpod.runtime.machinery import record_event

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": "u-1", "resourceVersion": "7"},
    }
    record_event(registry, pod, "Warning", "BackOff", "restarting failed container", "kubelet")
    (event,) = registry.list("events", "default")
    # The walk record_event skips would have found nothing: what a controller builds is typed.
    assert typecheck.precheck("Event", event, builtin=True) == []
    assert event["count"] == 1 and event["source"] == {"component": "kubelet"}
    # Validation still runs on the typed path.
    bad = {**event, "metadata": {"name": "x", "namespace": "default"}, "type": "Sideways"}
    with pytest.raises(Invalid, match="type"):
        registry.create("events", bad, "default", typed=True)
