"""Object metadata helpers: timestamps, uids, generated names, owner references."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it: RFC 3339, seconds, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    """The current time with microseconds (MicroTime, used by Leases and events.k8s.io)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``prefix`` plus five random characters, as the apiserver does for ``generateName``."""
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def owner_uids(obj: dict[str, Any]) -> tuple[str, ...]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return tuple(r.get("uid", "") for r in refs if isinstance(r, dict) and r.get("uid"))


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
