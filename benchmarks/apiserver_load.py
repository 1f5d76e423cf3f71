"""API server figures (issue 2): create/get latency under load, a 10,000-pod list, watch delay.

Run: .venv/bin/python benchmarks/apiserver_load.py [--seconds 10] [--rate 500]
Targets on a 2-core machine: create p99 <= 25 ms and get p99 <= 10 ms with 32 concurrent
clients at 500 requests/s; list of 10,000 pods <= 1 s; watch delivery p99 <= 50 ms with 100
open watches. Anchor: Kubernetes' SLO, p99 <= 1 s for single-object mutating calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psutil
from _cluster import (
    Conn,
    RunningControlPlane,
    percentile,
    report,
    start_control_plane,
    watch_lines,
)


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


async def load(
    cp: RunningControlPlane, seconds: float, rate: int, workers: int, tag: str = "load"
) -> tuple[list[float], list[float], int]:
    creates: list[float] = []
    gets: list[float] = []
    errors = 0
    interval = workers / rate
    ctx = ssl.create_default_context(cafile=str(cp.data_dir / "pki" / "ca.crt"))
    conns = [Conn("127.0.0.1", cp.port, ctx, cp.token) for _ in range(workers)]
    for c in conns:  # connect and handshake before the clock starts
        await c.request("GET", "/api/v1/namespaces/bench")
    start = time.perf_counter()

    async def worker(w: int) -> None:
        nonlocal errors
        conn = conns[w]
        i = 0
        last = ""
        next_at = start + (w / workers) * interval
        while True:
            now = time.perf_counter()
            if now - start > seconds:
                return
            if next_at > now:
                await asyncio.sleep(next_at - now)
            next_at += interval
            t0 = time.perf_counter()
            if i % 2 == 0 or not last:
                name = f"{tag}-{w}-{i}"
                code, _ = await conn.request(
                    "POST",
                    "/api/v1/namespaces/bench/configmaps",
                    orjson.dumps(
                        {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "metadata": {"name": name},
                            "data": {"k": "v" * 64},
                        }
                    ),
                )
                if code == 201:
                    creates.append(time.perf_counter() - t0)
                    last = name
                else:
                    errors += 1
            else:
                code, _ = await conn.request("GET", f"/api/v1/namespaces/bench/configmaps/{last}")
                if code == 200:
                    gets.append(time.perf_counter() - t0)
                else:
                    errors += 1
            i += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))
    for c in conns:
        if c.writer is not None:
            c.writer.close()
    return creates, gets, errors


async def lean_watch(
    cp: Any, ctx: ssl.SSLContext, path: str, writes: int, delays: list[float], ready: asyncio.Event
) -> None:
    """One watch over its own connection (``watch_lines``: asyncio streams, since httpx costs the
    shared cores more per event than the server spends sending it to 1,000 watches)."""
    url = urlsplit(cp.url)
    seen = 0
    lines = watch_lines(url.hostname or "127.0.0.1", url.port or 443, ctx, cp.token, path, ready)
    async with contextlib.aclosing(lines):
        async for event in lines:
            at = event.find(b'"sent":"') + 8
            if at < 8:
                continue
            delays.append(time.time() - float(event[at : event.index(b'"', at)]))
            seen += 1
            if seen >= writes:
                return


async def watch_delay(
    cp: Any, client: httpx.AsyncClient, ctx: ssl.SSLContext, watchers: int, writes: int
) -> list[float]:
    delays: list[float] = []
    listing = await client.get("/api/v1/namespaces/watch/configmaps")
    rv = listing.json()["metadata"]["resourceVersion"]
    path = f"/api/v1/namespaces/watch/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=120"
    opened = [asyncio.Event() for _ in range(watchers)]
    tasks = [
        asyncio.create_task(lean_watch(cp, ctx, path, writes, delays, opened[i]))
        for i in range(watchers)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 60)
    await asyncio.sleep(0.2)
    for i in range(writes):
        await client.post(
            "/api/v1/namespaces/watch/configmaps",
            content=orjson.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"w{i}"},
                    "data": {"sent": repr(time.time())},
                }
            ),
            headers={"content-type": "application/json"},
        )
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return delays


def _server_cpu(cp: RunningControlPlane) -> float:
    """CPU seconds the control-plane process has used (user + system, children included)."""
    t = psutil.Process(cp.proc.pid).cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cp = start_control_plane(
            Path(tmp) / "cp",
            {"addons": {"trainingOperator": False, "kueue": False, "healthAgent": False}},
        )
        try:
            ctx = ssl.create_default_context(cafile=str(cp.data_dir / "pki" / "ca.crt"))
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(
                base_url=cp.url,
                verify=ctx,
                limits=limits,
                timeout=60,
                headers={"Authorization": f"Bearer {cp.token}"},
            ) as c:
                for ns in ("bench", "watch", "podlist"):
                    await c.post(
                        "/api/v1/namespaces",
                        json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                    )
                # warm-up: open the connections and the TLS sessions
                await load(cp, 1.0, args.rate, args.clients, tag="warm")
                cpu0, srv0 = time.process_time(), _server_cpu(cp)
                creates, gets, errors = await load(cp, args.seconds, args.rate, args.clients)
                gen_cpu, srv_cpu = time.process_time() - cpu0, _server_cpu(cp) - srv0
                achieved = (len(creates) + len(gets)) / args.seconds

                sem = asyncio.Semaphore(32)

                async def make(i: int) -> None:
                    async with sem:
                        await c.post(
                            "/api/v1/namespaces/podlist/pods",
                            content=orjson.dumps(pod(f"p{i}")),
                            headers={"content-type": "application/json"},
                        )

                await asyncio.gather(*(make(i) for i in range(args.pods)))
                t0 = time.perf_counter()
                r = await c.get("/api/v1/namespaces/podlist/pods")
                items = orjson.loads(r.content)["items"]
                list_s = time.perf_counter() - t0
                assert len(items) == args.pods, len(items)
                delays = await watch_delay(cp, c, ctx, args.watchers, args.watch_writes)
        finally:
            cp.stop()
    ms = 1000.0
    print(
        f"CPU during the {args.seconds:.0f} s load: load generator (this process, asyncio "
        f"streams) {gen_cpu:.1f} s = {gen_cpu / args.seconds:.0%} of a core; control plane "
        f"{srv_cpu:.1f} s = {srv_cpu / args.seconds:.0%} of a core"
    )
    print(
        f"API server benchmark: {args.clients} clients, target {args.rate} req/s for "
        f"{args.seconds:.0f} s (achieved {achieved:.0f} req/s, {errors} errors)"
    )
    report(
        [
            ("figure", "measured", "target", "anchor"),
            ("create p50", f"{percentile(creates, 50) * ms:.1f} ms", "", ""),
            (
                "create p99",
                f"{percentile(creates, 99) * ms:.1f} ms",
                "<= 25 ms",
                "Kubernetes SLO p99 <= 1000 ms",
            ),
            ("get p50", f"{percentile(gets, 50) * ms:.1f} ms", "", ""),
            (
                "get p99",
                f"{percentile(gets, 99) * ms:.1f} ms",
                "<= 10 ms",
                "Kubernetes SLO p99 <= 1000 ms",
            ),
            (
                f"list {args.pods} pods",
                f"{list_s * ms:.0f} ms",
                "<= 1000 ms",
                "Kubernetes SLO list p99 <= 30 s",
            ),
            (
                f"watch delay p50 ({args.watchers} watches)",
                f"{percentile(delays, 50) * ms:.1f} ms",
                "",
                "",
            ),
            (
                f"watch delay p99 ({args.watchers} watches)",
                f"{percentile(delays, 99) * ms:.1f} ms",
                "<= 50 ms" if args.watchers <= 100 else "<= 100 ms",
                "",
            ),
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--watchers", type=int, default=100)
    p.add_argument("--watch-writes", type=int, default=100)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
