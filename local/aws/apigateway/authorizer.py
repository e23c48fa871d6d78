"""The Cognito user pool authorizer of API Gateway, emulated: verify the ID token, hand its claims to the function.

As API Gateway's ``COGNITO_USER_POOLS`` authorizer does before the function runs: the token's RS256 signature is
checked against the pool's JWKS, then its issuer, audience (the app client), ``token_use`` and expiry. The claims
reach the function in ``requestContext.authorizer.claims``, every value a string, as REST APIs (payload v1) pass
them. joserfc does the JOSE work; nothing here is hand-written crypto.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.aws.cognitoidp.identity import UserPool

ALGORITHMS = ["RS256"]
"""Cognito signs with RS256 only; ``none`` and HMAC tokens are refused before any key is tried."""
CLAIM_TIME_FORMAT = "%a %b %d %H:%M:%S UTC %Y"
"""How API Gateway writes ``exp`` and ``iat`` into the claims it passes on (``Fri Jul 29 18:52:53 UTC 2016``)."""


def fetch_jwks(aws_endpoint: str, pool: UserPool) -> dict[str, Any]:
    """The pool's public keys, from the AWS endpoint that serves them (moto: ``/<pool-id>/.well-known/jwks.json``)."""
    with urllib.request.urlopen(f"{aws_endpoint}/{pool.pool_id}/.well-known/jwks.json", timeout=10) as response:
        return json.loads(response.read())


class CognitoAuthorizer:
    """Verifies ``Authorization`` headers for one user pool and app client.

    Example
    -------
    >>> authorizer = CognitoAuthorizer(pool, fetch_jwks(aws_endpoint, pool))  # doctest: +SKIP
    >>> authorizer.claims(f"{id_token}")["email"]  # doctest: +SKIP
    'ada@example.com'
    """

    def __init__(self, pool: UserPool, jwks: Mapping[str, Any], clock: Callable[[], float] = time.time):
        self._pool = pool
        self._keys = KeySet.import_key_set(dict(jwks))
        self._clock = clock

    def claims(self, authorization: str | None) -> dict[str, str] | None:
        """The token's claims as API Gateway passes them on, or None when API Gateway would answer 401."""
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        try:
            decoded = jwt.decode(token, self._keys, algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                now=int(self._clock()),
                iss={"essential": True, "value": self._pool.issuer},
                aud={"essential": True, "value": self._pool.client_id},
                token_use={"essential": True, "value": "id"},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError):
            return None
        return as_api_gateway_claims(decoded.claims)


def as_api_gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Every claim a string, as a REST API's Cognito authorizer hands them to the function.

    Example
    -------
    >>> as_api_gateway_claims({"sub": "s", "exp": 0, "cognito:groups": ["ops"], "email_verified": True})
    {'sub': 's', 'exp': 'Thu Jan 01 00:00:00 UTC 1970', 'cognito:groups': 'ops', 'email_verified': 'true'}
    """
    converted: dict[str, str] = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int | float):
            converted[name] = datetime.fromtimestamp(value, UTC).strftime(CLAIM_TIME_FORMAT)
        elif isinstance(value, bool):
            converted[name] = str(value).lower()
        elif isinstance(value, list | tuple):
            converted[name] = ",".join(str(item) for item in value)
        else:
            converted[name] = str(value)
    return converted
