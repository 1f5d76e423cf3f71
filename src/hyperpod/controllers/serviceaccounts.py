"""Two small RBAC-side controllers: every namespace's ``default`` ServiceAccount, and
aggregated ClusterRoles.

- A namespace that is not terminating always has a ServiceAccount named ``default``
  (recreated if deleted), so pods that name no account get one, as in Kubernetes.
- A ClusterRole with an ``aggregationRule`` gets the rules of every ClusterRole its label
  selectors match written into its ``rules`` (kube's clusterrole-aggregation controller), so
  ``kubectl get clusterrole edit -o yaml`` shows what ``edit`` allows.
"""

from __future__ import annotations

import asyncio

from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.apiserver.rbac import RBAC, effective_rules
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import Controller
from hyperpod.storage.watchcache import DELETED, Event

CLUSTER_ROLES = f"clusterroles.{RBAC}"
_ALL = "*"


class ServiceAccountsController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.accounts = Controller("serviceaccount-default", self._ensure_default)
        self.aggregation = Controller("clusterrole-aggregation", self._aggregate)
        reg.add_listener(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.resource == "namespaces" and ev.type != DELETED:
            self.accounts.enqueue(ev.name)
        elif ev.resource == "serviceaccounts" and ev.type == DELETED and ev.name == "default":
            self.accounts.enqueue(ev.namespace)
        elif ev.resource == CLUSTER_ROLES:
            self.aggregation.enqueue(_ALL)

    async def _ensure_default(self, ns: str) -> float | None:
        namespace = self.reg.try_get("namespaces", ns)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return None
        if self.reg.try_get("serviceaccounts", "default", ns) is not None:
            return None
        try:
            self.reg.create(
                "serviceaccounts",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
                ns,
            )
        except (AlreadyExists, NotFound):
            pass
        except ApiError as exc:  # e.g. the namespace began terminating meanwhile
            if exc.code != 403:
                raise
        return None

    async def _aggregate(self, _key: str) -> float | None:
        roles = self.reg.list(CLUSTER_ROLES)
        wanted = effective_rules(roles)
        for role in roles:
            if not isinstance(role.get("aggregationRule"), dict):
                continue
            name = role["metadata"]["name"]
            if (role.get("rules") or []) != wanted.get(name, []):
                role["rules"] = wanted.get(name, [])
                self.reg.update(CLUSTER_ROLES, role)  # Conflict: retried by the Controller
        return None

    async def run(self, stopping: asyncio.Event) -> None:
        for ns in self.reg.list("namespaces"):
            self.accounts.enqueue(ns["metadata"]["name"])
        self.aggregation.enqueue(_ALL)
        await asyncio.gather(self.accounts.run(stopping), self.aggregation.run(stopping))
