"""Service forwarding overhead: the clusterIP proxy against connecting to the pod directly.

Run: .venv/bin/python benchmarks/service_forwarding.py [--requests 500]
Starts a real control plane, one pod running a small HTTP server bound to its pod IP and a
Service in front of it, then measures from this machine, alternating direct and proxied:
a request on a new connection (connect + GET + response, what a short-lived client pays), a
request on a kept-alive connection, request throughput over 8 kept-alive connections, and
bulk transfer (one 256 MiB response). Added latency = proxied - direct at the same percentile.
Target (this project's): added p50 <= 1 ms and p99 <= 5 ms per request, bulk >= 1 Gbit/s.
Anchor: kube-proxy's iptables/IPVS modes forward in the kernel (no added copy); its removed
userspace mode was the upstream equivalent of this proxy.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _cluster import control_plane, percentile, report

SERVER = """
import asyncio, sys
BULK = bytes(1 << 20)
async def serve(r, w):
    try:
        while True:
            head = await r.readuntil(b"\\r\\n\\r\\n")
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/bulk/"):
                n = int(path[6:])
                w.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % (n << 20))
                for _ in range(n):
                    w.write(BULK)
                    await w.drain()
            else:
                w.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
                await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(serve, sys.argv[1], 8080)
    await s.serve_forever()
asyncio.run(main())
"""


def read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one HTTP response (Content-Length framed); returns its body size."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    got = len(rest)
    del buf[:]
    while got < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        got += len(chunk)
    if got > length:
        buf += rest[length:] if len(rest) > length else b""
    return length


def one_shot(addr: tuple[str, int]) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(s, bytearray())
    return time.perf_counter() - t0


def kept_alive(addr: tuple[str, int], n: int) -> list[float]:
    out = []
    with socket.create_connection(addr, timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            read_response(s, buf)
            out.append(time.perf_counter() - t0)
    return out


def throughput(addr: tuple[str, int], seconds: float, conns: int = 8) -> float:
    counts = [0] * conns
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        with socket.create_connection(addr, timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = bytearray()
            while time.perf_counter() < stop:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                read_response(s, buf)
                counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def bulk(addr: tuple[str, int], mib: int) -> float:
    """Gbit/s of one response of ``mib`` MiB."""
    with socket.create_connection(addr, timeout=30) as s:
        t0 = time.perf_counter()
        s.sendall(f"GET /bulk/{mib} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        n = read_response(s, bytearray())
        return n * 8 / (time.perf_counter() - t0) / 1e9


def kubectl_json(cp: Any, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--bulk-mib", type=int, default=256)
    args = ap.parse_args()
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {"local": {"name": "bench-node"}},
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "echo", "labels": {"app": "echo"}},
        "spec": {
            "containers": [
                {
                    "name": "echo",
                    "image": "python:3.11",
                    "command": ["python3", "-c", SERVER, "$(POD_IP)"],
                    "env": [
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
                    ],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ]
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config) as cp:
        for i, obj in enumerate((svc, pod)):
            path = Path(tmp) / f"{i}.json"
            path.write_text(json.dumps(obj))
            cp.kubectl("apply", "-f", str(path))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ep = kubectl_json(cp, "endpoints", "echo")
            if any(s.get("addresses") for s in ep.get("subsets") or []):
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"the pod never became a ready endpoint:\n{cp.log()[-2000:]}")
        pod_ip = kubectl_json(cp, "pod", "echo")["status"]["podIP"]
        cluster_ip = kubectl_json(cp, "service", "echo")["spec"]["clusterIP"]
        direct, proxied = (pod_ip, 8080), (cluster_ip, 80)
        for addr in (direct, proxied):  # warm up
            kept_alive(addr, 50)
            one_shot(addr)
        d_new, p_new = [], []
        for _ in range(args.requests):
            d_new.append(one_shot(direct))
            p_new.append(one_shot(proxied))
        d_ka = kept_alive(direct, args.requests)
        p_ka = kept_alive(proxied, args.requests)
        d_rps = throughput(direct, args.seconds)
        p_rps = throughput(proxied, args.seconds)
        d_bulk = bulk(direct, args.bulk_mib)
        p_bulk = bulk(proxied, args.bulk_mib)
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    def ms(v: float) -> str:
        return f"{v * 1000:.2f} ms"

    rows = [("figure", "direct / via clusterIP", "target", "anchor")]
    for label, d, p in (("new connection", d_new, p_new), ("kept-alive", d_ka, p_ka)):
        for q in (50, 99):
            dq, pq = percentile(d, q), percentile(p, q)
            rows.append(
                (
                    f"{label} p{q} (added)",
                    f"{ms(dq)} / {ms(pq)} (+{ms(pq - dq)})",
                    "added <= 1 ms" if q == 50 else "added <= 5 ms",
                    "kube-proxy iptables: kernel DNAT",
                )
            )
    rows.append(
        (
            "requests/s, 8 kept-alive connections",
            f"{d_rps:.0f} / {p_rps:.0f} ({p_rps / d_rps:.0%})",
            "",
            "",
        )
    )
    rows.append(
        (
            f"bulk {args.bulk_mib} MiB response",
            f"{d_bulk:.2f} / {p_bulk:.2f} Gbit/s",
            ">= 1 Gbit/s",
            "",
        )
    )
    report(rows)
    print(f"({load})")


if __name__ == "__main__":
    main()
