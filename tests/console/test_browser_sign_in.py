"""A storefront page signs in to the local pool from headless Chromium; a page of another origin cannot.

The AWS endpoint is served as the local stack serves it, with one storefront origin allowed: a tiny server on
``127.0.0.1``. Its page calls InitiateAuth (``USER_PASSWORD_AUTH``) with ``fetch``, the headers and the JSON
amazon-cognito-identity-js sends, so the browser makes its real preflight first. The same page served as
``localhost`` is another origin, and gets no answer it may read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, SHOPPER_GRACE, UserPool, provision_user_pool
from local.aws.moto import install_time_scale
from local.endpoint.aws_calls_only import AwsCallsOnly, browser_sign_in
from local.endpoint.listener import LocalListener, LoopbackGuard
from tests.console.support import served

SIGN_IN = """
const [endpoint, clientId, username, password] = %(arguments)s;
fetch(endpoint, {
  method: "POST",
  mode: "cors",
  headers: {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    "X-Amz-User-Agent": "aws-amplify/5.0.4 js",
    "Cache-Control": "no-store",
  },
  body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password }, ClientMetadata: {} }),
})
  .then((answer) => answer.json().then((body) => ({ status: answer.status, body })))
  .then((result) => { window.result = result; }, (error) => { window.result = { failed: String(error) }; })
  .finally(() => { document.title = "done"; });
"""


class Storefront:
    """Serves one page that signs in with ``arguments``: endpoint, client id, user name and password (JSON)."""

    arguments = "[]"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        script = SIGN_IN % {"arguments": self.arguments}
        page = f"<!doctype html><html><head><title>shop</title></head><body><script>{script}</script></body></html>"
        body = page.encode()
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture(scope="module")
def storefront() -> Iterator[tuple[Storefront, LocalListener]]:
    app = Storefront()
    with served(app, "the storefront") as listener:
        yield app, listener


@pytest.fixture(scope="module")
def aws_endpoint(storefront) -> Iterator[tuple[str, UserPool]]:
    """The AWS endpoint with the storefront's origin (``http://127.0.0.1:<port>``) allowed, and a pool on it."""
    _, shop = storefront
    install_time_scale(1)
    guard = LoopbackGuard(
        AwsCallsOnly(DomainDispatcherApplication(create_backend_app)),
        same_origin_only=True,
        browser_calls=browser_sign_in([shop.url]),
        origins_setting="ORDERS_CORS_ORIGINS",
    )
    listener = LocalListener("the AWS endpoint", 0, guard, threads=4)
    listener.start()
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=listener.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    yield f"{listener.url}/", provision_user_pool(cognito, "us-east-1", users=[SHOPPER_GRACE])
    listener.stop()


def sign_in_from(browser: Any, page_url: str) -> dict[str, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(page_url)
        page.wait_for_function("document.title === 'done'")
        return page.evaluate("window.result")
    finally:
        context.close()


def test_a_page_of_an_allowed_origin_signs_in_and_another_origin_cannot(browser, storefront, aws_endpoint, caplog):
    app, shop = storefront
    endpoint, pool = aws_endpoint
    app.arguments = json.dumps([endpoint, pool.client_id, SHOPPER_GRACE.email, LOCAL_PASSWORD])

    allowed = sign_in_from(browser, f"{shop.url}/")
    foreign = sign_in_from(browser, f"http://localhost:{shop.port}/")

    assert allowed["status"] == 200, allowed
    assert {"IdToken", "AccessToken", "RefreshToken"} <= allowed["body"]["AuthenticationResult"].keys()
    assert "failed" in foreign, "the browser blocks the answer to another origin"
    refusals = [record.getMessage() for record in caplog.records if "the AWS endpoint refused" in record.getMessage()]
    assert any(f"origin http://localhost:{shop.port} " in refusal for refusal in refusals), refusals
