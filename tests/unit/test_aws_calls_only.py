"""The AWS endpoint answers AWS API calls only: what a web page can send (an ``<img>``, a form) never reaches moto."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from local.endpoint.aws_calls_only import AwsCallsOnly

SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/dynamodb/aws4_request, Signature=x"}


class RecordingApp:
    """Stands in for moto's server: answers 200 and remembers what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


@pytest.fixture
def moto() -> RecordingApp:
    return RecordingApp()


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/moto-api/recorder/start-recording", {}),
        ("GET", "/moto-api/seed?a=42", {}),
        ("POST", "/moto-api/reset", SIGNED),
        ("GET", "/?Action=DeleteQueue&QueueUrl=orders", {}),
        ("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.DeleteTable"}),
        ("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("GET", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=forged", {}),
        ("POST", "/?X-Amz-Signature=forged", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
    ids=[
        "recorder",
        "seed",
        "reset-even-signed",
        "unsigned-query-get",
        "unsigned-json",
        "a-form",
        "presigned",
        "a-form-presigned",
    ],
)
def test_moto_routes_and_unsigned_calls_are_refused_before_moto(moto, method, path, headers, caplog):
    """A signature in the query string is none: moto checks no signature, and a page can write any query."""
    response = Client(AwsCallsOnly(moto)).open(path, method=method, headers=headers)

    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert moto.paths == []
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        f"the AWS endpoint refused {method} {path.split('?')[0]}"
    ]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/", {**SIGNED, "X-Amz-Target": "DynamoDB_20120810.GetItem"}),
        ("GET", "/us-east-1_pool/.well-known/jwks.json", {}),
        ("POST", "/", {"X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"}),
    ],
    ids=["signed", "public-keys", "cognito-sign-in"],
)
def test_aws_calls_and_what_aws_serves_unsigned_reach_moto(moto, method, path, headers):
    response = Client(AwsCallsOnly(moto)).open(path, method=method, headers=headers)

    assert response.status_code == 200
    assert moto.paths == [path.split("?")[0]]
