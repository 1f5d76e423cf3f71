"""Cost of the pure API machinery the registry runs on every request (no server, no I/O).

Per pod write: defaulting + validation, the unknown-field check behind fieldValidation=Strict,
the selectable-field index and managedFields bookkeeping; per request: patches and
server-side apply; per list: label-selector filtering and Table printing of 10,000 pods.
Figures are medians and p99 over repeated calls on this machine.

    .venv/bin/python benchmarks/apimachinery.py [--runs 300]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import report

from hyperpod.apiserver import openapi, patching, schema, selectors, tables, validation


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"job-worker-{i}",
            "namespace": "default",
            "labels": {"app": "train", "replica-index": str(i % 8), "job": f"j{i % 50}"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "containers": [
                {
                    "name": "pytorch",
                    "image": "pytorch/pytorch:2.3",
                    "command": ["python", "-m", "train"],
                    "env": [{"name": f"E{k}", "value": str(k)} for k in range(8)],
                    "ports": [{"containerPort": 23456, "name": "pytorchjob-port"}],
                    "resources": {"limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}},
                }
            ],
            "nodeName": f"node-{i % 16}",
        },
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "containerStatuses": [
                {"name": "pytorch", "ready": True, "restartCount": 0, "state": {"running": {}}}
            ],
        },
    }


def measure(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f} ms (p99 {pair[1]:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    runs = args.runs
    base = pod(0)
    validation.default_builtin("Pod", base)
    pod_schema = openapi.builtin_schema("Pod")
    assert pod_schema is not None

    def admit() -> None:
        obj = copy.deepcopy(pod(1))
        validation.default_builtin("Pod", obj)
        validation.validate_builtin("Pod", obj, None)
        schema.apply_schema(copy.deepcopy(obj), pod_schema, prune=False)
        selectors.object_fields("Pod", obj)
        patching.record_update_manager(None, obj, "kubectl-client-side-apply", "Update")

    def update() -> None:
        new = copy.deepcopy(base)
        new["metadata"]["labels"]["extra"] = "1"
        validation.validate_builtin("Pod", new, base)
        patching.record_update_manager(base, new, "controller", "Update")

    def smp() -> None:
        patching.apply_strategic_merge_patch(
            base, {"spec": {"containers": [{"name": "pytorch", "image": "x:2"}]}}, "Pod"
        )

    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "j", "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 4, "template": base["spec"]}}},
    }
    live_job = patching.server_side_apply(None, job, "kubectl", force=False)
    changed_job = copy.deepcopy(job)
    changed_job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 8

    def ssa() -> None:
        patching.server_side_apply(live_job, changed_job, "kubectl", force=False)

    pods = [pod(i) for i in range(10_000)]
    label_sel = selectors.parse_label_selector("app=train,job in (j1,j2,j3),!missing")
    field_sel = selectors.parse_field_selector("spec.nodeName=node-3")
    index = [selectors.object_fields("Pod", p) for p in pods]

    def filter_list() -> None:
        [
            p
            for p, f in zip(pods, index, strict=True)
            if label_sel.matches(p["metadata"]["labels"]) and field_sel.matches(f)
        ]

    now = datetime.now(UTC)

    def table() -> None:
        tables.to_table("Pod", pods, now=now)

    served = [openapi.ServedResource("", "v1", k, k.lower() + "s", True) for k in ("Pod", "Node")]

    def openapi_cold() -> None:
        openapi._DOC_CACHE.clear()
        openapi.openapi_document(served, "", "v1")

    big_runs = max(5, runs // 30)
    rows = [
        ("figure", "measured", "target", "anchor"),
        (
            "pod create: default+validate+strict check+fields+managedFields",
            ms(measure(admit, runs)),
            "<= 2 ms",
            "issue 2: create p99 <= 25 ms over HTTP",
        ),
        ("pod update: validate + managedFields", ms(measure(update, runs)), "<= 1 ms", "same"),
        ("strategic merge patch (one container)", ms(measure(smp, runs)), "<= 1 ms", "same"),
        (
            "server-side apply (PyTorchJob, 1 change)",
            ms(measure(ssa, runs)),
            "<= 5 ms",
            "K8s SLO p99 <= 1 s",
        ),
        (
            "filter 10,000 pods by label+field selector",
            ms(measure(filter_list, big_runs)),
            "<= 100 ms",
            "issue 2: list 10,000 pods <= 1 s",
        ),
        ("Table of 10,000 pods", ms(measure(table, big_runs)), "<= 300 ms", "same"),
        (
            "OpenAPI v3 core/v1 document (uncached)",
            ms(measure(openapi_cold, big_runs)),
            "<= 100 ms",
            "computed once per resource set",
        ),
    ]
    report(rows)


if __name__ == "__main__":
    main()
