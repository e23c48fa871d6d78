"""The order API over real HTTP: every payment token, idempotency under concurrency, callbacks, cancel, bad input."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.stack import free_port
from local.testkit.fixtures import sample_order
from tests.integration.service import OrdersService, start_local_service, stop_local_service

TERMINAL = ("COMPLETED", "REJECTED", "PAYMENT_DECLINED", "OUT_OF_STOCK", "CANCELLED", "FAILED")


def submit(service: OrdersService, key: str | None = None, **overrides) -> dict:
    headers = {"Idempotency-Key": key} if key else {}
    response = service.request("POST", "/orders", sample_order(**overrides), headers)
    assert response.status == 202, response.body
    return response.body


def ship(service: OrdersService, order_id: str, **callback) -> int:
    service.wait_for_status(order_id, "AWAITING_SHIPMENT")
    body = callback or {"outcome": "SHIPPED", "trackingNumber": "1Z999AA10123456784"}
    return service.request("POST", f"/orders/{order_id}/shipment", body).status


@pytest.mark.parametrize(
    ("token", "final_status"),
    [
        ("tok_ok", "COMPLETED"),
        ("tok_flaky", "COMPLETED"),
        ("tok_declined", "PAYMENT_DECLINED"),
        ("tok_unavailable", "FAILED"),
    ],
)
def test_every_payment_token_reaches_its_terminal_status(service, token, final_status):
    accepted = submit(service, paymentToken=token)
    assert accepted["status"] == "RECEIVED"
    if final_status == "COMPLETED":
        assert ship(service, accepted["orderId"]) == 202

    order = service.wait_for_status(accepted["orderId"], *TERMINAL)

    assert order["status"] == final_status
    assert order["timeline"][0]["status"] == "RECEIVED"
    assert order["timeline"][-1]["status"] == final_status


def test_execution_status_on_the_aws_endpoint_agrees_with_the_order(service):
    completed = submit(service)
    ship(service, completed["orderId"])
    declined = submit(service, paymentToken="tok_declined")
    stepfunctions = service.stepfunctions()

    for accepted, execution_status in ((completed, "SUCCEEDED"), (declined, "FAILED")):
        order = service.wait_for_status(accepted["orderId"], *TERMINAL)
        execution = stepfunctions.describe_execution(executionArn=accepted["executionArn"])
        assert execution["status"] == execution_status
        assert execution["name"] == order["orderId"]
        if execution_status == "FAILED":
            assert execution["error"] == order["status"]


def test_concurrent_resubmissions_with_one_key_create_one_order_and_one_execution(service):
    key = f"key-{uuid.uuid4().hex}"
    body = sample_order()

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(
            pool.map(lambda _: service.request("POST", "/orders", body, {"Idempotency-Key": key}), range(32))
        )

    assert {response.status for response in responses} == {202}
    order_ids = {response.body["orderId"] for response in responses}
    assert len(order_ids) == 1
    listed = [order["orderId"] for order in service.request("GET", "/orders?limit=100").body["orders"]]
    assert listed.count(next(iter(order_ids))) == 1
    stepfunctions = service.stepfunctions()
    execution_arn = responses[0].body["executionArn"]
    state_machine_arn = stepfunctions.describe_execution(executionArn=execution_arn)["stateMachineArn"]
    names = [e["name"] for e in stepfunctions.list_executions(stateMachineArn=state_machine_arn)["executions"]]
    assert names.count(order_ids.pop()) == 1


def test_the_same_key_with_a_different_body_is_a_conflict(service):
    key = f"key-{uuid.uuid4().hex}"
    first = service.request("POST", "/orders", sample_order(), {"Idempotency-Key": key})
    changed = sample_order(items=[{"sku": "MS-ERGO-02", "quantity": 3}])
    second = service.request("POST", "/orders", changed, {"Idempotency-Key": key})

    assert first.status == 202
    assert second.status == 409
    assert "Idempotency-Key" in second.body["message"]


def test_cancel_while_awaiting_shipment_ends_cancelled_and_a_second_cancel_conflicts(service):
    accepted = submit(service)
    service.wait_for_status(accepted["orderId"], "AWAITING_SHIPMENT")

    response = service.request("POST", f"/orders/{accepted['orderId']}/cancel", {"reason": "changed my mind"})
    order = service.wait_for_status(accepted["orderId"], *TERMINAL)

    assert response.status == 202
    assert order["status"] == "CANCELLED"
    assert order["compensations"] == {"payment": "VOIDED", "inventory": "RELEASED"}
    assert service.request("POST", f"/orders/{accepted['orderId']}/cancel").status == 409


def test_shipment_failed_callback_fails_the_order_with_the_reason(service):
    accepted = submit(service)

    status = ship(service, accepted["orderId"], outcome="FAILED", reason="forklift on fire")
    order = service.wait_for_status(accepted["orderId"], *TERMINAL)

    assert status == 202
    assert order["status"] == "FAILED"
    assert order["failure"] == {"error": "ShipmentFailedError", "message": "forklift on fire"}


def test_shipment_callbacks_for_orders_that_are_not_waiting_are_refused(service):
    accepted = submit(service)
    ship(service, accepted["orderId"])
    service.wait_for_status(accepted["orderId"], "COMPLETED")
    shipped = {"outcome": "SHIPPED", "trackingNumber": "1Z1"}

    assert service.request("POST", f"/orders/{accepted['orderId']}/shipment", shipped).status == 409
    assert service.request("POST", "/orders/ord-unknown/shipment", shipped).status == 404
    missing_tracking = service.request("POST", f"/orders/{accepted['orderId']}/shipment", {"outcome": "SHIPPED"})
    assert missing_tracking.status == 422
    assert "trackingNumber" in str(missing_tracking.body["problems"])


def test_an_order_shows_prices_from_the_catalog(service):
    accepted = submit(service, items=[{"sku": "MON-27-4K", "quantity": 2}])

    order = service.wait_for(accepted["orderId"], lambda o: o.get("totalCents") is not None, "priced")

    assert order["lines"] == [
        {
            "sku": "MON-27-4K",
            "name": '27" 4K IPS Monitor',
            "quantity": 2,
            "unitPriceCents": 32900,
            "lineTotalCents": 65800,
        }
    ]
    assert order["totalCents"] == 65800
    assert "shipment" not in order, "the task token never leaves the service"


def test_listing_pages_through_the_callers_orders_newest_first(service):
    shopper = service.as_user(service.users.other_shopper)
    ids = [shopper.request("POST", "/orders", sample_order()).body["orderId"] for _ in range(3)]

    first = shopper.request("GET", "/orders?limit=2").body
    second = shopper.request("GET", f"/orders?limit=2&nextToken={first['nextToken']}").body

    listed = [order["orderId"] for order in first["orders"] + second["orders"]]
    assert listed[:3] == list(reversed(ids))


def test_listing_by_status_reads_the_status_index(service):
    accepted = submit(service, paymentToken="tok_declined")
    service.wait_for_status(accepted["orderId"], "PAYMENT_DECLINED")

    page = service.request("GET", "/orders?status=PAYMENT_DECLINED&limit=100").body

    assert accepted["orderId"] in [order["orderId"] for order in page["orders"]]
    assert {order["status"] for order in page["orders"]} == {"PAYMENT_DECLINED"}


def test_products_health_and_openapi_are_served(service):
    products = service.request("GET", "/products").body
    assert {"sku", "name", "priceCents", "currency", "stock"} <= set(products[0])
    assert service.request("GET", "/health").body == {"status": "ok"}
    spec = service.request("GET", "/openapi.json").body
    assert {"/orders", "/orders/{orderId}", "/orders/{orderId}/shipment"} <= set(spec["paths"])


def test_the_catalog_and_the_api_document_are_public(service):
    anonymous = service.anonymous()

    assert anonymous.request("GET", "/products").status == 200
    assert anonymous.request("GET", "/openapi.json").status == 200


ADDRESS: dict[str, Any] = sample_order()["shippingAddress"]


def item(**changes):
    return [{"sku": "KB-TKL-01", "quantity": 1, **changes}]


BAD_BODIES = {
    "quantity zero": (sample_order(items=item(quantity=0)), "items[0].quantity"),
    "quantity absurd": (sample_order(items=item(quantity=100000)), "items[0].quantity"),
    "quantity as text": (sample_order(items=item(quantity="two")), "items[0].quantity"),
    "empty items": (sample_order(items=[]), "items"),
    "missing address": ({k: v for k, v in sample_order().items() if k != "shippingAddress"}, "shippingAddress"),
    "a customer in the body": (sample_order(customerId="someone-else"), "customerId"),
    "C1 control in the address": (sample_order(shippingAddress={**ADDRESS, "city": "Lon\x85don"}), "city"),
    "bidi override in the address": (sample_order(shippingAddress={**ADDRESS, "name": "Ada \u202e"}), "name"),
    "zero-width space in the address": (sample_order(shippingAddress={**ADDRESS, "name": "Ada\u200bL"}), "name"),
    "left-to-right mark in the address": (sample_order(shippingAddress={**ADDRESS, "line1": "12\u200eRow"}), "line1"),
    "Arabic letter mark in the address": (sample_order(shippingAddress={**ADDRESS, "city": "Lon\u061cdon"}), "city"),
    "line separator in the address": (sample_order(shippingAddress={**ADDRESS, "line1": "12\u2028Row"}), "line1"),
    "control character in sku": (sample_order(items=[{"sku": "KB\nTKL", "quantity": 1}]), "items[0].sku"),
    "client price": (sample_order(items=item(unitPriceCents=1)), "items[0].unitPriceCents"),
    "unknown SKU": (sample_order(items=[*item(), {"sku": "NO-SUCH-SKU", "quantity": 1}]), "items[1].sku"),
    "body is a list": ([sample_order()], "body"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES), ids=list(BAD_BODIES))
def test_bad_input_gets_a_4xx_that_names_the_field_and_writes_nothing(service, case):
    body, field = BAD_BODIES[case]
    before = newest_order_ids(service)

    response = service.request("POST", "/orders", body)

    assert response.status == 422, response.body
    assert any(field in problem for problem in response.body["problems"]), response.body
    assert newest_order_ids(service) == before


def newest_order_ids(service: OrdersService) -> list[str]:
    return [order["orderId"] for order in service.request("GET", "/orders?limit=5").body["orders"]]


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"{not json", "application/json", 422),
        (b"x" * (65 * 1024), "application/json", 413),
        (b"customerId=c", "application/x-www-form-urlencoded", 415),
        (b"{}", "application/jsonfoo", 415),
        (b"[" * 2000 + b"]" * 2000, "application/json", 400),
        (b'{"items": ' + b"[" * 40 + b"]" * 40 + b"}", "application/json", 400),
    ],
    ids=["malformed json", "over 64 KB", "not json", "json-like media type", "nested 2000 deep", "nested 41 deep"],
)
def test_unreadable_bodies_are_refused_with_a_clear_4xx(service, raw, content_type, status):
    response = service.request("POST", "/orders", raw=raw, headers={"Content-Type": content_type})

    assert response.status == status
    assert response.body["message"]


def test_unknown_orders_and_bad_query_parameters_are_4xx(service):
    assert service.request("GET", "/orders/ord-does-not-exist").status == 404
    assert service.request("GET", "/orders/bad%20id").status == 422
    assert service.request("GET", "/orders?status=SHIPPING").status == 422
    assert service.request("GET", "/orders?limit=0").status == 422
    assert service.request("GET", "/orders?nextToken=garbage").status == 400


def test_an_order_submitted_locally_completes_through_the_warehouse_simulator(local_only):
    with_simulator = start_local_service({"ORDERS_WAREHOUSE_DELAY_SECONDS": "0.2"})
    try:
        accepted = submit(with_simulator)
        order = with_simulator.wait_for_status(accepted["orderId"], *TERMINAL, deadline=30)
        assert order["status"] == "COMPLETED"
        assert order["trackingNumber"].startswith("1Z")
    finally:
        assert stop_local_service(with_simulator) == 0


def test_a_port_in_use_gets_one_clear_line(local_only):
    taken = local_only.api_url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli.main", "up"],
        env={
            "PATH": "",
            "ORDERS_API_PORT": taken,
            "ORDERS_AWS_PORT": str(free_port()),
            "ORDERS_CONSOLE_PORT": "0",
            "ORDERS_WS_PORT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert f"127.0.0.1:{taken}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH", "QUERY"])
def test_methods_the_api_does_not_serve_are_a_4xx_not_a_server_error(service, method):
    response = service.request(method, "/orders")

    assert 400 <= response.status < 500, response
