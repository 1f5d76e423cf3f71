"""The dashboard's only way to read objects: the registry, filtered by what an identity may list.

Lists come from the change feed's watch-fed cache when it has the resource, else from the
registry. A cluster-wide list the identity may make is one list; otherwise the namespaces it
may list the resource in are read one by one, so a namespace-scoped role sees its own
namespaces' objects and nothing else. Resources it may see nowhere are remembered in
``hidden`` so a page can say so instead of showing an empty table as if there were nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from hyperpod.apiserver.registry import Registry
from hyperpod.dashboard.authz import CanList

Obj = dict[str, Any]


class Reader:
    def __init__(
        self,
        reg: Registry,
        identity: str,
        can_list: CanList,
        cache: Callable[[str, str | None], list[Obj] | None] | None = None,
    ) -> None:
        self.reg = reg
        # The change feed's watch-fed copies (ChangeFeed.objects); the registry when None.
        self._objects = cache
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
            out = self._list(resource, None)
        elif rt.namespaced:
            seen = False
            for ns in self.reg.list("namespaces"):
                name = ns["metadata"]["name"]
                if self.can_list(self.identity, resource, name):
                    seen = True
                    out.extend(self._list(resource, name))
            if not seen:
                self.hidden.add(resource)
        else:
            self.hidden.add(resource)
        self._cache[resource] = out
        return out

    def _list(self, resource: str, namespace: str | None) -> builtins.list[Obj]:
        cached = self._objects(resource, namespace) if self._objects is not None else None
        return cached if cached is not None else self.reg.list(resource, namespace)

    def get(self, resource: str, name: str, namespace: str | None) -> Obj | None:
        if not self.served(resource) or not self.allowed(resource, namespace):
            return None
        return self.reg.try_get(resource, name, namespace)
