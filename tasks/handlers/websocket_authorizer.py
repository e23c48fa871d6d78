"""WebSocketAuthorizer: the $connect route's Lambda authorizer (REQUEST type, identity source: the ``token`` query).

Browsers cannot set headers on a WebSocket, so the storefront sends its Cognito ID token as ``?token=``. It is
verified as the REST API's user-pool authorizer does (``tasks.logic.tokens``). Allowed: a policy for this route and
the caller's ``sub`` and operator flag in the context, which the connections function reads. Refused: the exception
``Unauthorized``, which API Gateway answers 401. The token is never logged.
"""

from __future__ import annotations

import functools
import os
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.user_pool_keys import KeyCache
from tasks.errors import ConnectionUnauthorizedError, UnauthenticatedError
from tasks.logic.access import principal_from_claims
from tasks.logic.tokens import verified_claims
from workflows.resources import TOKEN_AUDIENCE_ENV, TOKEN_ISSUER_ENV

logger = Logger()


@functools.cache
def user_pool_keys(issuer: str) -> KeyCache:
    return KeyCache(issuer)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    issuer, audience = os.environ[TOKEN_ISSUER_ENV], os.environ[TOKEN_AUDIENCE_ENV]
    token = (event.get("queryStringParameters") or {}).get("token")
    claims = verified_claims(
        token, user_pool_keys(issuer).for_key_id, issuer=issuer, audience=audience, now=int(time.time())
    )
    try:
        principal = principal_from_claims(claims)
    except UnauthenticatedError:
        logger.info("connection refused: no valid ID token")
        raise ConnectionUnauthorizedError() from None
    return {
        "principalId": principal.subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "context": {"subject": principal.subject, "operator": str(principal.is_operator).lower()},
    }
