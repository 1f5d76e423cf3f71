"""Thousands of simulated nodes and tens of thousands of simulated pods (issue 20).

Run: .venv/bin/python benchmarks/scale_simulated.py [--nodes 5000] [--pods 50000] [--conns 16]
Starts a real control plane with only simulated nodes (ml.g5.48xlarge, untainted) and the
scheduler and simulated kubelet (training operator, Kueue and health agent off), creates the
pods over HTTPS from a lean keep-alive client in this process (``--conns`` connections; its
CPU share is printed, since it shares the machine's cores), each pod Succeeding after
``hyperpod.local/simulate-duration: 5s``. Reported: create rate, time from the last create
until every pod is bound, until every pod has Succeeded, and the control plane's peak RSS.
Targets (issue 20): all bound within 30 s of the last create, all Succeeded, peak RSS <= 2 GiB.
Anchor: kwok's published figures (kubernetes-sigs/kwok README, "Why KWOK?"): it "can reliably
maintain 1k nodes and 100k pods" and "can create 20 nodes or pods per second"; it publishes no
memory figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _cluster import Pool, control_plane, report


def pod_body(i: int) -> bytes:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"sim-{i}",
                "annotations": {"hyperpod.local/simulate-duration": "5s"},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "trainer:1",
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                    }
                ],
            },
        }
    ).encode()


async def count(pool: Pool, selector: str) -> int:
    """Pods matching a field selector, from one small page's remainingItemCount."""
    status, data = await pool.request(
        "GET", f"/api/v1/namespaces/default/pods?limit=1&fieldSelector={selector}"
    )
    if status != 200:
        raise RuntimeError(f"list failed: {status} {data[:200]!r}")
    doc = json.loads(data)
    return len(doc["items"]) + int(doc["metadata"].get("remainingItemCount") or 0)


async def drive(cp, pods: int, conns: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    host, port = "127.0.0.1", cp.port
    pool = Pool(host, port, cp.ssl_context(), cp.token, conns)
    me = psutil.Process()
    cpu0 = sum(me.cpu_times()[:2])
    t0 = time.perf_counter()
    nxt = iter(range(pods))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i in nxt:
            status, _ = await pool.request("POST", "/api/v1/namespaces/default/pods", pod_body(i))
            if status != 201:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(conns)))
    created = time.perf_counter()
    gen_cpu = sum(me.cpu_times()[:2]) - cpu0
    bound_at = succeeded_at = float("nan")
    deadline = created + 900
    while time.perf_counter() < deadline:
        if bound_at != bound_at:  # nan: not yet
            unbound = await count(pool, "spec.nodeName%3D")
            if unbound == 0:
                bound_at = time.perf_counter()
        done = await count(pool, "status.phase%3DSucceeded")
        if done >= pods - errors:
            succeeded_at = time.perf_counter()
            break
        await asyncio.sleep(1.0)
    return {
        "create_s": created - t0,
        "bound_after_s": bound_at - created,
        "succeeded_after_s": succeeded_at - created,
        "errors": errors,
        "gen_cpu_s": gen_cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=50000)
    ap.add_argument("--conns", type=int, default=16)
    args = ap.parse_args()
    config = {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "sim", "instanceType": "ml.g5.48xlarge", "count": args.nodes}],
        },
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config, timeout=300) as cp:
        proc = psutil.Process(cp.proc.pid)
        peak = [proc.memory_info().rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], proc.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        t_nodes = time.perf_counter()
        while True:
            _, data = cp.get("/api/v1/nodes?limit=1")
            doc = json.loads(data)
            n = len(doc["items"]) + int(doc["metadata"].get("remainingItemCount") or 0)
            if n >= args.nodes:
                break
            time.sleep(0.5)
        nodes_s = time.perf_counter() - t_nodes
        cpu0 = sum(proc.cpu_times()[:2])
        r = asyncio.run(drive(cp, args.pods, args.conns))
        server_cpu = sum(proc.cpu_times()[:2]) - cpu0
        stop.set()
    total = r["create_s"] + r["succeeded_after_s"]
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (f"{args.nodes} simulated nodes registered", f"{nodes_s:.1f} s after ready", "", ""),
            (
                f"{args.pods} pod creates ({args.conns} conns)",
                f"{r['create_s']:.1f} s ({args.pods / r['create_s']:.0f}/s, {r['errors']:.0f} errors)",
                "",
                "kwok: 20 pods/s created",
            ),
            ("last create -> all bound", f"{r['bound_after_s']:.1f} s", "<= 30 s", ""),
            ("last create -> all Succeeded", f"{r['succeeded_after_s']:.1f} s", "all", ""),
            (
                "control-plane peak RSS",
                f"{peak[0] / 2**20:.0f} MiB",
                "<= 2048 MiB",
                "kwok: 1k nodes + 100k pods maintained",
            ),
            (
                "CPU: control plane / load generator",
                f"{server_cpu:.0f} s / {r['gen_cpu_s']:.0f} s over {total:.0f} s wall",
                "",
                f"{os.cpu_count()} cores shared",
            ),
        ]
    )


if __name__ == "__main__":
    main()
