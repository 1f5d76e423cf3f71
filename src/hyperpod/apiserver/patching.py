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
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import jsonpatch
import jsonpointer

from hyperpod.api.meta import now_rfc3339
from hyperpod.apiserver import errors

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
        result = patch.apply(copy.deepcopy(obj), in_place=True)
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


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def apply_merge_patch(obj: Obj, patch: Obj) -> Obj:
    """Apply an RFC 7386 merge patch: maps merge recursively, ``null`` deletes, rest replaces."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("a merge patch must be a JSON object")
    result = _merge(obj, patch)
    assert isinstance(result, dict)
    return result


# --- strategic merge patch -----------------------------------------------------------------

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


# --- field sets (managedFields FieldsV1) ---------------------------------------------------

Path = tuple[str, ...]
BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "coordination.k8s.io",
    "scheduling.k8s.io",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "events.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
}
_UNTRACKED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
}


def _group_of(obj: Obj) -> str:
    api_version = str(obj.get("apiVersion") or "v1")
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _key_segment(key: str, value: Any) -> str:
    return "k:" + json.dumps({key: value}, separators=(",", ":"), sort_keys=True)


def _skipped(path: Path, names: tuple[str, ...], key: str) -> bool:
    """Fields that ownership never covers: apiVersion/kind and system metadata."""
    return (not path and key in ("apiVersion", "kind")) or (
        names == ("metadata",) and key in _UNTRACKED_META
    )


def _keyed(value: list[Any], key: str | None) -> bool:
    return key not in (None, SET) and all(isinstance(e, dict) and key in e for e in value)


def _set_segment(item: Any) -> str:
    return "v:" + json.dumps(item, separators=(",", ":"))


def _collect(
    value: Any, path: Path, names: tuple[str, ...], kind: str, builtin: bool, out: set[Path]
) -> None:
    """Add the leaf paths of ``value`` (found at ``path``) to ``out``."""
    if isinstance(value, dict):
        if not value and path:
            out.add(path)
        for k, v in value.items():
            if not _skipped(path, names, k):
                _collect(v, (*path, f"f:{k}"), (*names, k), kind, builtin, out)
        return
    if isinstance(value, list):
        key = list_merge_key(kind, names) if builtin else None
        if key == SET:
            if not value:
                out.add(path)
            out.update((*path, _set_segment(item)) for item in value)
            return
        if _keyed(value, key):
            assert key is not None
            if not value:
                out.add(path)
            for item in value:
                element = (*path, _key_segment(key, item[key]))
                out.add((*element, "."))
                _collect(item, element, names, kind, builtin, out)
            return
    out.add(path)


def field_paths(obj: Obj) -> set[Path]:
    """The leaf fields of ``obj`` as FieldsV1 paths (``("f:spec", "f:replicas")``)."""
    out: set[Path] = set()
    _collect(obj, (), (), str(obj.get("kind") or ""), _group_of(obj) in BUILTIN_GROUPS, out)
    return out


def _diff(
    old: Any,
    new: Any,
    path: Path,
    names: tuple[str, ...],
    kind: str,
    builtin: bool,
    changed: set[Path],
    removed: set[Path],
) -> None:
    """Leaves of ``new`` that differ from ``old`` and paths of ``old`` that are gone.

    Equal subtrees are skipped with one comparison, so unchanged parts cost little.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        if not new and old and path:
            removed.add(path)
            changed.add(path)
        for k, v in new.items():
            if _skipped(path, names, k):
                continue
            ov = old.get(k, _MISSING)
            if ov is not _MISSING and ov == v:
                continue
            _diff(ov, v, (*path, f"f:{k}"), (*names, k), kind, builtin, changed, removed)
        for k in old:
            if k not in new and not _skipped(path, names, k):
                removed.add((*path, f"f:{k}"))
        return
    if isinstance(old, list) and isinstance(new, list):
        key = list_merge_key(kind, names) if builtin else None
        if key == SET:
            changed.update((*path, _set_segment(i)) for i in new if i not in old)
            removed.update((*path, _set_segment(i)) for i in old if i not in new)
            return
        if key is not None and _keyed(old, key) and _keyed(new, key):
            before = {_key_segment(key, e[key]): e for e in old}
            after = set()
            for item in new:
                seg = _key_segment(key, item[key])
                after.add(seg)
                prev = before.get(seg, _MISSING)
                if prev is _MISSING:
                    _collect(item, (*path, seg), names, kind, builtin, changed)
                    changed.add((*path, seg, "."))
                elif prev != item:
                    _diff(prev, item, (*path, seg), names, kind, builtin, changed, removed)
            removed.update((*path, seg) for seg in before if seg not in after)
            return
    if old is not _MISSING:
        removed.add(path)
    _collect(new, path, names, kind, builtin, changed)


