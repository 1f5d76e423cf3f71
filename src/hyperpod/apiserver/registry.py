"""The registry: generic create/read/update/patch/delete/watch over the revision log.

The store is built in floors: ``store_base`` (state, admission, commit), ``store_reads`` (get,
list, watch), ``store_writes`` (create, update, delete) and this module (patch, scale), so
:class:`Registry` is the one class callers use. Per-kind rules are strategies in ``kinds/``.

Every write, from HTTP or from an in-process controller, passes through here, so defaulting,
validation, admission hooks, resourceVersion, generation, finalizers, graceful pod deletion
and owner references behave the same for kubectl and for our own controllers.

Methods are synchronous and must run on the event-loop thread (SQLite commits are short).
"""

from __future__ import annotations

import builtins
from typing import Any

from hyperpod.apiserver import (
    errors,
    patching,
)
from hyperpod.apiserver.errors import (
    ApiError,
    BadRequest,
)
from hyperpod.apiserver.metadata import now_rfc3339
from hyperpod.apiserver.store_base import (
    CRD_RESOURCE,
    SYSTEM_NAMESPACES,
    Obj,
    Stored,
    _meta,
    log,
)
from hyperpod.apiserver.store_base import DefaultHook as DefaultHook
from hyperpod.apiserver.store_base import Listener as Listener
from hyperpod.apiserver.store_base import ValidateHook as ValidateHook
from hyperpod.apiserver.store_reads import Watch as Watch
from hyperpod.apiserver.store_reads import WatchEvent as WatchEvent
from hyperpod.apiserver.store_writes import StoreWrites

__all__ = ["CRD_RESOURCE", "SYSTEM_NAMESPACES", "Registry", "Stored", "Watch", "WatchEvent"]


class Registry(StoreWrites):
    """Generic storage-backed API semantics for every served resource type."""

    # ------------------------------------------------------------------ start-up objects
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
        new = _apply_patch(current, patch, patch_type, rt.kind, field_manager, force)
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


def _patch_sets_rv(patch: Any, patch_type: patching.PatchType) -> bool:
    if patch_type == patching.PatchType.JSON:
        return isinstance(patch, list) and any(
            isinstance(op, dict) and str(op.get("path", "")).startswith("/metadata/resourceVersion")
            for op in patch
        )
    if isinstance(patch, dict):
        return bool((patch.get("metadata") or {}).get("resourceVersion"))
    return False


def _apply_patch(
    current: Obj,
    patch: Any,
    patch_type: patching.PatchType,
    kind: str,
    field_manager: str | None,
    force: bool,
) -> Any:
    """``current`` with ``patch`` applied; a patch that does not fit is a 4xx, never a 500."""
    try:
        if patch_type == patching.PatchType.JSON:
            if not isinstance(patch, list):
                raise BadRequest("a JSON patch must be a list of operations")
            return patching.apply_json_patch(current, patch)
        elif patch_type == patching.PatchType.MERGE:
            if not isinstance(patch, dict):
                raise BadRequest("a merge patch must be a JSON object")
            return patching.apply_merge_patch(current, patch)
        elif patch_type == patching.PatchType.STRATEGIC:
            if not isinstance(patch, dict):
                raise BadRequest("a strategic merge patch must be a JSON object")
            return patching.apply_strategic_merge_patch(current, patch, kind)
        elif patch_type == patching.PatchType.APPLY:
            if not field_manager:
                raise BadRequest(
                    "PATCH requests of type application/apply-patch require "
                    "a fieldManager query parameter"
                )
            if not isinstance(patch, dict):
                raise BadRequest("the apply configuration must be an object")
            return patching.server_side_apply(current, patch, field_manager, force=force)
        else:
            raise errors.UnsupportedMediaType(f"unsupported patch type {patch_type}")
    except ApiError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise errors.Invalid(f"the patch could not be applied: {exc}") from exc
