"""The local node's deep health check, run as its own process: ``python -m hyperpod.kubelet.deep_check``.

InstanceStress: a matmul burn on every visible GPU (CPU when there is none) whose result is
checked against a float64 reference, plus a device-memory pattern test; InstanceConnectivity:
a two-process gloo all-reduce on loopback whose sum is checked. Prints one JSON line
``{"passed": bool, "checks": [...]}`` and exits 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any


def _matmul(device: str, size: int = 256, rounds: int = 5) -> tuple[bool, str]:
    import torch

    g = torch.Generator().manual_seed(1234)
    a = torch.randn(size, size, generator=g, dtype=torch.float64)
    b = torch.randn(size, size, generator=g, dtype=torch.float64)
    want = a @ b
    for _ in range(rounds):
        got = (a.float().to(device) @ b.float().to(device)).double().cpu()
        err = float((got - want).abs().max())
        if err > 1e-2:
            return False, f"matmul on {device}: max error {err:.3g}"
    pattern = torch.arange(1 << 20, dtype=torch.int32).to(device)
    if int((pattern.cpu() != torch.arange(1 << 20, dtype=torch.int32)).sum()) != 0:
        return False, f"memory pattern on {device} came back different"
    return True, f"matmul {size}x{size} x{rounds} and memory pattern on {device}: ok"


def _rank(rank: int, world: int, port: int, out: Any) -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    t = torch.full((1024,), float(rank + 1))
    dist.all_reduce(t)
    out.put((rank, float(t[0])))
    dist.barrier()  # a rank that tears gloo down while its peer is mid-collective can abort at exit
    dist.destroy_process_group()


def _all_reduce(world: int = 2) -> tuple[bool, str]:
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, world, port, q)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    want = world * (world + 1) / 2
    got = [q.get(timeout=5)[1] for _ in range(world)] if all(p.exitcode == 0 for p in procs) else []
    ok = len(got) == world and all(abs(v - want) < 1e-6 for v in got)
    return (
        ok,
        f"gloo all-reduce over {world} processes: {'ok' if ok else f'got {got}, want {want}'}",
    )


def main() -> int:
    import torch

    results: list[dict[str, Any]] = []
    devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    for dev in devices:
        ok, msg = _matmul(dev)
        results.append({"check": "InstanceStress", "passed": ok, "message": msg})
    if os.environ.get("HYPERPOD_DEEP_CHECK_SKIP_CONNECTIVITY") != "1":
        ok, msg = _all_reduce()
        results.append({"check": "InstanceConnectivity", "passed": ok, "message": msg})
    passed = all(r["passed"] for r in results)
    print(json.dumps({"passed": passed, "checks": results}))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
