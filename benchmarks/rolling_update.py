"""Rolling update of real replicas behind a Service, with a client looping on the Service.

Run: .venv/bin/python benchmarks/rolling_update.py [--replicas 20] [--clients 2]
Starts a real control plane with the local node, a Deployment of N replicas (each a small
HTTP server bound to its pod IP, a readiness probe every second, and a SIGTERM handler that
keeps serving for 2 s before exiting, as a server behind a load balancer drains; --no-drain
leaves that out) and a
ClusterIP Service. Once all N are ready, client threads loop on new-connection GETs through
the clusterIP while the pod template changes (maxSurge 25 %, maxUnavailable 0); the rollout is
timed from the patch to updatedReplicas = availableReplicas = N with no old pods left, and
every failed request (refused, reset, timed out, non-200) is counted.
Target (this project's): zero failed requests; rollout of 20 replicas <= 120 s on 2 shared
cores. Anchor: upstream Kubernetes with readiness probes and a drain on SIGTERM loses no
requests during a rolling update (the same recipe); its own e2e suite asserts no failures.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _cluster import RunningControlPlane, control_plane, report

SERVER = """
import http.server, os, signal, sys, threading, time
version = os.environ["VERSION"]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = version.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
def drain(*_):
    threading.Thread(target=lambda: (time.sleep(2), os._exit(0)), daemon=True).start()
if os.environ.get("DRAIN") == "1":
    signal.signal(signal.SIGTERM, drain)
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""


def deployment(replicas: int, version: str, drain: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "roll"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "roll"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": {"app": "roll"}},
                "spec": {
                    "terminationGracePeriodSeconds": 10,
                    "containers": [
                        {
                            "name": "web",
                            "image": "python:3.11",
                            "command": [sys.executable, "-c", SERVER],
                            "env": [
                                {
                                    "name": "POD_IP",
                                    "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                                },
                                {"name": "VERSION", "value": version},
                                {"name": "DRAIN", "value": "1" if drain else "0"},
                            ],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "roll"},
    "spec": {"selector": {"app": "roll"}, "ports": [{"port": 80, "targetPort": "http"}]},
}


def get(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def apply(cp: RunningControlPlane, tmp: Path, obj: dict[str, Any]) -> None:
    path = tmp / f"{obj['kind']}.json"
    path.write_text(json.dumps(obj))
    cp.kubectl("apply", "-f", str(path))


def rolled_out(cp: RunningControlPlane, replicas: int, generation: int) -> bool:
    d = get(cp, "deploy", "roll")
    st = d.get("status") or {}
    if st.get("observedGeneration", 0) < generation:
        return False
    return (
        st.get("updatedReplicas") == replicas
        and st.get("availableReplicas") == replicas
        and st.get("replicas") == replicas
    )


class Client(threading.Thread):
    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.ok = 0
        self.failed: list[str] = []
        self.versions: dict[str, int] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    body = resp.read().decode()
                    if resp.status != 200:
                        raise OSError(f"HTTP {resp.status}")
                self.ok += 1
                self.versions[body] = self.versions.get(body, 0) + 1
            except Exception as exc:
                self.failed.append(f"{time.time():.3f} {exc!r}")


def run(replicas: int, clients: int, drain: bool = True) -> dict[str, Any]:
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {"local": {"name": "bench-node"}},
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config) as cp:
        apply(cp, Path(tmp), SERVICE)
        apply(cp, Path(tmp), deployment(replicas, "v1", drain))
        t0 = time.monotonic()
        while not rolled_out(cp, replicas, 1):
            if time.monotonic() - t0 > 300:
                raise SystemExit(f"the first rollout never finished:\n{cp.log()[-3000:]}")
            time.sleep(0.5)
        first = time.monotonic() - t0
        url = f"http://{get(cp, 'svc', 'roll')['spec']['clusterIP']}/"
        stop = threading.Event()
        loops = [Client(url, stop) for _ in range(clients)]
        for c in loops:
            c.start()
        time.sleep(1.0)  # requests flowing before the update starts
        t1 = time.monotonic()
        apply(cp, Path(tmp), deployment(replicas, "v2", drain))
        while not rolled_out(cp, replicas, 2):
            if time.monotonic() - t1 > 600:
                raise SystemExit(f"the rolling update never finished:\n{cp.log()[-3000:]}")
            time.sleep(0.5)
        rollout = time.monotonic() - t1
        # Old pods are gone from the Deployment's count; keep looping until they have exited.
        while any(
            p["metadata"].get("deletionTimestamp") or p.get("status", {}).get("phase") != "Running"
            for p in get(cp, "pods", "-l", "app=roll")["items"]
        ):
            time.sleep(0.5)
        time.sleep(1.0)
        stop.set()
        for c in loops:
            c.join(10)
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    versions: dict[str, int] = {}
    for c in loops:
        for v, n in c.versions.items():
            versions[v] = versions.get(v, 0) + n
    return {
        "first": first,
        "rollout": rollout,
        "ok": sum(c.ok for c in loops),
        "failed": [f for c in loops for f in c.failed],
        "versions": versions,
        "load": load,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=20)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument(
        "--no-drain",
        action="store_true",
        help="servers exit at once on SIGTERM (shows what the drain buys; requests may fail)",
    )
    args = ap.parse_args()
    r = run(args.replicas, args.clients, not args.no_drain)
    n = args.replicas
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (f"apply -> {n} real replicas ready", f"{r['first']:.1f} s", "-", "-"),
            (
                f"rolling update of {n} replicas (maxSurge 25%, maxUnavailable 0)",
                f"{r['rollout']:.1f} s",
                "<= 120 s (20 replicas)",
                "-",
            ),
            (
                "failed requests through the Service during the update",
                f"{len(r['failed'])} of {r['ok'] + len(r['failed'])}",
                "0",
                "upstream: 0 with readiness probes and a drain on SIGTERM",
            ),
            ("answers by version", json.dumps(r["versions"], sort_keys=True), "-", "-"),
        ]
    )
    for line in r["failed"][:10]:
        print("  failed:", line)
    print(r["load"])
    if r["failed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
