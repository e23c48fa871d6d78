"""How the console's actions reach the order API: an ops user's ID token for cancel, SigV4 for the shipment route.

A small recording API on waitress stands in for the order API; signatures are checked with ``local.aws.sigv4.verify``,
as the local API Gateway emulation checks them, and the local operator signs in to moto's Cognito.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws.cognitoidp.identity import (
    LOCAL_APP_CLIENT_NAME,
    LOCAL_USER_POOL_NAME,
    OPERATOR,
    REFRESH_MARGIN_SECONDS,
    provision_user_pool,
)
from local.aws.sigv4 import WAREHOUSE, LocalPrincipal, SignatureError, verify
from tests.console.support import FakeOperator, served
from tools.console.api_caller import (
    DeployedOperator,
    LocalOperator,
    OperatorUnavailableError,
    OrderApiCaller,
)
from workflows.resources import OPERATORS_GROUP

REGION = "us-east-1"


class RecordingApi:
    """A WSGI stand-in for the order API: records each request and answers the next canned status (else 202)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        self.requests.append(
            {
                "method": environ["REQUEST_METHOD"],
                "url": f"http://{environ['HTTP_HOST']}{environ['PATH_INFO']}",
                "headers": headers,
                "body": environ["wsgi.input"].read(length),
            }
        )
        status = self.statuses.pop(0) if self.statuses else 202
        body = json.dumps({"status": status}).encode()
        start_response(f"{status} Answer", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def api():
    recording = RecordingApi()
    with served(recording, "the recording API") as listener:
        recording.url = listener.url
        yield recording


class FakeCognito:
    """The three Cognito calls the local operator makes, with tokens numbered so a test sees which one it got."""

    def __init__(self) -> None:
        self.flows: list[str] = []
        self.refusing_refresh = False
        self.issued = 0

    def list_user_pools(self, MaxResults: int) -> dict[str, Any]:  # noqa: N803
        return {"UserPools": [{"Id": "us-east-1_pool", "Name": LOCAL_USER_POOL_NAME}]}

    def list_user_pool_clients(self, UserPoolId: str, MaxResults: int) -> dict[str, Any]:  # noqa: N803
        return {"UserPoolClients": [{"ClientId": "app-client", "ClientName": LOCAL_APP_CLIENT_NAME}]}

    def initiate_auth(self, ClientId: str, AuthFlow: str, AuthParameters: dict[str, str]) -> dict[str, Any]:  # noqa: N803
        self.flows.append(AuthFlow)
        if AuthFlow == "REFRESH_TOKEN_AUTH" and self.refusing_refresh:
            raise ClientError({"Error": {"Code": "NotAuthorizedException", "Message": "expired"}}, "InitiateAuth")
        self.issued += 1
        result = {"IdToken": f"id-token-{self.issued}", "ExpiresIn": 3600}
        if AuthFlow == "USER_PASSWORD_AUTH":
            result["RefreshToken"] = "refresh-token"
        return {"AuthenticationResult": result}


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_local_operator_is_the_ops_user_of_the_local_pool():
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        provision_user_pool(cognito, REGION)
        operator = LocalOperator(cognito, REGION)
        token = operator.id_token()
        assert operator.id_token() == token, "a current token is reused"
    assert claims(token)["email"] == OPERATOR.email
    assert OPERATORS_GROUP in claims(token)["cognito:groups"]


def test_the_local_operator_renews_its_token_before_it_expires_and_signs_in_again_when_refused():
    cognito, clock = FakeCognito(), Clock()
    operator = LocalOperator(cognito, REGION, clock=clock)
    assert operator.id_token() == "id-token-1"
    clock.now += 3600 - REFRESH_MARGIN_SECONDS - 1
    assert operator.id_token() == "id-token-1"
    clock.now += 2
    assert operator.id_token() == "id-token-2"
    cognito.refusing_refresh = True
    clock.now += 3600
    assert operator.id_token() == "id-token-3"
    operator.forget()
    assert operator.id_token() == "id-token-4"
    assert cognito.flows == [
        "USER_PASSWORD_AUTH",
        "REFRESH_TOKEN_AUTH",
        "REFRESH_TOKEN_AUTH",
        "USER_PASSWORD_AUTH",
        "USER_PASSWORD_AUTH",
    ]


def test_without_a_local_pool_an_action_is_a_502_that_says_why(api):
    with mock_aws():
        operator = LocalOperator(boto3.client("cognito-idp", region_name=REGION), REGION)
        with pytest.raises(OperatorUnavailableError, match=OPERATOR.email):
            operator.id_token()
        status, answer = OrderApiCaller(api.url, operator).post("/orders/ord-1/cancel", {"reason": "x"})
    assert status == 502 and f"cannot sign in as {OPERATOR.email}" in answer["message"]
    assert api.requests == [], "nothing is sent without a token"


def test_cancel_carries_the_operators_id_token_and_shipment_the_warehouse_signature(api):
    caller = OrderApiCaller(api.url, LocalOperator(FakeCognito(), REGION))
    assert caller.post("/orders/ord-1/cancel", {"reason": "duplicate"}) == (202, {"status": 202})
    shipment = {"outcome": "SHIPPED", "trackingNumber": "1Z"}
    assert caller.post("/orders/ord-1/shipment", shipment) == (202, {"status": 202})
    cancel, ship = api.requests
    assert cancel["headers"]["authorization"] == "id-token-1"
    assert json.loads(cancel["body"]) == {"reason": "duplicate"}
    assert cancel["url"].endswith("/orders/ord-1/cancel")
    assert verify("POST", ship["url"], ship["headers"], ship["body"]) == WAREHOUSE
    assert json.loads(ship["body"]) == shipment


def test_a_refused_token_is_renewed_once_and_a_refused_signature_is_not_retried(api):
    operator = FakeOperator()
    caller = OrderApiCaller(api.url, operator)
    api.statuses = [401, 202]
    assert caller.post("/orders/ord-1/cancel", {})[0] == 202
    assert operator.forgotten == 1 and len(api.requests) == 2
    api.statuses = [401, 401]
    assert caller.post("/orders/ord-1/cancel", {})[0] == 401
    api.statuses = [401]
    assert caller.post("/orders/ord-1/shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z"})[0] == 401
    assert operator.forgotten == 2 and len(api.requests) == 5


