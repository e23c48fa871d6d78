"""Submitting orders exactly once, for the verified caller: the API's idempotency and ownership promises, below HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.testkit.fixtures import sample_order
from tasks.adapters.dynamodb import to_item
from tasks.adapters.idempotency_keys import record_id
from tasks.adapters.orders_repository import DynamoDBOrderRepository, status_shard
from tasks.adapters.workflow import ExecutionStartError
from tasks.errors import ForbiddenError, IdempotencyKeyConflictError, OrderNotFoundError, WorkflowUnavailableError
from tasks.logic.access import Principal
from tasks.logic.clock import now_iso
from tasks.logic.ordering import (
    InvalidPageTokenError,
    decode_token,
    encode_token,
    get_order,
    list_orders,
    order_view,
    submit_order,
)
from tasks.models.order import OrderRequest, OrderStatus
from workflows.resources import IDEMPOTENCY_TABLE, ORDERS_TABLE

from .support import NOW, FakeOrderWorkflow, WorkflowThatFailsFirst, placed_order

ADA = Principal("sub-ada")
GRACE = Principal("sub-grace")
OPERATOR = Principal("sub-ops", is_operator=True)
DAY_S = 24 * 3600
LATER = "2026-03-02T09:59:59.000Z"
"""A second short of 24 hours after ``NOW``: the key still names its order."""
EXPIRED = "2026-03-02T10:00:00.000Z"
"""24 hours after ``NOW``: the key's record has expired, even if TTL has not deleted it yet."""


class WorkflowThatMayHaveStarted(FakeOrderWorkflow):
    """StartExecution's first call got no answer: the execution may exist."""

    def __init__(self) -> None:
        super().__init__()
        self.unanswered = 1

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        if self.unanswered:
            self.unanswered -= 1
            raise ExecutionStartError("ReadTimeoutError", may_have_started=True)
        return super().start(order_id, execution_input)


def request(**overrides: Any) -> OrderRequest:
    return OrderRequest.model_validate(sample_order(**overrides))


def submit(orders: Any, keys: Any, workflow: Any, caller: Principal = ADA, key: str | None = "key-1", **overrides):
    return submit_order(request(**overrides), caller, key, orders=orders, keys=keys, workflow=workflow, now=NOW)


def test_a_repeat_with_the_same_key_returns_the_same_order_and_starts_it_idempotently(orders, keys):
    workflow = FakeOrderWorkflow()

    first = submit(orders, keys, workflow)
    second = submit(orders, keys, workflow)

    assert first == second
    assert orders.get(first.orderId)["idempotencyKey"] == "key-1"
    assert [call[1] for call in workflow.calls] == [first.orderId, first.orderId]


def test_a_key_record_expires_24_hours_after_it_is_claimed(orders, keys, tables):
    """The Idempotency table's TTL reads ``expiration`` (epoch seconds, a Number); a record without it never expires."""
    claimed_from = time.time()
    submit_order(request(), ADA, "key-1", orders=orders, keys=keys, workflow=FakeOrderWorkflow(), now=now_iso())
    claimed_by = time.time()

    stored = tables.get_item(
        TableName=IDEMPOTENCY_TABLE.local_name, Key=to_item({"id": record_id(ADA.subject, "key-1")})
    )
    expiration = stored["Item"][IDEMPOTENCY_TABLE.ttl_attribute]

    assert set(expiration) == {"N"}
    assert claimed_from + DAY_S - 1 <= int(expiration["N"]) <= claimed_by + DAY_S


def test_a_key_names_its_order_for_24_hours_and_a_new_order_after(orders, keys):
    first = submit(orders, keys, FakeOrderWorkflow())
    within = submit_order(request(), ADA, "key-1", orders=orders, keys=keys, workflow=FakeOrderWorkflow(), now=LATER)
    after = submit_order(request(), ADA, "key-1", orders=orders, keys=keys, workflow=FakeOrderWorkflow(), now=EXPIRED)

    assert within.orderId == first.orderId
    assert after.orderId != first.orderId
    assert orders.get(after.orderId)["idempotencyKey"] == "key-1"


def test_the_order_belongs_to_the_caller_and_its_id_is_random(orders, keys):
    accepted = submit(orders, keys, FakeOrderWorkflow())

    assert orders.get(accepted.orderId)["customerId"] == ADA.subject
    assert accepted.orderId.startswith("ord-") and len(accepted.orderId) == 36
    assert submit(orders, keys, FakeOrderWorkflow(), key="key-2").orderId != accepted.orderId


