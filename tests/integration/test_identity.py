"""Every order belongs to the shopper who placed it, tried as an attacker would, over real HTTP with real tokens.

Two shoppers and an operator sign in to the user pool (the local one, or the deployed one the environment names).
The warehouse route takes SigV4 signatures of the warehouse role only. Each local listener refuses foreign ``Host``
headers and cross-site state changes.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource
from pycognito.aws_srp import AWSSRP

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, UserPool, find_user_pool, unverified_claims
from local.aws.sigv4 import OPERATOR as LOCAL_OPERATOR_PRINCIPAL
from local.testkit.fixtures import sample_order
from tests.integration.service import STOREFRONT_ORIGIN, OrdersService
from workflows.resources import STATE_MACHINES

TERMINAL = ("COMPLETED", "REJECTED", "PAYMENT_DECLINED", "OUT_OF_STOCK", "CANCELLED", "FAILED")
SHIPPED = {"outcome": "SHIPPED", "trackingNumber": "1Z999AA10123456784"}


@pytest.fixture
def shopper(service: OrdersService) -> OrdersService:
    return service.as_user(service.users.shopper)


@pytest.fixture
def other_shopper(service: OrdersService) -> OrdersService:
    return service.as_user(service.users.other_shopper)


@pytest.fixture
def operator(service: OrdersService) -> OrdersService:
    return service.as_user(service.users.operator)


def place(service: OrdersService, **overrides) -> str:
    response = service.request("POST", "/orders", sample_order(**overrides))
    assert response.status == 202, response.body
    return response.body["orderId"]


def test_another_shopper_gets_404_for_an_order_and_for_cancelling_it(shopper, other_shopper):
    order_id = place(shopper)
    shopper.wait_for_status(order_id, "AWAITING_SHIPMENT")

    read = other_shopper.request("GET", f"/orders/{order_id}")
    cancel = other_shopper.request("POST", f"/orders/{order_id}/cancel", {"reason": "mine now"})
    unknown = other_shopper.request("GET", "/orders/ord-00000000000000000000000000000000")

    assert (read.status, cancel.status) == (404, 404)
    assert read.body["message"] == unknown.body["message"].replace("ord-00000000000000000000000000000000", order_id)
    assert shopper.request("GET", f"/orders/{order_id}").body["status"] == "AWAITING_SHIPMENT"


def test_another_shopper_sees_none_of_an_orders_in_any_list(shopper, other_shopper):
    order_id = place(shopper)
    owner = shopper.request("GET", f"/orders/{order_id}").body["customerId"]

    for query in ("", "?limit=100", f"?customerId={owner}", "?status=RECEIVED", "?status=AWAITING_SHIPMENT"):
        listed = other_shopper.request("GET", f"/orders{query}").body["orders"]
        assert order_id not in [order["orderId"] for order in listed], query
        assert {order["customerId"] for order in listed} <= {_subject(other_shopper)}, query


def test_nobody_places_an_order_in_another_customers_name(shopper, other_shopper):
    owner = _subject(shopper)

    in_the_body = other_shopper.request("POST", "/orders", sample_order(customerId=owner))
    placed = place(other_shopper)

    assert in_the_body.status == 422
    assert any(problem.startswith("body.customerId") for problem in in_the_body.body["problems"])
    assert other_shopper.request("GET", f"/orders/{placed}").body["customerId"] == _subject(other_shopper)


def test_the_same_idempotency_key_from_two_shoppers_names_two_orders(shopper, other_shopper):
    key = {"Idempotency-Key": "shared-checkout-key"}

    mine = shopper.request("POST", "/orders", sample_order(), key)
    theirs = other_shopper.request("POST", "/orders", sample_order(), key)

    assert (mine.status, theirs.status) == (202, 202)
    assert mine.body["orderId"] != theirs.body["orderId"]


def test_an_operator_reads_lists_and_cancels_any_order_but_places_none(shopper, operator):
    order_id = place(shopper)
    shopper.wait_for_status(order_id, "AWAITING_SHIPMENT")
    owner = _subject(shopper)

    read = operator.request("GET", f"/orders/{order_id}")
    listed = operator.request("GET", f"/orders?customerId={owner}&limit=100").body["orders"]
    everything = operator.request("GET", "/orders?limit=100").body["orders"]
    cancelled = operator.request("POST", f"/orders/{order_id}/cancel", {"reason": "fraud check"})
    placed = operator.request("POST", "/orders", sample_order())

    assert read.status == 200 and read.body["customerId"] == owner
    assert order_id in [order["orderId"] for order in listed]
    assert order_id in [order["orderId"] for order in everything]
    assert cancelled.status == 202
    assert shopper.wait_for_status(order_id, *TERMINAL)["status"] == "CANCELLED"
    assert placed.status == 403


@pytest.mark.parametrize("route", [("GET", "/orders"), ("POST", "/orders"), ("GET", "/orders/ord-1")])
def test_no_token_or_a_tampered_one_gets_401(service, shopper, route):
    method, path = route
    token = shopper.tokens.token(shopper.user)
    header, payload, signature = token.split(".")
    claims = unverified_claims(token)
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "cognito:groups": ["ops"]}).encode()).rstrip(b"=")
    body = sample_order() if method == "POST" else None

    for authorization in (None, "not-a-jwt", f"{header}.{forged.decode()}.{signature}", f"{header}.{payload}.x"):
        headers = {"Authorization": authorization} if authorization else {}
        response = service.anonymous().request(method, path, body, headers)
        assert response.status == 401, (authorization, response.body)
        assert response.body == {"message": "Unauthorized"}


@pytest.fixture
def local_pool(local_only: OrdersService) -> tuple[Any, UserPool]:
    """A Cognito client of the local stack's AWS endpoint, and the local pool."""
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=local_only.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return cognito, find_user_pool(cognito, "us-east-1")


