"""API Priority and Fairness: each request is classified by FlowSchema into a priority level.

Like kube-apiserver's APF (``flowcontrol.apiserver.k8s.io/v1``), after authentication:

- **Classification.** The FlowSchema with the numerically lowest ``matchingPrecedence`` (then
  the name) one of whose rules matches the request's user (``User``/``Group``/``ServiceAccount``
  subjects, ``*`` for any) and its verb + resource (``resourceRules``: apiGroups, resources
  with ``resource/subresource``, namespaces or ``clusterScope``) or non-resource URL
  (``nonResourceRules``, ``/prefix/*``) wins; none matching is ``catch-all``. The result is
  cached per (user, groups, verb, group, resource, namespace, path) and the cache is dropped
  when a FlowSchema or PriorityLevelConfiguration changes, so the hot path is one dict lookup.
- **Levels.** ``Exempt`` levels are not limited by shares; as a backstop for this
  one-process server (kube-apiserver has none) they answer 429 past
  :data:`EXEMPT_BACKSTOP` (1,200) requests in flight. The server's in-flight budget
  (:data:`SERVER_CONCURRENCY`, 600 = kube-apiserver's default 400 read-only + 200 mutating) is
  shared among ``Limited`` levels by ``nominalConcurrencyShares``:
  ``ceil(600 * NCS / sum NCS)`` seats each. Borrowing between levels (``lendablePercent``,
  ``borrowingLimitPercent``) is not done: a level never uses more than its own seats.
- **Queues.** A full ``Queuing`` level queues a request in one of ``queues`` FIFO queues: the
  flow (the FlowSchema plus its distinguisher, the user name for ``ByUser`` or the namespace
  for ``ByNamespace``) is hashed to ``handSize`` candidate queues and the shortest is taken
  (shuffle sharding); freed seats are handed to the queues round robin, so one busy flow
  cannot starve another in the same level. A request whose queue already holds
  ``queueLengthLimit`` requests, or that waited :data:`MAX_WAIT_SECONDS`, and any request to a
  full ``Reject`` level, gets 429 ``TooManyRequests`` with ``Retry-After``.
- Every response carries ``X-Kubernetes-PF-FlowSchema-UID`` and
  ``X-Kubernetes-PF-PriorityLevel-UID``. Long-running requests (watches, followed logs,
  exec/attach/port-forward) are classified but take no seat.

At start :func:`seed` creates the suggested and mandatory objects Kubernetes bootstraps (the
mandatory ``exempt`` and ``catch-all`` ones are restored when changed; the suggested ones are
kept current unless annotated ``apf.kubernetes.io/autoupdate-spec: "false"``).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hyperpod.apiserver.apf_bootstrap import default_levels, default_schemas
from hyperpod.apiserver.errors import AlreadyExists, TooManyRequests
from hyperpod.apiserver.rbac import Attributes, UserInfo
from hyperpod.apiserver.registry import Registry
from hyperpod.storage.watchcache import Subscriber

GROUP = "flowcontrol.apiserver.k8s.io"
FLOWSCHEMAS = f"flowschemas.{GROUP}"
LEVELS = f"prioritylevelconfigurations.{GROUP}"
SERVER_CONCURRENCY = 600
MAX_WAIT_SECONDS = 5.0
EXEMPT_BACKSTOP = 2 * SERVER_CONCURRENCY  # one process: even exempt requests are bounded
RETRY_AFTER = 1
AUTOUPDATE = "apf.kubernetes.io/autoupdate-spec"
FS_HEADER = b"x-kubernetes-pf-flowschema-uid"
PL_HEADER = b"x-kubernetes-pf-prioritylevel-uid"
MANDATORY = ("exempt", "catch-all")

Send = Callable[[dict[str, Any]], Awaitable[None]]

_UNCOUNTED_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
_STREAMS = ("/exec", "/attach", "/portforward")


def long_running(scope: dict[str, Any]) -> bool:
    """Watches, followed logs and streams: classified, but they hold no seat."""
    path: str = scope.get("path", "")
    if path in _UNCOUNTED_PATHS or path.endswith(_STREAMS):
        return True
    qs: bytes = scope.get("query_string", b"")
    return b"watch=true" in qs or b"watch=1" in qs or (path.endswith("/log") and b"follow=" in qs)


def seed(reg: Registry) -> None:
    """Create the bootstrap objects; restore the mandatory ones and auto-updated suggested ones."""
    for resource, kind, specs in (
        (LEVELS, "PriorityLevelConfiguration", default_levels()),
        (FLOWSCHEMAS, "FlowSchema", default_schemas()),
    ):
        for name, spec in specs.items():
            obj = {
                "apiVersion": f"{GROUP}/v1",
                "kind": kind,
                "metadata": {"name": name, "annotations": {AUTOUPDATE: "true"}},
                "spec": spec,
            }
            try:
                reg.create(resource, obj)
                continue
            except AlreadyExists:
                current = reg.get(resource, name)
            md = current.get("metadata") or {}
            auto = (md.get("annotations") or {}).get(AUTOUPDATE)
            if name not in MANDATORY and auto == "false":
                continue
            if current.get("spec") != spec:
                reg.update(resource, {**current, "spec": spec})


# ---------------------------------------------------------------------- compiled config
@dataclass
class _Resource:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    cluster: bool
    namespaces: frozenset[str]

    def matches(self, a: Attributes) -> bool:
        if not (_has(self.verbs, a.verb) and _has(self.groups, a.group)):
            return False
        if not (_has(self.resources, a.full_resource) or _has(self.resources, a.resource)):
            return False
        if not a.namespace:
            return self.cluster
        return _has(self.namespaces, a.namespace)


@dataclass
class _NonResource:
    verbs: frozenset[str]
    urls: tuple[str, ...]

    def matches(self, a: Attributes) -> bool:
        if not _has(self.verbs, a.verb):
            return False
        for url in self.urls:
            if url == "*" or url == a.path or (url.endswith("/*") and a.path.startswith(url[:-1])):
                return True
        return False


@dataclass
class _Rule:
    users: frozenset[str]
    groups: frozenset[str]
    resource: list[_Resource]
    nonresource: list[_NonResource]

    def subject(self, user: UserInfo) -> bool:
        if "*" in self.users or user.name in self.users:
            return True
        return "*" in self.groups or any(g in self.groups for g in user.groups)

    def matches(self, user: UserInfo, a: Attributes) -> bool:
        if not self.subject(user):
            return False
        rules: list[Any] = self.resource if a.resource_request else self.nonresource
        return any(r.matches(a) for r in rules)


@dataclass
class Schema:
    name: str
    uid: str
    precedence: int
    level: str
    distinguisher: str
    rules: list[_Rule]


def _has(values: frozenset[str], value: str) -> bool:
    return "*" in values or value in values


def _strs(value: Any) -> frozenset[str]:
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def compile_schema(obj: dict[str, Any]) -> Schema:
    md, spec = _d(obj.get("metadata")), _d(obj.get("spec"))
    rules = []
    for r in spec.get("rules") or []:
        r = _d(r)
        users: set[str] = set()
        groups: set[str] = set()
        for s in r.get("subjects") or []:
            s = _d(s)
            kind = s.get("kind")
            if kind == "User":
                users.add(str(_d(s.get("user")).get("name", "")))
            elif kind == "Group":
                groups.add(str(_d(s.get("group")).get("name", "")))
            elif kind == "ServiceAccount":
                sa = _d(s.get("serviceAccount"))
                ns, name = sa.get("namespace", ""), sa.get("name", "")
                if name == "*":
                    groups.add(f"system:serviceaccounts:{ns}")
                else:
                    users.add(f"system:serviceaccount:{ns}:{name}")
        rules.append(
            _Rule(
                frozenset(users),
                frozenset(groups),
                [
                    _Resource(
                        _strs(rr.get("verbs")),
                        _strs(rr.get("apiGroups")),
                        _strs(rr.get("resources")),
                        bool(rr.get("clusterScope")),
                        _strs(rr.get("namespaces")),
                    )
                    for rr in map(_d, r.get("resourceRules") or [])
                ],
                [
                    _NonResource(_strs(nr.get("verbs")), tuple(_strs(nr.get("nonResourceURLs"))))
                    for nr in map(_d, r.get("nonResourceRules") or [])
                ],
            )
        )
    prec = spec.get("matchingPrecedence")
    return Schema(
        str(md.get("name", "")),
        str(md.get("uid", "")),
        prec if isinstance(prec, int) else 1000,
        str(_d(spec.get("priorityLevelConfiguration")).get("name", "")),
        str(_d(spec.get("distinguisherMethod")).get("type") or ""),
        rules,
    )


# ---------------------------------------------------------------------- levels and seats
@dataclass
class Level:
    name: str
    uid: str = ""
    exempt: bool = False
    shares: int = 0
    seats: int = 0
    queues: int = 0  # 0: Reject when full
    hand: int = 1
    queue_limit: int = 0
    in_flight: int = 0
    waiting: dict[int, collections.deque[asyncio.Future[None]]] = field(default_factory=dict)
    _turn: int = 0
    rejected: int = 0
    dispatched: int = 0

    def configure(self, obj: dict[str, Any]) -> None:
        md, spec = _d(obj.get("metadata")), _d(obj.get("spec"))
        self.uid = str(md.get("uid", ""))
        self.exempt = spec.get("type") == "Exempt"
        limited = _d(spec.get("limited"))
        shares = limited.get("nominalConcurrencyShares", 30)
        self.shares = 0 if self.exempt or not isinstance(shares, int) else max(0, shares)
        resp = _d(limited.get("limitResponse"))
        q = _d(resp.get("queuing"))
        if resp.get("type") == "Queuing":
            self.queues = max(1, int(q.get("queues") or 64))
            self.hand = max(1, min(self.queues, int(q.get("handSize") or 8)))
            self.queue_limit = max(1, int(q.get("queueLengthLimit") or 50))
        else:
            self.queues = self.hand = self.queue_limit = 0

    def pick_queue(self, flow: str) -> int:
        """The shortest of the flow's ``hand`` candidate queues (shuffle sharding)."""
        digest = hashlib.blake2b(flow.encode(), digest_size=16).digest()
        best, best_len = 0, -1
        for i in range(self.hand):
            q = int.from_bytes(digest[i * 2 % 16 : i * 2 % 16 + 2], "big") % self.queues
            length = len(self.waiting.get(q, ()))
            if best_len < 0 or length < best_len:
                best, best_len = q, length
        return best

    def release(self) -> None:
        """Free a seat: hand it to the next queue in turn that has a live waiter."""
        self.in_flight -= 1
        while self.waiting and self.in_flight < self.seats:
            keys = sorted(self.waiting)
            self._turn = (self._turn + 1) % len(keys)
            q = keys[self._turn]
            dq = self.waiting[q]
            fut = dq.popleft()
            if not dq:
                del self.waiting[q]
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)


