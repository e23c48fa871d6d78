"""API Gateway emulation: HTTP requests become REST API proxy events (v1) for the API function, and back.

It throttles the stage first (``workflows.resources.STAGE_THROTTLE``, a token bucket: 429 ``Too Many Requests``
past it), then authenticates each request by ``workflows.resources.ROUTES`` before the function runs, as API Gateway
does:

- shopper routes need a Cognito ID token (``local.aws.apigateway.authorizer``); without a valid one, 401
``Unauthorized``;
- service routes need a SigV4 signature (``local.aws.sigv4``); the shipment route admits the warehouse role only, as
  the API's resource policy does in AWS; anything else, 403;
- a path or method that is no route answers 403 ``Missing Authentication Token``;
- CORS preflights are answered here for the configured storefront origins (``ORDERS_CORS_ORIGINS``).

It runs the API handler through the Lambda runner, exactly as the state machine's tasks run, so the API gets a
Lambda context, its environment and Lambda's error contract. A function error answers 502 and a throttled invocation
500, as API Gateway does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote

from local.aws.apigateway.authorizer import CognitoAuthorizer
from local.aws.apigateway.throttle import TokenBucket
from local.aws.awslambda.runner import LOCAL_ACCOUNT_ID, Invocation, LambdaRunner
from local.aws.sigv4 import WAREHOUSE, SignatureError, verify
from workflows.resources import STAGE_THROTTLE, Caller, Route, StageThrottle, route_for

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway's own payload limit; the handler enforces the API's much smaller one."""
STAGE = "local"
LOCAL_API_ID = "local"
CORS_ALLOWED_HEADERS = "Authorization,Content-Type,Idempotency-Key"
CORS_MAX_AGE_SECONDS = "600"


@dataclass(frozen=True)
class GatewayAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def _message(status: HTTPStatus, message: str, header_name: str = "message") -> GatewayAnswer:
    """API Gateway's own answers: a JSON body with one ``message`` (``Message`` for IAM denials)."""
    return GatewayAnswer(
        status.value, {"Content-Type": "application/json"}, json.dumps({header_name: message}).encode()
    )


def proxy_event(
    route: Route,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: str | None,
    source_ip: str,
    *,
    claims: Mapping[str, str] | None = None,
    caller_arn: str | None = None,
) -> dict:
    """The API Gateway REST proxy event (payload v1) for one request to ``route``.

    Example
    -------
    >>> from workflows.resources import route_for
    >>> route = route_for("GET", "/orders")
    >>> proxy_event(route, "GET", "/orders", "status=COMPLETED", {}, None, "127.0.0.1")["queryStringParameters"]
    {'status': 'COMPLETED'}
    """
    parsed_query = parse_qs(query, keep_blank_values=True)
    names = route.path.strip("/").split("/")
    values = path.strip("/").split("/")
    parameters = {name[1:-1]: value for name, value in zip(names, values, strict=True) if name.startswith("{")}
    identity: dict[str, Any] = {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")}
    if caller_arn is not None:
        identity.update({"userArn": caller_arn, "caller": caller_arn, "accountId": LOCAL_ACCOUNT_ID})
    # The local API answers at / (no stage in its URLs), so the path carries no stage prefix: SAM local does the same.
    request_context: dict[str, Any] = {
        "resourcePath": route.path,
        "httpMethod": method,
        "path": path,
        "stage": STAGE,
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": int(time.time() * 1000),
        "identity": identity,
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": dict(claims)}
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: items[-1] for name, items in parsed_query.items()} or None,
        "multiValueQueryStringParameters": parsed_query or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": False,
    }


