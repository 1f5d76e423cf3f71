"""CPU per registry write, in process: the write path without HTTP (issue 20).

Run: .venv/bin/python benchmarks/write_path_cpu.py [--n 2000] [--profile out.prof]
The real ``Registry`` (SQLite, durable commits) with Kueue's CRDs and admission hooks
installed, like the control plane: N Workloads created, each given QuotaReserved/Admitted
through the status subresource (what the Kueue manager writes) and marked Finished with a
JSON patch (what Kueue's perf runner does); N Pods created and their status written the way
the simulated kubelet does. Prints process CPU per operation (user+sys), the figure to trust
on a shared machine. Anchor: Kueue's baseline needs ~3 writes per workload at ~250
workloads/s at its floor, so the write path must stay well under 1 ms of CPU per write to
leave the single control-plane core room for admission, events and HTTP.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _cluster import report

from hyperpod.apiserver import patching
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.kueue import component as kueue_component

GROUP = "kueue.x-k8s.io"


def workload(i: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "Workload",
        "metadata": {"name": f"w{i}", "namespace": "default", "labels": {"class": "small"}},
        "spec": {
            "queueName": "lq",
            "priority": 50,
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "pause",
                                    "resources": {"requests": {"cpu": "1"}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }


def pod(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"p{i}", "namespace": "default", "labels": {"app": "x"}},
        "spec": {
            "nodeName": "n1",
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "resources": {
                        "requests": {"cpu": "1", "nvidia.com/gpu": "1"},
                        "limits": {"nvidia.com/gpu": "1"},
                    },
                }
            ],
        },
    }


def cond(t: str, reason: str) -> dict[str, str]:
    return {
        "type": t,
        "status": "True",
        "reason": reason,
        "message": "m",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def timed(label: str, n: int, fn: Callable[[int], object], rows: list[tuple[str, ...]]) -> None:
    c0 = time.process_time()
    w0 = time.perf_counter()
    for i in range(n):
        fn(i)
    cpu = time.process_time() - c0
    wall = time.perf_counter() - w0
    rows.append((label, f"{cpu / n * 1e3:.3f} ms", f"{wall / n * 1e3:.3f} ms", str(n)))


def run(n: int, tmp: Path, prof: cProfile.Profile | None) -> list[tuple[str, ...]]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    comp = kueue_component.kueue()
    assert comp.crds is not None
    for crd in comp.crds():
        reg.create("customresourcedefinitions.apiextensions.k8s.io", crd)
    for resource, (default, validate) in comp.admission.items():
        reg.add_admission(resource, default, validate)  # type: ignore[arg-type]
    wl = f"workloads.{GROUP}"
    # warm the schemas and caches once
    reg.create(
        wl, {**workload(-1), "metadata": {"name": "warm", "namespace": "default"}}, "default"
    )
    reg.create("pods", {**pod(-1), "metadata": {"name": "warm", "namespace": "default"}}, "default")

    def admit(i: int) -> None:
        cur = reg.get(wl, f"w{i}", "default")
        cur["status"] = {
            "admission": {
                "clusterQueue": "cq",
                "podSetAssignments": [{"name": "main", "flavors": {"cpu": "default"}, "count": 1}],
            },
            "conditions": [cond("QuotaReserved", "QuotaReserved"), cond("Admitted", "Admitted")],
        }
        reg.update(f"{wl}/status", cur, "default")

    def finish(i: int) -> None:
        reg.patch(
            f"{wl}/status",
            f"w{i}",
            [{"op": "add", "path": "/status/conditions/-", "value": cond("Finished", "Succeeded")}],
            patching.PatchType.JSON,
            "default",
        )

    def pod_status(i: int) -> None:
        cur = reg.get("pods", f"p{i}", "default")
        cur["status"] = {
            "phase": "Running",
            "conditions": [cond("Ready", "")],
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": True,
                    "restartCount": 0,
                    "image": "x",
                    "imageID": "",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                }
            ],
        }
        reg.update("pods/status", cur, "default")

    rows: list[tuple[str, ...]] = [("operation", "CPU per op", "wall per op", "n")]
    if prof is not None:
        prof.enable()
    timed("Workload create", n, lambda i: reg.create(wl, workload(i), "default"), rows)
    timed("Workload status update (admit)", n, admit, rows)
    timed("Workload status JSON patch (finish)", n, finish, rows)
    timed("Pod create", n, lambda i: reg.create("pods", pod(i), "default"), rows)
    timed("Pod status update", n, pod_status, rows)
    if prof is not None:
        prof.disable()
    reg.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--profile", default="")
    args = ap.parse_args()
    prof = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.n, Path(tmp), prof)
    if prof is not None:
        prof.dump_stats(args.profile)
    print(f"load average {os.getloadavg()[0]:.1f}")
    report(rows)


if __name__ == "__main__":
    main()
