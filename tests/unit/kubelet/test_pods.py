"""Pure rules of the pod worker: CrashLoopBackOff delays and QoS classes."""

from __future__ import annotations

from hyperpod.kubelet.pod_status import qos_class
from hyperpod.kubelet.pods import backoff_delay


def test_crash_loop_backoff_restarts_at_once_then_doubles_from_10s_to_5_minutes() -> None:
    delays = [backoff_delay(i, 10, 300) for i in range(8)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]


def test_qos_classes_follow_requests_and_limits() -> None:
    def pod(res: dict) -> dict:
        return {"spec": {"containers": [{"name": "c", "resources": res}]}}

    assert qos_class(pod({})) == "BestEffort"
    same = {"cpu": "1", "memory": "1Gi"}
    assert qos_class(pod({"requests": same, "limits": same})) == "Guaranteed"
    assert qos_class(pod({"limits": same})) == "Guaranteed"
    assert qos_class(pod({"requests": {"cpu": "1"}})) == "Burstable"
