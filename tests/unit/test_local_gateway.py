"""The local stack's gateway, without a socket: the Cognito authorizer, SigV4, the route table, CORS and the guard.

Tokens are signed here with a key pair made for the test, so every way a token can be wrong is tried: another key,
another issuer or app client, an access token, an expired one, ``alg: none``, and a changed payload.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from local.aws.apigateway.authorizer import CognitoAuthorizer
from local.aws.apigateway.gateway import ApiGatewayEmulation
from local.aws.awslambda.runner import Invocation
from local.aws.cognitoidp.identity import UserPool
from local.aws.sigv4 import OPERATOR, SIGNATURE_MISMATCH, WAREHOUSE, SignatureError, sign, verify
from local.endpoint.listener import LoopbackGuard
from local.stack import StackSettings
from workflows.resources import SHOPPER_ORDER_LIMIT, STAGE_THROTTLE, OrderRateLimit, StageThrottle

POOL = UserPool("us-east-1_localtest", "app-client-1", "us-east-1")
NOW = 1_800_000_000
KEY = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
JWKS = KeySet([KEY]).as_dict(private=False)
API = "http://127.0.0.1:3000"


def id_token(key: Any = KEY, algorithm: str = "RS256", **changes: Any) -> str:
    claims = {
        "sub": "sub-ada",
        "iss": POOL.issuer,
        "aud": POOL.client_id,
        "token_use": "id",
        "exp": NOW + 3600,
        "iat": NOW,
        "email": "ada@example.com",
        "cognito:groups": ["ops"],
        **changes,
    }
    return jwt.encode({"alg": algorithm, "kid": "key-1"}, claims, key, algorithms=[algorithm])


@pytest.fixture
def authorizer() -> CognitoAuthorizer:
    return CognitoAuthorizer(POOL, JWKS, clock=lambda: NOW)


def test_a_valid_id_token_yields_its_claims_as_api_gateway_strings(authorizer):
    claims = authorizer.claims(id_token())

    assert claims["sub"] == "sub-ada"
    assert claims["cognito:groups"] == "ops"
    assert claims["exp"] == datetime.fromtimestamp(NOW + 3600, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    assert all(isinstance(value, str) for value in claims.values())


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: id_token(key=OTHER_KEY), id="signed-by-another-key"),
        pytest.param(lambda: id_token(iss="https://cognito-idp.us-east-1.amazonaws.com/another"), id="other-pool"),
        pytest.param(lambda: id_token(aud="another-client"), id="other-app-client"),
        pytest.param(lambda: id_token(token_use="access"), id="access-token"),
        pytest.param(lambda: id_token(exp=NOW - 1), id="expired"),
        pytest.param(lambda: id_token(key=OctKey.import_key("s" * 32), algorithm="HS256"), id="hmac"),
        pytest.param(lambda: _with_payload(id_token(), {"sub": "sub-grace"}), id="changed-payload"),
        pytest.param(lambda: _unsigned(id_token()), id="alg-none"),
        pytest.param(lambda: "not.a.token", id="garbage"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_every_wrong_token_is_refused(authorizer, token):
    assert authorizer.claims(token()) is None


def _with_payload(token: str, changes: dict[str, Any]) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(_b64decode(payload))
    return ".".join([header, _b64encode(json.dumps({**claims, **changes}).encode()), signature])


def _unsigned(token: str) -> str:
    _, payload, _ = token.split(".")
    return ".".join([_b64encode(b'{"alg":"none","typ":"JWT"}'), payload, ""])


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_signature_is_checked_against_the_request_it_was_made_for():
    url = f"{API}/orders/ord-1/shipment"
    headers = sign(WAREHOUSE, "POST", url, b'{"outcome": "IN_PROGRESS"}', {"Content-Type": "application/json"})

    assert verify("POST", url, headers, b'{"outcome": "IN_PROGRESS"}') == WAREHOUSE
    for method, target, body in (
        ("POST", url, b'{"outcome": "FAILED"}'),
        ("POST", f"{API}/orders/ord-2/shipment", b'{"outcome": "IN_PROGRESS"}'),
        ("GET", url, b'{"outcome": "IN_PROGRESS"}'),
    ):
        with pytest.raises(SignatureError):
            verify(method, target, headers, body)


def test_the_signature_covers_the_body_that_arrived_not_a_hash_the_client_declares():
    """A signed ``X-Amz-Content-Sha256`` once stood in for the body, so a body swapped under it was accepted."""
    url = f"{API}/orders/ord-1/shipment"
    signed_body = b'{"outcome": "IN_PROGRESS"}'
    declared = {"Content-Type": "application/json", "X-Amz-Content-Sha256": hashlib.sha256(signed_body).hexdigest()}
    headers = sign(WAREHOUSE, "POST", url, signed_body, declared)

    assert "x-amz-content-sha256" in headers["Authorization"], "botocore signed the declared hash"
    assert verify("POST", url, headers, signed_body) == WAREHOUSE
    with pytest.raises(SignatureError, match="does not match"):
        verify("POST", url, headers, b'{"outcome": "SHIPPED", "trackingNumber": "1ZFORGED"}')


def test_an_unsigned_payload_is_refused():
    url = f"{API}/orders/ord-1/shipment"
    body = b'{"outcome": "IN_PROGRESS"}'
    headers = sign(WAREHOUSE, "POST", url, body, {"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})

    with pytest.raises(SignatureError, match="does not match"):
        verify("POST", url, headers, body)


def test_an_old_signature_and_an_unknown_key_are_refused():
    url = f"{API}/health"
    headers = sign(WAREHOUSE, "GET", url, None, {})
    unknown = {**headers, "Authorization": headers["Authorization"].replace(WAREHOUSE.access_key, "AKIAUNKNOWN")}

    with pytest.raises(SignatureError, match="expired"):
        verify("GET", url, headers, b"", now=datetime.now(UTC) + timedelta(minutes=16))
    with pytest.raises(SignatureError, match="invalid"):
        verify("GET", url, unknown, b"")


class RecordingRunner:
    """Stands in for the Lambda runner: records each event and answers 200 with the caller's claims."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, function_name: str, payload: bytes) -> Invocation:
        event = json.loads(payload)
        self.events.append(event)
        body = json.dumps({"claims": (event["requestContext"].get("authorizer") or {}).get("claims")})
        return Invocation(json.dumps({"statusCode": 200, "headers": {"X-Answered": "yes"}, "body": body}).encode())