def fields_to_v1(paths: Iterable[Path]) -> Obj:
    """Nested FieldsV1 form of a set of paths."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for seg in path:
            node = node.setdefault(seg, {})
    return root


def fields_from_v1(tree: Any) -> set[Path]:
    """The leaf paths of a FieldsV1 tree."""
    out: set[Path] = set()

    def walk(node: Any, path: Path) -> None:
        if not isinstance(node, dict) or not node:
            if path:
                out.add(path)
            return
        for k, v in node.items():
            walk(v, (*path, k))

    walk(tree, ())
    return out


def render_path(path: Path) -> str:
    """Kubernetes' rendering of a field path: ``.spec.containers[name="c"].image``."""
    text = ""
    for seg in path:
        kind, _, rest = seg.partition(":")
        if seg == ".":
            continue
        if kind == "f":
            text += "." + rest
        elif kind == "k":
            pairs = json.loads(rest)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs.items()) + "]"
        elif kind == "v":
            text += f"[{rest}]"
        else:
            text += f"[{rest}]"
    return text


_MISSING = object()


def value_at(obj: Any, path: Path) -> Any:
    """The value at a FieldsV1 path, or a sentinel when absent (compare with ``is_missing``)."""
    cur = obj
    for seg in path:
        if seg == ".":
            continue
        kind, _, rest = seg.partition(":")
        if kind == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return _MISSING
            cur = cur[rest]
        elif kind == "k":
            want = json.loads(rest)
            if not isinstance(cur, list):
                return _MISSING
            cur = next(
                (
                    e
                    for e in cur
                    if isinstance(e, dict) and all(e.get(k) == v for k, v in want.items())
                ),
                _MISSING,
            )
            if cur is _MISSING:
                return _MISSING
        elif kind == "v":
            item = json.loads(rest)
            if not isinstance(cur, list) or item not in cur:
                return _MISSING
            cur = item
        else:
            return _MISSING
    return cur


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _remove_path(obj: Any, path: Path) -> None:
    """Remove the field at ``path`` (a key, a keyed list element or a set item) if present."""
    if not path:
        return
    if path[-1] == ".":
        path = path[:-1]
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    if parent is _MISSING:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [
            e
            for e in parent
            if not (isinstance(e, dict) and all(e.get(k) == v for k, v in want.items()))
        ]
    elif kind == "v" and isinstance(parent, list):
        item = json.loads(rest)
        parent[:] = [e for e in parent if e != item]


def _entries(obj: Obj | None) -> list[Obj]:
    if not obj or not isinstance(obj.get("metadata"), dict):
        return []
    mf = obj["metadata"].get("managedFields")
    if not isinstance(mf, list):
        return []
    return [copy.deepcopy(e) for e in mf if isinstance(e, dict)]


def _entry(manager: str, operation: str, api_version: str, paths: set[Path]) -> Obj:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_to_v1(paths),
    }


def _under(path: Path, prefix: Path) -> bool:
    return path[: len(prefix)] == prefix


