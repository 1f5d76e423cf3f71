"""The dashboard's only way to read objects: the registry, filtered by what an identity may list.

A cluster-wide list the identity may make is one registry list; otherwise the namespaces it
may list the resource in are read one by one, so a namespace-scoped role sees its own
namespaces' objects and nothing else. Resources it may see nowhere are remembered in
``hidden`` so a page can say so instead of showing an empty table as if there were nothing.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver.registry import Registry
from hyperpod.dashboard.authz import CanList

Obj = dict[str, Any]


class Reader:
    def __init__(self, reg: Registry, identity: str, can_list: CanList) -> None:
        self.reg = reg
        self.identity = identity
        self.can_list = can_list
        self.hidden: set[str] = set()
        self._cache: dict[str, list[Obj]] = {}

    def served(self, resource: str) -> bool:
        return self.reg.catalog.get(resource) is not None

    def allowed(self, resource: str, namespace: str | None) -> bool:
        return self.can_list(self.identity, resource, namespace) or (
            namespace is not None and self.can_list(self.identity, resource, None)
        )

    def list(self, resource: str) -> list[Obj]:
        """Every object of ``resource`` the identity may list (cached for one page render)."""
        if resource in self._cache:
            return self._cache[resource]
        rt = self.reg.catalog.get(resource)
        out: list[Obj] = []
        if rt is None:
            pass
        elif self.can_list(self.identity, resource, None):
            out = self.reg.list(resource)
        elif rt.namespaced:
            seen = False
            for ns in self.reg.list("namespaces"):
                name = ns["metadata"]["name"]
                if self.can_list(self.identity, resource, name):
                    seen = True
                    out.extend(self.reg.list(resource, name))
            if not seen:
                self.hidden.add(resource)
        else:
            self.hidden.add(resource)
        self._cache[resource] = out
        return out

    def get(self, resource: str, name: str, namespace: str | None) -> Obj | None:
        if not self.served(resource) or not self.allowed(resource, namespace):
            return None
        return self.reg.try_get(resource, name, namespace)
