"""A replaced simulated node stays replaced across a control-plane restart, and faults persist."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
HEALTH = "sagemaker.amazonaws.com/node-health-status"
DEEP = "sagemaker.amazonaws.com/deep-health-check-status"
CONFIG: dict[str, Any] = {
    "nodes": {
        "local": {"enabled": False},
        "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 3}],
    },
    "nodeRecovery": "None",
    "health": {"pollSeconds": 0.3, "replaceSeconds": 0.2, "deepHealthCheckSeconds": 0.5},
    "kubelet": {"simulatedHeartbeatSeconds": 0.5},
}


def until(pred: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s")


def nodes(cp: RunningControlPlane) -> dict[str, dict[str, Any]]:
    items = json.loads(cp.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n for n in items}


def test_a_replaced_node_does_not_come_back_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "cp"
    cp = start_control_plane(data, CONFIG)
    try:
        until(lambda: len(nodes(cp)) == 3)
        cp.kubectl("annotate", "node", "p5-1", "hyperpod.local/inject-fault=gpu-xid-79:2")
        until(
            lambda: (
                nodes(cp)["p5-1"]["metadata"]["labels"][HEALTH] == "UnschedulablePendingReplacement"
            )
        )
        cp.kubectl("annotate", "node", "p5-1", "hyperpod.local/recovery=replace")  # hyp replace
        new = until(
            lambda: [
                name
                for name, n in nodes(cp).items()
                if n["metadata"]["labels"].get(HEALTH) == "Schedulable"
                and name not in ("p5-0", "p5-1", "p5-2")
            ]
        )[0]
        cp.kubectl("annotate", "node", "p5-0", "hyperpod.local/inject-fault=gpu-lost:1")
        until(
            lambda: (
                nodes(cp)["p5-0"]["metadata"]["labels"][HEALTH] == "UnschedulablePendingReplacement"
            )
        )
        # A deep health check cut short by the stop below is run again after the restart.
        cp.kubectl("label", "node", "p5-2", "--overwrite", f"{DEEP}=InProgress")
    finally:
        cp.stop(keep_pods=True)
    cp = start_control_plane(data, CONFIG)
    try:
        time.sleep(3)
        now = nodes(cp)
        assert "p5-1" not in now and new in now
        assert now[new]["metadata"]["annotations"]["hyperpod.local/replaced-nodes"] == "p5-1"
        ready = {c["type"]: c["status"] for c in now[new]["status"]["conditions"]}
        assert ready["Ready"] == "True"
        # A pending status survives the restart: node registration does not reset it.
        p5_0 = now["p5-0"]
        assert p5_0["metadata"]["labels"][HEALTH] == "UnschedulablePendingReplacement"
        assert {t["effect"] for t in p5_0["spec"]["taints"] if t["key"] == HEALTH} == {
            "NoSchedule",
            "NoExecute",
        }
        until(lambda: nodes(cp)["p5-2"]["metadata"]["labels"][DEEP] == "Passed")
        assert nodes(cp)["p5-2"]["metadata"]["labels"][HEALTH] == "Schedulable"
    finally:
        cp.stop()
