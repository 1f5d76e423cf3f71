"""Dashboard first paint and update latency with 1,000 jobs, measured in headless Chromium (issue 17).

Run: .venv/bin/python benchmarks/dashboard_live.py [--jobs 1000] [--nodes 125] [--updates 20]
Starts a real control plane with simulated ml.g5.48xlarge nodes (8 GPUs each), creates the
PyTorchJobs through the API (one Master pod with one GPU each, run by the simulated kubelet),
waits until every pod runs, logs Chromium in with a one-time link and then measures:
- first paint of ``/dashboard/jobs`` (Chromium's first-contentful-paint) and the time until the
  live stream is connected and has delivered the page;
- update latency: the benchmark merge-patches one job's ``status.progress`` with a new step
  through the API and Chromium's MutationObserver stamps the moment the new step is in the
  page (both wall clocks of this machine). Target 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _cluster import control_plane, percentile, report
from kubernetes import client

import chromium  # tests/chromium.py (benchmarks/_cluster.py puts tests/ on the path)

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "pytorchjobs"


def job(i: int) -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "x",
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"nvidia.com/gpu": "1"},
        },
    }
    template = {"spec": {"nodeSelector": {"type": "kwok"}, "containers": [container]}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PyTorchJob",
        "metadata": {"name": f"job-{i:04d}", "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template}}},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=125)
    ap.add_argument("--updates", type=int, default=20)
    args = ap.parse_args()
    if chromium.find() is None:
        raise SystemExit(chromium.SKIP_REASON)
    config = {
        "nodes": {
            "simulated": [{"group": "sim", "instanceType": "ml.g5.48xlarge", "count": args.nodes}]
        }
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp) / "cp", config) as cp:
        api = client.CustomObjectsApi(cp.api_client())
        core = client.CoreV1Api(cp.api_client())
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: api.create_namespaced_custom_object(
                        GROUP, VERSION, "default", PLURAL, job(i)
                    ),
                    range(args.jobs),
                )
            )
        while True:
            pods = core.list_namespaced_pod("default").items
            running = sum(1 for p in pods if p.status.phase == "Running")
            if running >= args.jobs:
                break
            if time.monotonic() - t0 > 900:
                raise SystemExit(f"only {running}/{args.jobs} pods running after 900 s")
            time.sleep(2)
        setup = time.monotonic() - t0

        def mint() -> str:
            req = urllib.request.Request(
                cp.url + "/dashboard/login-links",
                method="POST",
                data=b"",
                headers={"Authorization": f"Bearer {cp.token}"},
            )
            with urllib.request.urlopen(req, context=cp.ssl_context()) as r:
                return cp.url + str(json.loads(r.read())["path"])

        # The server's share: the page rendered and sent over HTTPS to a plain client.
        with urllib.request.urlopen(mint(), context=cp.ssl_context()) as r:
            cookie = r.headers["set-cookie"].split(";")[0]
        gets = []
        for _ in range(5):
            w = time.monotonic()
            page = urllib.request.Request(cp.url + "/dashboard/jobs", headers={"Cookie": cookie})
            with urllib.request.urlopen(page, context=cp.ssl_context()) as r:
                r.read()
            gets.append(time.monotonic() - w)
        link = mint()
        with chromium.Browser(Path(tmp) / "chromium") as b:
            b.navigate(link)
            b.wait_for(
                "location.pathname === '/dashboard/' && "
                "document.getElementById('live').dataset.updated",
                "the login page to move on to the live overview",
            )
            paints, lives, sizes = [], [], []
            for _ in range(3):
                w = time.time()
                b.navigate(cp.url + "/dashboard/jobs", timeout=120)
                b.wait_for(
                    "document.getElementById('live').dataset.updated", "the live stream", 120
                )
                fcp = b.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0].startTime"
                )
                live_at = int(b.evaluate("document.getElementById('live').dataset.updated"))
                paints.append(float(fcp) / 1000)
                lives.append(live_at / 1000 - w)
                sizes.append(
                    int(b.evaluate("performance.getEntriesByType('navigation')[0].transferSize"))
                )
            rows = int(b.evaluate("document.querySelectorAll('tbody tr').length"))
            latencies = []
            for n in range(args.updates):
                name = f"job-{(n * 37) % args.jobs:04d}"
                step = 100000 + n
                marker = f"({step}/200000)"
                b.evaluate(
                    "window.__seen = new Promise(r => { const o = new MutationObserver(() => {"
                    f" if (document.getElementById('live').innerText.includes('{marker}'))"
                    " { o.disconnect(); r(Date.now()); } });"
                    " o.observe(document.getElementById('live'),"
                    " {subtree: true, childList: true, characterData: true}); })"
                )
                progress = {
                    "percent": 50.0,
                    "step": step,
                    "totalSteps": 200000,
                    "etaSeconds": 60,
                    "updateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
                sent = time.time()
                api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, "default", PLURAL, name, {"status": {"progress": progress}}
                )
                seen = b.evaluate("window.__seen", await_promise=True, timeout=60)
                latencies.append(int(seen) / 1000 - sent)
                time.sleep(0.5)
    print("update latencies in order (ms):", " ".join(f"{v * 1000:.0f}" for v in latencies))
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (
                f"setup: {args.jobs} PyTorchJobs running on {args.nodes} simulated nodes",
                f"{setup:.0f} s",
                "",
                "",
            ),
            (
                f"/dashboard/jobs first contentful paint ({rows} rows), median of 3",
                f"{statistics.median(paints) * 1000:.0f} ms",
                "",
                "",
            ),
            (
                "navigation -> live stream delivered the page, median of 3",
                f"{statistics.median(lives) * 1000:.0f} ms",
                "",
                "",
            ),
            ("page transfer size", f"{sizes[-1] / 1024:.0f} KiB", "", ""),
            (
                "server: GET /dashboard/jobs (render + HTTPS), median of 5",
                f"{statistics.median(gets) * 1000:.0f} ms",
                "",
                "",
            ),
            (
                f"update latency p50 / p99 / max ({len(latencies)} status patches)",
                " / ".join(
                    f"{v * 1000:.0f}"
                    for v in (
                        percentile(latencies, 50),
                        percentile(latencies, 99),
                        max(latencies),
                    )
                )
                + " ms",
                "<= 2 s",
                "object change -> visible in Chromium",
            ),
        ]
    )


if __name__ == "__main__":
    main()