class ApiGatewayEmulation:
    """The API as a WSGI application: authenticate by route, invoke ``function_name``, translate the answer.

    Parameters
    ----------
    runner:
        Runs the API function, as Lambda would.
    authorizer:
        Verifies shoppers' ID tokens for the local user pool.
    cors_origins:
        Storefront origins whose preflights are answered (and whose requests the function answers with CORS headers).
    throttle:
        The stage's rate and burst; AWS's numbers unless a caller that means to exceed them says otherwise.
    clock:
        Seconds, for the throttle's refill; monotonic time unless a test drives it.

    Example
    -------
    >>> api = ApiGatewayEmulation(runner, "OrderApi", authorizer, cors_origins=())  # doctest: +SKIP
    >>> listener = LocalListener("the API", 3000, LoopbackGuard(api, api.cors_origins))  # doctest: +SKIP
    """

    def __init__(
        self,
        runner: LambdaRunner,
        function_name: str,
        authorizer: CognitoAuthorizer,
        cors_origins: Iterable[str] = (),
        throttle: StageThrottle = STAGE_THROTTLE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._runner = runner
        self._function_name = function_name
        self._authorizer = authorizer
        self.cors_origins = frozenset(cors_origins)
        self._throttle = TokenBucket(throttle, clock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = self.answer(environ)
        headers = [(name, value) for name, value in answer.headers.items() if name.lower() != "content-length"]
        start_response(
            f"{answer.status} {_phrase(answer.status)}", [*headers, ("Content-Length", str(len(answer.body)))]
        )
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else answer.body]

    def answer(self, environ: dict[str, Any]) -> GatewayAnswer:
        if not self._throttle.take():
            return _message(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests")
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        headers = _request_headers(environ)
        if method == "OPTIONS":
            return self._preflight(path, headers)
        route = route_for(method, path)
        if route is None:
            return _message(HTTPStatus.FORBIDDEN, "Missing Authentication Token")
        length = environ.get("CONTENT_LENGTH") or "0"
        if int(length) > MAX_REQUEST_BYTES:
            return _message(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
        raw = environ["wsgi.input"].read(int(length)) if int(length) else b""
        query = environ.get("QUERY_STRING", "")
        claims, caller_arn = None, None
        if route.caller is Caller.SHOPPER:
            claims = self._authorizer.claims(headers.get("Authorization"))
            if claims is None:
                return _message(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        elif route.caller is Caller.SERVICE:
            denial, caller_arn = self._verify_signature(
                route, method, path, query, environ.get("REQUEST_URI"), headers, raw
            )
            if denial is not None:
                return denial
        event = proxy_event(
            route,
            method,
            path,
            query,
            headers,
            raw.decode("utf-8", errors="replace") if raw else None,
            environ.get("REMOTE_ADDR", ""),
            claims=claims,
            caller_arn=caller_arn,
        )
        return self._invoke(event)

    def _verify_signature(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        raw_target: str | None,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[GatewayAnswer | None, str | None]:
        """SigV4 as IAM checks it, then the resource policy: only the warehouse may ship.

        The signature covers the path and query as the client sent them (``REQUEST_URI``, not decoded)."""
        target = raw_target or quote(path) + (f"?{query}" if query else "")
        url = f"http://{headers.get('Host', '')}{target}"
        try:
            principal = verify(method, url, headers, body)
        except SignatureError as error:
            return _message(HTTPStatus.FORBIDDEN, str(error)), None
        if route.warehouse_only and principal != WAREHOUSE:
            resource = f"arn:aws:execute-api:us-east-1:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/{STAGE}/{method}{path}"
            message = (
                f"User: {principal.arn} is not authorized to perform: execute-api:Invoke on resource: {resource} "
                "with an explicit deny"
            )
            return _message(HTTPStatus.FORBIDDEN, message, header_name="Message"), None
        return None, principal.arn

    def _preflight(self, path: str, headers: dict[str, str]) -> GatewayAnswer:
        """API Gateway answers preflights itself, for the configured origins only; the function never sees them."""
        origin = headers.get("Origin")
        requested = headers.get("Access-Control-Request-Method", "")
        methods = sorted({route.method for route in _routes_at(path)})
        if origin not in self.cors_origins or requested not in methods:
            return _message(HTTPStatus.FORBIDDEN, "Missing Authentication Token")
        return GatewayAnswer(
            HTTPStatus.NO_CONTENT.value,
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ",".join([*methods, "OPTIONS"]),
                "Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS,
                "Access-Control-Max-Age": CORS_MAX_AGE_SECONDS,
                "Vary": "Origin",
            },
            b"",
        )

    def _invoke(self, event: dict) -> GatewayAnswer:
        return proxy_answer(self._runner.invoke(self._function_name, json.dumps(event).encode()))


def proxy_answer(invocation: Invocation) -> GatewayAnswer:
    """What API Gateway answers for a Lambda proxy integration's invocation: the function's response; 502 for a
    function error (a timeout too); 500 when Lambda refused the invocation itself (throttled), as in AWS.

    Example
    -------
    >>> proxy_answer(Invocation(payload=b'{"statusCode": 503, "body": "{}"}')).status
    503
    >>> proxy_answer(Invocation(payload=b"{}", function_error="Unhandled")).status
    502
    """
    if invocation.status_code != 200:
        return _message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
    if invocation.function_error:
        return _message(HTTPStatus.BAD_GATEWAY, "Internal server error")
    result = json.loads(invocation.payload)
    headers = {name: values[-1] for name, values in (result.get("multiValueHeaders") or {}).items()}
    headers.update(result.get("headers") or {})
    body = result.get("body") or ""
    return GatewayAnswer(int(result.get("statusCode", 200)), headers, body.encode())


def _routes_at(path: str) -> list[Route]:
    return [route for method in ("GET", "POST") if (route := route_for(method, path)) is not None]


def _request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers with their usual spelling, as API Gateway hands them to the function."""
    headers = {name[5:].replace("_", "-").title(): value for name, value in environ.items() if name.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["Content-Length"] = environ["CONTENT_LENGTH"]
    return headers


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