def test_srp_sign_in_needs_the_right_password_and_its_token_is_accepted(local_only, local_pool):
    """USER_SRP_AUTH is what Amplify and amazon-cognito-identity-js use by default; pycognito is another client."""
    cognito, pool = local_pool
    shopper = local_only.users.shopper

    tokens = AWSSRP(shopper, LOCAL_PASSWORD, pool.pool_id, pool.client_id, client=cognito).authenticate_user()
    with pytest.raises(ClientError) as wrong:
        AWSSRP(shopper, "Not-the-password-1!", pool.pool_id, pool.client_id, client=cognito).authenticate_user()
    id_token = tokens["AuthenticationResult"]["IdToken"]

    assert wrong.value.response["Error"]["Code"] == "NotAuthorizedException"
    listed = local_only.anonymous().request("GET", "/orders", headers={"Authorization": id_token})
    assert listed.status == 200, listed.body


def test_a_token_signed_with_the_key_moto_ships_is_refused(local_only, operator):
    """moto's private key is public: with it anyone could mint an operator's token for the local API."""
    shipped = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    token = operator.tokens.token(operator.user)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    minted = jwt.encode(header, unverified_claims(token), shipped)

    forged = local_only.anonymous().request("GET", "/orders/ord-unknown", headers={"Authorization": minted})
    genuine = local_only.anonymous().request("GET", "/orders/ord-unknown", headers={"Authorization": token})

    assert (forged.status, forged.body) == (401, {"message": "Unauthorized"})
    assert genuine.status == 404, "the API ran for the pool's own token: no such order"


def test_the_warehouse_route_needs_the_warehouse_roles_signature(local_only, shopper):
    order_id = place(shopper)
    shopper.wait_for_status(order_id, "AWAITING_SHIPMENT")
    path = f"/orders/{order_id}/shipment"

    unsigned = local_only.signed_by(None).request("POST", path, SHIPPED)
    with_a_shopper_token = local_only.signed_by(None).request(
        "POST", path, SHIPPED, {"Authorization": shopper.tokens.token(shopper.user)}
    )
    by_another_principal = local_only.signed_by(LOCAL_OPERATOR_PRINCIPAL).request("POST", path, SHIPPED)
    by_the_warehouse = local_only.request("POST", path, SHIPPED)

    assert (unsigned.status, with_a_shopper_token.status, by_another_principal.status) == (403, 403, 403)
    assert "explicit deny" in by_another_principal.body["Message"]
    assert by_the_warehouse.status == 202
    assert shopper.wait_for_status(order_id, *TERMINAL)["status"] == "COMPLETED"


def test_a_signature_over_another_body_is_refused(local_only, shopper):
    order_id = place(shopper)
    path = f"/orders/{order_id}/shipment"
    signed = local_only.signed_by(None)._signed_by_warehouse("POST", path, json.dumps(SHIPPED).encode())

    response = local_only.signed_by(None).request(
        "POST", path, raw=json.dumps({"outcome": "FAILED", "reason": "forged"}).encode(), headers=signed
    )

    assert response.status == 403
    assert "signature" in response.body["message"]


def test_the_health_probe_needs_a_signature(local_only):
    assert local_only.signed_by(None).request("GET", "/health").status == 403
    assert local_only.signed_by(LOCAL_OPERATOR_PRINCIPAL).request("GET", "/health").status == 200


