"""Strategic merge patch for built-in kinds (the list merge keys and directives).

The rules are described in :mod:`hyperpod.apiserver.patching`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hyperpod.apiserver import errors

Obj = dict[str, Any]


_BY_NAME = {
    "containers",
    "initContainers",
    "ephemeralContainers",
    "env",
    "volumes",
    "imagePullSecrets",
    "schedulingGates",
    "resourceClaims",
}
_KEYS = {
    **dict.fromkeys(_BY_NAME, "name"),
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "hostAliases": "ip",
    "podIPs": "ip",
    "hostIPs": "ip",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
}
_CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}
SET = "<set>"


def list_merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """How a built-in list at ``path`` (field names only) merges: a key, ``SET`` or None (atomic)."""
    if not path:
        return None
    name = path[-1]
    parent = path[-2] if len(path) > 1 else ""
    if name == "ports":
        if parent in _CONTAINER_LISTS:
            return "containerPort"
        if kind == "Service" and path == ("spec", "ports"):
            return "port"
        return None
    if name == "finalizers" and path == ("metadata", "finalizers"):
        return SET
    if name == "addresses" and kind == "Node":
        return "type"
    if name == "secrets" and kind == "ServiceAccount":
        return "name"
    return _KEYS.get(name)


def _is_directive(key: str) -> bool:
    return key.startswith("$")


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not _is_directive(k)}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


class _Strategic:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def merge_map(self, original: Any, patch: Obj, path: tuple[str, ...]) -> Any:
        directive = patch.get("$patch")
        if directive == "replace":
            return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
        if directive == "delete":
            return None
        if directive not in (None, "merge"):
            raise errors.BadRequest(f"unknown patch directive $patch: {directive!r}")
        result: Obj = copy.deepcopy(original) if isinstance(original, dict) else {}
        retain = patch.get("$retainKeys")
        if retain is not None:
            if not isinstance(retain, list):
                raise errors.BadRequest("$retainKeys must be a list of field names")
            extra = [k for k in patch if not _is_directive(k) and k not in retain]
            if extra:
                raise errors.Invalid(
                    f"the patch has fields {extra} that are not listed in $retainKeys {retain}"
                )
        orders: dict[str, Any] = {}
        for key, value in patch.items():
            if key in ("$patch", "$retainKeys"):
                continue
            if key.startswith("$setElementOrder/"):
                orders[key.split("/", 1)[1]] = value
                continue
            if key.startswith("$deleteFromPrimitiveList/"):
                field = key.split("/", 1)[1]
                if not isinstance(value, list):
                    raise errors.BadRequest(f"{key} must be a list")
                current = result.get(field)
                if isinstance(current, list):
                    result[field] = [v for v in current if v not in value]
                continue
            if _is_directive(key):
                raise errors.BadRequest(f"unknown patch directive {key!r}")
            if value is None:
                result.pop(key, None)
            elif isinstance(value, dict):
                merged = self.merge_map(result.get(key), value, (*path, key))
                if merged is None:
                    result.pop(key, None)
                else:
                    result[key] = merged
            elif isinstance(value, list):
                result[key] = self.merge_list(result.get(key), value, (*path, key))
            else:
                result[key] = value
        for field, order in orders.items():
            if isinstance(result.get(field), list):
                result[field] = self.reorder(result[field], order, (*path, field))
        if retain is not None:
            result = {k: v for k, v in result.items() if k in retain}
        return result

    def merge_list(self, original: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
        key = list_merge_key(self.kind, path)
        if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
            return [
                _strip_directives(e)
                for e in patch
                if not (isinstance(e, dict) and e.get("$patch") == "replace")
            ]
        current = list(original) if isinstance(original, list) else []
        if key is None:
            return _strip_directives(copy.deepcopy(patch))
        if key == SET:
            out = copy.deepcopy(current)
            for item in patch:
                if item not in out:
                    out.append(copy.deepcopy(item))
            return out
        out = copy.deepcopy(current)
        for item in patch:
            if not isinstance(item, dict):
                raise errors.BadRequest(
                    f"the list {'.'.join(path)} merges by {key!r}; its items must be objects"
                )
            if key not in item:
                raise errors.BadRequest(
                    f"map: {json.dumps(item)} does not contain declared merge key: {key}"
                )
            at = next(
                (i for i, e in enumerate(out) if isinstance(e, dict) and e.get(key) == item[key]),
                None,
            )
            if item.get("$patch") == "delete":
                out = [e for e in out if not (isinstance(e, dict) and e.get(key) == item[key])]
                continue
            if at is None:
                merged = self.merge_map({}, item, path)
                if merged is not None:
                    out.append(merged)
            else:
                merged = self.merge_map(out[at], item, path)
                if merged is None:
                    del out[at]
                else:
                    out[at] = merged
        return out

    def reorder(self, items: list[Any], order: Any, path: tuple[str, ...]) -> list[Any]:
        if not isinstance(order, list):
            raise errors.BadRequest(f"$setElementOrder/{path[-1]} must be a list")
        key = list_merge_key(self.kind, path)

        def ident(value: Any) -> Any:
            if key not in (None, SET) and isinstance(value, dict):
                return json.dumps(value.get(key), sort_keys=True)
            return json.dumps(value, sort_keys=True)

        rank = {ident(v): i for i, v in enumerate(order)}
        listed = sorted((e for e in items if ident(e) in rank), key=lambda e: rank[ident(e)])
        return listed + [e for e in items if ident(e) not in rank]


def apply_strategic_merge_patch(obj: Obj, patch: Obj, kind: str) -> Obj:
    """Apply a strategic merge patch to a built-in object of ``kind``."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("a strategic merge patch must be a JSON object")
    result = _Strategic(kind).merge_map(obj, patch, ())
    if result is None:
        raise errors.Invalid("the patch deleted the whole object")
    return result