@pytest.fixture
def gateway(authorizer) -> tuple[ApiGatewayEmulation, RecordingRunner]:
    runner = RecordingRunner()
    return ApiGatewayEmulation(runner, "OrderApi", authorizer, cors_origins=("http://shop.test",)), runner


def request(
    gateway: ApiGatewayEmulation, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], Any]:
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:3000",
    }
    for name, value in (headers or {}).items():
        key = "CONTENT_TYPE" if name.lower() == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = value
    answer = gateway.answer(environ)
    return answer.status, answer.headers, json.loads(answer.body) if answer.body else None


def test_shopper_routes_pass_the_verified_claims_and_refuse_everyone_else(gateway):
    emulation, runner = gateway

    assert request(emulation, "GET", "/orders")[::2] == (401, {"message": "Unauthorized"})
    assert request(emulation, "GET", "/orders", {"Authorization": id_token(key=OTHER_KEY)})[0] == 401
    status, _, body = request(emulation, "GET", "/orders/ord-1", {"Authorization": id_token()})

    assert status == 200
    assert body["claims"]["sub"] == "sub-ada"
    assert runner.events[-1]["pathParameters"] == {"orderId": "ord-1"}
    assert runner.events[-1]["resource"] == "/orders/{orderId}"
    assert len(runner.events) == 1, "refused requests never reach the function"


