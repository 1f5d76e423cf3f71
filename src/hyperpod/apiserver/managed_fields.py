"""Field sets of server-side apply: ``metadata.managedFields`` FieldsV1, paths and their values.

The rules are described in :mod:`hyperpod.apiserver.patching`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from hyperpod.api.meta import now_rfc3339
from hyperpod.apiserver import errors
from hyperpod.apiserver.strategic import SET, list_merge_key

Obj = dict[str, Any]
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
