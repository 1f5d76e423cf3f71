"""Watch fan-out: recent events in memory, subscribers filtered by resource, namespace and selectors.

Each committed write becomes one :class:`Event`; its wire bytes are built once and shared by
every subscriber. Subscribers that fall too far behind are closed (clients then relist, as
they do against kube-apiserver).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


@dataclass(slots=True)
class Event:
    rev: int
    type: str
    resource: str  # catalog name, e.g. "pods" or "pytorchjobs.kubeflow.org"
    namespace: str
    name: str
    value: bytes  # the object's JSON (storage version)
    labels: dict[str, str]
    fields: dict[str, str]
    prev_labels: dict[str, str] | None = None
    prev_fields: dict[str, str] | None = None


Matcher = Callable[[dict[str, str], dict[str, str]], bool]


@dataclass(eq=False)
class Subscriber:
    resource: str
    namespace: str | None
    matches: Matcher
    limit: int = 50_000
    queue: deque[tuple[str, Event]] = field(default_factory=deque)
    closed: bool = False
    overflowed: bool = False
    _wakeup: asyncio.Event | None = None

    def offer(self, ev: Event) -> None:
        """Queue ``ev`` as the subscriber sees it (selector transitions become ADDED/DELETED)."""
        if self.closed:
            return
        if self.namespace and ev.namespace != self.namespace:
            return
        now = self.matches(ev.labels, ev.fields)
        if ev.type == MODIFIED and ev.prev_labels is not None and ev.prev_fields is not None:
            before = self.matches(ev.prev_labels, ev.prev_fields)
            if now and not before:
                typ = ADDED
            elif before and not now:
                typ = DELETED
            elif now:
                typ = MODIFIED
            else:
                return
        elif now:
            typ = ev.type
        else:
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.close()
            return
        self.queue.append((typ, ev))
        if self._wakeup is not None:
            self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        if self._wakeup is not None:
            self._wakeup.set()

    async def wait(self, timeout: float | None = None) -> None:
        """Until something is queued, the subscriber closes, or ``timeout`` passes."""
        if self.queue or self.closed:
            return
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            pass


class WatchHub:
    """Keeps the newest events and hands each new one to the matching subscribers."""

    def __init__(self, keep: int = 20_000) -> None:
        self.recent: deque[Event] = deque(maxlen=keep)
        self._subs: dict[str, set[Subscriber]] = {}

    def oldest_rev(self) -> int | None:
        return self.recent[0].rev if self.recent else None

    def publish(self, ev: Event) -> None:
        self.recent.append(ev)
        subs = self._subs.get(ev.resource)
        if subs:
            for s in list(subs):
                s.offer(ev)
                if s.closed:
                    subs.discard(s)

    def subscribe(self, sub: Subscriber) -> Subscriber:
        self._subs.setdefault(sub.resource, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        sub.close()
        subs = self._subs.get(sub.resource)
        if subs:
            subs.discard(sub)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def replay(self, resource: str, after: int) -> list[Event] | None:
        """Events of ``resource`` after ``after`` from memory, or None if memory starts later."""
        oldest = self.oldest_rev()
        if oldest is None or oldest > after + 1:
            return None
        return [e for e in self.recent if e.rev > after and e.resource == resource]
