"""/metrics scrape time and size with 1,000 pods on 500 simulated nodes, and its CPU cost (issue 17).

Run: .venv/bin/python benchmarks/metrics_scrape.py [--pods 1000] [--nodes 500] [--scrapes 10]
Starts a real control plane (500 simulated ml.g5.48xlarge nodes plus the local node with 8 fake
GPUs), creates the pods through the API (running until deleted), waits until all run, then
scrapes ``/metrics`` over HTTPS with the bearer token, times ``kubectl top``'s two requests
(metrics.k8s.io node and pod lists), and measures the control plane's CPU: idle for 30 s
without scrapes, then per scrape, giving the CPU added at a 15 s scrape interval.
Targets: scrape p99 <= 1 s (Prometheus' default scrape_timeout is 10 s), CPU added <= 2 % of
one core at 15 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from _cluster import control_plane, percentile, report
from kubernetes import client


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--scrapes", type=int, default=10)
    ap.add_argument("--idle", type=float, default=30.0)
    args = ap.parse_args()
    config = {
        "nodes": {
            "simulated": [{"group": "sim", "instanceType": "ml.g5.48xlarge", "count": args.nodes}],
        },
    }
    env = {"HYPERPOD_FAKE_GPUS": "8"}
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config, env=env) as cp:
        api = client.CoreV1Api(cp.api_client())

        def create(i: int) -> None:
            api.create_namespaced_pod(
                "default",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"p{i}", "labels": {"app": "bench"}},
                    "spec": {
                        "nodeSelector": {"type": "kwok"},
                        "containers": [
                            {
                                "name": "c",
                                "image": "x",
                                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                            }
                        ],
                    },
                },
            )

        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.pods)))
        while True:
            pods = api.list_namespaced_pod("default", label_selector="app=bench").items
            running = sum(1 for p in pods if p.status.phase == "Running")
            if running == args.pods:
                break
            if time.monotonic() - t0 > 600:
                raise SystemExit(f"only {running}/{args.pods} pods running after 600 s")
            time.sleep(1)
        proc = psutil.Process(cp.proc.pid)

        def cpu() -> float:
            t = proc.cpu_times()
            return t.user + t.system

        c0, w0 = cpu(), time.monotonic()
        time.sleep(args.idle)
        idle_rate = (cpu() - c0) / (time.monotonic() - w0)
        times, sizes, costs = [], [], []
        for _ in range(args.scrapes):
            c1, w1 = cpu(), time.monotonic()
            status, body = cp.get("/metrics", timeout=60)
            elapsed = time.monotonic() - w1
            assert status == 200, body[:200]
            costs.append(max(0.0, cpu() - c1 - idle_rate * elapsed))
            times.append(elapsed)
            sizes.append(len(body))
            time.sleep(1.0)
        top = []
        for path in ("/apis/metrics.k8s.io/v1beta1/nodes", "/apis/metrics.k8s.io/v1beta1/pods"):
            w = time.monotonic()
            status, _ = cp.get(path, timeout=60)
            assert status == 200
            top.append(time.monotonic() - w)
        per_scrape = sum(costs) / len(costs)
        series = sum(1 for line in body.decode().splitlines() if line and line[0] != "#")
        report(
            [
                ("figure", "measured", "target", "anchor"),
                (
                    f"/metrics scrape p50 / p99 ({args.pods} pods, {args.nodes + 1} nodes)",
                    f"{percentile(times, 50) * 1000:.0f} / {percentile(times, 99) * 1000:.0f} ms",
                    "p99 <= 1 s",
                    "Prometheus scrape_timeout default 10 s",
                ),
                (
                    "/metrics size",
                    f"{sizes[-1] / 1024:.0f} KiB, {series} series",
                    "",
                    "",
                ),
                (
                    "control-plane CPU per scrape",
                    f"{per_scrape * 1000:.0f} ms",
                    "",
                    "",
                ),
                (
                    "CPU added at a 15 s scrape interval",
                    f"{per_scrape / 15 * 100:.2f} % of one core",
                    "<= 2 %",
                    f"idle control plane: {idle_rate * 100:.1f} % of one core",
                ),
                (
                    "metrics.k8s.io node list / pod list (kubectl top)",
                    f"{top[0] * 1000:.0f} / {top[1] * 1000:.0f} ms",
                    "<= 1 s",
                    "",
                ),
            ]
        )


if __name__ == "__main__":
    main()