def test_the_same_key_from_two_customers_names_two_orders(orders, keys):
    workflow = FakeOrderWorkflow()

    ada = submit(orders, keys, workflow, caller=ADA)
    grace = submit(orders, keys, workflow, caller=GRACE)

    assert ada.orderId != grace.orderId
    assert orders.get(grace.orderId)["customerId"] == GRACE.subject


def test_the_execution_input_carries_no_payment_token_and_the_record_keeps_it(orders, keys):
    workflow = RecordingInputs()

    accepted = submit(orders, keys, workflow, paymentToken="tok_declined")

    assert "paymentToken" not in workflow.inputs[accepted.orderId]
    assert workflow.inputs[accepted.orderId]["customerId"] == ADA.subject
    assert orders.get(accepted.orderId)["paymentToken"] == "tok_declined"
    assert "paymentToken" not in order_view(orders.get(accepted.orderId)).model_dump()


def test_operators_place_no_orders(orders, keys):
    with pytest.raises(ForbiddenError, match="operators"):
        submit(orders, keys, FakeOrderWorkflow(), caller=OPERATOR)


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(orders, keys):
    workflow = FakeOrderWorkflow()
    accepted = submit(orders, keys, workflow)

    with pytest.raises(IdempotencyKeyConflictError, match="Idempotency-Key"):
        submit(orders, keys, workflow, paymentToken="tok_declined")

    assert orders.get(accepted.orderId)["items"] == sample_order()["items"]
    assert len(workflow.calls) == 1


def test_a_failed_start_keeps_nothing_and_a_retry_with_the_same_key_completes_it(orders, keys):
    workflow = WorkflowThatFailsFirst()

    with pytest.raises(WorkflowUnavailableError, match="same Idempotency-Key"):
        submit(orders, keys, workflow)
    assert orders.query("by-customer", ADA.subject, 10, None)[0] == [], "nothing may stay RECEIVED"

    accepted = submit(orders, keys, workflow)

    assert orders.get(accepted.orderId)["status"] == "RECEIVED"
    assert workflow.calls == [("start", accepted.orderId)]


def test_a_start_that_may_have_happened_keeps_the_order_and_a_retry_with_the_key_starts_it_by_name(orders, keys):
    workflow = WorkflowThatMayHaveStarted()

    with pytest.raises(WorkflowUnavailableError, match="start was not confirmed"):
        submit(orders, keys, workflow)
    kept = orders.query("by-customer", ADA.subject, 10, None)[0]
    accepted = submit(orders, keys, workflow)

    assert [order["status"] for order in kept] == ["RECEIVED"], "it may be running: its order must stay"
    assert accepted.orderId == kept[0]["orderId"]
    assert workflow.calls == [("start", accepted.orderId)]


def test_orders_without_a_key_are_always_new(orders, keys):
    workflow = FakeOrderWorkflow()

    first = submit(orders, keys, workflow, key=None)
    second = submit(orders, keys, workflow, key=None)

    assert first.orderId != second.orderId


def test_another_customers_order_is_as_unknown_as_a_made_up_id(orders, keys):
    accepted = submit(orders, keys, FakeOrderWorkflow())

    with pytest.raises(OrderNotFoundError) as theirs:
        get_order(accepted.orderId, GRACE, orders=orders)
    with pytest.raises(OrderNotFoundError) as unknown:
        get_order("ord-made-up", GRACE, orders=orders)

    assert str(theirs.value) == str(unknown.value).replace("ord-made-up", accepted.orderId)
    assert get_order(accepted.orderId, ADA, orders=orders).orderId == accepted.orderId
    assert get_order(accepted.orderId, OPERATOR, orders=orders).orderId == accepted.orderId


def test_shoppers_list_only_their_own_orders_whatever_the_filters(orders, keys):
    workflow = FakeOrderWorkflow()
    mine = submit(orders, keys, workflow, caller=ADA).orderId
    theirs = submit(orders, keys, workflow, caller=GRACE).orderId

    def listed(caller: Principal, **filters: Any) -> list[str]:
        query = {"status": None, "customer_id": None, **filters}
        page = list_orders(caller, orders=orders, limit=10, next_token=None, **query)
        return [order.orderId for order in page.orders]

    assert listed(ADA) == [mine]
    assert listed(ADA, status=OrderStatus.RECEIVED) == [mine]
    assert listed(ADA, customer_id=GRACE.subject) == []
    assert sorted(listed(OPERATOR)) == sorted([mine, theirs])
    assert listed(OPERATOR, customer_id=GRACE.subject) == [theirs]


