"""Kueue's baseline scheduler performance scenario against the local control plane.

30 ClusterQueues in 5 cohorts (nominal 20 cpu, borrowingLimit 100, reclaimWithinCohort Any,
withinClusterQueue LowerPriority), one namespace and LocalQueue each; per ClusterQueue 350
small (1 cpu, 200 ms, priority 50, one per 100 ms), 100 medium (5 cpu, 500 ms, priority 100,
one per 500 ms) and 50 large (20 cpu, 1000 ms, priority 200, one per 1200 ms) Workloads are
created through the API. Like Kueue's perf runner, this client marks each workload Finished
its runtime after admission. Prints wall time, cpu usage per cohort while work was pending,
and average creation-to-admission time per class next to Kueue's published figures.

    python benchmarks/kueue_baseline.py            # the full scenario (15,000 workloads)
    python benchmarks/kueue_baseline.py --small    # 1 cohort, 1,500 workloads: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psutil
import yaml
from _cluster import Pool, watch_lines
from _cluster import report as print_rows

GROUP = "kueue.x-k8s.io"
API = f"/apis/{GROUP}/v1beta1"


@dataclass(frozen=True)
class WorkloadClass:
    name: str
    count: int
    cpu: int
    runtime_s: float
    priority: int
    interval_s: float


CLASSES = [
    WorkloadClass("small", 350, 1, 0.2, 50, 0.1),
    WorkloadClass("medium", 100, 5, 0.5, 100, 0.5),
    WorkloadClass("large", 50, 20, 1.0, 200, 1.2),
]
KUEUE = {"wall": 351.0, "usage": 58.7, "small": 215.0, "medium": 76.8, "large": 6.7}
THRESHOLDS = {"wall": 425.0, "usage": 55.0, "small": 260.0, "medium": 90.0, "large": 11.0}


@dataclass
class Tracked:
    name: str
    namespace: str
    cls: WorkloadClass
    cohort: int
    created_at: float = 0.0
    admitted_at: float | None = None
    finished_at: float | None = None
    admitted_now: bool = False
    server_wait: float | None = None  # QuotaReserved time - creationTimestamp (1 s resolution)
    timer: asyncio.TimerHandle | None = None


@dataclass
class Run:
    cohorts: int
    queues_per_cohort: int
    scale: float
    tracked: dict[str, Tracked] = field(default_factory=dict)
    usage: dict[int, int] = field(default_factory=dict)  # cohort -> admitted cpu
    pending: dict[int, int] = field(default_factory=dict)  # cohort -> created, not admitted
    samples: dict[int, list[float]] = field(default_factory=dict)
    create_latency: list[float] = field(default_factory=list)
    finished: int = 0
    total: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


def start_control_plane(
    data_dir: Path, profile: str | None = None
) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    cfg = data_dir / "controlplane.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "clusterName": "kueue-bench",
                "addons": {"trainingOperator": False, "devicePlugins": False, "healthAgent": False},
            }
        )
    )
    log = open(data_dir / "controlplane.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hyperpod.controlplane",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            "--config",
            str(cfg),
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **({"HYPERPOD_PROFILE": profile} if profile else {})},
    )
    log.close()
    port_file = data_dir / "port"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"control plane exited:\n{(data_dir / 'controlplane.log').read_text()}"
            )
        if port_file.exists() and port_file.read_text().strip():
            break
        time.sleep(0.05)
    url = f"https://127.0.0.1:{int(port_file.read_text())}"
    token = (data_dir / "token").read_text().strip()
    ca = data_dir / "pki" / "ca.crt"
    ctx = ssl.create_default_context(cafile=str(ca))
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "/readyz", verify=ctx, headers={"Authorization": f"Bearer {token}"})
            if r.status_code == 200:
                return proc, url, token, ca
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("control plane not ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def setup(client: httpx.AsyncClient, run: Run) -> None:
    async def post(path: str, body: dict[str, Any]) -> None:
        r = await client.post(path, json=body)
        if r.status_code not in (200, 201, 409):
            raise SystemExit(f"POST {path}: {r.status_code} {r.text}")

    await post(
        f"{API}/resourceflavors",
        {
            "apiVersion": f"{GROUP}/v1beta1",
            "kind": "ResourceFlavor",
            "metadata": {"name": "default"},
        },
    )
    for c in range(run.cohorts):
        for q in range(run.queues_per_cohort):
            name = f"cq-{c}-{q}"
            await post(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )
            await post(f"{API}/clusterqueues", cluster_queue_body(name, c))
            await post(
                f"/apis/{GROUP}/v1beta1/namespaces/{name}/localqueues",
                {
                    "apiVersion": f"{GROUP}/v1beta1",
                    "kind": "LocalQueue",
                    "metadata": {"name": "lq", "namespace": name},
                    "spec": {"clusterQueue": name},
                },
            )


def cluster_queue_body(name: str, cohort: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "cohort": f"cohort-{cohort}",
            "namespaceSelector": {},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu"],
                    "flavors": [
                        {
                            "name": "default",
                            "resources": [
                                {"name": "cpu", "nominalQuota": "20", "borrowingLimit": "100"}
                            ],
                        }
                    ],
                }
            ],
            "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
        },
    }


def workload_body(name: str, ns: str, cls: WorkloadClass) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": ns, "labels": {"class": cls.name}},
        "spec": {
            "queueName": "lq",
            "priority": cls.priority,
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
                                    "resources": {"requests": {"cpu": str(cls.cpu)}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }


async def creator(
    pool: Pool, run: Run, t0: float, cohort: int, queue: int, cls: WorkloadClass
) -> None:
    ns = f"cq-{cohort}-{queue}"
    for i in range(max(1, int(cls.count * run.scale))):
        delay = t0 + i * cls.interval_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        name = f"{cls.name}-{i}"
        sent = time.monotonic()
        tr = Tracked(name, ns, cls, cohort, created_at=time.monotonic())
        run.tracked[f"{ns}/{name}"] = tr
        run.pending[cohort] = run.pending.get(cohort, 0) + 1
        code, text = await pool.request(
            "POST", f"{API}/namespaces/{ns}/workloads", orjson.dumps(workload_body(name, ns, cls))
        )
        if code not in (200, 201):
            raise SystemExit(f"create {ns}/{name}: {code} {text.decode(errors='replace')}")
        # time to admission counts from when the API server stored the workload
        tr.created_at = min(time.monotonic(), tr.admitted_at or time.monotonic())
        run.create_latency.append(tr.created_at - sent)


def _stamp(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def finisher(pool: Pool, run: Run, tr: Tracked) -> None:
    patch = [
        {
            "op": "add",
            "path": "/status/conditions/-",
            "value": {
                "type": "Finished",
                "status": "True",
                "reason": "Succeeded",
                "message": "simulated run ended",
                "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        }
    ]
    code, text = await pool.request(
        "PATCH",
        f"{API}/namespaces/{tr.namespace}/workloads/{tr.name}/status",
        orjson.dumps(patch),
        "application/json-patch+json",
    )
    if code != 200:
        print(f"finish {tr.namespace}/{tr.name}: {code} {text[:200]!r}", file=sys.stderr)


async def watcher(
    lines: Callable[[str], AsyncIterator[bytes]],
    pool: Pool,
    run: Run,
    background: set[asyncio.Task[None]],
) -> None:
    loop = asyncio.get_running_loop()
    rv = "0"
    while not run.done.is_set():
        try:
            async for line in lines(f"{API}/workloads?watch=true&resourceVersion={rv}"):
                ev = orjson.loads(line)
                obj = ev["object"]
                md = obj.get("metadata") or {}
                rv = md.get("resourceVersion", rv)
                tr = run.tracked.get(f"{md.get('namespace')}/{md.get('name')}")
                if tr is None or tr.finished_at is not None:
                    continue
                conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
                now = time.monotonic()
                if conds.get("Finished", {}).get("status") == "True":
                    tr.finished_at = now
                    if tr.admitted_now:
                        run.usage[tr.cohort] -= tr.cls.cpu
                    tr.admitted_now = False
                    run.finished += 1
                    if run.finished >= run.total:
                        run.done.set()
                        return
                    continue
                admitted = bool((obj.get("status") or {}).get("admission"))
                if admitted and not tr.admitted_now:
                    tr.admitted_now = True
                    if tr.admitted_at is None:
                        tr.admitted_at = now
                        tr.server_wait = _stamp(
                            conds.get("QuotaReserved", {}).get("lastTransitionTime")
                        ) - _stamp(md.get("creationTimestamp"))
                    run.pending[tr.cohort] -= 1
                    run.usage[tr.cohort] = run.usage.get(tr.cohort, 0) + tr.cls.cpu

                    def fire(t: Tracked = tr) -> None:
                        task = loop.create_task(finisher(pool, run, t))
                        background.add(task)
                        task.add_done_callback(background.discard)

                    tr.timer = loop.call_later(tr.cls.runtime_s, fire)
                elif not admitted and tr.admitted_now:  # evicted (preempted)
                    tr.admitted_now = False
                    run.pending[tr.cohort] += 1
                    run.usage[tr.cohort] -= tr.cls.cpu
                    if tr.timer is not None:
                        tr.timer.cancel()
        except (OSError, asyncio.IncompleteReadError) as exc:
            print(f"watch restarted: {exc}", file=sys.stderr)
            await asyncio.sleep(0.1)


async def sampler(run: Run, capacity: int) -> None:
    while not run.done.is_set():
        await asyncio.sleep(0.1)
        for c in range(run.cohorts):
            if run.pending.get(c, 0) > 0:
                run.samples.setdefault(c, []).append(100.0 * run.usage.get(c, 0) / capacity)


async def main_async(url: str, token: str, ca: Path, run: Run) -> float:
    ctx = ssl.create_default_context(cafile=str(ca))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url,
        verify=ctx,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=60,
    ) as client:
        await setup(client, run)
        parsed = urlsplit(url)
        # Creates and Finished marks go over lean keep-alive connections: with httpx the
        # benchmark client itself saturated a core and became the bottleneck.
        pool = Pool(parsed.hostname or "127.0.0.1", parsed.port or 443, ctx, token, size=32)
        run.total = (
            run.cohorts
            * run.queues_per_cohort
            * sum(max(1, int(c.count * run.scale)) for c in CLASSES)
        )
        background: set[asyncio.Task[None]] = set()
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 443

        def lines(path: str) -> AsyncIterator[bytes]:
            return watch_lines(host, port, ctx, token, path)

        watch = asyncio.create_task(watcher(lines, pool, run, background))
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        samp = asyncio.create_task(sampler(run, 20 * run.queues_per_cohort))
        creators = [
            creator(pool, run, t0, c, q, cls)
            for c in range(run.cohorts)
            for q in range(run.queues_per_cohort)
            for cls in CLASSES
        ]
        await asyncio.gather(*creators)
        created = time.monotonic() - t0
        await asyncio.wait_for(run.done.wait(), timeout=1800)
        wall = time.monotonic() - t0
        watch.cancel()
        samp.cancel()
        lat = sorted(run.create_latency)
        print(
            f"(all workloads created after {created:.1f} s; create request latency"
            f" median {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s)"
        )
        return wall


def arrival_bounds(run: Run) -> tuple[float, float]:
    """Lower bounds on the wall time that respect when work arrives and what priority preempts.

    Every ClusterQueue's large workloads arrive at the same instants (one per 1.2 s each, all
    from t=0) and six of them fill the cohort (6 x 20 cpu) for 1 s, so between two waves the
    cohort is free for at most 0.2 s. A medium workload (0.5 s) admitted in such a window is
    still running when the next wave arrives and is preempted (priority 100 < 200): no medium
    work can complete before the last wave ends. First bound: that, plus the medium work at
    full cohort use. Second bound: also the small work, which fits the 0.2 s windows only if
    admission, the runner's watch and its Finished mark take no time at all.
    """
    large, medium, small = CLASSES[2], CLASSES[1], CLASSES[0]
    capacity = 20.0 * run.queues_per_cohort
    waves_end = (max(1, int(large.count * run.scale)) - 1) * large.interval_s + large.runtime_s

    def work(c: WorkloadClass) -> float:
        return run.queues_per_cohort * max(1, int(c.count * run.scale)) * c.cpu * c.runtime_s

    return waves_end + work(medium) / capacity, waves_end + (work(medium) + work(small)) / capacity


def report(run: Run, wall: float, floor: float) -> None:
    from kueue_floor import simulate  # imports this module: loaded only when reporting

    rows = [("figure", "measured", "target", "Kueue (anchor)")]
    zero_latency, realistic = arrival_bounds(run)
    simulated, _ = simulate(run)
    rows.append(
        (
            "wall time",
            f"{wall:.1f} s",
            "<= 72 s" if run.cohorts == 5 else "smoke",
            f"{KUEUE['wall']:.0f} s (floor {floor:.0f} s)",
        )
    )
    rows.append(
        (
            "  bound: arrivals + preemption, zero latency",
            f"{zero_latency:.1f} s",
            "",
            f"wall / bound {wall / zero_latency:.2f}",
        )
    )
    rows.append(
        (
            "  bound: ... and small work after the last wave",
            f"{realistic:.1f} s",
            "",
            f"wall / bound {wall / realistic:.2f}",
        )
    )
    rows.append(
        (
            "  same scheduler, zero latency (kueue_floor.py)",
            f"{simulated:.1f} s",
            "wall <= 1.10x",
            f"wall / floor {wall / simulated:.2f}",
        )
    )
    for c in range(run.cohorts):
        s = run.samples.get(c, [])
        avg = sum(s) / len(s) if s else 0.0
        rows.append(
            (
                f"cpu usage cohort-{c}",
                f"{avg:.1f} %",
                f">= {THRESHOLDS['usage']:.0f} %",
                f"{KUEUE['usage']} %",
            )
        )
    for cls in CLASSES:
        server = [
            t.server_wait
            for t in run.tracked.values()
            if t.cls is cls and t.server_wait is not None
        ]
        avg_s = sum(server) / len(server) if server else float("nan")
        rows.append(
            (
                f"time to admission {cls.name} (server clock)",
                f"{avg_s:.1f} s",
                f"< {KUEUE[cls.name]} s",
                f"{KUEUE[cls.name]} s",
            )
        )
        waits = [
            t.admitted_at - t.created_at
            for t in run.tracked.values()
            if t.cls is cls and t.admitted_at is not None
        ]
        avg = sum(waits) / len(waits) if waits else float("nan")
        rows.append(
            (
                f"time to admission {cls.name} (client watch)",
                f"{avg:.1f} s",
                f"< {KUEUE[cls.name]} s",
                f"{KUEUE[cls.name]} s",
            )
        )
    print_rows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--small", action="store_true", help="1 cohort, 1,500 workloads (smoke run)")
    ap.add_argument(
        "--data-dir", default=None, help="control-plane data directory (default: a temp dir)"
    )
    ap.add_argument(
        "--scale", type=float, default=None, help="multiply the workload counts (e.g. 0.1)"
    )
    ap.add_argument("--profile", default=None, help=argparse.SUPPRESS)  # cProfile the server
    args = ap.parse_args()
    run = (
        Run(cohorts=1, queues_per_cohort=6, scale=0.5)
        if args.small
        else Run(cohorts=5, queues_per_cohort=6, scale=1.0)
    )
    if args.scale is not None:
        run.scale = args.scale
    # each cohort holds 6 x 20 cpu and must run 6 x (350x1x0.2 + 100x5x0.5 + 50x20x1) cpu-seconds
    work = run.queues_per_cohort * sum(
        max(1, int(c.count * run.scale)) * c.cpu * c.runtime_s for c in CLASSES
    )
    floor = work / (20 * run.queues_per_cohort)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="kueue-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    proc, url, token, ca = start_control_plane(data_dir, args.profile)
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = asyncio.run(main_async(url, token, ca, run))
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        times = psutil.Process(proc.pid).cpu_times()
        cpu = times.user + times.system
    finally:
        stop(proc)
    print(
        f"control-plane CPU: {cpu:.1f} s, {cpu / run.total * 1000:.2f} ms per workload "
        f"(created, admitted, finished); load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"load generator (this process: creates, watch, Finished marks) CPU: {client_cpu:.1f} s,"
        f" {100 * client_cpu / wall:.0f} % of a core"
    )
    print(
        f"Kueue baseline scenario: {run.cohorts} cohort(s) x {run.queues_per_cohort} ClusterQueues, {run.total} workloads"
    )
    report(run, wall, floor)


if __name__ == "__main__":
    main()
