"""Abuse cases against a real control plane (issue 13): worst-case latency, /readyz, RSS.

A probe thread asks ``/readyz`` every 100 ms for the whole run and records the slowest answer;
psutil samples the server's resident set. Cases, in order: the poison ConfigMap, a 1 KB YAML
alias bomb, a YAML document 10,000 levels deep, ``replicas: 2**63``, a PyTorchJob with
1,000,000 replicas (left running ``--job-seconds``, then deleted), ``--fuzz`` mutated bodies
(Hypothesis, the suite's strategies), then a restart on the same data directory.

    python benchmarks/abuse.py [--fuzz 10000] [--job-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from _cluster import RunningControlPlane, report, start_control_plane

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fuzzing import SEEDS, log_problems, mutated_bodies, post

CONFIG = {
    "nodes": {
        "local": None,
        "simulated": [{"group": "sim", "instanceType": "ml.c5.xlarge", "count": 2}],
    },
}
JOBS = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
CMS = "/api/v1/namespaces/default/configmaps"


class Probe(threading.Thread):
    """/readyz every 100 ms; the slowest answer and the server's peak RSS."""

    def __init__(self, cp: RunningControlPlane) -> None:
        super().__init__(daemon=True)
        self.cp = cp
        self.stop_flag = threading.Event()
        self.latencies: list[float] = []
        self.failures = 0
        self.peak_rss = 0
        self.proc = psutil.Process(cp.proc.pid)

    def run(self) -> None:
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            try:
                code, _ = self.cp.get("/readyz", timeout=10)
                if code != 200:
                    self.failures += 1
            except OSError:
                self.failures += 1
            self.latencies.append(time.monotonic() - t0)
            try:
                self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    def window(self) -> tuple[float, int]:
        """Slowest probe since the last call, and the count; then start a new window."""
        lat, self.latencies = self.latencies, []
        return (max(lat) if lat else float("nan")), len(lat)


def send(
    cp: RunningControlPlane, method: str, path: str, body: bytes, ctype: str = "application/json"
) -> tuple[int, float]:
    req = urllib.request.Request(
        cp.url + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {cp.token}", "Content-Type": ctype},
    )
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60, context=cp.ssl_context()) as r:
            r.read()
            code = r.status
    except urllib.error.HTTPError as err:
        err.read()
        code = err.code
    return code, time.monotonic() - t0


def alias_bomb() -> bytes:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", 'a0: &a0 ["lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines).encode()


def job(replicas: int) -> bytes:
    template = {
        "spec": {
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "pytorch", "image": "local/python", "command": ["true"]}],
        }
    }
    return json.dumps(
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": "huge"},
            "spec": {
                "pytorchReplicaSpecs": {
                    "Master": {"replicas": 1, "restartPolicy": "Never", "template": template},
                    "Worker": {
                        "replicas": replicas,
                        "restartPolicy": "Never",
                        "template": template,
                    },
                }
            },
        }
    ).encode()


def count_pods(cp: RunningControlPlane) -> int:
    code, body = cp.get(
        "/api/v1/namespaces/default/pods?labelSelector=training.kubeflow.org/job-name=huge",
        timeout=60,
    )
    return len(json.loads(body)["items"]) if code == 200 else -1