def test_a_path_that_is_no_route_is_refused_by_the_gateway(service):
    response = service.anonymous().request("GET", "/admin")

    assert response.status == 403
    assert response.body == {"message": "Missing Authentication Token"}


def test_shoppers_see_a_failures_name_and_message_never_a_stack_trace(shopper):
    order_id = place(shopper, paymentToken="tok_declined")

    order = shopper.wait_for_status(order_id, *TERMINAL)

    assert order["status"] == "PAYMENT_DECLINED"
    assert set(order["failure"]) == {"error", "message"}
    assert order["failure"]["error"] == "PaymentDeclinedError"
    assert "declined" in order["failure"]["message"]
    assert "Traceback" not in json.dumps(order) and "stackTrace" not in json.dumps(order)
    assert "paymentToken" not in order


def test_storefronts_on_the_configured_origin_get_cors_and_others_do_not(local_only):
    anonymous = local_only.anonymous()
    preflight = {"Origin": STOREFRONT_ORIGIN, "Access-Control-Request-Method": "POST"}

    allowed = anonymous.request("OPTIONS", "/orders", headers=preflight)
    foreign = anonymous.request("OPTIONS", "/orders", headers={**preflight, "Origin": "https://evil.example"})
    answer = anonymous.request("GET", "/products", headers={"Origin": STOREFRONT_ORIGIN})
    other = anonymous.request("GET", "/products", headers={"Origin": "https://evil.example"})

    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == STOREFRONT_ORIGIN
    assert {"Authorization", "Content-Type", "Idempotency-Key"} <= set(
        allowed.headers["Access-Control-Allow-Headers"].split(",")
    )
    assert foreign.status == 403 and "Access-Control-Allow-Origin" not in foreign.headers
    assert answer.headers["Access-Control-Allow-Origin"] == STOREFRONT_ORIGIN
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_cross_site_post_is_refused_before_it_reaches_the_api(local_only, shopper):
    order_id = place(shopper)
    shopper.wait_for_status(order_id, "AWAITING_SHIPMENT")

    form_post = shopper.request(
        "POST",
        f"/orders/{order_id}/cancel",
        raw=b"",
        headers={"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert form_post.status == 403
    assert shopper.request("GET", f"/orders/{order_id}").body["status"] == "AWAITING_SHIPMENT"


@pytest.mark.parametrize("listener", ["api", "aws"])
def test_a_foreign_host_header_is_refused_by_every_listener(local_only, listener):
    url = local_only.api_url + "/products" if listener == "api" else local_only.aws_endpoint + "/"
    request = urllib.request.Request(url, headers={"Host": "attacker.example"})

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 403


def test_the_aws_endpoint_reflects_no_origin_and_refuses_pages_of_other_sites(local_only):
    body = json.dumps({"TableName": "orders"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.Scan"}
    request = urllib.request.Request(
        local_only.aws_endpoint + "/", data=body, headers={**headers, "Origin": "https://evil.example"}
    )
    preflight = urllib.request.Request(
        local_only.aws_endpoint + "/",
        method="OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with pytest.raises(urllib.error.HTTPError) as refused_preflight:
        urllib.request.urlopen(preflight, timeout=10)

    assert refused.value.code == 403
    assert refused_preflight.value.code == 403
    assert "Access-Control-Allow-Origin" not in refused_preflight.value.headers


def test_no_payment_token_reaches_any_execution_history_of_either_state_machine(service, shopper):
    placed = [place(shopper, paymentToken=token) for token in ("tok_ok", "tok_declined", "tok_flaky")]
    for order_id in placed:
        shopper.wait_for(order_id, lambda order: order["status"] != "RECEIVED", "started")
    stepfunctions = service.stepfunctions()
    machines = [machine["stateMachineArn"] for machine in stepfunctions.list_state_machines()["stateMachines"]]
    assert len(machines) == len(STATE_MACHINES), "the parent and its Express child"

    executions = [
        execution
        for machine in machines
        for execution in stepfunctions.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]
    ]
    assert len(executions) >= 2 * len(placed), "each order ran its parent and its child"
    leaked = []
    for execution in executions:
        description = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        history = stepfunctions.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
        text = json.dumps([description.get("input"), history["events"]], default=str)
        if "tok_" in text or "paymentToken" in text:
            leaked.append(execution["name"])

    assert set(placed) <= {execution["name"] for execution in executions}
    assert leaked == []


def _subject(service: OrdersService) -> str:
    """The caller's customer id: the ``sub`` of its ID token, which the API records as the order's customer."""
    return unverified_claims(service.tokens.token(service.user))["sub"]
