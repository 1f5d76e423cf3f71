"""Patches: JSON patch, JSON merge patch, strategic merge patch and server-side apply.

Every function returns a new object and never mutates its inputs.

Strategic merge patch (built-in kinds only) knows the merge keys of the lists it is likely to
meet: ``containers``/``initContainers``/``ephemeralContainers``/``env``/``volumes``/
``imagePullSecrets``/``schedulingGates``/``resourceClaims`` by ``name``, container ``ports`` by
``containerPort`` and Service ``ports`` by ``port``, ``volumeMounts`` by ``mountPath``,
``volumeDevices`` by ``devicePath``, ``conditions`` and node ``addresses`` by ``type``,
``hostAliases``/``podIPs``/``hostIPs`` by ``ip``, ``ownerReferences`` by ``uid``,
``topologySpreadConstraints`` by ``topologyKey``, ServiceAccount ``secrets`` by ``name``;
``metadata.finalizers`` is a set (union). Every other list is atomic (replaced whole). Like
Kubernetes, ``tolerations`` and node ``taints`` are atomic: kubectl computes its patches
assuming that, so merging them would keep tolerations a user removed. Directives: ``$patch:
replace|delete|merge`` on maps and list elements, ``$retainKeys``,
``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>`` (listed elements first in
that order, then the rest in their previous order). ``null`` deletes a key.

Server-side apply (simplified, documented rules):

* Ownership is tracked per manager in ``metadata.managedFields`` as ``FieldsV1`` sets: the
  leaves of the applied configuration (scalars, atomic lists, empty maps), keyed list elements
  as ``k:{"name":"c"}`` (with ``.``), set-list items as ``v:"x"``.
* Applying a field that another manager owns with a *different* value is a conflict
  (409, listing fields and managers) unless ``force``; ``force`` moves ownership. Applying the
  same value makes the field shared. An empty map or keyed list in the configuration only
  says that it exists (it neither clears the live one nor conflicts).
* Fields the applier owned before and no longer applies are removed from the object unless
  another manager still owns them.
* Merging uses the strategic-merge list rules above for built-in API groups; lists of custom
  resources are atomic.
* ``record_update_manager`` gives non-apply writers (``Update``) ownership of the fields they
  changed (coarse: compared leaf by leaf), taking them from other managers without conflict.
"""

from __future__ import annotations

import copy
import json
from enum import StrEnum
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from hyperpod.apiserver import errors

# The strategic merge, field-set and apply halves live in their own modules; these names stay
# importable from here.
from hyperpod.apiserver.apply import record_update_manager as record_update_manager
from hyperpod.apiserver.apply import server_side_apply as server_side_apply
from hyperpod.apiserver.managed_fields import BUILTIN_GROUPS as BUILTIN_GROUPS
from hyperpod.apiserver.managed_fields import field_paths as field_paths
from hyperpod.apiserver.managed_fields import fields_from_v1 as fields_from_v1
from hyperpod.apiserver.managed_fields import fields_to_v1 as fields_to_v1
from hyperpod.apiserver.managed_fields import is_missing as is_missing
from hyperpod.apiserver.managed_fields import render_path as render_path
from hyperpod.apiserver.managed_fields import value_at as value_at
from hyperpod.apiserver.strategic import SET as SET
from hyperpod.apiserver.strategic import apply_strategic_merge_patch as apply_strategic_merge_patch
from hyperpod.apiserver.strategic import list_merge_key as list_merge_key

Obj = dict[str, Any]


class PatchType(StrEnum):
    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"

    @classmethod
    def from_content_type(cls, content_type: str | None) -> PatchType | None:
        """The patch type of a ``Content-Type`` header (parameters such as charset ignored)."""
        if not content_type:
            return None
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/apply-patch+json":
            return cls.APPLY
        for member in cls:
            if member.value == media:
                return member
        return None


# --- JSON patch (RFC 6902) -----------------------------------------------------------------


def _copy_json(obj: Obj) -> Obj:
    """A deep copy of a JSON object: an orjson round trip is ~10x faster than deepcopy."""
    try:
        out: Obj = orjson.loads(orjson.dumps(obj))
    except TypeError:  # not plain JSON (a YAML-only value): the slow, general copy
        out = copy.deepcopy(obj)
    return out


def apply_json_patch(obj: Obj, ops: list[Any]) -> Obj:
    """Apply RFC 6902 operations; 400 for a malformed patch, 422 when it does not apply."""
    if not isinstance(ops, list):
        raise errors.BadRequest("json patch must be a list of operations")
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            raise errors.BadRequest(f"json patch operation {i} must be an object")
        if "op" not in op or "path" not in op:
            raise errors.BadRequest(
                f"json patch operation {i} must have 'op' and 'path' (got {json.dumps(op)})"
            )
    try:
        patch = jsonpatch.JsonPatch(ops)
        result = patch.apply(_copy_json(obj), in_place=True)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise errors.Invalid(
            f"the server rejected our request due to an error: test failed: {exc}"
        ) from exc
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as exc:
        raise errors.Invalid(f"the server rejected our request due to an error: {exc}") from exc
    except jsonpatch.InvalidJsonPatch as exc:
        raise errors.BadRequest(f"invalid json patch: {exc}") from exc
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise errors.Invalid(f"the server rejected our request due to an error: {exc}") from exc
    if not isinstance(result, dict):
        raise errors.Invalid("the json patch replaced the object with a non-object")
    return result


# --- JSON merge patch (RFC 7386) -----------------------------------------------------------


def _merge_into(target: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = target[key] = {}
            _merge_into(current, value)
        else:
            target[key] = copy.deepcopy(value) if isinstance(value, list) else value


def apply_merge_patch(obj: Obj, patch: Obj) -> Obj:
    """Apply an RFC 7386 merge patch: maps merge recursively, ``null`` deletes, rest replaces."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("a merge patch must be a JSON object")
    result = _copy_json(obj)
    _merge_into(result, patch)
    return result
