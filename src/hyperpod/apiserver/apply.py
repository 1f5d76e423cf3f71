"""Server-side apply and the ``Update`` manager bookkeeping of every other write.

The rules are described in :mod:`hyperpod.apiserver.patching`.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.managed_fields import (
    _MISSING,
    BUILTIN_GROUPS,
    Path,
    _conflict_error,
    _diff,
    _entries,
    _entry,
    _group_of,
    _remove_path,
    _under,
    field_paths,
    fields_from_v1,
    fields_to_v1,
    value_at,
)
from hyperpod.apiserver.strategic import SET, list_merge_key

Obj = dict[str, Any]


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


def _apply_configuration(applied: Obj, manager: str) -> Obj:
    """A copy of the apply configuration without managedFields; BadRequest when unusable."""
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
    return config


def _conflicts(
    live: Obj | None,
    config: Obj,
    applied_paths: set[Path],
    others: list[Obj],
    other_sets: list[set[Path]],
) -> list[tuple[Path, Obj]]:
    """Applied fields whose live value differs and that another manager owns."""
    conflicts: list[tuple[Path, Obj]] = []
    if live is None:
        return conflicts
    kind = str(config["kind"])
    builtin = _group_of(config) in BUILTIN_GROUPS
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
    return conflicts


def _remove_dropped(result: Obj, dropped: set[Path], kept_paths: set[Path]) -> None:
    """Fields this manager applied before and no longer applies go, unless someone else owns them."""

    def claimed(prefix: Path) -> bool:
        return any(_under(p, prefix) for p in kept_paths)

    # Whole list elements first (their ``.`` path), so later leaf removals find nothing left.
    def depth(p: Path) -> tuple[int, Path]:
        return (len(p) - 1 if p[-1] == "." else len(p), p)

    for path in sorted(dropped, key=depth):
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


def server_side_apply(live: Obj | None, applied: Obj, manager: str, *, force: bool) -> Obj:
    """Merge an apply configuration into ``live`` (or create it), tracking field ownership."""
    config = _apply_configuration(applied, manager)
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

    conflicts = _conflicts(live, config, applied_paths, others, other_sets)
    if conflicts and not force:
        raise _conflict_error(conflicts)
    if force:
        taken = {p for p, _ in conflicts}
        other_sets = [owned - taken for owned in other_sets]

    result = copy.deepcopy(live) if live is not None else {}
    _remove_dropped(result, previous - applied_paths, applied_paths.union(*other_sets))
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