def _conflict_error(conflicts: list[tuple[Path, Obj]]) -> errors.Conflict:
    by_manager: dict[tuple[str, str], list[str]] = {}
    for path, entry in conflicts:
        ident = (str(entry.get("manager")), str(entry.get("apiVersion") or ""))
        by_manager.setdefault(ident, []).append(render_path(path))
    n = len(conflicts)

    def who(manager: str, api_version: str) -> str:
        return f'"{manager}"' + (f" using {api_version}" if api_version else "")

    if n == 1:
        (manager, api_version), fields = next(iter(by_manager.items()))
        message = (
            f"Apply failed with 1 conflict: conflict with {who(manager, api_version)}: {fields[0]}"
        )
    else:
        parts = [
            f"conflicts with {who(m, v)}:\n" + "\n".join(f"- {f}" for f in sorted(fs))
            for (m, v), fs in by_manager.items()
        ]
        message = f"Apply failed with {n} conflicts: " + "\n".join(parts)
    causes = [
        errors.cause(
            render_path(path),
            f"conflict with {who(str(e.get('manager')), str(e.get('apiVersion') or ''))}",
            "FieldManagerConflict",
        )
        for path, e in conflicts
    ]
    return errors.Conflict(message, causes=causes)


def _apply_merge(live: Any, applied: Any, kind: str, builtin: bool, names: tuple[str, ...]) -> Any:
    if isinstance(applied, dict):
        out: Obj = copy.deepcopy(live) if isinstance(live, dict) else {}
        for k, v in applied.items():
            if v is None:
                out.pop(k, None)
                continue
            out[k] = _apply_merge(out.get(k), v, kind, builtin, (*names, k))
        return out
    if isinstance(applied, list):
        key = list_merge_key(kind, names) if builtin else None
        if key is None or not isinstance(live, list):
            return copy.deepcopy(applied)
        out_list = copy.deepcopy(live)
        if key == SET:
            for item in applied:
                if item not in out_list:
                    out_list.append(copy.deepcopy(item))
            return out_list
        for item in applied:
            if not isinstance(item, dict) or key not in item:
                return copy.deepcopy(applied)
            at = next(
                (
                    i
                    for i, e in enumerate(out_list)
                    if isinstance(e, dict) and e.get(key) == item[key]
                ),
                None,
            )
            if at is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[at] = _apply_merge(out_list[at], item, kind, builtin, names)
        return out_list
    return copy.deepcopy(applied)


def server_side_apply(live: Obj | None, applied: Obj, manager: str, *, force: bool) -> Obj:
    """Merge an apply configuration into ``live`` (or create it), tracking field ownership."""
    if not isinstance(applied, dict):
        raise errors.BadRequest("the apply configuration must be an object")
    if not manager:
        raise errors.BadRequest(
            "PATCH requests of type application/apply-patch require a fieldManager query parameter"
        )
    if not applied.get("apiVersion") or not applied.get("kind"):
        raise errors.BadRequest("the apply configuration must set apiVersion and kind")
    config = copy.deepcopy(applied)
    cmeta = config.get("metadata")
    if cmeta is not None and not isinstance(cmeta, dict):
        raise errors.BadRequest("metadata of the apply configuration must be an object")
    if isinstance(cmeta, dict):
        cmeta.pop("managedFields", None)
    kind = str(config["kind"])
    builtin = _group_of(config) in BUILTIN_GROUPS
    api_version = str(config["apiVersion"])
    applied_paths = field_paths(config)
    entries = _entries(live)
    mine = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None
    )
    previous = fields_from_v1(mine.get("fieldsV1")) if mine else set()
    others = [e for e in entries if e is not mine]
    other_sets = [fields_from_v1(e.get("fieldsV1")) for e in others]

    conflicts: list[tuple[Path, Obj]] = []
    if live is not None:
        for path in sorted(applied_paths):
            if path[-1] == ".":
                continue
            new_value = value_at(config, path)
            old_value = value_at(live, path)
            if old_value is _MISSING or old_value == new_value:
                continue
            if new_value == {} and isinstance(old_value, dict):
                continue  # an empty map only says the map exists
            if new_value == [] and builtin and isinstance(old_value, list):
                names = tuple(seg[2:] for seg in path if seg.startswith("f:"))
                if list_merge_key(kind, names) is not None:
                    continue  # so does an empty keyed list or set
            for entry, owned in zip(others, other_sets, strict=True):
                if path in owned:
                    conflicts.append((path, entry))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    if force:
        taken = {p for p, _ in conflicts}
        other_sets = [owned - taken for owned in other_sets]

    result = copy.deepcopy(live) if live is not None else {}
    # Fields this manager applied before and no longer applies go, unless someone else owns them.
    kept_paths = applied_paths.union(*other_sets)

    def claimed(prefix: Path) -> bool:
        return any(_under(p, prefix) for p in kept_paths)

    # Whole list elements first (their ``.`` path), so later leaf removals find nothing left.
    def depth(p: Path) -> tuple[int, Path]:
        return (len(p) - 1 if p[-1] == "." else len(p), p)

    for path in sorted(previous - applied_paths, key=depth):
        base = path[:-1] if path[-1] == "." else path
        if claimed(base):
            continue
        _remove_path(result, base)
        # Containers emptied by the removal go too when nobody claims them.
        parent = base[:-1]
        while len(parent) > 1 and not claimed(parent):
            value = value_at(result, parent)
            if value in ({}, []):
                _remove_path(result, parent)
                parent = parent[:-1]
            else:
                break
    result = _apply_merge(result, config, kind, builtin, ())
    mine_entry = _entry(manager, "Apply", api_version, applied_paths)
    if (
        mine is not None
        and mine.get("apiVersion") == api_version
        and previous == applied_paths
        and _without_managed_fields(result) == _without_managed_fields(live)
    ):
        mine_entry["time"] = mine.get("time", mine_entry["time"])  # a no-op apply changes nothing
    owned_by = {id(e): s for e, s in zip(others, other_sets, strict=True)}
    new_entries: list[Obj] = []
    for entry in entries:
        if entry is mine:
            new_entries.append(mine_entry)
        elif owned_by[id(entry)]:
            entry["fieldsV1"] = fields_to_v1(owned_by[id(entry)])
            new_entries.append(entry)
    if mine is None:
        new_entries.append(mine_entry)
    if not isinstance(result.get("metadata"), dict):
        result["metadata"] = {}
    result["metadata"]["managedFields"] = new_entries
    return result


