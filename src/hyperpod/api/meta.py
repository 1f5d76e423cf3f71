"""Object metadata helpers shared by every layer: timestamps, owner references, causes.

Kubernetes writes times as RFC 3339 in UTC (``2024-01-02T03:04:05Z``; MicroTime adds
microseconds). These are the single copies of the helpers that read and write them, plus the
``ownerReference`` and ``details.causes`` shapes, so the server side and the typed API models
spell them the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it: RFC 3339, seconds, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    """The current time with microseconds (MicroTime, used by Leases and events.k8s.io)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(moment: datetime | float) -> str:
    """``moment`` (a datetime, or seconds since the epoch) as RFC 3339 seconds in UTC."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset); None when absent, not a string or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def epoch_of(text: str | None) -> float | None:
    """Seconds since the epoch of a ``...Z`` time (with or without microseconds); else None."""
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def owner_reference(
    owner: dict[str, Any], *, controller: bool = True, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """An ownerReference pointing at ``owner``."""
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """One entry of ``details.causes`` naming the offending field."""
    return {"reason": reason, "message": message, "field": field}


def set_condition(
    conditions: list[Obj],
    type_: str,
    status: str,
    reason: str = "",
    message: str = "",
    *,
    probe: bool = False,
) -> bool:
    """Set one condition in place; returns True if anything changed.

    ``lastTransitionTime`` moves only when the status changes, as Kubernetes controllers do.
    """
    now = now_rfc3339()
    for c in conditions:
        if c.get("type") == type_:
            changed = (
                c.get("status") != status
                or c.get("reason", "") != reason
                or c.get("message", "") != message
            )
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c["status"] = status
            c["reason"] = reason
            c["message"] = message
            if probe:
                c["lastProbeTime"] = now
            return changed
    cond: Obj = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }
    if probe:
        cond["lastProbeTime"] = now
    conditions.append(cond)
    return True
