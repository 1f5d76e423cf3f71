"""Writes of the store: create, update, delete (with finalizers and graceful deletion)."""

from __future__ import annotations

import builtins
import logging
from typing import Any

import orjson

from hyperpod.apiserver import (
    errors,
    kinds,
    patching,
    schema,
    typecheck,
    webhooks,
)
from hyperpod.apiserver.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
)
from hyperpod.apiserver.metadata import generate_name, new_uid, now_rfc3339
from hyperpod.apiserver.resources import ResourceType
from hyperpod.apiserver.store_base import (
    Obj,
    _clone,
    _meta,
    _path_set,
    _strip_for_generation,
)
from hyperpod.apiserver.store_reads import StoreReads
from hyperpod.storage.revlog import OP_CREATE, OP_DELETE, OP_UPDATE

log = logging.getLogger("hyperpod.apiserver.registry")


class StoreWrites(StoreReads):
    """create, update, delete and delete_collection."""

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
        typed: bool = False,
    ) -> Obj:
        """Create ``obj``; ``typed`` is for objects a controller built from typed values:
        they skip the JSON type walk (defaulting, validation and webhooks still run)."""
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
        self._admit(rt, obj, None, field_validation, warnings, dry_run=dry_run, typed=typed)
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
        if api_version != rt.api_version:
            kinds.to_storage(rt.kind, obj, str(api_version).rsplit("/", 1)[-1])
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
        new = _merge_for(rt, sub, new, old)
        nmd = _meta(new)
        omd = old["metadata"]
        if rt.namespaced:
            nmd["namespace"] = ns
        if sub is None:
            self._admit(rt, new, old, field_validation, warnings, dry_run=dry_run)
        else:
            _check_subresource_write(rt, new, str(name), old)
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
        webhooks.admit_delete(self, rt, obj, dry_run)
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


def _merge_for(rt: ResourceType, sub: str | None, new: Obj, old: Obj) -> Obj:
    """What an update of ``sub`` (None, status, finalize) writes: the part it may change taken
    from ``new``, the rest from ``old``; server-owned metadata always from ``old``."""
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
    elif rt.has_status:
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
    return new


def _check_subresource_write(rt: ResourceType, new: Obj, name: str, old: Obj) -> None:
    """Status (and finalize) writes skip admission but are still type-checked (what is
    unchanged from the stored ``old`` was checked when it was written)."""
    if rt.crd and rt.schemas.get(rt.version):
        # Status writes of custom resources are checked against the schema too.
        causes, _ = schema.apply_schema(new, rt.schemas[rt.version], prune=True, old=old)
        if causes:
            raise errors.invalid(rt.kind, name, causes, rt.group)
    elif not rt.crd:
        # Status writes of built-in kinds: the types readers (kubelet, scheduler) rely on.
        causes = typecheck.precheck(
            rt.kind,
            {"status": new.get("status")},
            builtin=True,
            old={"status": old.get("status")},
        )
        if causes:
            raise errors.invalid(rt.kind, name, causes, rt.group)