def test_only_the_apis_own_routes_are_called():
    with pytest.raises(ValueError, match="no route POST /orders/ord-1/refund"):
        OrderApiCaller("http://127.0.0.1:9", FakeOperator()).post("/orders/ord-1/refund", {})


def test_an_unreachable_api_is_a_502():
    status, answer = OrderApiCaller("http://127.0.0.1:9", FakeOperator()).post("/orders/ord-1/cancel", {})
    assert status == 502 and "cannot reach the order API at http://127.0.0.1:9" in answer["message"]


class StaticSession:
    """The two things ``DeployedOperator`` asks of a boto3 session."""

    def __init__(self, credentials: Any, region_name: str | None = "eu-west-1"):
        self._credentials, self.region_name = credentials, region_name

    def get_credentials(self) -> Any:
        return self._credentials


def test_against_aws_the_operator_signs_with_your_own_credentials_in_the_apis_region():
    mine = LocalPrincipal("arn:aws:iam::123456789012:user/me", "AKIAMINE", "my-secret")
    operator = DeployedOperator("ops-id-token", StaticSession(mine.credentials, region_name="us-east-1"))
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/orders/ord-1/shipment"
    body = b'{"outcome": "FAILED", "reason": "lost"}'
    headers = operator.sign("POST", url, body, {"Content-Type": "application/json"})
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert verify("POST", url, headers, body, principals=(mine,)) == mine
    with pytest.raises(SignatureError):
        verify("POST", url, headers, body)
    assert operator.id_token() == "ops-id-token"


def test_against_aws_without_a_token_or_credentials_the_action_says_what_is_missing(api):
    caller = OrderApiCaller(api.url, DeployedOperator(None, StaticSession(None)))
    status, answer = caller.post("/orders/ord-1/cancel", {})
    assert status == 502 and "--token" in answer["message"]
    status, answer = caller.post("/orders/ord-1/shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z"})
    assert status == 502 and "no AWS credentials" in answer["message"]
    assert api.requests == []
