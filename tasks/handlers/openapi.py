"""What the API's OpenAPI document declares besides the models: who may call each operation, and every answer.

Clients are generated from the document (openapi-python-client, Swagger UI), so it must say what really happens:
the security each route takes (from ``workflows.resources.ROUTES``, the table API Gateway is built from) and each
error status with the one body the API and API Gateway send (``ErrorAnswer``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

from tasks.models.api import ErrorAnswer
from workflows.resources import Caller, route_for

COGNITO_SCHEME, SIGV4_SCHEME = "cognito", "sigv4"
SECURITY_SCHEMES = {
    COGNITO_SCHEME: APIKey(
        name="Authorization",
        in_=APIKeyIn.header,
        description="A Cognito ID token of the shoppers' user pool, as it is (no 'Bearer ' prefix).",
        openapi_extensions={"x-amazon-apigateway-authtype": "cognito_user_pools"},
    ),
    SIGV4_SCHEME: APIKey(
        name="Authorization",
        in_=APIKeyIn.header,
        description="An AWS Signature Version 4 of the request, service execute-api.",
        openapi_extensions={"x-amazon-apigateway-authtype": "awsSigv4"},
    ),
}
UNUSED_COMPONENTS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
"""Powertools' own error schemas, which this API never sends: every 422 here is an ``ErrorAnswer``."""

GATEWAY_ERRORS = {
    Caller.SHOPPER: (HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS),
    Caller.SERVICE: (HTTPStatus.FORBIDDEN, HTTPStatus.TOO_MANY_REQUESTS),
    Caller.PUBLIC: (HTTPStatus.TOO_MANY_REQUESTS,),
}
"""What API Gateway answers before the function runs: no valid token (401), no valid signature or policy (403), and
on every route the stage's throttle (429, ``{"message": "Too Many Requests"}``)."""
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying. The per-shopper order limit and an AWS service that "
        "throttled, failed or did not answer send it; API Gateway's stage throttle does not (back off and retry).",
        "schema": {"type": "integer"},
    }
}
RETRYABLE = (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
AWS_ERRORS = (HTTPStatus.SERVICE_UNAVAILABLE,)
"""What every route answers when AWS throttles, fails or does not answer a call it needs: 503 with Retry-After."""
BODY_ERRORS = (HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
"""What the handler answers for a body it cannot read: too deep (400), too large (413), not JSON (415)."""


def security(method: str, path: str) -> list[dict[str, list[str]]]:
    """The security requirement of one route, as API Gateway applies it.

    Example
    -------
    >>> security("GET", "/orders/{orderId}")
    [{'cognito': []}]
    >>> security("GET", "/products")
    []
    """
    caller = _route(method, path).caller
    if caller is Caller.SHOPPER:
        return [{COGNITO_SCHEME: []}]
    if caller is Caller.SERVICE:
        return [{SIGV4_SCHEME: []}]
    return []


def answers(method: str, path: str, success: HTTPStatus, *errors: HTTPStatus) -> dict[int, Any]:
    """The ``responses`` of one route: its success (typed by the route's return annotation) and each error.

    The gateway's own refusals, the 503 of an AWS service that did not serve the route and, for routes with a body,
    the unreadable-body answers are added here, so no route forgets them.

    Example
    -------
    >>> sorted(answers("GET", "/orders/{orderId}", HTTPStatus.OK, HTTPStatus.NOT_FOUND))
    [200, 401, 404, 429, 503]
    """
    route = _route(method, path)
    statuses = {*errors, *GATEWAY_ERRORS[route.caller], *AWS_ERRORS}
    if method == "POST":
        statuses.update(BODY_ERRORS)
    declared: dict[int, Any] = {success.value: {"description": success.phrase}}
    for status in sorted(statuses):
        declared[status.value] = {
            "description": status.phrase,
            "content": {"application/json": {"model": ErrorAnswer}},
            **({"headers": RETRY_AFTER} if status in RETRYABLE else {}),
        }
    return declared


def documented(operation_id: str, method: str, path: str, success: HTTPStatus, *errors: HTTPStatus) -> dict[str, Any]:
    """The OpenAPI keywords of one route decorator: its operation id, its security and every answer.

    Example
    -------
    >>> documented("getOrder", "GET", "/orders/{orderId}", HTTPStatus.OK, HTTPStatus.NOT_FOUND)["security"]
    [{'cognito': []}]
    """
    return {
        "operation_id": operation_id,
        "security": security(method, path),
        "responses": answers(method, path, success, *errors),
        "status_code": success.value,
    }


def servers(stage: str | None, request_path: str) -> list[Server]:
    """Where the API answers: ``/<stage>`` when the request's path starts with it (API Gateway's own URL), else
    ``/`` (the local emulation, or a custom domain), the rule Powertools' Swagger UI applies too.

    Example
    -------
    >>> servers("prod", "/prod/openapi.json")[0].url, servers("local", "/openapi.json")[0].url
    ('/prod', '/')
    """
    prefixed = bool(stage) and stage != "$default" and request_path.startswith(f"/{stage}/")
    return [Server(url=f"/{stage}" if prefixed else "/")]


def without_powertools_422(document: dict[str, Any]) -> dict[str, Any]:
    """The document without Powertools' own 422 answer and its schemas, which this API never sends.

    Powertools adds that 422 to every operation; where a 422 can happen here, the route declares an ``ErrorAnswer``
    one in its place, and where it cannot (no parameters, no body) it is dropped.
    """
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in str(answer.get("content", {})):
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in UNUSED_COMPONENTS:
        schemas.pop(name, None)
    return document


def _route(method: str, path: str) -> Any:
    route = route_for(method, path.replace("{", "").replace("}", ""))
    if route is None:
        raise KeyError(f"{method} {path} is not in workflows.resources.ROUTES")
    return route
