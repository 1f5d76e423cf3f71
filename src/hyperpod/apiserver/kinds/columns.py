"""Table helpers for strategies: NAME, the kind's columns, AGE (wide columns after AGE)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from hyperpod.apiserver import tables

Obj = dict[str, Any]
Col = tuple[str, str, Callable[[Obj], Any]]


def d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def name_age_table(
    cols: list[Col], wide: list[Col] | None = None
) -> tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]:
    """kubectl's layout: NAME, ``cols``, AGE, then the ``-o wide`` columns (priority 1)."""
    wide = wide or []
    defs = [
        tables.NAME_COLUMN,
        *(tables.column(n, t) for n, t, _ in cols),
        tables.AGE_COLUMN,
        *(tables.column(n, t, 1) for n, t, _ in wide),
    ]

    def row(obj: Obj, now: datetime) -> list[Any]:
        md = d(obj.get("metadata"))
        return [
            str(md.get("name") or ""),
            *(f(obj) for _, _, f in cols),
            tables.age(md.get("creationTimestamp"), now),
            *(f(obj) for _, _, f in wide),
        ]

    return defs, row


def containers(obj: Obj) -> str:
    spec = d(d(d(obj.get("spec")).get("template")).get("spec"))
    return ",".join(str(d(c).get("name", "")) for c in spec.get("containers") or [])


def images(obj: Obj) -> str:
    spec = d(d(d(obj.get("spec")).get("template")).get("spec"))
    return ",".join(str(d(c).get("image", "")) for c in spec.get("containers") or [])


def selector(obj: Obj) -> str:
    sel = d(d(obj.get("spec")).get("selector"))
    parts = [f"{k}={v}" for k, v in d(sel.get("matchLabels")).items()]
    for e in sel.get("matchExpressions") or []:
        e = d(e)
        parts.append(
            f"{e.get('key')} {str(e.get('operator', '')).lower()} ({','.join(e.get('values') or [])})"
        )
    return ",".join(parts) or "<none>"


def ls(value: Any) -> list[Any]:
    """``value`` when it is a list, else [] (for reading fields that may be malformed)."""
    return value if isinstance(value, list) else []


def not_a_list(value: Any, field: str) -> list[dict[str, str]]:
    """A cause when a list field holds something else (None is fine: absent)."""
    if value is None or isinstance(value, list):
        return []
    return [
        {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: must be a list, not {type(value).__name__}",
            "field": field,
        }
    ]
