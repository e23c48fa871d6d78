"""A storefront signs in from the browser against the local pool; no other AWS call is answered to a web page.

The guard's decisions are checked without a socket; then the AWS endpoint is served as the local stack serves it
(waitress, ``LoopbackGuard`` with the storefronts' sign-in calls, ``AwsCallsOnly``, moto) and called over HTTP with
the headers and the JSON amazon-cognito-identity-js sends from a page of an allowed origin.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, SHOPPER_ADA, UserPool, provision_user_pool
from local.aws.moto import install_time_scale
from local.endpoint.aws_calls_only import AwsCallsOnly, browser_sign_in
from local.endpoint.listener import LocalListener, LoopbackGuard

STOREFRONT = "http://127.0.0.1:5173"
FOREIGN = "http://evil.test"
SETTING = "ORDERS_CORS_ORIGINS"
COGNITO = "AWSCognitoIdentityProviderService"
LIBRARY_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-User-Agent": "aws-amplify/5.0.4 js",
    "Cache-Control": "no-store",
}
"""What amazon-cognito-identity-js sends with each call, besides ``X-Amz-Target``."""


def answered(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Access-Control-Allow-Origin", "*")])
    return [b"{}"]


def aws_guard(app: Any = answered) -> LoopbackGuard:
    guard = LoopbackGuard(
        app, same_origin_only=True, browser_calls=browser_sign_in([STOREFRONT]), origins_setting=SETTING
    )
    guard.serve_port(4566, "the AWS endpoint")
    return guard


def call(guard: LoopbackGuard, method: str, origin: str | None, **headers: str) -> tuple[str, dict[str, str], Any]:
    """Status code, headers and JSON body the guard answers; ``headers`` as WSGI names them (``HTTP_X_AMZ_TARGET``)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/",
        "HTTP_HOST": "127.0.0.1:4566",
        **({"HTTP_ORIGIN": origin} if origin else {}),
        **headers,
    }
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(guard(environ, lambda status, given, *rest: seen.append((status, given))))
    ((status, given),) = seen
    return status.split()[0], dict(given), json.loads(body) if body else None


def test_an_allowed_origin_gets_a_cognito_sign_in_call_answered_with_cors():
    status, headers, _ = call(aws_guard(), "POST", STOREFRONT, HTTP_X_AMZ_TARGET=f"{COGNITO}.InitiateAuth")

    assert status == "200"
    assert headers["Access-Control-Allow-Origin"] == STOREFRONT
    assert headers["Vary"] == "Origin"
    assert "x-amzn-ErrorType" in headers["Access-Control-Expose-Headers"]


def test_an_allowed_origins_preflight_is_answered_by_the_guard_for_the_librarys_headers():
    status, headers, _ = call(
        aws_guard(),
        "OPTIONS",
        STOREFRONT,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="cache-control,content-type,x-amz-target,x-amz-user-agent",
    )

    assert status == "204"
    assert headers["Access-Control-Allow-Origin"] == STOREFRONT
    assert headers["Vary"] == "Origin"
    assert headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {name.strip() for name in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-amz-target", "x-amz-user-agent", "cache-control"} <= allowed


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Scan"},
        {"HTTP_X_AMZ_TARGET": f"{COGNITO}.AdminCreateUser"},
        {"HTTP_X_AMZ_TARGET": f"{COGNITO}.SignUp"},
        {"HTTP_X_AMZ_TARGET": f"{COGNITO}.InitiateAuth", "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=x"},
        {"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/sqs/aws4_request"},
    ],
    ids=["dynamodb", "admin-call", "sign-up", "signed-cognito", "signed-sqs"],
)
def test_an_allowed_origin_gets_no_other_aws_call_answered(headers):
    status, answer, body = call(aws_guard(), "POST", STOREFRONT, **headers)

    assert status == "403"
    assert "the Cognito sign-in calls" in body["message"]
    assert answer["Access-Control-Allow-Origin"] == STOREFRONT, "the page may read why it was refused"


def test_an_allowed_origin_reads_nothing_else_either():
    status, _, _ = call(aws_guard(), "GET", STOREFRONT, PATH_INFO="/moto-api/data.json")

    assert status == "403"


