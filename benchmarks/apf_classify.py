"""Cost of API Priority and Fairness per request: classification and a seat, in-process.

A registry on a temporary SQLite file with Kubernetes' bootstrap FlowSchemas and priority
levels (``apiserver/flowcontrol.py``); requests from 1,000 users (the admin, ServiceAccounts of
100 namespaces, plain users, nodes) over a mix of verbs, resources and namespaces. Measured per
call over many calls:

- ``classify`` warm: the usual case, the (user, request) pair already in the cache;
- ``classify`` cold: the cache emptied before each call, so every FlowSchema is walked;
- the same cold walk with 100 extra FlowSchemas that do not match;
- ``acquire`` + ``release`` of a seat in an uncontended level.

    .venv/bin/python benchmarks/apf_classify.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import percentile, report

from hyperpod.apiserver import flowcontrol
from hyperpod.apiserver.rbac import Attributes, UserInfo
from hyperpod.apiserver.registry import Registry

AUTH = "system:authenticated"


def users() -> list[UserInfo]:
    out = [UserInfo("admin", ("system:masters", AUTH))]
    for i in range(100):
        ns = f"team-{i}"
        out += [
            UserInfo(
                f"system:serviceaccount:{ns}:sa-{j}",
                ("system:serviceaccounts", f"system:serviceaccounts:{ns}", AUTH),
            )
            for j in range(5)
        ]
        out += [UserInfo(f"user-{i}-{j}", ("devs", AUTH)) for j in range(4)]
    out += [UserInfo(f"system:node:n{i}", ("system:nodes", AUTH)) for i in range(99)]
    return out


def requests() -> list[Attributes]:
    out = []
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        for group, res in (("", "pods"), ("", "configmaps"), ("kubeflow.org", "pytorchjobs")):
            for ns in ("team-1", "team-2", ""):
                out.append(Attributes(verb, group=group, resource=res, namespace=ns))
    out.append(Attributes("get", resource_request=False, path="/readyz"))
    return out


def timed(fn: object, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - t0)
    return samples


def whole_requests(tmp: Path, calls: int) -> tuple[list[float], list[float]]:
    """One GET of a ConfigMap list through the real ASGI app (gate, APF, handler), no socket.

    Calls alternate between the app with APF and the same app with its FlowControl taken
    out, so load on the shared machine hits both alike.
    """
    from hyperpod.apiserver.app import ApiServer
    from hyperpod.controlplane import security

    reg = Registry(tmp / "asgi.db")
    reg.ensure_system_namespaces()
    services: dict[str, object] = {}
    security.install(reg, tmp, "admin-token", services)
    app = ApiServer(reg, "admin-token", services=services)
    fc = services["flowcontrol"]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/namespaces/default/configmaps",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer admin-token"), (b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(_msg: dict[str, object]) -> None:
        return None

    async def run() -> tuple[list[float], list[float]]:
        on: list[float] = []
        off: list[float] = []
        for i in range(calls * 2):
            apf = i % 2 == 0
            if apf:
                services["flowcontrol"] = fc
            else:
                services.pop("flowcontrol", None)
            t = time.perf_counter()
            await app(dict(scope), receive, send)
            (on if apf else off).append(time.perf_counter() - t)
        return on, off

    out = asyncio.run(run())
    reg.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    rnd = random.Random(1)
    us, rs = users(), requests()
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp) / "state.db")
        flowcontrol.seed(reg)
        fc = flowcontrol.FlowControl(reg)
        pairs = [(rnd.choice(us), rnd.choice(rs)) for _ in range(args.calls)]
        it = iter(pairs * 3)
        for u, r in pairs:  # fill the cache
            fc.classify(u, r)
        warm = timed(lambda: fc.classify(*next(it)), args.calls)

        def cold() -> None:
            fc._cache.clear()
            fc.classify(*next(it))

        it = iter(pairs * 3)
        cold_s = timed(cold, args.calls)
        for i in range(100):
            reg.create(
                flowcontrol.FLOWSCHEMAS,
                {
                    "metadata": {"name": f"extra-{i}"},
                    "spec": {
                        "priorityLevelConfiguration": {"name": "workload-high"},
                        "matchingPrecedence": 500 + i,
                        "rules": [
                            {
                                "subjects": [{"kind": "User", "user": {"name": f"nobody-{i}"}}],
                                "resourceRules": [
                                    {
                                        "verbs": ["*"],
                                        "apiGroups": ["*"],
                                        "resources": ["*"],
                                        "namespaces": ["*"],
                                    }
                                ],
                            }
                        ],
                    },
                },
            )
        t0 = time.perf_counter()
        fc.classify(*pairs[0])
        rebuild = time.perf_counter() - t0
        it = iter(pairs * 3)
        cold_many = timed(cold, args.calls // 4)
        ticket = fc.classify(us[1], rs[0])

        async def seat() -> list[float]:
            out = []
            for _ in range(args.calls):
                t = time.perf_counter()
                await ticket.acquire()
                ticket.release()
                out.append(time.perf_counter() - t)
            return out

        seats = asyncio.run(seat())
        reg.close()
        with_apf, without_apf = whole_requests(Path(tmp), args.calls // 4)

    def us_(v: list[float]) -> str:
        return f"{percentile(v, 50) * 1e6:.1f} / {percentile(v, 99) * 1e6:.1f} us"

    report(
        [
            ("figure (p50 / p99)", "measured", "target", "anchor"),
            (
                "classify, warm cache",
                us_(warm),
                "p99 <= 20 us",
                "RBAC gate p50 4.6 us (rbac_authz.py)",
            ),
            ("classify, cold (13 schemas)", us_(cold_s), "p99 <= 100 us", "same"),
            ("classify, cold (113 schemas)", us_(cold_many), "p99 <= 500 us", "same"),
            ("acquire + release a seat", us_(seats), "p99 <= 20 us", "same"),
            ("whole GET via the ASGI app, APF on", us_(with_apf), "~ APF off", "A/B interleaved"),
            ("whole GET via the ASGI app, APF off", us_(without_apf), "", ""),
            (
                "rebuild after a FlowSchema change",
                f"{rebuild * 1000:.1f} ms",
                "<= 100 ms",
                "once per change",
            ),
        ]
    )


if __name__ == "__main__":
    main()
