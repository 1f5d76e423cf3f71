"""The registry: generic create/read/update/patch/delete/watch over the revision log.

Every write, from HTTP or from an in-process controller, passes through here, so defaulting,
validation, admission hooks, resourceVersion, generation, finalizers, graceful pod deletion
and owner references behave the same for kubectl and for our own controllers.

Methods are synchronous and must run on the event-loop thread (SQLite commits are short).
"""

from __future__ import annotations

import base64
import builtins
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hyperpod.apiserver import (
    errors,
    fieldcheck,
    kinds,
    patching,
    schema,
    selectors,
    typecheck,
    validation,
)
from hyperpod.apiserver.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    MethodNotAllowed,
    NotFound,
)
from hyperpod.apiserver.metadata import generate_name, new_uid, now_rfc3339, owner_uids
from hyperpod.apiserver.resources import Catalog, ResourceType, from_crd
from hyperpod.storage.revlog import OP_CREATE, OP_DELETE, OP_UPDATE, RevisionLog
from hyperpod.storage.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    Event,
    Subscriber,
    WatchHub,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DefaultHook = Callable[[Obj], None]
ValidateHook = Callable[[Obj, Obj | None], list[dict[str, str]]]
Listener = Callable[[Event], None]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


@dataclass(slots=True)
class Stored:
    """What the registry keeps in memory per live object."""

    rev: int
    value: bytes
    labels: dict[str, str]
    fields: dict[str, str]
    uid: str
    owners: tuple[str, ...]


@dataclass(slots=True)
class WatchEvent:
    type: str
    object: Obj


class Watch:
    """An in-process watch: ``async for ev in watch`` yields :class:`WatchEvent`."""

    def __init__(
        self,
        reg: Registry,
        sub: Subscriber,
        backlog: list[tuple[str, Event]],
        rt: ResourceType,
        version: str,
    ) -> None:
        self._reg = reg
        self.sub = sub
        self._backlog = backlog
        self._rt = rt
        self._version = version

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchEvent]:
        try:
            while True:
                while self._backlog:
                    typ, ev = self._backlog.pop(0)
                    yield WatchEvent(typ, self._reg._decode(self._rt, ev.value, self._version))
                while self.sub.queue:
                    typ, ev = self.sub.queue.popleft()
                    yield WatchEvent(typ, self._reg._decode(self._rt, ev.value, self._version))
                if self.sub.closed:
                    if self.sub.overflowed:
                        raise Expired("watch fell too far behind; relist")
                    return
                await self.sub.wait()
        finally:
            self._reg.hub.unsubscribe(self.sub)

    def close(self) -> None:
        self._reg.hub.unsubscribe(self.sub)


def _meta(obj: Obj) -> Obj:
    md = obj.get("metadata")
    if md is None:
        md = obj["metadata"] = {}
    if not isinstance(md, dict):
        raise BadRequest("metadata must be an object")
    return md


def _clone(obj: Obj) -> Obj:
    """A deep copy of a JSON object (several times faster than copy.deepcopy)."""
    try:
        out: Obj = orjson.loads(orjson.dumps(obj))
    except TypeError as exc:
        raise BadRequest(f"the object is not valid JSON: {exc}") from exc
    return out