def test_the_shipment_route_admits_the_warehouse_role_only(gateway):
    emulation, runner = gateway
    body = b'{"outcome": "IN_PROGRESS"}'
    target = "/orders/ord-1/shipment"

    def signed_by(principal: Any) -> dict[str, str]:
        return sign(principal, "POST", API + target, body, {"Content-Type": "application/json"})

    unsigned = request(emulation, "POST", target, {"Content-Type": "application/json"}, body)
    shopper = request(emulation, "POST", target, {"Authorization": id_token()}, body)
    operator = request(emulation, "POST", target, signed_by(OPERATOR), body)
    warehouse = request(emulation, "POST", target, signed_by(WAREHOUSE), body)

    assert (unsigned[0], shopper[0], operator[0], warehouse[0]) == (403, 403, 403, 200)
    assert "explicit deny" in operator[2]["Message"]
    assert runner.events[-1]["requestContext"]["identity"]["userArn"] == WAREHOUSE.arn
    assert "authorizer" not in runner.events[-1]["requestContext"]


def test_the_shipment_route_refuses_a_swapped_body_and_an_unsigned_payload_before_the_function(gateway):
    emulation, runner = gateway
    target = "/orders/ord-1/shipment"
    body = b'{"outcome": "IN_PROGRESS"}'
    declared = {"Content-Type": "application/json", "X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()}
    swapped = request(
        emulation, "POST", target, sign(WAREHOUSE, "POST", API + target, body, declared), b'{"outcome": "FAILED"}'
    )
    unsigned_headers = sign(WAREHOUSE, "POST", API + target, body, {"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    unsigned = request(emulation, "POST", target, unsigned_headers, body)

    for status, _, answer in (swapped, unsigned):
        assert (status, answer) == (403, {"message": SIGNATURE_MISMATCH})
    assert runner.events == []


class FailingRunner:
    """Stands in for the Lambda runner: answers every invocation with ``invocation``."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation

    def invoke(self, function_name: str, payload: bytes) -> Invocation:
        return self.invocation


@pytest.mark.parametrize(
    ("invocation", "status"),
    [
        (Invocation(b'{"errorType": "KeyError", "errorMessage": "orderId"}', function_error="Unhandled"), 502),
        (Invocation(b'{"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}', status_code=429), 500),
    ],
    ids=["function-error", "throttled"],
)
def test_a_function_error_answers_502_and_a_throttled_invocation_500_as_api_gateway_does(
    authorizer, invocation, status
):
    emulation = ApiGatewayEmulation(FailingRunner(invocation), "OrderApi", authorizer)

    assert request(emulation, "GET", "/products")[::2] == (status, {"message": "Internal server error"})


class ManualClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_stage_passes_a_burst_of_100_then_answers_429_before_any_authorizer_and_refills_50_a_second(authorizer):
    clock, runner = ManualClock(), RecordingRunner()
    emulation = ApiGatewayEmulation(runner, "OrderApi", authorizer, clock=clock)

    burst = [request(emulation, "GET", "/products")[0] for _ in range(100)]
    refused = request(emulation, "GET", "/products")
    unsigned_in = request(emulation, "GET", "/orders")
    clock.now += 0.5
    refilled = [request(emulation, "GET", "/products")[0] for _ in range(26)]

    assert burst == [200] * 100
    assert refused[::2] == (429, {"message": "Too Many Requests"})
    assert unsigned_in[0] == 429, "throttled before the authorizer would answer 401"
    assert refilled == [200] * 25 + [429], "half a second at 50 a second"
    assert len(runner.events) == 125, "a throttled request never reaches the function"


def test_a_stage_throttle_set_higher_for_a_benchmark_passes_a_larger_burst(authorizer):
    emulation = ApiGatewayEmulation(
        RecordingRunner(), "OrderApi", authorizer, throttle=StageThrottle(1, 150), clock=ManualClock()
    )

    assert [request(emulation, "GET", "/products")[0] for _ in range(151)] == [200] * 150 + [429]


def test_orders_up_keeps_aws_stage_throttle_and_the_deployed_order_limit_unless_told_otherwise():
    default = StackSettings.from_environment({})
    raised = StackSettings.from_environment(
        {
            "ORDERS_STAGE_RATE_LIMIT": "1000",
            "ORDERS_STAGE_BURST_LIMIT": "2000",
            "ORDERS_SHOPPER_ORDERS_PER_MINUTE": "500",
            "ORDERS_SHOPPER_ORDERS_PER_DAY": "100000",
        }
    )

    assert (default.stage_throttle, default.order_limit) == (STAGE_THROTTLE, SHOPPER_ORDER_LIMIT)
    assert (default.stage_throttle.rate_limit, default.stage_throttle.burst_limit) == (50, 100)
    assert raised.stage_throttle == StageThrottle(rate_limit=1000, burst_limit=2000)
    assert raised.order_limit == OrderRateLimit(per_minute=500, per_day=100_000)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"ORDERS_STAGE_RATE_LIMIT": "0"}, "ORDERS_STAGE_RATE_LIMIT"),
        ({"ORDERS_STAGE_BURST_LIMIT": "lots"}, "ORDERS_STAGE_BURST_LIMIT"),
        ({"ORDERS_SHOPPER_ORDERS_PER_MINUTE": "300"}, "must not exceed ORDERS_SHOPPER_ORDERS_PER_DAY"),
    ],
)
def test_a_limit_orders_up_cannot_use_is_refused_naming_its_variable(settings, named):
    with pytest.raises(ValueError, match=named):
        StackSettings.from_environment(settings)


def test_public_routes_need_nothing_and_unknown_routes_are_missing_authentication(gateway):
    emulation, _ = gateway

    assert request(emulation, "GET", "/products")[0] == 200
    assert request(emulation, "GET", "/admin")[::2] == (403, {"message": "Missing Authentication Token"})
    assert request(emulation, "DELETE", "/orders")[0] == 403


def test_preflights_are_answered_for_configured_origins_only(gateway):
    emulation, runner = gateway
    asks = {"Origin": "http://shop.test", "Access-Control-Request-Method": "POST"}

    status, headers, _ = request(emulation, "OPTIONS", "/orders", asks)
    foreign = request(emulation, "OPTIONS", "/orders", {**asks, "Origin": "http://evil.test"})
    unserved_method = request(emulation, "OPTIONS", "/orders", {**asks, "Access-Control-Request-Method": "PUT"})

    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "http://shop.test"
    assert headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type,Idempotency-Key"
    assert "POST" in headers["Access-Control-Allow-Methods"].split(",")
    assert (foreign[0], unserved_method[0]) == (403, 403)
    assert runner.events == []


def test_without_configured_origins_no_preflight_is_answered(authorizer):
    emulation = ApiGatewayEmulation(RecordingRunner(), "OrderApi", authorizer)

    status, headers, _ = request(
        emulation, "OPTIONS", "/orders", {"Origin": "http://shop.test", "Access-Control-Request-Method": "GET"}
    )

    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers


def guarded(guard: LoopbackGuard, method: str, host: str, origin: str | None = None, **fetch: str) -> str:
    """The status ``guard`` answers; ``fetch`` gives the browser's ``Sec-Fetch-*`` headers (``site="cross-site"``)."""
    environ = {
        "REQUEST_METHOD": method,
        "HTTP_HOST": host,
        **({"HTTP_ORIGIN": origin} if origin else {}),
        **{f"HTTP_SEC_FETCH_{name.upper()}": value for name, value in fetch.items()},
    }
    statuses: list[str] = []
    guard(environ, lambda status, headers, *rest: statuses.append(status))
    return statuses[0].split()[0]


def ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Access-Control-Allow-Origin", "*")])
    return [b"ok"]


def test_the_guard_refuses_foreign_hosts_and_cross_site_state_changes():
    guard = LoopbackGuard(ok, trusted_origins=("http://shop.test",))
    guard.serve_port(3000, "the API")

    assert guarded(guard, "GET", "127.0.0.1:3000") == "200"
    assert guarded(guard, "GET", "localhost:3000") == "200"
    assert guarded(guard, "GET", "attacker.example:3000") == "403"
    assert guarded(guard, "GET", "127.0.0.1:3001") == "403"
    assert guarded(guard, "POST", "127.0.0.1:3000", "http://evil.test") == "403"
    assert guarded(guard, "POST", "127.0.0.1:3000", "null") == "403"
    assert guarded(guard, "POST", "127.0.0.1:3000", "http://shop.test") == "200"
    assert guarded(guard, "POST", "127.0.0.1:3000", "http://127.0.0.1:3000") == "200"
    assert guarded(guard, "GET", "127.0.0.1:3000", "http://evil.test") == "200"


def test_a_same_origin_only_guard_refuses_foreign_reads_and_drops_cors_headers():
    guard = LoopbackGuard(ok, same_origin_only=True)
    guard.serve_port(4566, "the AWS endpoint")
    headers: list[tuple[str, str]] = []

    guard({"REQUEST_METHOD": "GET", "HTTP_HOST": "127.0.0.1:4566"}, lambda status, given: headers.extend(given))

    assert guarded(guard, "GET", "127.0.0.1:4566", "http://evil.test") == "403"
    assert guarded(guard, "OPTIONS", "127.0.0.1:4566", "http://evil.test") == "403"
    assert headers == []


def test_the_guard_refuses_what_a_page_of_another_site_sends_without_an_origin(caplog):
    """``<img>``, ``<script>``, ``<iframe>`` and beacons of another site: Chromium marks them, they carry no Origin."""
    guard = LoopbackGuard(ok, trusted_origins=("http://shop.test",))
    guard.serve_port(8233, "the console")

    assert guarded(guard, "GET", "127.0.0.1:8233", site="cross-site", mode="no-cors", dest="image") == "403"
    assert guarded(guard, "GET", "127.0.0.1:8233", site="cross-site", mode="navigate", dest="iframe") == "403"
    assert guarded(guard, "POST", "127.0.0.1:8233", site="cross-site", mode="navigate", dest="document") == "403"
    assert guarded(guard, "GET", "127.0.0.1:8233", "http://evil.test", site="cross-site", mode="cors") == "403"
    assert [record.getMessage() for record in caplog.records][:2] == [
        "the console refused GET /: a page of another site may only link here (Sec-Fetch-Site: cross-site)"
    ] * 2


def test_the_guard_lets_through_links_trusted_origins_and_clients_that_are_no_browser():
    guard = LoopbackGuard(ok, trusted_origins=("http://shop.test",))
    guard.serve_port(3000, "the API")

    assert guarded(guard, "GET", "127.0.0.1:3000", site="cross-site", mode="navigate", dest="document") == "200"
    assert guarded(guard, "POST", "127.0.0.1:3000", "http://shop.test", site="cross-site", mode="cors") == "200"
    assert guarded(guard, "OPTIONS", "127.0.0.1:3000", "http://shop.test", site="cross-site", mode="cors") == "200"
    assert guarded(guard, "GET", "127.0.0.1:3000", site="same-site", mode="no-cors", dest="image") == "200"
    assert guarded(guard, "GET", "127.0.0.1:3000", site="same-origin", mode="cors") == "200"
    assert guarded(guard, "POST", "127.0.0.1:3000") == "200"


def test_a_same_origin_only_guard_refuses_every_page_of_another_site_or_port():
    guard = LoopbackGuard(ok, same_origin_only=True)
    guard.serve_port(4566, "the AWS endpoint")

    assert guarded(guard, "GET", "127.0.0.1:4566", site="cross-site", mode="navigate", dest="document") == "403"
    assert guarded(guard, "GET", "127.0.0.1:4566", site="same-site", mode="no-cors", dest="image") == "403"
    assert guarded(guard, "GET", "127.0.0.1:4566", site="none", mode="navigate", dest="document") == "200"
    assert guarded(guard, "POST", "127.0.0.1:4566") == "200"
