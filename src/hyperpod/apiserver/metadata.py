"""Object metadata helpers: uids and generated names (times and owner references: ``api.meta``)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from hyperpod.api.meta import micro_now as micro_now
from hyperpod.api.meta import now_rfc3339 as now_rfc3339
from hyperpod.api.meta import owner_reference as owner_reference
from hyperpod.api.meta import parse_time as parse_time

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``prefix`` plus five random characters, as the apiserver does for ``generateName``."""
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def owner_uids(obj: dict[str, Any]) -> tuple[str, ...]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return tuple(r.get("uid", "") for r in refs if isinstance(r, dict) and r.get("uid"))