@pytest.mark.parametrize("method", ["POST", "OPTIONS"])
def test_a_foreign_origin_gets_a_cors_refusal_that_names_it_and_the_setting(method):
    status, headers, body = call(
        aws_guard(),
        method,
        FOREIGN,
        HTTP_X_AMZ_TARGET=f"{COGNITO}.InitiateAuth",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )

    assert status == "403"
    assert FOREIGN in body["message"] and SETTING in body["message"] and "CORS" in body["message"]
    assert "Access-Control-Allow-Origin" not in headers


def test_pages_without_an_allowed_origin_still_reach_no_aws_call():
    guard = aws_guard()
    target = {"HTTP_X_AMZ_TARGET": f"{COGNITO}.InitiateAuth"}

    assert call(guard, "POST", None, HTTP_SEC_FETCH_SITE="same-site", **target)[0] == "403"
    assert call(guard, "POST", None, HTTP_SEC_FETCH_SITE="cross-site", **target)[0] == "403"
    assert call(guard, "POST", None, **target)[1].get("Access-Control-Allow-Origin") is None


def test_the_api_refuses_a_foreign_origins_preflight_and_post_saying_why():
    guard = LoopbackGuard(answered, trusted_origins=(STOREFRONT,), origins_setting=SETTING)
    guard.serve_port(4566, "the API")
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}

    for method in ("OPTIONS", "POST"):
        status, _, body = call(guard, method, FOREIGN, **preflight)
        assert (status, FOREIGN in body["message"], SETTING in body["message"]) == ("403", True, True), method
    assert call(guard, "OPTIONS", STOREFRONT, **preflight)[0] == "200", "the gateway answers its storefronts"


@pytest.fixture(scope="module")
def endpoint_and_pool() -> Iterator[tuple[int, UserPool]]:
    install_time_scale(1)
    app = LoopbackGuard(
        AwsCallsOnly(DomainDispatcherApplication(create_backend_app)),
        same_origin_only=True,
        browser_calls=browser_sign_in([STOREFRONT]),
        origins_setting=SETTING,
    )
    listener = LocalListener("the AWS endpoint", 0, app, threads=4)
    listener.start()
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=listener.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    yield listener.port, provision_user_pool(cognito, "us-east-1", users=[SHOPPER_ADA])
    listener.stop()


def post(port: int, origin: str, operation: str, payload: dict) -> tuple[int, dict[str, str], dict]:
    """A user-pool call as the library's ``fetch`` makes it from a page of ``origin``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {**LIBRARY_HEADERS, "X-Amz-Target": f"{COGNITO}.{operation}", "Origin": origin}
        connection.request("POST", "/", body=json.dumps(payload), headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_a_storefront_page_signs_in_over_http_and_reads_its_user(endpoint_and_pool):
    port, pool = endpoint_and_pool
    sign_in = {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": pool.client_id,
        "AuthParameters": {"USERNAME": SHOPPER_ADA.email, "PASSWORD": LOCAL_PASSWORD},
        "ClientMetadata": {},
    }

    status, headers, body = post(port, STOREFRONT, "InitiateAuth", sign_in)
    tokens = body["AuthenticationResult"]
    user_status, _, user = post(port, STOREFRONT, "GetUser", {"AccessToken": tokens["AccessToken"]})
    foreign_status, foreign_headers, refusal = post(port, FOREIGN, "InitiateAuth", sign_in)

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == STOREFRONT
    assert {"IdToken", "AccessToken", "RefreshToken"} <= tokens.keys()
    assert user_status == 200 and user["Username"]
    assert foreign_status == 403 and "Access-Control-Allow-Origin" not in foreign_headers
    assert FOREIGN in refusal["message"] and SETTING in refusal["message"]


def test_a_storefront_page_cannot_call_another_service(endpoint_and_pool):
    port, _ = endpoint_and_pool
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/",
            body="{}",
            headers={**LIBRARY_HEADERS, "X-Amz-Target": "DynamoDB_20120810.ListTables", "Origin": STOREFRONT},
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 403
    assert "the Cognito sign-in calls" in body["message"]