def test_shoppers_see_a_failure_by_name_and_message_never_its_stack_trace(orders):
    cause = '{"errorType": "PaymentDeclinedError", "errorMessage": "card declined", "stackTrace": ["/var/task/x.py"]}'
    record = {**orders_record(), "failure": {"error": "PaymentDeclinedError", "cause": cause}}

    view = order_view(record).model_dump()

    assert view["failure"] == {"error": "PaymentDeclinedError", "message": "card declined"}
    assert "stackTrace" not in str(view) and "/var/task" not in str(view)


class RecordingInputs(FakeOrderWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, Any]] = {}

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        self.inputs[order_id] = execution_input
        return super().start(order_id, execution_input)


def orders_record() -> dict[str, Any]:
    return {**placed_order().model_dump(mode="json"), "status": "PAYMENT_DECLINED", "createdAt": NOW}


def test_page_tokens_round_trip_and_garbage_is_refused():
    cursor = {"orderId": "ord-1", "createdAt": NOW, "status": "COMPLETED"}

    assert decode_token(encode_token(cursor)) == cursor
    with pytest.raises(ValueError, match="nextToken"):
        decode_token("not-a-token")


@pytest.mark.parametrize(
    "cursor",
    [
        {"orderId": "ord-1"},
        {"orderId": "ord-1", "createdAt": 5, "customerId": ADA.subject},
        {"orderId": "ord-1", "createdAt": NOW, "customerId": "someone-else"},
        {"before": NOW},
    ],
    ids=["missing keys", "wrong type", "another customer", "token of another query"],
)
def test_a_page_token_that_does_not_continue_this_query_is_refused(orders, cursor):
    with pytest.raises(InvalidPageTokenError, match="nextToken"):
        list_orders(ADA, orders=orders, status=None, customer_id=None, limit=10, next_token=encode_token(cursor))


def test_a_merged_listing_refuses_an_index_token(orders):
    index_token = encode_token({"orderId": "ord-1", "createdAt": NOW, "status": "COMPLETED"})

    with pytest.raises(InvalidPageTokenError):
        list_orders(OPERATOR, orders=orders, status=None, customer_id=None, limit=10, next_token=index_token)


def _every_page(orders: Any, limit: int) -> list[list[str]]:
    pages, token = [], None
    for _ in range(20):
        page = list_orders(OPERATOR, orders=orders, status=None, customer_id=None, limit=limit, next_token=token)
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


class IndexBehindTheTable(DynamoDBOrderRepository):
    """The orders repository, with a by-status-shard index that still files ``moved`` under its old status too, as
    a GSI can for a moment after the order moved (the table read behind it already sees the new status)."""

    def __init__(self, client: Any, moved: str, old_status: OrderStatus):
        super().__init__(ORDERS_TABLE.local_name, client=client)
        self._stale = {"orderId": moved, "statusShard": status_shard(moved, old_status), "createdAt": NOW}

    def _index_page(self, request, cursor):
        page, cursor = super()._index_page(request, cursor)
        if request["ExpressionAttributeValues"][":key"] == {"S": self._stale["statusShard"]}:
            page = [*page, self._stale]
        return page, cursor


def test_an_order_the_index_still_files_under_its_old_status_is_listed_once(orders, tables):
    for order_id in ("order-a", "order-b"):
        orders.create(placed_order(order_id), NOW)
    orders.advance("order-a", OrderStatus.VALIDATED, NOW)
    stale = IndexBehindTheTable(tables, "order-a", OrderStatus.RECEIVED)

    unfiltered = list_orders(OPERATOR, orders=stale, status=None, customer_id=None, limit=10, next_token=None)
    received = list_orders(
        OPERATOR, orders=stale, status=OrderStatus.RECEIVED, customer_id=None, limit=10, next_token=None
    )

    assert sorted(order.orderId for order in unfiltered.orders) == ["order-a", "order-b"]
    assert [order.orderId for order in received.orders] == ["order-b"]


