"""One-time login links and cookie sessions."""

from __future__ import annotations

from hyperpod.dashboard.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_login_link_opens_a_session_for_its_identity() -> None:
    s = Sessions()
    token, seconds = s.mint_link("admin")
    sid = s.redeem(token)
    assert sid is not None and seconds > 0
    assert s.identity(sid) == "admin"


def test_a_login_link_works_only_once() -> None:
    s = Sessions()
    token, _ = s.mint_link("admin")
    assert s.redeem(token) is not None
    assert s.redeem(token) is None


def test_an_expired_login_link_is_refused() -> None:
    clock = Clock()
    s = Sessions(link_seconds=60, clock=clock)
    token, _ = s.mint_link("admin")
    clock.now += 61
    assert s.redeem(token) is None


def test_unknown_tokens_and_sessions_are_refused() -> None:
    s = Sessions()
    assert s.redeem("made-up") is None
    assert s.identity("made-up") is None
    assert s.identity(None) is None


def test_sessions_expire_and_can_be_ended() -> None:
    clock = Clock()
    s = Sessions(session_seconds=100, clock=clock)
    a = s.redeem(s.mint_link("admin")[0])
    b = s.redeem(s.mint_link("alice")[0])
    assert a is not None and b is not None and a != b
    s.end(a)
    assert s.identity(a) is None
    assert s.identity(b) == "alice"
    clock.now += 101
    assert s.identity(b) is None
