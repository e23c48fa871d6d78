"""The console's sessions and their CSRF tokens: what lets an action through, and only from the console's own page.

The session id travels in an ``HttpOnly; SameSite=Strict`` cookie; its CSRF token is an HMAC of it under a secret
the server draws at start. The page reads the token from ``GET /api/session`` (same-origin only: the console sends
no CORS headers, so another site can trigger that read but never see the answer) and sends it back in the
``X-CSRF-Token`` header. Another site can at most make a browser send the cookie, never the matching header.

Nothing is stored: the session id itself carries an HMAC, so a cookie this console did not issue (one set by another
service on 127.0.0.1, whose cookies share the host) is replaced, and a restart, with its new secret, invalidates every
session at once; the page then fetches a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE_PREFIX = "orders_console_"
"""Cookies are per host, not per port: each console names its cookie after its port, so two do not overwrite
each other's sessions."""


class Sessions:
    """Issues session ids and checks CSRF tokens against them, with a secret of its own.

    Example
    -------
    >>> sessions = Sessions()
    >>> session = sessions.new()
    >>> sessions.allows(session, sessions.csrf_token(session))
    True
    >>> sessions.allows(session, "forged")
    False
    """

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def new(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._mac('session', nonce)}"

    def is_valid(self, session: str | None) -> bool:
        """True for a session id this console issued (under its current secret)."""
        nonce, dot, mac = (session or "").partition(".")
        return bool(nonce and dot) and _same(mac, self._mac("session", nonce))

    def csrf_token(self, session: str) -> str:
        return self._mac("csrf", session)

    def allows(self, session: str | None, token: str | None) -> bool:
        """True when ``session`` is one of ours and ``token`` is its CSRF token."""
        if not token or not self.is_valid(session):
            return False
        return _same(token, self.csrf_token(session or ""))

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison that also takes what a client may send (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def cookie_name(port: int | str) -> str:
    return f"{SESSION_COOKIE_PREFIX}{port}"
