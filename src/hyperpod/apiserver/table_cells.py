"""Table cells: kubectl-style ages and the column and object helpers every kind's rows use."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

Obj = dict[str, Any]
NONE = "<none>"


# --- ages ----------------------------------------------------------------------------------


def human_age(seconds: float) -> str:
    """kubectl's ``HumanDuration``: ``45s``, ``5m3s``, ``3h10m``, ``2d4h``, ``1y20d``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@lru_cache(maxsize=4096)
def _parse_time(value: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def age(value: Any, now: datetime) -> str:
    t = parse_time(value)
    if t is None:
        return NONE
    return human_age((now - t).total_seconds())


# --- columns -------------------------------------------------------------------------------


def column(
    name: str, typ: str = "string", priority: int = 0, fmt: str = "", description: str = ""
) -> Obj:
    return {
        "name": name,
        "type": typ,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


NAME_COLUMN = column(
    "Name",
    fmt="name",
    description="Name must be unique within a namespace. It is required when creating resources.",
)
AGE_COLUMN = column(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def _meta(obj: Obj) -> Obj:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name") or "")


def _created(obj: Obj, now: datetime) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)
