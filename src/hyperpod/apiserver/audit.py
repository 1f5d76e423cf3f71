"""The audit log: one ``audit.k8s.io/v1`` Event per request, as JSON lines, Metadata level.

Written to ``<data_dir>/audit/audit.log`` (0600) at stage ``ResponseComplete``: who (user,
groups, impersonated user), what (verb, URI, objectRef), the answer code and the authorization
decision, never request or response bodies (that is the ``Metadata`` level). When the file
passes ``max_bytes`` it is rotated like kube-apiserver's ``--audit-log-maxsize``: renamed to
``audit-<timestamp>.log`` and the oldest beyond ``max_backups`` removed. Events are written
in batches at most ``FLUSH_S`` apart (and at shutdown), so a slow disk never stalls requests.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from hyperpod.apiserver.rbac import Attributes, UserInfo

LEVEL = "Metadata"
FLUSH_S = 0.5  # events reach the file within this long (a crash loses at most that much)
MAX_PENDING = 512


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    def __init__(self, path: Path, *, max_bytes: int = 100 * 1024 * 1024, max_backups: int = 5):
        self.path = path
        self.max_bytes = max_bytes
        self.max_backups = max_backups
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fh: IO[bytes] | None = None
        self._size = 0
        self._pending: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fh = os.fdopen(fd, "ab")
            self._size = self._fh.tell()
        return self._fh

    def _rotate(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")
        os.replace(self.path, self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}"))
        backups = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
        for old in backups[: max(0, len(backups) - self.max_backups)]:
            old.unlink(missing_ok=True)

    def write(self, event: dict[str, Any]) -> None:
        """Queue one event; written within FLUSH_S (at once outside an event loop)."""
        self._pending.append(orjson.dumps(event) + b"\n")
        if len(self._pending) >= MAX_PENDING:
            self.flush()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        """Write queued events (one write per batch: a disk stall costs one request, not all)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            fh = self._open()
            room = max(1, self.max_bytes - self._size)
            batch: list[bytes] = []
            size = 0
            while self._pending and (not batch or size + len(self._pending[0]) <= room):
                line = self._pending.pop(0)
                batch.append(line)
                size += len(line)
            fh.write(b"".join(batch))
            fh.flush()
            self._size += size
            if self._size >= self.max_bytes:
                self._rotate()

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def event(
    *,
    received: str,
    method: str,
    uri: str,
    attrs: Attributes | None,
    user: UserInfo | None,
    impersonated: UserInfo | None,
    source_ip: str,
    user_agent: str,
    code: int,
    decision: str | None,
    reason: str,
) -> dict[str, Any]:
    """One audit Event at stage ResponseComplete."""
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": LEVEL,
        "auditID": str(uuid.uuid4()),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": attrs.verb if attrs else method.lower(),
        "user": user.to_wire() if user else {"username": "system:anonymous"},
        "sourceIPs": [source_ip] if source_ip else [],
        "userAgent": user_agent,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": received,
        "stageTimestamp": now(),
    }
    if impersonated is not None:
        ev["impersonatedUser"] = impersonated.to_wire()
    if attrs is not None and attrs.resource_request:
        ref: dict[str, Any] = {"resource": attrs.resource, "apiGroup": attrs.group}
        for key, value in (
            ("namespace", attrs.namespace),
            ("name", attrs.name),
            ("subresource", attrs.subresource),
        ):
            if value:
                ref[key] = value
        ev["objectRef"] = ref
    if decision is not None:
        ev["annotations"] = {
            "authorization.k8s.io/decision": decision,
            "authorization.k8s.io/reason": reason,
        }
    return ev


__all__ = ["AuditLog", "event", "now"]
