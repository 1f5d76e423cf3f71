"""Fuzzing the real server: mutated bodies of every served kind never get a 5xx, no controller
fails on what was accepted, and the cluster restarts cleanly on the fuzzed state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fuzzing import SEEDS, log_problems, mutated_bodies, post
from support import RunningControlPlane, start_control_plane

CONFIG = {
    "nodes": {"simulated": [{"group": "sim", "instanceType": "ml.c5.xlarge", "count": 1}]},
    "nodeLifecycle": {"gracePeriodSeconds": 5},
}
statuses: list[int] = []


@pytest.fixture(scope="module")
def fuzz_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    cp = start_control_plane(tmp_path_factory.mktemp("fuzz"), CONFIG)
    ctx = cp.ssl_context()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fuzz"}}
    assert post(cp.url, cp.token, ctx, "/api/v1/namespaces", ns) == 201
    for path, seed in SEEDS:  # the valid objects the mutated ones refer to
        assert post(cp.url, cp.token, ctx, path, seed) == 201, (path, seed)
    yield cp
    cp.stop()


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated_bodies())
def test_mutated_bodies_never_get_a_server_error(
    fuzz_cluster: RunningControlPlane, case: tuple[str, dict]
) -> None:
    path, body = case
    code = post(fuzz_cluster.url, fuzz_cluster.token, fuzz_cluster.ssl_context(), path, body)
    statuses.append(code)
    assert code < 500, json.dumps(body)[:2000]


def test_controllers_survive_what_was_accepted(fuzz_cluster: RunningControlPlane) -> None:
    assert len(statuses) >= 100 and any(c == 201 for c in statuses)
    time.sleep(8)  # controllers, scheduler and kubelet work through the accepted objects
    assert fuzz_cluster.proc.poll() is None
    assert fuzz_cluster.get("/readyz")[0] == 200
    assert log_problems(fuzz_cluster.log()) == [], fuzz_cluster.log()[-6000:]


def test_the_fuzzed_cluster_restarts_cleanly(fuzz_cluster: RunningControlPlane) -> None:
    data_dir: Path = fuzz_cluster.data_dir
    fuzz_cluster.stop()
    again = start_control_plane(data_dir, CONFIG)
    try:
        time.sleep(3)
        assert again.get("/readyz")[0] == 200
        assert "quarantined" not in again.log()
        assert log_problems(again.log()) == [], again.log()[-6000:]
    finally:
        again.stop()
