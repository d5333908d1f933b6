"""Token and session-cookie checks of the reader API."""

from __future__ import annotations

from stepmetrics.store.api.auth import ADMIN, READ, ScopedTokens, TokenChecker, session_cookie_value

TOKEN = "unit-token-123456"  # noqa: S105


def test_session_cookie_is_a_keyed_hash_of_the_token() -> None:
    value = session_cookie_value(TOKEN)
    assert value == session_cookie_value(TOKEN)
    assert len(value) == 64
    assert int(value, 16) >= 0
    assert TOKEN not in value
    assert value != session_cookie_value(TOKEN + "x")


def test_checker_accepts_bearer_or_cookie_only() -> None:
    checker = TokenChecker(TOKEN)
    cookie = f"a=b; stepmetrics_session={session_cookie_value(TOKEN)}; c=d".encode()
    assert checker.allows([(b"authorization", f"Bearer {TOKEN}".encode())])
    assert checker.allows([(b"authorization", f"bearer {TOKEN}".encode())])
    assert checker.allows([(b"cookie", cookie)])
    refused = [
        [],
        [(b"authorization", TOKEN.encode())],
        [(b"authorization", f"Basic {TOKEN}".encode())],
        [(b"authorization", f"Bearer {TOKEN}x".encode())],
        [(b"cookie", f"stepmetrics_session={TOKEN}".encode())],
        [(b"x-token", TOKEN.encode())],
    ]
    for headers in refused:
        assert not checker.allows(headers), headers


def test_scopes_admin_read_or_none() -> None:
    admin = "unit-admin-token-987"
    tokens = ScopedTokens(TOKEN, admin)
    assert tokens.scope_of([(b"authorization", f"Bearer {admin}".encode())]) == ADMIN
    assert tokens.scope_of([(b"authorization", f"Bearer {TOKEN}".encode())]) == READ
    assert tokens.scope_of([(b"authorization", b"Bearer nope-nope-nope")]) is None
    assert tokens.session_scope(session_cookie_value(admin).encode()) == ADMIN
    assert tokens.session_scope(session_cookie_value(TOKEN).encode()) == READ
    assert tokens.session_scope(b"") is None
    # Without an admin token nothing is admin, not even an empty credential.
    reads_only = ScopedTokens(TOKEN)
    assert reads_only.scope_of([(b"authorization", b"Bearer ")]) is None
    assert reads_only.session_scope(session_cookie_value(admin).encode()) is None