@dataclass
class Ticket:
    """One classified request: its schema and level, and the seat it holds (if any)."""

    schema: Schema
    level: Level
    flow: str
    holds: bool = False

    def headers(self, send: Send) -> Send:
        fs_uid, pl_uid = self.schema.uid.encode(), self.level.uid.encode()

        async def wrapped(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                headers = [*msg.get("headers", []), (FS_HEADER, fs_uid), (PL_HEADER, pl_uid)]
                if msg.get("status") == 429 and not any(k == b"retry-after" for k, _ in headers):
                    headers.append((b"retry-after", str(RETRY_AFTER).encode()))
                msg = {**msg, "headers": headers}
            await send(msg)

        return wrapped

    async def acquire(self) -> None:
        """Take a seat, waiting in the level's queue if it is full; 429 when it cannot."""
        level = self.level
        if level.exempt:
            if level.in_flight < EXEMPT_BACKSTOP:
                level.in_flight += 1
                self.holds = True
                return
        elif level.in_flight < level.seats:
            level.in_flight += 1
            level.dispatched += 1
            self.holds = True
            return
        if level.queues and not level.exempt:
            q = level.pick_queue(self.flow)
            dq = level.waiting.setdefault(q, collections.deque())
            if len(dq) < level.queue_limit:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                dq.append(fut)
                try:
                    await asyncio.wait_for(asyncio.shield(fut), MAX_WAIT_SECONDS)
                except BaseException as exc:  # timed out, or the client went away
                    if fut.done() and not fut.cancelled():
                        level.release()  # granted just as we gave up: pass the seat on
                    fut.cancel()
                    if not isinstance(exc, TimeoutError):
                        raise
                else:
                    level.dispatched += 1
                    self.holds = True
                    return
            elif not dq:
                del level.waiting[q]
        level.rejected += 1
        raise TooManyRequests("Too many requests, please try again later.", retry_after=RETRY_AFTER)

    def release(self) -> None:
        if self.holds:
            self.holds = False
            self.level.release()


class FlowControl:
    """The classifier and the priority levels, rebuilt when their objects change."""

    def __init__(self, reg: Registry, server_concurrency: int = SERVER_CONCURRENCY) -> None:
        self.reg = reg
        self.server_concurrency = server_concurrency
        self.levels: dict[str, Level] = {}
        self.schemas: list[Schema] = []
        self._catch_all = Schema("catch-all", "", 10000, "catch-all", "ByUser", [])
        self._cache: dict[tuple[Any, ...], Schema] = {}
        self._subs: list[Subscriber] = []
        self._built = False
        self.rebuilds = 0

    def _stale(self) -> bool:
        return not self._built or any(s.queue or s.closed for s in self._subs)

    def _rebuild(self) -> None:
        for s in self._subs:
            self.reg.hub.unsubscribe(s)
        self._subs = [
            self.reg.hub.subscribe(Subscriber(r, None, _always, limit=1))
            for r in (FLOWSCHEMAS, LEVELS)
        ]
        objs = {str(_d(o.get("metadata")).get("name")): o for o in self.reg.list(LEVELS)}
        levels = {name: self.levels.get(name) or Level(name) for name in objs}
        for name, obj in objs.items():
            levels[name].configure(obj)
        total = sum(lv.shares for lv in levels.values() if not lv.exempt) or 1
        for lv in levels.values():
            lv.seats = 0 if lv.exempt else math.ceil(self.server_concurrency * lv.shares / total)
        self.levels = levels
        schemas = [compile_schema(o) for o in self.reg.list(FLOWSCHEMAS)]
        self.schemas = sorted(
            (s for s in schemas if s.level in levels), key=lambda s: (s.precedence, s.name)
        )
        self._catch_all = next(
            (s for s in self.schemas if s.name == "catch-all"),
            Schema("catch-all", "", 10000, "catch-all", "ByUser", []),
        )
        if "catch-all" not in self.levels:
            self.levels["catch-all"] = Level("catch-all", shares=5, seats=5)
        self._cache = {}
        self._built = True
        self.rebuilds += 1

    def classify(self, user: UserInfo, a: Attributes) -> Ticket:
        if self._stale():
            self._rebuild()
        key = (
            user.name,
            user.groups,
            a.verb,
            a.resource_request,
            a.group,
            a.full_resource,
            a.namespace,
            "" if a.resource_request else a.path,
        )
        schema = self._cache.get(key)
        if schema is None:
            schema = next(
                (s for s in self.schemas if any(r.matches(user, a) for r in s.rules)), None
            )
            schema = schema or self._catch_all
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = schema
        if schema.distinguisher == "ByUser":
            flow = f"{schema.name}/{user.name}"
        elif schema.distinguisher == "ByNamespace":
            flow = f"{schema.name}/{a.namespace}"
        else:
            flow = schema.name
        return Ticket(schema, self.levels[schema.level], flow)


def _always(_labels: dict[str, str], _fields: dict[str, str]) -> bool:
    return True
