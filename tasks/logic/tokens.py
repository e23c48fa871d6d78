"""Verifying a Cognito ID token as API Gateway's user-pool authorizer does, for the WebSocket API's $connect.

The RS256 signature against the pool's JWKS, then the issuer, the audience (the app client), ``token_use`` ``id``,
a subject and the expiry. joserfc does the JOSE work; nothing here is hand-written crypto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256"]
"""Cognito signs with RS256 only; ``none`` and HMAC tokens are refused before any key is tried."""


def verified_claims(
    token: str | None,
    keys_for: Callable[[str | None], Mapping[str, Any]],
    *,
    issuer: str,
    audience: str,
    now: int,
) -> dict[str, Any] | None:
    """The token's claims when it is a valid ID token of this pool and app client at ``now``, else None.

    ``keys_for`` gives the pool's JWKS for the key id the token's header names (``KeyCache.for_key_id``).

    Example
    -------
    >>> verified_claims(None, lambda kid: {"keys": []}, issuer="https://issuer", audience="client", now=0) is None
    True
    """
    if not token:
        return None
    try:
        decoded = jwt.decode(
            token,
            lambda guest: KeySet.import_key_set(dict(keys_for(guest.headers().get("kid")))),
            algorithms=ALGORITHMS,
        )
        jwt.JWTClaimsRegistry(
            now=now,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            token_use={"essential": True, "value": "id"},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return None
    return dict(decoded.claims)