def _strip_for_generation(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Registry:
    """Generic storage-backed API semantics for every served resource type."""

    def __init__(self, path: str | Path, *, history: int = 20_000) -> None:
        self.catalog = Catalog()
        self.log = RevisionLog(path)
        self.hub = WatchHub()
        self.history = history
        self._objects: dict[str, dict[str, Stored]] = {}
        self._by_uid: dict[str, tuple[str, str]] = {}
        self._dependents: dict[str, set[tuple[str, str]]] = {}
        self._admission: dict[
            str, builtins.list[tuple[DefaultHook | None, ValidateHook | None]]
        ] = {}
        self._listeners: builtins.list[Listener] = []
        # (key, reason) of rows moved aside at start-up; reported as Events once served.
        self.quarantined: builtins.list[tuple[str, str]] = []
        self._load()

    # ------------------------------------------------------------------ start-up
    def _load(self) -> None:
        crd_prefix = f"/{CRD_RESOURCE}/"
        rows = list(self.log.current())
        # CRDs first, so the resources they serve exist before their objects are indexed.
        for row in rows:
            if row.key.startswith(crd_prefix):
                try:
                    self.catalog.add(from_crd(orjson.loads(row.value)))
                except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                    continue
        for row in rows:
            resource = row.key.split("/", 2)[1]
            rt = self.catalog.get(resource)
            if rt is None:
                continue
            try:
                obj = orjson.loads(row.value)
                causes = typecheck.metadata_causes(obj)
                if causes or not isinstance(obj.get("metadata"), dict):
                    raise ValueError("; ".join(f"{c['field']}: {c['message']}" for c in causes))
                st = Stored(
                    row.rev,
                    row.value,
                    *self._selectable(rt, obj),
                    obj["metadata"].get("uid", ""),
                    owner_uids(obj),
                )
            except Exception as exc:  # one unreadable row must not stop the cluster
                self._quarantine(row.key, f"{type(exc).__name__}: {exc}")
                continue
            self._index(rt, row.key, st)

    def _quarantine(self, key: str, reason: str) -> None:
        log.error(
            "quarantined unreadable stored object %s (%s); list or purge it with "
            "`hyp controlplane repair --data-dir <dir>`",
            key,
            reason,
        )
        self.log.quarantine(key, reason)
        self.quarantined.append((key, reason))

    def _report_quarantined(self) -> None:
        """A Warning Event in kube-system for each object quarantined at start-up."""
        for key, reason in self.quarantined:
            parts = key.strip("/").split("/")
            name = parts[-1][:200]
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": "quarantined-", "namespace": "kube-system"},
                "involvedObject": {"kind": parts[0], "name": name},
                "reason": "Quarantined",
                "message": f"stored object {key} could not be read back and was moved aside "
                f"({reason[:300]}); see `hyp controlplane repair`",
                "type": "Warning",
                "source": {"component": "kube-apiserver"},
                "count": 1,
                "firstTimestamp": now_rfc3339(),
                "lastTimestamp": now_rfc3339(),
            }
            try:
                self.create("events", body, "kube-system")
            except ApiError:
                log.exception("could not record the quarantine of %s", key)
        self.quarantined.clear()

    def ensure_system_namespaces(self) -> None:
        for ns in SYSTEM_NAMESPACES:
            if self.try_get("namespaces", ns) is None:
                self.create(
                    "namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                )
        self._report_quarantined()

    def close(self) -> None:
        self.log.close()

    def object_counts(self) -> dict[str, int]:
        """Stored objects per resource (``apiserver_storage_objects``), without decoding any."""
        return {name: len(objs) for name, objs in self._objects.items()}

    # ------------------------------------------------------------------ hooks
    def add_admission(
        self, resource: str, default: DefaultHook | None, validate: ValidateHook | None
    ) -> None:
        """Register mutating (``default``) and validating hooks for ``resource``."""
        self._admission.setdefault(resource, []).append((default, validate))

    def add_listener(self, fn: Listener) -> None:
        """``fn(event)`` runs synchronously after every committed write."""
        self._listeners.append(fn)

    # ------------------------------------------------------------------ index
    def _selectable(self, rt: ResourceType, obj: Obj) -> tuple[dict[str, str], dict[str, str]]:
        md = obj.get("metadata") or {}
        labels = md.get("labels") or {}
        return dict(labels), selectors.object_fields(rt.kind, obj)

    def _index(self, rt: ResourceType, key: str, st: Stored) -> None:
        self._objects.setdefault(rt.name, {})[key] = st
        if st.uid:
            self._by_uid[st.uid] = (rt.name, key)
        for o in st.owners:
            self._dependents.setdefault(o, set()).add((rt.name, key))

    def _unindex(self, rt: ResourceType, key: str, st: Stored) -> None:
        self._objects.get(rt.name, {}).pop(key, None)
        if st.uid:
            self._by_uid.pop(st.uid, None)
        for o in st.owners:
            deps = self._dependents.get(o)
            if deps:
                deps.discard((rt.name, key))
                if not deps:
                    del self._dependents[o]

    def exists_uid(self, uid: str) -> bool:
        return uid in self._by_uid

    def lookup_uid(self, uid: str) -> Obj | None:
        """The live object with ``uid``, or None."""
        ref = self._by_uid.get(uid)
        if ref is None:
            return None
        st = self._objects.get(ref[0], {}).get(ref[1])
        return orjson.loads(st.value) if st else None

    def dependents(self, uid: str) -> builtins.list[tuple[str, str]]:
        """(resource, key) of every live object with an ownerReference to ``uid``."""
        return sorted(self._dependents.get(uid, ()))

    def object_by_key(self, resource: str, key: str) -> Obj | None:
        st = self._objects.get(resource, {}).get(key)
        return orjson.loads(st.value) if st else None

    @property
    def revision(self) -> int:
        return self.log.rev

    # ------------------------------------------------------------------ helpers
    def resolve(self, resource: str) -> tuple[ResourceType, str | None]:
        return self.catalog.resolve(resource)

    def _decode(self, rt: ResourceType, value: bytes, version: str | None) -> Obj:
        obj: Obj = orjson.loads(value)
        if version and version != rt.version:
            obj["apiVersion"] = rt.api_version_for(version)
        return obj

    def _ns_for(self, rt: ResourceType, namespace: str | None, obj: Obj | None = None) -> str:
        if not rt.namespaced:
            return ""
        body_ns = ((obj or {}).get("metadata") or {}).get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        ns = namespace or body_ns or ("default" if obj is not None else None)
        if not ns:
            raise BadRequest(f"a namespace is required for {rt.plural}")
        return str(ns)

    def _not_found(self, rt: ResourceType, name: str) -> NotFound:
        res = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        return NotFound(f'{res} "{name}" not found', name=name, group=rt.group, kind=rt.plural)

    def _stored(self, rt: ResourceType, ns: str, name: str) -> tuple[str, Stored | None]:
        key = rt.key(ns, name)
        return key, self._objects.get(rt.name, {}).get(key)

    def _strategy(self, rt: ResourceType) -> kinds.Strategy | None:
        """The strategy of a built-in kind (custom resources have none)."""
        return None if rt.crd else kinds.strategy_for(rt.kind)

    def namespace_of(self, rt: ResourceType, namespace: str | None) -> str:
        """The namespace a request for ``rt`` addresses ("" for cluster-scoped kinds)."""
        return self._ns_for(rt, namespace)

    def commit_update(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store ``obj`` over its current version as is: no admission (subresource handlers)."""
        md = obj["metadata"]
        key, st = self._stored(rt, md.get("namespace") or "", md["name"])
        assert st is not None
        return self._commit(rt, key, OP_UPDATE, obj, st)

    def _check_verb(self, rt: ResourceType, verb: str) -> None:
        if verb not in rt.verbs:
            raise MethodNotAllowed(f"{verb} is not supported on resources of kind {rt.kind}")

    def _check_namespace_open(self, ns: str) -> None:
        key = f"/namespaces/{ns}"
        st = self._objects.get("namespaces", {}).get(key)
        if st is None:
            raise NotFound(f'namespaces "{ns}" not found', name=ns, kind="namespaces")
        if b'"deletionTimestamp"' in st.value:
            raise Forbidden(
                f"unable to create new content in namespace {ns} because it is being terminated",
                name=ns,
                kind="namespaces",
            )

    # ------------------------------------------------------------------ admission
    def _admit(
        self,
        rt: ResourceType,
        obj: Obj,
        old: Obj | None,
        field_validation: str,
        warnings: builtins.list[str] | None,
        *,
        skip_schema: bool = False,
    ) -> None:
        """Defaulting, pruning, validation and admission hooks; raises Invalid/BadRequest."""
        # Built-in kinds: one schema walk gives both type errors and unknown fields.
        found_unknown: builtins.list[str] = []
        causes: builtins.list[dict[str, str]] = typecheck.precheck(
            rt.kind, obj, builtin=not rt.crd, unknown=found_unknown
        )
        if causes:
            raise errors.invalid(rt.kind, _meta(obj).get("name"), causes, rt.group)
        unknown: builtins.list[str] = []
        if rt.crd:
            sch = rt.schemas.get(rt.version)
            if sch and not skip_schema:
                c, unknown = schema.apply_schema(obj, sch, prune=True)
                if c:  # admission hooks only ever see objects of the schema's types
                    raise errors.invalid(rt.kind, _meta(obj).get("name"), c, rt.group)
        else:
            kinds.prepare(rt.kind, obj, old)
            validation.default_builtin(rt.kind, obj)
            if field_validation in ("Strict", "Warn"):
                unknown = found_unknown
        if unknown:
            if field_validation == "Strict":
                raise BadRequest(
                    "strict decoding error: "
                    + ", ".join(f'unknown field "{u.lstrip(".")}"' for u in unknown)
                )
            if field_validation == "Warn" and warnings is not None:
                warnings.extend(f'unknown field "{u.lstrip(".")}"' for u in unknown)
        try:
            for default, _ in self._admission.get(rt.name, ()):
                if default is not None:
                    default(obj)
            if not rt.crd:
                causes.extend(validation.validate_builtin(rt.kind, obj, old))
            else:
                causes.extend(fieldcheck.validate_object_meta(obj, rt.namespaced))
            for _, validate in self._admission.get(rt.name, ()):
                if validate is not None:
                    causes.extend(validate(obj, old))
            if (strategy := self._strategy(rt)) is not None:
                causes.extend(strategy.validate_in(self, obj, old))
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            # A shape no rule foresaw: refuse it (4xx), never store it, never answer 500.
            log.warning("admission of %s %s refused on %r", rt.kind, _meta(obj).get("name"), exc)
            raise BadRequest(
                f"{rt.kind} {_meta(obj).get('name')!r} could not be validated: a field has an "
                f"unexpected type or value ({type(exc).__name__}: {exc})"
            ) from exc
        if causes:
            raise errors.invalid(rt.kind, _meta(obj).get("name"), causes, rt.group)

    # ------------------------------------------------------------------ commit
    def _commit(self, rt: ResourceType, key: str, op: int, obj: Obj, prev: Stored | None) -> Obj:
        rev = self.log.next_rev()
        md = obj["metadata"]
        if op != OP_DELETE:
            # The last guard before the row is written: what is stored must read back.
            causes = typecheck.metadata_causes(obj)
            if causes:
                raise errors.invalid(rt.kind, md.get("name"), causes, rt.group)
        md["resourceVersion"] = str(rev)
        value = orjson.dumps(obj)
        labels, fields = self._selectable(rt, obj)
        st = Stored(rev, value, labels, fields, md.get("uid", ""), owner_uids(obj))
        self.log.append(key, op, prev.rev if prev else 0, value, rev)
        if prev is not None:
            self._unindex(rt, key, prev)
        if op == OP_DELETE:
            typ = DELETED
        else:
            self._index(rt, key, st)
            typ = ADDED if op == OP_CREATE else MODIFIED
        ev = Event(
            rev,
            typ,
            rt.name,
            md.get("namespace", "") or "",
            md.get("name", ""),
            value,
            labels,
            fields,
            prev.labels if prev else None,
            prev.fields if prev else None,
        )
        self.hub.publish(ev)
        if (strategy := self._strategy(rt)) is not None:
            strategy.after_commit(self, obj, op == OP_DELETE)
        for fn in self._listeners:
            try:
                fn(ev)
            except Exception:  # the write is committed: a listener's failure must not undo it
                log.exception("write listener %r failed on %s", fn, key)
        if self.log.rev - self.log.compacted > self.history * 2:
            self.log.compact(self.history)
        return obj

    # ------------------------------------------------------------------ reads
    def get(
        self, resource: str, name: str, namespace: str | None = None, *, version: str | None = None
    ) -> Obj:
        rt, sub = self.resolve(resource)
        self._check_verb(rt, "get")
        ns = self._ns_for(rt, namespace)
        _, st = self._stored(rt, ns, name)
        if st is None:
            raise self._not_found(rt, name)
        obj = self._decode(rt, st.value, version)
        if sub == "scale":
            return self._scale_of(rt, obj)
        return obj

    def get_raw(self, rt: ResourceType, name: str, namespace: str | None) -> bytes:
        """The stored JSON of one object (storage version), for the HTTP fast path."""
        ns = self._ns_for(rt, namespace)
        _, st = self._stored(rt, ns, name)
        if st is None:
            raise self._not_found(rt, name)
        return st.value

    def try_get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.get(resource, name, namespace)
        except NotFound:
            return None

    def _field_selector(self, rt: ResourceType, text: str | None) -> selectors.FieldSelector | None:
        """The parsed selector; a field the kind cannot be selected by is a 400."""
        if not text:
            return None
        fsel = selectors.parse_field_selector(text)
        allowed = {"metadata.name", "metadata.namespace"}
        if not rt.crd:
            allowed.update(selectors.SELECTABLE_FIELDS.get(rt.kind, ()))
            allowed.update(kinds.selectable_field_names(rt.kind))
        for field in sorted(fsel.fields()):
            if field not in allowed:
                raise BadRequest(
                    f'"{field}" is not a known field selector: only "{", ".join(sorted(allowed))}"'
                )
        return fsel

    def _matching(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> builtins.list[tuple[str, Stored]]:
        lsel = selectors.parse_label_selector(label_selector) if label_selector else None
        fsel = self._field_selector(rt, field_selector)
        items = self._objects.get(rt.name, {})
        prefix = rt.prefix(namespace)
        out = []
        candidates: Iterable[tuple[str, Stored]] = items.items()
        name = fsel.exact("metadata.name") if fsel is not None else None
        if name is not None and (namespace or not rt.namespaced):
            # kubectl wait/delete select one object by name: a key lookup, not a scan.
            key = rt.key(namespace, name)
            candidates = [(key, items[key])] if key in items else []
        for key, st in candidates:
            if namespace and rt.namespaced and not key.startswith(prefix):
                continue
            if lsel is not None and not lsel.matches(st.labels):
                continue
            if fsel is not None and not fsel.matches(st.fields):
                continue
            out.append((key, st))
        out.sort(key=lambda kv: kv[0])
        return out

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[Obj]:
        rt, _ = self.resolve(resource)
        return [
            orjson.loads(st.value)
            for _, st in self._matching(rt, namespace, label_selector, field_selector)
        ]

    def list_raw(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> tuple[builtins.list[bytes], str, str | None, int | None]:
        """(item values, list resourceVersion, continue token, remainingItemCount)."""
        self._check_verb(rt, "list")
        matches = self._matching(rt, namespace, label_selector, field_selector)
        rv = self.log.rev
        start = 0
        if continue_:
            try:
                tok = orjson.loads(base64.urlsafe_b64decode(continue_.encode()))
                after = str(tok["start"])
                rv = int(tok["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BadRequest(f"invalid continue token: {continue_}") from exc
            if rv < self.log.compacted:
                raise Expired(
                    "The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without "
                    "the continue parameter."
                )
            lo, hi = 0, len(matches)
            while lo < hi:
                mid = (lo + hi) // 2
                if matches[mid][0] <= after:
                    lo = mid + 1
                else:
                    hi = mid
            start = lo
        end = len(matches) if not limit or limit <= 0 else min(len(matches), start + limit)
        page = matches[start:end]
        token = None
        remaining = None
        if end < len(matches):
            token = base64.urlsafe_b64encode(
                orjson.dumps({"rv": rv, "start": page[-1][0]})
            ).decode()
            remaining = len(matches) - end
        return [st.value for _, st in page], str(rv), token, remaining

    def list_object(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Obj:
        rt, _ = self.resolve(resource)
        values, rv, token, remaining = self.list_raw(
            rt,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_=continue_,
        )
        md: Obj = {"resourceVersion": rv}
        if token:
            md["continue"] = token
            md["remainingItemCount"] = remaining
        return {
            "apiVersion": rt.api_version,
            "kind": rt.list_kind,
            "metadata": md,
            "items": [orjson.loads(v) for v in values],
        }

    # ------------------------------------------------------------------ watch
    def subscribe(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        resource_version: str | None,
    ) -> tuple[Subscriber, builtins.list[tuple[str, Event]]]:
        """A live subscriber plus the backlog a watch must send first.

        No resourceVersion (or "0"): ADDED for every current object, then changes.
        Otherwise: every change after that revision, or :class:`Expired` when compacted.
        """
        lsel = selectors.parse_label_selector(label_selector) if label_selector else None
        fsel = self._field_selector(rt, field_selector)

        def matches(labels: dict[str, str], fields: dict[str, str]) -> bool:
            return (lsel is None or lsel.matches(labels)) and (fsel is None or fsel.matches(fields))

        ns = namespace if rt.namespaced else None
        sub = Subscriber(rt.name, ns or None, matches)
        backlog: builtins.list[tuple[str, Event]] = []
        if resource_version in (None, "", "0"):
            for key, st in self._matching(rt, ns, label_selector, field_selector):
                _, _, rest = key.partition(rt.prefix())
                backlog.append(
                    (
                        ADDED,
                        Event(
                            st.rev, ADDED, rt.name, ns or "", rest, st.value, st.labels, st.fields
                        ),
                    )
                )
        else:
            try:
                after = int(resource_version)
            except ValueError as exc:
                raise BadRequest(f"invalid resourceVersion: {resource_version}") from exc
            if after < self.log.compacted:
                raise Expired(f"too old resource version: {after} ({self.log.compacted})")
            if after < self.log.rev:
                replay = self.hub.replay(rt.name, after)
                if replay is None:
                    replay = self._replay_from_log(rt, after)
                collector = Subscriber(rt.name, ns or None, matches, limit=10**9)
                for ev in replay:
                    collector.offer(ev)
                backlog = list(collector.queue)
        self.hub.subscribe(sub)
        return sub, backlog

    def _replay_from_log(self, rt: ResourceType, after: int) -> builtins.list[Event]:
        out: builtins.list[Event] = []
        for row in self.log.since(after, f"/{rt.name}/"):
            obj = orjson.loads(row.value)
            labels, fields = self._selectable(rt, obj)
            prev_labels = prev_fields = None
            if row.op == OP_UPDATE and row.prev_rev:
                prev = self.log.at(row.prev_rev)
                if prev is not None:
                    prev_labels, prev_fields = self._selectable(rt, orjson.loads(prev.value))
            typ = {OP_CREATE: ADDED, OP_UPDATE: MODIFIED, OP_DELETE: DELETED}[row.op]
            md = obj.get("metadata") or {}
            out.append(
                Event(
                    row.rev,
                    typ,
                    rt.name,
                    md.get("namespace", "") or "",
                    md.get("name", ""),
                    row.value,
                    labels,
                    fields,
                    prev_labels,
                    prev_fields,
                )
            )
        return out

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        version: str | None = None,
    ) -> Watch:
        rt, _ = self.resolve(resource)
        self._check_verb(rt, "watch")
        sub, backlog = self.subscribe(
            rt, namespace, label_selector, field_selector, resource_version
        )
        return Watch(self, sub, backlog, rt, version or rt.version)

    # ------------------------------------------------------------------ create
    def create(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        field_validation: str = "Ignore",
        warnings: builtins.list[str] | None = None,
        version: str | None = None,
    ) -> Obj:
        rt, sub = self.resolve(resource)
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        if sub is not None:
            return self._create_subresource(rt, sub, resource, obj, namespace, dry_run)
        self._check_verb(rt, "create")
        obj = _clone(obj)
        self._check_type(rt, obj, version)
        md = _meta(obj)
        meta_causes = typecheck.metadata_causes(obj)
        if meta_causes:
            raise errors.invalid(rt.kind, None, meta_causes, rt.group)
        ns = self._ns_for(rt, namespace, obj)
        if rt.namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name"):
            gen = md.get("generateName")
            if not gen:
                raise errors.invalid(
                    rt.kind,
                    None,
                    [
                        errors.cause(
                            "metadata.name",
                            "Required value: name or generateName is required",
                            "FieldValueRequired",
                        )
                    ],
                    rt.group,
                )
            md["name"] = generate_name(str(gen))
        name = str(md["name"])
        for k in (
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "creationTimestamp",
            "generation",
        ):
            md.pop(k, None)
        md["uid"] = new_uid()
        md["creationTimestamp"] = now_rfc3339()
        md["generation"] = 1
        if rt.has_status and rt.crd:
            obj.pop("status", None)
        if rt.namespaced:
            self._check_namespace_open(ns)
        self._admit(rt, obj, None, field_validation, warnings)
        if field_manager:
            patching.record_update_manager(None, obj, field_manager, "Update")
        key, st = self._stored(rt, ns, name)
        if st is not None:
            res = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise AlreadyExists(
                f'{res} "{name}" already exists', name=name, group=rt.group, kind=rt.plural
            )
        if (strategy := self._strategy(rt)) is not None:
            strategy.prepare_status(obj)
        if dry_run:
            return obj
        return self._commit(rt, key, OP_CREATE, obj, None)

    def _create_subresource(
        self, rt: ResourceType, sub: str, resource: str, body: Obj, ns: str | None, dry_run: bool
    ) -> Obj:
        strategy = self._strategy(rt)
        answer = strategy.create_subresource(self, sub, body, ns, dry_run) if strategy else None
        if answer is not None:
            return answer
        if sub in ("binding", "eviction"):
            raise MethodNotAllowed(f"{sub} is only served for pods")
        raise MethodNotAllowed(f"create is not supported on {resource}")

    def _check_type(self, rt: ResourceType, obj: Obj, version: str | None) -> None:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version is None and kind is None:
            obj["apiVersion"] = rt.api_version
            obj["kind"] = rt.kind
            return
        want_versions = [rt.api_version_for(v) for v in rt.versions]
        if kind != rt.kind or api_version not in want_versions:
            raise BadRequest(
                f"the API version in the data ({api_version}) and kind ({kind}) do not match "
                f"the resource {rt.api_version_for(version or rt.version)}, Kind={rt.kind}"
            )
        obj["apiVersion"] = rt.api_version

    # ------------------------------------------------------------------ update
    def update(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        field_validation: str = "Ignore",
        warnings: builtins.list[str] | None = None,
        version: str | None = None,
        _skip_rv_check: bool = False,
    ) -> Obj:
        rt, sub = self.resolve(resource)
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        self._check_verb(rt, "update")
        if sub == "scale":
            return self._update_scale(rt, obj, namespace, dry_run)
        if sub not in (None, "status", "finalize"):
            raise MethodNotAllowed(f"update is not supported on {resource}")
        new = _clone(obj)
        self._check_type(rt, new, version)
        md = _meta(new)
        ns = self._ns_for(rt, namespace, new)
        name = md.get("name")
        if not name:
            raise BadRequest("metadata.name is required for an update")
        key, st = self._stored(rt, ns, str(name))
        if st is None:
            raise self._not_found(rt, str(name))
        old = orjson.loads(st.value)
        rv = md.get("resourceVersion")
        if rv and not _skip_rv_check and str(rv) != str(st.rev):
            res = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise Conflict(
                f'Operation cannot be fulfilled on {res} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                name=str(name),
                group=rt.group,
                kind=rt.plural,
            )
        if sub == "status":
            merged = _clone(old)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            new = merged
        elif sub == "finalize":
            merged = _clone(old)
            merged.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get(
                "finalizers"
            ) or []
            new = merged
        else:
            if rt.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        nmd = _meta(new)
        omd = old["metadata"]
        for k in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if k in omd:
                nmd[k] = omd[k]
            else:
                nmd.pop(k, None)
        if rt.namespaced:
            nmd["namespace"] = ns
        if sub is None:
            self._admit(rt, new, old, field_validation, warnings)
        elif rt.crd and rt.schemas.get(rt.version):
            # Status writes of custom resources are checked against the schema too.
            causes, _ = schema.apply_schema(new, rt.schemas[rt.version], prune=True)
            if causes:
                raise errors.invalid(rt.kind, str(name), causes, rt.group)
        elif not rt.crd:
            # Status writes of built-in kinds: the types readers (kubelet, scheduler) rely on.
            causes = typecheck.precheck(rt.kind, {"status": new.get("status")}, builtin=True)
            if causes:
                raise errors.invalid(rt.kind, str(name), causes, rt.group)
        if _strip_for_generation(new) != _strip_for_generation(old):
            nmd["generation"] = int(omd.get("generation") or 1) + 1
        if field_manager:
            patching.record_update_manager(old, new, field_manager, "Update")
        strategy = self._strategy(rt)
        if strategy is not None and sub is None:
            strategy.prepare_status(new)
        if dry_run:
            return new
        # An object being deleted goes once its last finalizer is removed.
        if (
            nmd.get("deletionTimestamp")
            and not nmd.get("finalizers")
            and not (strategy is not None and strategy.lingers(new))
        ):
            return self._commit(rt, key, OP_DELETE, new, st)
        if new == old:
            return old  # no-op writes do not bump the revision (like the apiserver)
        return self._commit(rt, key, OP_UPDATE, new, st)

    # ------------------------------------------------------------------ patch
    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        patch_type: patching.PatchType,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
        field_validation: str = "Ignore",
        warnings: builtins.list[str] | None = None,
        version: str | None = None,
    ) -> Obj:
        rt, sub = self.resolve(resource)
        self._check_verb(rt, "patch")
        ns = self._ns_for(rt, namespace)
        _key, st = self._stored(rt, ns, name)
        if patch_type == patching.PatchType.STRATEGIC and rt.crd:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json-patch+json, application/merge-patch+json, "
                f"application/apply-patch+yaml (strategic merge patch is not supported by "
                f"{rt.api_version_for(version or rt.version)}, Kind={rt.kind})"
            )
        if st is None:
            if patch_type == patching.PatchType.APPLY and sub is None:
                if not field_manager:
                    raise BadRequest(
                        "PATCH requests of type application/apply-patch require "
                        "a fieldManager query parameter"
                    )
                if not isinstance(patch, dict):
                    raise BadRequest("the apply configuration must be an object")
                applied = patching.server_side_apply(None, patch, field_manager, force=force)
                amd = _meta(applied)
                if amd.get("name") and amd["name"] != name:
                    raise BadRequest("the name of the object does not match the name on the URL")
                amd["name"] = name
                return self.create(
                    resource,
                    applied,
                    ns or None,
                    dry_run=dry_run,
                    field_validation=field_validation,
                    warnings=warnings,
                    version=version,
                )
            raise self._not_found(rt, name)
        current = self._decode(rt, st.value, version)
        if sub == "scale":
            current = self._scale_of(rt, current)
        try:
            if patch_type == patching.PatchType.JSON:
                if not isinstance(patch, list):
                    raise BadRequest("a JSON patch must be a list of operations")
                new = patching.apply_json_patch(current, patch)
            elif patch_type == patching.PatchType.MERGE:
                if not isinstance(patch, dict):
                    raise BadRequest("a merge patch must be a JSON object")
                new = patching.apply_merge_patch(current, patch)
            elif patch_type == patching.PatchType.STRATEGIC:
                if not isinstance(patch, dict):
                    raise BadRequest("a strategic merge patch must be a JSON object")
                new = patching.apply_strategic_merge_patch(current, patch, rt.kind)
            elif patch_type == patching.PatchType.APPLY:
                if not field_manager:
                    raise BadRequest(
                        "PATCH requests of type application/apply-patch require "
                        "a fieldManager query parameter"
                    )
                if not isinstance(patch, dict):
                    raise BadRequest("the apply configuration must be an object")
                new = patching.server_side_apply(current, patch, field_manager, force=force)
            else:
                raise errors.UnsupportedMediaType(f"unsupported patch type {patch_type}")
        except ApiError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise errors.Invalid(f"the patch could not be applied: {exc}") from exc
        if not isinstance(new, dict):
            raise errors.Invalid("the patch did not produce an object")
        nmd = _meta(new)
        if nmd.get("name", name) != name:
            raise BadRequest("the name of the object does not match the name on the URL")
        nmd["name"] = name
        if sub == "scale":
            return self._update_scale(rt, new, ns, dry_run)
        # A patch applies to the current object: its resourceVersion is a precondition only
        # when the patch itself carries one.
        skip = not _patch_sets_rv(patch, patch_type)
        return self.update(
            resource,
            new,
            ns or None,
            dry_run=dry_run,
            field_manager=None if patch_type == patching.PatchType.APPLY else field_manager,
            field_validation=field_validation,
            warnings=warnings,
            version=version,
            _skip_rv_check=skip,
        )

    # ------------------------------------------------------------------ scale
    def _scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        sc = rt.scale or {}
        spec_path = sc.get("specReplicasPath", ".spec.replicas")
        status_path = sc.get("statusReplicasPath", ".status.replicas")
        md = obj["metadata"]
        out: Obj = {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": md["name"],
                "namespace": md.get("namespace"),
                "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion"),
                "creationTimestamp": md.get("creationTimestamp"),
            },
            "spec": {"replicas": _path_get(obj, spec_path) or 0},
            "status": {"replicas": _path_get(obj, status_path) or 0},
        }
        sel_path = sc.get("labelSelectorPath")
        if sel_path:
            sel = _path_get(obj, sel_path)
            if sel:
                out["status"]["selector"] = sel
        return out

    def _update_scale(
        self, rt: ResourceType, scale: Obj, namespace: str | None, dry_run: bool
    ) -> Obj:
        md = _meta(scale)
        name = str(md.get("name") or "")
        ns = self._ns_for(rt, namespace)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                "Scale",
                name,
                [
                    errors.cause(
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
                "autoscaling",
            )
        obj = self.get(rt.name, name, ns or None)
        _path_set(obj, (rt.scale or {}).get("specReplicasPath", ".spec.replicas"), replicas)
        if (
            md.get("resourceVersion")
            and md["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise Conflict(
                f'Operation cannot be fulfilled on {rt.plural} "{name}": the object '
                "has been modified; please apply your changes to the latest version "
                "and try again"
            )
        new = self.update(rt.name, obj, ns or None, dry_run=dry_run)
        return self._scale_of(rt, new)

    # ------------------------------------------------------------------ delete
    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete one object; returns its last state (with deletionTimestamp if it lingers)."""
        rt, sub = self.resolve(resource)
        if sub is not None:
            raise MethodNotAllowed(f"delete is not supported on {resource}")
        self._check_verb(rt, "delete")
        if propagation_policy not in (None, "", "Orphan", "Background", "Foreground"):
            raise BadRequest(
                f"propagationPolicy {propagation_policy!r} is not one of Orphan, "
                "Background, Foreground"
            )
        ns = self._ns_for(rt, namespace)
        key, st = self._stored(rt, ns, name)
        if st is None:
            raise self._not_found(rt, name)
        obj = orjson.loads(st.value)
        md = obj["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != md.get("uid"):
            raise Conflict(
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                f"object meta: {md.get('uid')}",
                name=name,
            )
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(st.rev):
            raise Conflict(
                f"Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: {st.rev}",
                name=name,
            )
        if dry_run:
            return obj
        finalizers = list(md.get("finalizers") or [])
        changed = False
        if propagation_policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
            changed = True
        if propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
            changed = True
        if propagation_policy == "Background" and "orphan" in finalizers:
            finalizers.remove("orphan")
            changed = True
        if changed:
            md["finalizers"] = finalizers
        graceful = namespace_pending = False
        if (strategy := self._strategy(rt)) is not None:
            graceful, grace_changed = strategy.graceful_delete(obj, grace_period_seconds)
            changed = changed or grace_changed
            namespace_pending = strategy.delete_pending(obj)
        if finalizers or graceful or namespace_pending:
            if not md.get("deletionTimestamp"):
                md["deletionTimestamp"] = now_rfc3339()
                md.setdefault("deletionGracePeriodSeconds", 0)
                changed = True
            if changed or namespace_pending:
                return self._commit(rt, key, OP_UPDATE, obj, st)
            return obj
        if not md.get("deletionTimestamp"):
            md["deletionTimestamp"] = now_rfc3339()
            md["deletionGracePeriodSeconds"] = 0
        return self._commit(rt, key, OP_DELETE, obj, st)

    def delete_collection(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Obj]:
        rt, _ = self.resolve(resource)
        self._check_verb(rt, "deletecollection")
        out = []
        for key, _st in self._matching(rt, namespace, label_selector, field_selector):
            name = key.rsplit("/", 1)[1]
            ns = key.split("/")[2] if rt.namespaced else None
            try:
                out.append(
                    self.delete(
                        resource,
                        name,
                        ns,
                        propagation_policy=propagation_policy,
                        grace_period_seconds=grace_period_seconds,
                        dry_run=dry_run,
                    )
                )
            except NotFound:
                continue
        return out


def _patch_sets_rv(patch: Any, patch_type: patching.PatchType) -> bool:
    if patch_type == patching.PatchType.JSON:
        return isinstance(patch, list) and any(
            isinstance(op, dict) and str(op.get("path", "")).startswith("/metadata/resourceVersion")
            for op in patch
        )
    if isinstance(patch, dict):
        return bool((patch.get("metadata") or {}).get("resourceVersion"))
    return False


def _path_parts(path: str) -> builtins.list[str]:
    return [p for p in path.strip().lstrip(".").split(".") if p]


def _path_get(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for p in _path_parts(path):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _path_set(obj: Obj, path: str, value: Any) -> None:
    parts = _path_parts(path)
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
