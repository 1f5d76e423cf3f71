"""The store's state and its write path: start-up, indexes, admission, commit.

:class:`StoreBase` holds what the registry keeps (the catalog, the revision log, the watch hub,
the in-memory index of live objects) and the two steps every write ends in: ``_admit``
(defaulting, schema, validation, admission hooks, per-kind store hooks) and ``_commit`` (one
revision-log row, index update, watch event, listeners). Reads, writes and patches build on it
(``store_reads``, ``store_writes``, ``registry``).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hyperpod.apiserver import (
    errors,
    fieldcheck,
    kinds,
    schema,
    selectors,
    typecheck,
    validation,
    webhooks,
)
from hyperpod.apiserver.errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
)
from hyperpod.apiserver.metadata import owner_uids
from hyperpod.apiserver.resources import Catalog, ResourceType, from_crd
from hyperpod.storage.revlog import OP_CREATE, OP_DELETE, OP_UPDATE, RevisionLog
from hyperpod.storage.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    Event,
    WatchHub,
)

# Every part of the store logs as the registry.
log = logging.getLogger("hyperpod.apiserver.registry")

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


class StoreBase:
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
            kinds.from_storage(rt.kind, obj, version)
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
        dry_run: bool = False,
        typed: bool = False,
    ) -> None:
        """Defaulting, pruning, validation and admission hooks; raises Invalid/BadRequest.

        ``typed``: the object was built in this process from typed values (an Event of a
        controller), so the walk that refuses clients' wrongly typed JSON is skipped."""
        # Built-in kinds: one schema walk gives both type errors and unknown fields.
        found_unknown: builtins.list[str] = []
        causes: builtins.list[dict[str, str]] = (
            []
            if typed
            else typecheck.precheck(
                rt.kind, obj, builtin=not rt.crd, unknown=found_unknown, old=old
            )
        )
        if causes:
            raise errors.invalid(rt.kind, _meta(obj).get("name"), causes, rt.group)
        unknown: builtins.list[str] = []
        if rt.crd:
            sch = rt.schemas.get(rt.version)
            if sch and not skip_schema:
                c, unknown = schema.apply_schema(obj, sch, prune=True, old=old)
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
            webhooks.mutate(self, rt, obj, old, dry_run, warnings)
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
        webhooks.validate(self, rt, obj, old, dry_run, warnings)

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
        # orjson's result keeps its ~4 KiB output buffer alive for as long as the bytes live;
        # the stored value and the watch history keep it, so copy it once to its own size.
        value = bytes(memoryview(orjson.dumps(obj)))
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
