"""Taint-based eviction timing."""

from __future__ import annotations

from hyperpod.controllers.node_lifecycle import UNREACHABLE, eviction_delay

TAINT = {"key": UNREACHABLE, "effect": "NoExecute"}


def pod(*tolerations: dict) -> dict:
    return {"spec": {"tolerations": list(tolerations)}}


def test_pods_without_a_toleration_get_the_default_300_seconds() -> None:
    assert eviction_delay(pod(), [TAINT]) == 300


def test_toleration_seconds_set_the_delay_and_forever_means_never() -> None:
    tol = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    assert eviction_delay(pod({**tol, "tolerationSeconds": 5}), [TAINT]) == 5
    assert eviction_delay(pod(tol), [TAINT]) is None


def test_other_untolerated_no_execute_taints_evict_at_once() -> None:
    assert eviction_delay(pod(), [{"key": "gpu-broken", "effect": "NoExecute"}]) == 0
    assert eviction_delay(pod(), [{"key": "x", "effect": "NoSchedule"}]) is None
