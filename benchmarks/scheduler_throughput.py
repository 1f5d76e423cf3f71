"""Scheduler throughput: pod bindings per second onto 500 simulated nodes (issue 3).

Run: .venv/bin/python benchmarks/scheduler_throughput.py [--nodes 500] [--pods 2000]
In-process, like kube-scheduler's scheduler_perf: the real registry (SQLite) holds the nodes
and the pending pods, then the scheduler component starts and we time until every pod is bound
(each binding is a real ``pods/binding`` write plus a Scheduled event).
Target: >= 500 bindings/s. Anchor: scheduler_perf, a few hundred pods/s on 5,000 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _cluster import report

from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.runtime.nodes import register, simulated_nodes
from hyperpod.scheduler.scheduler import Scheduler


async def run(nodes: int, pods: int, tmp: Path) -> tuple[float, int]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    config = {
        "nodes": {"simulated": [{"group": "g5", "instanceType": "ml.g5.48xlarge", "count": nodes}]}
    }
    for node in simulated_nodes(config):
        register(reg, node)
    for i in range(pods):
        reg.create(
            "pods",
            {
                "metadata": {"name": f"p{i}", "namespace": "default"},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "x",
                            "resources": {
                                "requests": {"cpu": "1", "nvidia.com/gpu": "1"},
                                "limits": {"nvidia.com/gpu": "1"},
                            },
                        }
                    ]
                },
            },
            "default",
        )
    ctx = ControlPlaneContext(reg=reg, config=config, data_dir=tmp)
    sched = Scheduler(ctx)
    t0 = time.perf_counter()
    task = asyncio.get_running_loop().create_task(sched.run())
    while sched.bindings < pods:
        await asyncio.sleep(0.01)
        if time.perf_counter() - t0 > 300:
            break
    elapsed = time.perf_counter() - t0
    ctx.stopping.set()
    await task
    bound = sum(1 for p in reg.list("pods", "default") if p["spec"].get("nodeName"))
    reg.close()
    return elapsed, bound


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--pods", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, bound = asyncio.run(run(args.nodes, args.pods, Path(tmp)))
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (
                f"bindings/s onto {args.nodes} simulated nodes",
                f"{bound / elapsed:.0f}/s ({bound} pods in {elapsed:.2f} s)",
                ">= 500/s",
                "scheduler_perf: a few hundred pods/s on 5,000 nodes",
            ),
        ]
    )


if __name__ == "__main__":
    main()
