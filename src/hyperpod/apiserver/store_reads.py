"""Reads of the store: get, list (with selectors and pages), and watch."""

from __future__ import annotations

import base64
import builtins
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import orjson

from hyperpod.apiserver import (
    kinds,
    selectors,
)
from hyperpod.apiserver.errors import (
    BadRequest,
    Expired,
    NotFound,
)
from hyperpod.apiserver.resources import ResourceType
from hyperpod.apiserver.store_base import (
    Obj,
    StoreBase,
    Stored,
    _path_get,
)
from hyperpod.storage.revlog import OP_CREATE, OP_DELETE, OP_UPDATE
from hyperpod.storage.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    Event,
    Subscriber,
)

log = logging.getLogger("hyperpod.apiserver.registry")


@dataclass(slots=True)
class WatchEvent:
    type: str
    object: Obj


class Watch:
    """An in-process watch: ``async for ev in watch`` yields :class:`WatchEvent`."""

    def __init__(
        self,
        reg: StoreBase,
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


class StoreReads(StoreBase):
    """get, list and watch over the in-memory index and the revision log."""

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
