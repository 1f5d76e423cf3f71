"""Wire-fidelity figures (issue 12): discovery round trips, and a watch-list initial sync.

1. Discovery for a cold ``kubectl get pods`` (empty cache dir): the real newest kubectl, which
   uses aggregated discovery; and a client replaying both discovery protocols over one
   keep-alive connection (legacy: /api, /apis, then one request per group-version;
   aggregated: /api and /apis with the apidiscovery Accept header).
2. The WatchList initial sync of 10,000 pods (``sendInitialEvents=true``): time from the
   request to the ``k8s.io/initial-events-end`` bookmark, and the server's RSS before and at
   its peak during the sync, next to a plain LIST of the same pods.

Run: ``.venv/bin/python benchmarks/wire_fidelity.py [--pods N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil
from _cluster import RunningControlPlane, report, start_control_plane

from tools import newest_kubectl  # tests/ is on the path through _cluster

AGG = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"b": "1"}},
        "spec": {
            "schedulerName": "benchmark-unscheduled",
            "containers": [{"name": "main", "image": "python:3.11", "command": ["sleep", "1"]}],
        },
    }


def kubectl_cold(cp: RunningControlPlane, runs: int) -> tuple[float, int] | None:
    kubectl = newest_kubectl()
    if kubectl is None:
        return None
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
    times: list[float] = []
    requests = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            res = subprocess.run(
                [kubectl, "get", "pods", "-n", "default", f"--cache-dir={cache}", "-v=6"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            times.append(time.perf_counter() - t0)
            requests = sum(
                1 for ln in res.stderr.splitlines() if "GET https" in ln or '"GET"' in ln
            )
    return statistics.median(times), requests


def replay_discovery(client: httpx.Client, aggregated: bool) -> int:
    if aggregated:
        for path in ("/api", "/apis"):
            r = client.get(path, headers={"Accept": f"{AGG},application/json;q=0.9"})
            assert r.headers["content-type"] == AGG
        return 2
    count = 0
    r = client.get("/api")
    count += 1
    gvs = ["/api/" + v for v in r.json()["versions"]]
    r = client.get("/apis")
    count += 1
    gvs += [f"/apis/{v['groupVersion']}" for g in r.json()["groups"] for v in g["versions"]]
    for path in gvs:
        client.get(path).raise_for_status()
        count += 1
    return count


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)


async def seed(cp: RunningControlPlane, ctx: ssl.SSLContext, n: int) -> None:
    async with httpx.AsyncClient(
        base_url=cp.url,
        verify=ctx,
        timeout=120,
        headers={"Authorization": f"Bearer {cp.token}"},
        limits=httpx.Limits(max_connections=32),
    ) as c:
        await c.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "wl"}},
        )
        sem = asyncio.Semaphore(32)

        async def make(i: int) -> None:
            async with sem:
                r = await c.post(
                    "/api/v1/namespaces/wl/pods",
                    content=orjson.dumps(pod(f"p{i}")),
                    headers={"content-type": "application/json"},
                )
                r.raise_for_status()

        await asyncio.gather(*(make(i) for i in range(n)))


def watch_list(client: httpx.Client, n: int) -> float:
    path = (
        "/api/v1/namespaces/wl/pods?watch=true&sendInitialEvents=true"
        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )
    added = 0
    t0 = time.perf_counter()
    with client.stream("GET", path) as r:
        for line in r.iter_lines():
            ev = orjson.loads(line)
            if ev["type"] == "ADDED":
                added += 1
            elif ev["type"] == "BOOKMARK":
                ann = ev["object"]["metadata"].get("annotations") or {}
                if ann.get("k8s.io/initial-events-end") == "true":
                    break
    took = time.perf_counter() - t0
    assert added == n, added
    return took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        cp = start_control_plane(
            Path(tmp) / "cp",
            {"addons": {"trainingOperator": False, "kueue": False, "healthAgent": False}},
        )
        try:
            ctx = ssl.create_default_context(cafile=str(cp.data_dir / "pki" / "ca.crt"))
            headers = {"Authorization": f"Bearer {cp.token}"}
            with httpx.Client(base_url=cp.url, verify=ctx, headers=headers, timeout=120) as c:
                replay_discovery(c, True)  # warm the documents and the connection
                replay_discovery(c, False)
                rows: dict[bool, tuple[float, int]] = {}
                for agg in (False, True):
                    times = []
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        count = replay_discovery(c, agg)
                        times.append(time.perf_counter() - t0)
                    rows[agg] = (statistics.median(times), count)
                cold = kubectl_cold(cp, args.runs)

                asyncio.run(seed(cp, ctx, args.pods))
                rss_before = psutil.Process(cp.proc.pid).memory_info().rss
                t0 = time.perf_counter()
                items = c.get("/api/v1/namespaces/wl/pods").json()["items"]
                list_s = time.perf_counter() - t0
                assert len(items) == args.pods
                del items
                sampler = RssSampler(cp.proc.pid)
                sampler.start()
                sync_s = watch_list(c, args.pods)
                sampler.stop.set()
                sampler.join()
        finally:
            cp.stop()
    legacy_s, legacy_n = rows[False]
    agg_s, agg_n = rows[True]
    print(f"Wire fidelity benchmark ({args.pods} pods, medians of {args.runs} runs)")
    table = [
        ("figure", "measured", "target", "anchor"),
        (
            "discovery replay, legacy",
            f"{legacy_n} requests, {legacy_s * 1000:.1f} ms",
            "",
            "one request per group-version",
        ),
        (
            "discovery replay, aggregated",
            f"{agg_n} requests, {agg_s * 1000:.1f} ms",
            "2 requests",
            "kube-apiserver 1.30+: /api + /apis",
        ),
    ]
    if cold is not None:
        table.append(
            (
                "cold `kubectl get pods` (newest kubectl, empty cache)",
                f"{cold[1]} requests, {cold[0] * 1000:.0f} ms wall",
                "3 requests",
                "/api, /apis, the list",
            )
        )
    table += [
        (
            f"watch-list initial sync of {args.pods} pods (to the end bookmark)",
            f"{sync_s * 1000:.0f} ms",
            "<= 2 s",
            f"plain LIST of the same pods: {list_s * 1000:.0f} ms",
        ),
        (
            "server RSS before / peak during the sync",
            f"{rss_before / mib:.0f} / {sampler.peak / mib:.0f} MiB",
            "<= 1 GiB",
            "",
        ),
    ]
    report(table)


if __name__ == "__main__":
    main()