def _without_managed_fields(obj: Obj | None) -> Obj | None:
    if obj is None:
        return None
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def record_update_manager(
    old: Obj | None, new: Obj, manager: str | None, operation: str = "Update"
) -> Obj:
    """Give ``manager`` ownership of the fields this write changed (in place; returns ``new``).

    Coarse on purpose: changed leaves move to the manager's ``operation`` entry; entries left
    owning nothing disappear. Status and system metadata are not tracked. When the write did
    not carry managedFields, the old object's entries are kept.
    """
    if not manager:
        return new
    if not isinstance(new.get("metadata"), dict):
        new["metadata"] = {}
    meta = new["metadata"]
    if "managedFields" not in meta and old is not None:
        old_meta = old.get("metadata")
        old_mf = old_meta.get("managedFields") if isinstance(old_meta, dict) else None
        if old_mf:
            meta["managedFields"] = copy.deepcopy(old_mf)
    entries = _entries(new)
    changed: set[Path] = set()
    removed: set[Path] = set()
    if old is None:
        changed = field_paths(new)
    else:
        kind = str(new.get("kind") or old.get("kind") or "")
        builtin = _group_of(new) in BUILTIN_GROUPS
        _diff(old, new, (), (), kind, builtin, changed, removed)
    changed = {p for p in changed if p and p[0] != "f:status"}
    removed = {p for p in removed if p and p[0] != "f:status"}
    mine = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == operation),
        None,
    )
    if not changed and not removed and mine is not None:
        return new

    def gone(p: Path) -> bool:
        return any(p[:n] in removed for n in range(1, len(p) + 1))

    kept: list[Obj] = []
    for entry in entries:
        if entry is mine:
            continue
        owned = {p for p in fields_from_v1(entry.get("fieldsV1")) if not gone(p)} - changed
        if owned:
            entry["fieldsV1"] = fields_to_v1(owned)
            kept.append(entry)
    mine_paths = {p for p in fields_from_v1(mine.get("fieldsV1")) if not gone(p)} if mine else set()
    mine_paths |= changed
    if mine_paths:
        kept.append(_entry(manager, operation, str(new.get("apiVersion") or "v1"), mine_paths))
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)
    return new
