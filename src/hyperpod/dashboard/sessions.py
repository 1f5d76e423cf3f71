"""One-time login links and the cookie sessions they are exchanged for.

A login link carries a random token that works once and only until it expires; redeeming it
opens a session (another random token, sent back as an HttpOnly, Secure, SameSite=Strict
cookie) that carries the identity the link was minted for. Both live in memory: a control
plane restart logs everybody out, and ``hyp get-monitoring`` prints a fresh link.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "hyperpod_dashboard"
LINK_SECONDS = 300.0
SESSION_SECONDS = 12 * 3600.0


@dataclass(frozen=True)
class Session:
    identity: str
    expires: float


class Sessions:
    """Login links (single use, expiring) and the sessions opened with them."""

    def __init__(
        self,
        *,
        link_seconds: float = LINK_SECONDS,
        session_seconds: float = SESSION_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link_seconds = link_seconds
        self.session_seconds = session_seconds
        self._clock = clock
        self._links: dict[str, Session] = {}
        self._sessions: dict[str, Session] = {}

    def mint_link(self, identity: str) -> tuple[str, float]:
        """A fresh login token for ``identity`` and the seconds it stays valid."""
        self._expire()
        token = secrets.token_urlsafe(32)
        self._links[token] = Session(identity, self._clock() + self.link_seconds)
        return token, self.link_seconds

    def redeem(self, token: str) -> str | None:
        """The session id opened by ``token``; None when unknown, already used or expired."""
        link = self._links.pop(token, None)  # single use: gone whatever happens next
        if link is None or link.expires <= self._clock():
            return None
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(link.identity, self._clock() + self.session_seconds)
        return sid

    def identity(self, sid: str | None) -> str | None:
        """Who the session belongs to, or None when there is no live session of that id."""
        if not sid:
            return None
        s = self._sessions.get(sid)
        if s is None:
            return None
        if s.expires <= self._clock():
            del self._sessions[sid]
            return None
        return s.identity

    def end(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def _expire(self) -> None:
        now = self._clock()
        for table in (self._links, self._sessions):
            for key in [k for k, v in table.items() if v.expires <= now]:
                del table[key]