def fuzz(cp: RunningControlPlane, n: int) -> Counter[int]:
    from hypothesis import HealthCheck, Phase, given, settings

    ctx = cp.ssl_context()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fuzz"}}
    post(cp.url, cp.token, ctx, "/api/v1/namespaces", ns)
    for path, seed in SEEDS:
        post(cp.url, cp.token, ctx, path, seed)
    codes: Counter[int] = Counter()

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=mutated_bodies())
    def one(case: tuple[str, dict[str, Any]]) -> None:
        codes[post(cp.url, cp.token, ctx, *case)] += 1

    one()
    return codes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzz", type=int, default=10_000)
    ap.add_argument("--job-seconds", type=float, default=30.0)
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str]] = [("figure", "measured", "target", "anchor")]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "abuse"
        cp = start_control_plane(data, CONFIG)
        probe = Probe(cp)
        probe.start()
        try:
            code, secs = send(
                cp,
                "POST",
                CMS,
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "poison", "ownerReferences": 3.5},
                    }
                ).encode(),
            )
            stored = cp.get(CMS + "/poison")[0]
            rows.append(
                (
                    "poison ConfigMap (ownerReferences: 3.5)",
                    f"{code} in {secs * 1e3:.0f} ms, GET {stored}",
                    "4xx, GET 404",
                    "was 500 + stored",
                )
            )
            code, secs = send(cp, "POST", CMS, alias_bomb(), "application/yaml")
            rows.append(
                (
                    "1 KB YAML alias bomb",
                    f"{code} in {secs * 1e3:.0f} ms",
                    "4xx fast",
                    "was 17 s frozen, 5.4 GB",
                )
            )
            code, secs = send(cp, "POST", CMS, b"[" * 10_000 + b"]" * 10_000, "application/yaml")
            rows.append(
                ("YAML 10,000 levels deep", f"{code} in {secs * 1e3:.0f} ms", "4xx", "was 500")
            )
            code, secs = send(cp, "POST", JOBS, job(2**63))
            rows.append(
                (
                    "PyTorchJob replicas: 2**63",
                    f"{code} in {secs * 1e3:.0f} ms",
                    "4xx",
                    "was accepted, hung",
                )
            )
            worst, _ = probe.window()
            rows.append(
                ("slowest /readyz during the cases above", f"{worst * 1e3:.0f} ms", "<= 1 s", "")
            )

            code, secs = send(cp, "POST", JOBS, job(1_000_000))
            rows.append(
                (
                    "PyTorchJob replicas: 1,000,000",
                    f"{code} in {secs * 1e3:.0f} ms",
                    "accepted",
                    "was unresponsive in 6 s",
                )
            )
            time.sleep(args.job_seconds)
            pods = count_pods(cp)
            worst, n = probe.window()
            rows.append(
                (
                    f"pods after {args.job_seconds:.0f} s",
                    str(pods),
                    "bounded (<= 512 pending + node capacity)",
                    "was 2.5 GB in 25 s",
                )
            )
            rows.append(
                (f"slowest /readyz of {n} while it ran", f"{worst * 1e3:.0f} ms", "<= 1 s", "")
            )
            t0 = time.monotonic()
            send(cp, "DELETE", JOBS + "/huge", b"")
            while count_pods(cp) > 0 and time.monotonic() - t0 < 300:
                time.sleep(0.5)
            rows.append(
                (
                    "delete the job: until its last pod is gone",
                    f"{time.monotonic() - t0:.1f} s, {count_pods(cp)} left",
                    "everything freed",
                    "",
                )
            )

            t0 = time.monotonic()
            codes = fuzz(cp, args.fuzz)
            took = time.monotonic() - t0
            worst, n = probe.window()
            over = sum(v for k, v in codes.items() if k >= 500)
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))
            rows.append(
                (
                    f"fuzzed bodies ({sum(codes.values())} in {took:.0f} s)",
                    f"{over} >= 500 ({summary})",
                    "0 >= 500",
                    "was 8.5 % 500s",
                )
            )
            rows.append(
                (f"slowest /readyz of {n} while fuzzing", f"{worst * 1e3:.0f} ms", "<= 1 s", "")
            )
            time.sleep(5)
            problems = log_problems(cp.log())
            rows.append(
                ("controller failures in the log", str(len(problems)), "0", "was 65 tracebacks")
            )
            rows.append(
                ("server peak RSS", f"{probe.peak_rss / 2**20:.0f} MiB", "< 1 GiB", "was 22 GB")
            )
        finally:
            probe.stop_flag.set()
            probe.join()
            cp.stop()
        t0 = time.monotonic()
        again = start_control_plane(data, CONFIG)
        took = time.monotonic() - t0
        try:
            quarantined = "quarantined" in again.log()
            rows.append(
                (
                    "restart on the abused data directory",
                    f"ready in {took:.1f} s, quarantine: {quarantined}",
                    "clean restart",
                    "was a crash loop",
                )
            )
        finally:
            again.stop()
    report(rows)
    if problems:
        print("\nfirst log problems:\n" + "\n".join(problems[:10]))


if __name__ == "__main__":
    main()
