"""The WebSocket $connect authorizer verifies the Cognito ID token in ``?token=`` as the REST API's authorizer does:
signature against the pool's JWKS, issuer, audience, ``token_use`` id, expiry. The pool is a locally generated RSA key
whose JWKS a stub fetch serves."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from local.aws.awslambda.runner import LocalLambdaContext, function_arn
from tasks.adapters.user_pool_keys import REFETCH_AFTER_SECONDS, KeyCache
from tasks.errors import ConnectionUnauthorizedError
from tasks.handlers import websocket_authorizer
from workflows.resources import TOKEN_AUDIENCE_ENV, TOKEN_ISSUER_ENV, WEBSOCKET_AUTHORIZER

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
CLIENT_ID = "storefront-client"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/$connect"
now = [1000.0]
"""The key cache's clock, which the tests move."""
POOL_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool-key-1"})
FOREIGN_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool-key-1"})
"""Same key id, different key: a token signed with it has a bad signature."""


def id_token(key: RSAKey = POOL_KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "cognito:groups": [],
        **overrides,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The authorizer's JWKS fetches, served the pool's public key by a stub instead of Cognito."""
    fetched: list[str] = []
    now[0] = 1000.0

    def fetch(issuer: str) -> dict[str, Any]:
        fetched.append(issuer)
        return {"keys": [POOL_KEY.as_dict(private=False)]}

    cache = KeyCache(ISSUER, fetch=fetch, clock=lambda: now[0])
    monkeypatch.setattr(websocket_authorizer, "user_pool_keys", lambda issuer: cache)
    monkeypatch.setenv(TOKEN_ISSUER_ENV, ISSUER)
    monkeypatch.setenv(TOKEN_AUDIENCE_ENV, CLIENT_ID)
    return fetched


def authorize(token: str | None) -> dict[str, Any]:
    event = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "queryStringParameters": {} if token is None else {"token": token},
        "requestContext": {"routeKey": "$connect", "connectionId": "c-1"},
    }
    context = LocalLambdaContext(
        function_name=WEBSOCKET_AUTHORIZER.logical_name,
        invoked_function_arn=function_arn(WEBSOCKET_AUTHORIZER.logical_name),
        memory_limit_in_mb=WEBSOCKET_AUTHORIZER.memory_mb,
        timeout_seconds=WEBSOCKET_AUTHORIZER.timeout_seconds,
    )
    return websocket_authorizer.handler(event, context)


def test_a_valid_id_token_is_allowed_this_route_with_its_subject_in_the_context(fetches):
    answer = authorize(id_token())

    assert answer["principalId"] == "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    ]
    assert answer["context"] == {"subject": "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "operator": "false"}


def test_a_member_of_the_ops_group_connects_as_an_operator(fetches):
    assert authorize(id_token(**{"cognito:groups": ["ops"]}))["context"]["operator"] == "true"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: id_token(FOREIGN_KEY), id="bad-signature"),
        pytest.param(lambda: id_token(exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda: id_token(aud="another-client"), id="wrong-audience"),
        pytest.param(lambda: id_token(iss="https://cognito-idp.us-east-1.amazonaws.com/other"), id="wrong-issuer"),
        pytest.param(lambda: id_token(token_use="access"), id="access-token"),
        pytest.param(lambda: None, id="missing"),
        pytest.param(lambda: "not-a-jwt", id="garbage"),
    ],
)
def test_a_bad_token_is_refused_with_unauthorized(fetches, token):
    with pytest.raises(ConnectionUnauthorizedError, match=r"^Unauthorized$"):
        authorize(token())


def test_the_pools_keys_are_fetched_once_and_again_for_an_unknown_key_id_at_most_once_a_minute(fetches):
    rotated = RSAKey.generate_key(2048, parameters={"kid": "pool-key-2"})
    authorize(id_token())
    authorize(id_token())
    for _ in range(3):
        with pytest.raises(ConnectionUnauthorizedError):
            authorize(id_token(rotated))
    assert fetches == [ISSUER]

    now[0] += REFETCH_AFTER_SECONDS
    with pytest.raises(ConnectionUnauthorizedError):
        authorize(id_token(rotated))

    assert fetches == [ISSUER, ISSUER]
