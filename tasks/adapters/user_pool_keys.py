"""The user pool's public keys (JWKS), fetched once per container and again only when a token names an unknown key
(Cognito rotated its keys)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from workflows.resources import TOKEN_KEYS_URL_ENV

JWKS_TIMEOUT_SECONDS = 3
REFETCH_AFTER_SECONDS = 60
"""An unknown key id fetches the keys again at most this often: a token naming made-up key ids cannot make every
$connect fetch Cognito's JWKS."""


def fetch_jwks(issuer: str) -> dict[str, Any]:
    """``<issuer>/.well-known/jwks.json``, as Cognito serves it; locally the AWS endpoint serves the pool's keys, at
    ``COGNITO_JWKS_URL``."""
    url = os.environ.get(TOKEN_KEYS_URL_ENV) or f"{issuer}/.well-known/jwks.json"
    with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_SECONDS) as response:
        return json.loads(response.read())


class KeyCache:
    """The JWKS of one issuer, cached; ``for_key_id`` fetches again when the key id is not among the cached keys and
    the last fetch is ``REFETCH_AFTER_SECONDS`` old.

    Example
    -------
    >>> cache = KeyCache("https://issuer", fetch=lambda issuer: {"keys": [{"kid": "k1"}]})
    >>> cache.for_key_id("k1")["keys"][0]["kid"]
    'k1'
    """

    def __init__(
        self,
        issuer: str,
        fetch: Callable[[str], dict[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._issuer = issuer
        self._fetch = fetch
        self._clock = clock
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = 0.0

    def for_key_id(self, key_id: str | None) -> dict[str, Any]:
        known = self._jwks is not None and key_id in {key.get("kid") for key in self._jwks.get("keys", [])}
        if self._jwks is None or (not known and self._clock() - self._fetched_at >= REFETCH_AFTER_SECONDS):
            self._jwks = self._fetch(self._issuer)
            self._fetched_at = self._clock()
        return self._jwks
