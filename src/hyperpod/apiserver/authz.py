"""Authorization of HTTP requests: request attributes from the URL, and the live RBAC decider.

:func:`attributes` turns method + path + query into kube's request attributes (verb
``get``/``list``/``watch``/``create``/``update``/``patch``/``delete``/``deletecollection``,
API group, namespace, resource, subresource, name), or a non-resource URL. :class:`Authorizer`
answers "may this user do that?" from the RBAC objects in the registry; ``system:masters``
is always allowed. In-process controllers call the registry directly and are not authorized.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver.rbac import (
    KINDS,
    MASTERS,
    RBAC,
    Attributes,
    Grant,
    Policy,
    Rule,
    UserInfo,
    decide,
)
from hyperpod.apiserver.registry import Registry
from hyperpod.storage.watchcache import Subscriber

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def attributes(method: str, path: str, query: dict[str, str]) -> Attributes:
    """The request attributes of one HTTP request (kube's RequestInfo)."""
    parts = [p for p in path.split("/") if p]
    nonres = Attributes(verb=method.lower(), resource_request=False, path=path)
    if not parts or parts[0] not in ("api", "apis"):
        return nonres
    if parts[0] == "api":
        if len(parts) < 3:
            return nonres
        group, rest = "", parts[2:]
    else:
        if len(parts) < 4:
            return nonres
        group, rest = parts[1], parts[3:]
    namespace = ""
    # /namespaces/<ns>/<plural>/..., but not the namespace's own /status or /finalize
    own = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not own:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and name:
        namespace = name
    if method in ("GET", "HEAD"):
        if name:
            verb = "get"
        elif query.get("watch", "").lower() in ("true", "1"):
            verb = "watch"
        else:
            verb = "list"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    if sub in ("exec", "attach", "portforward"):
        verb = "create"  # kube authorizes the WebSocket upgrade (a GET) as create
    fsel = query.get("fieldSelector", "")
    if (
        not name
        and verb in ("list", "watch")
        and fsel.startswith("metadata.name=")
        and "," not in fsel
    ):
        name = fsel[len("metadata.name=") :]  # kube authorizes a one-name list as that name
    return Attributes(
        verb=verb,
        group=group,
        resource=resource,
        subresource=sub,
        namespace=namespace,
        name=name,
        path=path,
    )


class Authorizer:
    """RBAC over the registry's Roles and bindings, compiled once and rebuilt on change."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self._subs: list[Subscriber] = []
        self._policy: Policy | None = None
        self._by_user: dict[tuple[str, tuple[str, ...]], list[Grant]] = {}
        self.rebuilds = 0

    # ------------------------------------------------------------------ cache
    def _stale(self) -> bool:
        if self._policy is None:
            return True
        return any(s.queue or s.closed for s in self._subs)

    def policy(self) -> Policy:
        if self._stale():
            for s in self._subs:
                self.reg.hub.unsubscribe(s)
            # Subscribe before reading, so a change made while we read marks us stale again.
            self._subs = [
                self.reg.hub.subscribe(Subscriber(f"{k}.{RBAC}", None, _always, limit=1))
                for k in KINDS
            ]
            lists = [self.reg.list(f"{k}.{RBAC}") for k in KINDS]
            self._policy = Policy.build(lists[0], lists[1], lists[2], lists[3])
            self._by_user = {}
            self.rebuilds += 1
        assert self._policy is not None
        return self._policy

    def grants(self, user: UserInfo) -> list[Grant]:
        policy = self.policy()
        key = (user.name, user.groups)
        cached = self._by_user.get(key)
        if cached is None:
            if len(self._by_user) > 10_000:
                self._by_user.clear()
            cached = self._by_user[key] = policy.grants(user)
        return cached

    # ------------------------------------------------------------------ decisions
    def authorize(self, user: UserInfo, a: Attributes) -> tuple[bool, str]:
        """(allowed, reason)."""
        if MASTERS in user.groups:
            return True, f'allowed by group "{MASTERS}"'
        source = decide(self.grants(user), a)
        if source is None:
            return False, ""
        return True, f"RBAC: allowed by {source}"

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[Rule]]:
        """(resource rules, non-resource rules) that apply to ``user`` in ``namespace``."""
        if MASTERS in user.groups:
            every = Rule(frozenset("*"), frozenset("*"), frozenset("*"), frozenset(), ())
            return [every], [Rule(frozenset("*"), frozenset(), frozenset(), frozenset(), ("*",))]
        res: list[Rule] = []
        nonres: list[Rule] = []
        for g in self.grants(user):
            if g.namespace is not None and g.namespace != namespace:
                continue
            for r in g.rules:
                if r.urls:
                    if g.namespace is None and r not in nonres:
                        nonres.append(r)
                elif r.resources and r not in res:
                    res.append(r)
        return res, nonres


def _always(_labels: dict[str, str], _fields: dict[str, str]) -> bool:
    return True


def user_from_review_spec(spec: dict[str, Any]) -> UserInfo:
    """The user a SubjectAccessReview asks about."""
    groups = spec.get("groups") or []
    extra = spec.get("extra") or {}
    return UserInfo(
        name=str(spec.get("user") or ""),
        groups=tuple(str(g) for g in groups if isinstance(g, str)),
        uid=str(spec.get("uid") or ""),
        extra=tuple(
            (str(k), tuple(str(x) for x in v))
            for k, v in (extra.items() if isinstance(extra, dict) else [])
            if isinstance(v, list)
        ),
    )
