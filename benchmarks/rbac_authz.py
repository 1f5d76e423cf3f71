"""Cost of authorising one request with RBAC, with 1,000 RoleBindings in the store.

In-process (no HTTP): a registry on a temporary SQLite file with the default cluster roles,
100 namespaces and 1,000 RoleBindings (10 users per namespace, each bound to ``edit``,
``view`` or a Role of its own), plus 100 group bindings. Measured per call, over many calls:

- ``authorize``: the RBAC decision alone (allowed and denied requests, users drawn at random);
- ``admit``: what the request gate adds per request: authentication (admin token, or a
  ServiceAccount JWT signature check + account lookup), attributes from the URL, decision;
- the rebuild after an RBAC change (the next request after a new binding pays it once).

    .venv/bin/python benchmarks/rbac_authz.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import percentile, report

from hyperpod.apiserver.gate import Gate
from hyperpod.apiserver.rbac import RBAC, Attributes, UserInfo
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.tokens import TokenIssuer
from hyperpod.controlplane.security import seed_rbac

NAMESPACES = 100
USERS_PER_NS = 10


def _populate(reg: Registry) -> int:
    seed_rbac(reg)
    n = 0
    for i in range(NAMESPACES):
        ns = f"team-{i}"
        reg.create("namespaces", {"metadata": {"name": ns}})
        reg.create(
            f"roles.{RBAC}",
            {
                "metadata": {"name": "jobs", "namespace": ns},
                "rules": [
                    {"apiGroups": ["kubeflow.org"], "resources": ["pytorchjobs"], "verbs": ["*"]}
                ],
            },
        )
        for u in range(USERS_PER_NS):
            kind, name = [("ClusterRole", "edit"), ("ClusterRole", "view"), ("Role", "jobs")][u % 3]
            reg.create(
                f"rolebindings.{RBAC}",
                {
                    "metadata": {"name": f"user-{u}", "namespace": ns},
                    "roleRef": {"apiGroup": RBAC, "kind": kind, "name": name},
                    "subjects": [{"kind": "User", "name": f"user-{i}-{u}"}],
                },
            )
            n += 1
        reg.create(
            f"rolebindings.{RBAC}",
            {
                "metadata": {"name": "group", "namespace": ns},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "Group", "name": f"group-{i}"}],
            },
        )
        n += 1
    return n


def _time(fn: Callable[[], object], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp) / "state.db")
        reg.ensure_system_namespaces()
        bindings = _populate(reg)
        gate = Gate(reg, "admin-token", TokenIssuer(Path(tmp) / "sa.key"))
        authz = gate.authorizer
        t0 = time.perf_counter()
        authz.policy()
        first_build = (time.perf_counter() - t0) * 1000

        def ask_allowed() -> object:
            i, u = rng.randrange(NAMESPACES), rng.randrange(USERS_PER_NS)
            user = UserInfo(f"user-{i}-{u}", (f"group-{i}", "system:authenticated"))
            return authz.authorize(user, Attributes("list", resource="pods", namespace=f"team-{i}"))

        def ask_denied() -> object:
            i, u = rng.randrange(NAMESPACES), rng.randrange(USERS_PER_NS)
            user = UserInfo(f"user-{i}-{u}", ("system:authenticated",))
            other = f"team-{(i + 1) % NAMESPACES}"
            return authz.authorize(user, Attributes("delete", resource="secrets", namespace=other))

        allowed = _time(ask_allowed, args.calls)
        denied = _time(ask_denied, args.calls)

        reg.create("namespaces", {"metadata": {"name": "bench"}})
        reg.create("serviceaccounts", {"metadata": {"name": "robot", "namespace": "bench"}})
        reg.create(
            f"rolebindings.{RBAC}",
            {
                "metadata": {"name": "robot", "namespace": "bench"},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "bench"}],
            },
        )
        t0 = time.perf_counter()
        authz.policy()
        rebuild = (time.perf_counter() - t0) * 1000
        sa = reg.get("serviceaccounts", "robot", "bench")
        jwt, _ = gate.issuer.issue(sa)
        path = "/apis/kubeflow.org/v1/namespaces/bench/pytorchjobs"
        scope: dict[str, object] = {"headers": []}

        def admit(token: str) -> Callable[[], object]:
            headers = {"authorization": f"Bearer {token}"}
            return lambda: gate.admit(scope, "GET", path, {}, headers)

        admin = _time(admit("admin-token"), args.calls)
        service = _time(admit(jwt), max(1000, args.calls // 10))
        reg.close()

    def pp(v: list[float]) -> str:
        return f"{percentile(v, 50) * 1000:.1f} / {percentile(v, 99) * 1000:.1f} us"

    report(
        [
            ("figure (p50 / p99)", "measured", "target", "anchor"),
            (
                f"authorize, allowed ({bindings} bindings)",
                pp(allowed),
                "p99 <= 100 us",
                "create p50 0.6 ms over HTTP (apiserver_load.py)",
            ),
            (f"authorize, denied ({bindings} bindings)", pp(denied), "p99 <= 100 us", "same"),
            ("admit: admin token + attributes + decision", pp(admin), "p99 <= 100 us", "same"),
            (
                "admit: ServiceAccount JWT (RS256 verify + lookups)",
                pp(service),
                "p99 <= 500 us",
                "same",
            ),
            (
                "policy build, first request",
                f"{first_build:.1f} ms",
                "<= 100 ms",
                "once per RBAC change",
            ),
            ("policy rebuild after one new binding", f"{rebuild:.1f} ms", "<= 100 ms", "same"),
        ]
    )


if __name__ == "__main__":
    main()