def test_a_shoppers_status_listing_is_newest_into_that_status_first_page_by_page(orders):
    for order_id in ("first", "second", "third", "fourth"):
        orders.create(placed_order(order_id, customerId=ADA.subject), NOW)
    for order_id, minute in (("third", 1), ("first", 2), ("second", 3)):
        orders.advance(order_id, OrderStatus.VALIDATED, f"2026-03-01T10:0{minute}:00.000Z")

    pages, token = [], None
    for _ in range(5):
        page = list_orders(
            ADA, orders=orders, status=OrderStatus.VALIDATED, customer_id=None, limit=2, next_token=token
        )
        pages.append([order.orderId for order in page.orders])
        token = page.nextToken
        if token is None:
            break

    assert pages == [["second", "first"], ["third"]]


@pytest.mark.parametrize(
    "cursor",
    [
        {"orderId": "ord-1", "createdAt": NOW, "customerId": ADA.subject},
        {"orderId": "ord-1", "statusAt": f"RECEIVED#{NOW}", "customerId": ADA.subject},
        {"orderId": "ord-1", "statusAt": f"COMPLETED#{NOW}", "customerId": GRACE.subject},
        {"orderId": "ord-1", "statusAt": 7, "customerId": ADA.subject},
    ],
    ids=["token of the unfiltered listing", "another status", "another customer", "wrong type"],
)
def test_a_status_listing_refuses_a_token_outside_its_status(orders, cursor):
    with pytest.raises(InvalidPageTokenError, match="nextToken"):
        list_orders(
            ADA,
            orders=orders,
            status=OrderStatus.COMPLETED,
            customer_id=None,
            limit=10,
            next_token=encode_token(cursor),
        )


def test_an_operators_status_listing_refuses_the_token_of_another_status(orders):
    token = encode_token({"orderId": "ord-1", "createdAt": NOW, "status": "RECEIVED"})

    with pytest.raises(InvalidPageTokenError, match="nextToken"):
        list_orders(OPERATOR, orders=orders, status=OrderStatus.COMPLETED, customer_id=None, limit=10, next_token=token)


def _created(client: Any, order_ids: list[str], customer_id: str) -> None:
    """Store RECEIVED orders as ``create`` writes them, one BatchWriteItem per 25: the test is about reads."""
    writes = PutCollector()
    writer = DynamoDBOrderRepository(ORDERS_TABLE.local_name, client=writes)
    for order_id in order_ids:
        writer.create(placed_order(order_id, customerId=customer_id), f"2026-03-01T10:00:00.{order_id[-3:]}Z")
    for start in range(0, len(writes.items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in writes.items[start : start + 25]]
        client.batch_write_item(RequestItems={ORDERS_TABLE.local_name: batch})


class PutCollector:
    """A DynamoDB client that keeps the items it is asked to put instead of writing them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.items.append(request["Item"])
        return {}


LISTINGS = {
    "a shopper's orders": (ADA, None),
    "a shopper's COMPLETED orders": (ADA, OrderStatus.COMPLETED),
    "every COMPLETED order": (OPERATOR, OrderStatus.COMPLETED),
    "every order": (OPERATOR, None),
}


def test_a_listing_reads_as_much_with_a_thousand_orders_as_with_ten(orders, tables, capacity_meter):
    """The shopper's one COMPLETED order is their oldest: a listing that filtered a partition would read them all."""
    orders.create(placed_order("ord-completed", customerId=ADA.subject), "2026-03-01T09:00:00.000Z")
    orders.advance("ord-completed", OrderStatus.COMPLETED, NOW)

    def reads() -> dict[str, list[tuple[str, float]]]:
        measured = {}
        for name, (caller, status) in LISTINGS.items():
            capacity_meter.clear()
            with capacity_meter:
                page = list_orders(caller, orders=orders, status=status, customer_id=None, limit=1, next_token=None)
            assert len(page.orders) == 1, name
            measured[name] = [(request.operation, request.rru) for request in capacity_meter.requests]
        return measured

    _created(tables, [f"ord-{n:04d}" for n in range(10)], ADA.subject)
    ten = reads()
    _created(tables, [f"ord-{n:04d}" for n in range(10, 1000)], ADA.subject)
    thousand = reads()

    assert thousand == ten
    assert len(ten["a shopper's COMPLETED orders"]) == 2, "one Query, one BatchGetItem"
