"""Submitting orders exactly once: the API's idempotency promises, below HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.testing import sample_order
from tasks.errors import IdempotencyKeyConflictError, WorkflowUnavailableError
from tasks.logic.ordering import (
    InvalidPageTokenError,
    decode_token,
    encode_token,
    list_orders,
    order_id_for,
    submit_order,
)
from tasks.models.order import OrderRequest, OrderStatus

from .support import NOW, FakeOrderWorkflow, placed_order


class WorkflowThatFailsFirst(FakeOrderWorkflow):
    """StartExecution is throttled once, then works: the client's retry must complete the start."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        if self.failures_left:
            self.failures_left -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution")
        return super().start(order_id, execution_input)


def request(**overrides: Any) -> OrderRequest:
    return OrderRequest.model_validate(sample_order(**overrides))


def test_a_repeat_with_the_same_key_returns_the_same_order_and_starts_it_idempotently(orders):
    workflow = FakeOrderWorkflow()

    first = submit_order(request(), "key-1", orders=orders, workflow=workflow, now=NOW)
    second = submit_order(request(), "key-1", orders=orders, workflow=workflow, now=NOW)

    assert first == second
    assert orders.get(first.orderId)["idempotencyKey"] == "key-1"
    assert [call[1] for call in workflow.calls] == [first.orderId, first.orderId]


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(orders):
    workflow = FakeOrderWorkflow()
    accepted = submit_order(request(), "key-1", orders=orders, workflow=workflow, now=NOW)

    with pytest.raises(IdempotencyKeyConflictError, match="Idempotency-Key"):
        submit_order(request(paymentToken="tok_declined"), "key-1", orders=orders, workflow=workflow, now=NOW)

    assert orders.get(accepted.orderId)["items"] == sample_order()["items"]
    assert len(workflow.calls) == 1


def test_a_failed_start_keeps_nothing_and_a_retry_with_the_same_key_completes_it(orders):
    workflow = WorkflowThatFailsFirst()
    order_id = order_id_for("cust-42", "key-1")

    with pytest.raises(WorkflowUnavailableError, match="same Idempotency-Key"):
        submit_order(request(), "key-1", orders=orders, workflow=workflow, now=NOW)
    assert orders.get(order_id) is None, "no order may stay RECEIVED without an execution"

    accepted = submit_order(request(), "key-1", orders=orders, workflow=workflow, now=NOW)

    assert accepted.orderId == order_id
    assert orders.get(order_id)["status"] == "RECEIVED"
    assert workflow.calls == [("start", order_id)]


def test_orders_without_a_key_are_always_new(orders):
    workflow = FakeOrderWorkflow()

    first = submit_order(request(), None, orders=orders, workflow=workflow, now=NOW)
    second = submit_order(request(), None, orders=orders, workflow=workflow, now=NOW)

    assert first.orderId != second.orderId


def test_page_tokens_round_trip_and_garbage_is_refused():
    cursor = {"orderId": "ord-1", "createdAt": NOW, "status": "COMPLETED"}

    assert decode_token(encode_token(cursor)) == cursor
    with pytest.raises(ValueError, match="nextToken"):
        decode_token("not-a-token")


@pytest.mark.parametrize(
    "cursor",
    [
        {"orderId": "ord-1"},
        {"orderId": "ord-1", "createdAt": 5, "customerId": "cust-42"},
        {"orderId": "ord-1", "createdAt": NOW, "customerId": "someone-else"},
        {"before": NOW},
    ],
    ids=["missing keys", "wrong type", "another customer", "token of another query"],
)
def test_a_page_token_that_does_not_continue_this_query_is_refused(orders, cursor):
    with pytest.raises(InvalidPageTokenError, match="nextToken"):
        list_orders(orders=orders, status=None, customer_id="cust-42", limit=10, next_token=encode_token(cursor))


def test_a_merged_listing_refuses_an_index_token(orders):
    index_token = encode_token({"orderId": "ord-1", "createdAt": NOW, "status": "COMPLETED"})

    with pytest.raises(InvalidPageTokenError):
        list_orders(orders=orders, status=None, customer_id=None, limit=10, next_token=index_token)


def _every_page(orders: Any, limit: int) -> list[list[str]]:
    pages, token = [], None
    for _ in range(20):
        page = list_orders(orders=orders, status=None, customer_id=None, limit=limit, next_token=token)
        pages.append([order.orderId for order in page.orders])
        token = page.nextToken
        if token is None:
            return pages
    raise AssertionError("the listing never ended")


def test_an_unfiltered_listing_pages_through_orders_created_in_the_same_millisecond_once_each(orders):
    created = [f"order-{n}" for n in range(5)]
    for order_id in created:
        orders.create(placed_order(order_id), NOW)
    orders.advance("order-1", OrderStatus.VALIDATED, NOW)
    orders.advance("order-3", OrderStatus.VALIDATED, NOW)

    pages = _every_page(orders, limit=2)

    assert pages == [["order-4", "order-3"], ["order-2", "order-1"], ["order-0"]]


def test_an_unfiltered_listing_of_one_status_with_more_than_a_page_offers_the_next_page(orders):
    for minute, order_id in enumerate(["order-a", "order-b", "order-c"]):
        orders.create(placed_order(order_id), f"2026-03-01T10:0{minute}:00.000Z")

    pages = _every_page(orders, limit=2)

    assert pages == [["order-c", "order-b"], ["order-a"]]
