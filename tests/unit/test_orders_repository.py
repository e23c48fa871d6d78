"""The orders table: conditional writes keep a status moving forward only, and make every retry harmless."""

from __future__ import annotations

import pytest

from tasks.adapters.orders_repository import INDEXES, status_shard
from tasks.errors import InvalidOrderStateError, OrderNotFoundError
from tasks.logic.inventory import PREPARED
from tasks.models.order import OrderStatus

from .support import LATER, NOW, ORDER_ID, placed_order

EARLIER = "2026-03-01T09:55:00.000Z"
MUCH_LATER = "2026-03-01T11:00:00.000Z"
AWAITING_SHIPMENT_SHARDS = INDEXES["awaiting-shipment-shard"].shard_values("AWAITING_SHIPMENT")


def timeline(record: dict) -> list[tuple[str, str]]:
    return [(entry["status"], entry["at"]) for entry in record["timeline"]]


def test_create_stores_the_order_as_received_with_its_payment_token_for_authorize_payment(orders):
    assert orders.create(placed_order(), NOW, {"requestFingerprint": "abc"}) is True

    record = orders.get(ORDER_ID)
    assert record["status"] == "RECEIVED"
    assert timeline(record) == [("RECEIVED", NOW)]
    assert record["requestFingerprint"] == "abc"
    assert record["items"] == [{"sku": "KB-TKL-01", "quantity": 1}, {"sku": "CBL-USBC-2M", "quantity": 2}]
    assert record["paymentToken"] == "tok_ok"


def test_a_second_create_returns_false_and_keeps_the_first_order(orders):
    orders.create(placed_order(customerId="first"), NOW)

    assert orders.create(placed_order(customerId="second"), LATER) is False

    record = orders.get(ORDER_ID)
    assert record["customerId"] == "first"
    assert record["createdAt"] == NOW


def test_get_returns_none_for_a_missing_order(orders):
    assert orders.get("no-such-order") is None


def test_advance_forward_appends_exactly_one_timeline_entry_and_sets_the_fields(orders):
    orders.create(placed_order(), NOW)

    assert orders.advance(ORDER_ID, OrderStatus.VALIDATED, LATER, fields={"totalCents": 11597}) is True

    record = orders.get(ORDER_ID)
    assert record["status"] == "VALIDATED"
    assert timeline(record) == [("RECEIVED", NOW), ("VALIDATED", LATER)]
    assert record["totalCents"] == 11597
    assert record["updatedAt"] == LATER


def test_a_repeated_advance_returns_false_and_changes_nothing(orders):
    orders.create(placed_order(), NOW)
    orders.advance(ORDER_ID, OrderStatus.VALIDATED, NOW, fields={"totalCents": 1})
    before = orders.get(ORDER_ID)

    assert orders.advance(ORDER_ID, OrderStatus.VALIDATED, LATER, fields={"totalCents": 2}) is False

    assert orders.get(ORDER_ID) == before


def test_advance_never_moves_an_order_backwards(order_at, orders):
    before = order_at(OrderStatus.AUTHORIZED)

    assert orders.advance(ORDER_ID, OrderStatus.VALIDATED, LATER) is False

    assert orders.get(ORDER_ID) == before
    assert before["status"] == "AUTHORIZED"


@pytest.mark.parametrize("terminal", [OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REJECTED])
def test_a_failure_status_on_a_terminal_order_is_a_no_op(order_at, orders, terminal):
    before = order_at(terminal)

    assert orders.advance(ORDER_ID, OrderStatus.FAILED, LATER, fields={"failure": {"error": "late"}}) is False

    assert orders.get(ORDER_ID) == before


@pytest.mark.parametrize("target", [OrderStatus.VALIDATED, OrderStatus.SHIPPED, OrderStatus.COMPLETED])
def test_moving_forward_from_a_failure_status_is_refused(order_at, orders, target):
    before = order_at(OrderStatus.PAYMENT_DECLINED)

    with pytest.raises(InvalidOrderStateError, match=f"PAYMENT_DECLINED; it cannot move to {target.value}"):
        orders.advance(ORDER_ID, target, LATER)

    assert orders.get(ORDER_ID) == before


def test_advance_on_a_missing_order_raises_order_not_found_and_creates_nothing(orders):
    with pytest.raises(OrderNotFoundError, match="no-such-order"):
        orders.advance("no-such-order", OrderStatus.VALIDATED, NOW)

    assert orders.get("no-such-order") is None


def test_create_with_creates_a_missing_order_with_a_received_and_target_timeline(orders):
    created = orders.advance(
        ORDER_ID, OrderStatus.REJECTED, NOW, fields={"failure": {"error": "E"}}, create_with={"createdAt": NOW}
    )

    assert created is True
    record = orders.get(ORDER_ID)
    assert record["status"] == "REJECTED"
    assert timeline(record) == [("RECEIVED", NOW), ("REJECTED", NOW)]
    assert record["createdAt"] == NOW
    assert record["failure"] == {"error": "E"}


def test_create_with_never_overwrites_fields_of_an_existing_order(orders):
    orders.create(placed_order(customerId="original"), NOW)

    orders.advance(ORDER_ID, OrderStatus.VALIDATED, LATER, create_with={"customerId": "other", "createdAt": LATER})

    record = orders.get(ORDER_ID)
    assert (record["customerId"], record["createdAt"]) == ("original", NOW)
    assert timeline(record) == [("RECEIVED", NOW), ("VALIDATED", LATER)], "no second RECEIVED entry"


def test_requires_prepared_moves_only_once_payment_and_reservation_both_exist(order_at, orders):
    order_at(OrderStatus.VALIDATED)

    assert orders.advance(ORDER_ID, OrderStatus.AUTHORIZED, NOW, requires=PREPARED) is False
    orders.set_fields(ORDER_ID, {"payment": {"authorizationId": "auth_1"}}, only_if_status=OrderStatus.VALIDATED)
    assert orders.advance(ORDER_ID, OrderStatus.AUTHORIZED, NOW, requires=PREPARED) is False
    assert orders.get(ORDER_ID)["status"] == "VALIDATED"

    orders.set_fields(ORDER_ID, {"reservation": {"status": "RESERVED"}}, only_if_status=OrderStatus.VALIDATED)
    assert orders.advance(ORDER_ID, OrderStatus.AUTHORIZED, LATER, requires=PREPARED) is True

    record = orders.get(ORDER_ID)
    assert record["status"] == "AUTHORIZED"
    assert [status for status, _ in timeline(record)] == ["RECEIVED", "VALIDATED", "AUTHORIZED"]


def test_requires_prepared_refuses_a_released_reservation(order_at, orders):
    order_at(
        OrderStatus.VALIDATED, payment={"authorizationId": "auth_1"}, reservation={"status": "RELEASED", "lines": []}
    )

    assert orders.advance(ORDER_ID, OrderStatus.AUTHORIZED, NOW, requires=PREPARED) is False

    assert orders.get(ORDER_ID)["status"] == "VALIDATED"


def test_set_fields_writes_only_while_the_order_holds_the_given_status_and_returns_what_it_wrote(order_at, orders):
    order_at(OrderStatus.AWAITING_SHIPMENT)

    written = orders.set_fields(ORDER_ID, {"note": "kept"}, only_if_status=OrderStatus.AWAITING_SHIPMENT)
    assert orders.set_fields(ORDER_ID, {"note": "refused"}, only_if_status=OrderStatus.VALIDATED) is None

    assert written == orders.get(ORDER_ID)
    assert written["note"] == "kept"


def test_set_fields_on_a_missing_order_returns_none_and_creates_nothing(orders):
    assert orders.set_fields("no-such-order", {"note": "x"}, only_if_status=OrderStatus.RECEIVED) is None

    assert orders.get("no-such-order") is None


def test_delete_if_received_removes_only_an_order_that_never_started(order_at, orders):
    order_at(OrderStatus.RECEIVED, order_id="never-started")
    order_at(OrderStatus.VALIDATED, order_id="started")

    assert orders.delete_if_received("never-started") is True
    assert orders.delete_if_received("started") is False

    assert orders.get("never-started") is None
    assert orders.get("started")["status"] == "VALIDATED"


def test_advance_through_records_every_status_passed_in_one_write_and_removes_what_it_is_told(order_at, orders):
    order_at(OrderStatus.AWAITING_SHIPMENT, awaitingShipmentSince=NOW)

    moved = orders.advance(
        ORDER_ID,
        OrderStatus.COMPLETED,
        LATER,
        through=(OrderStatus.SHIPPED,),
        fields={"trackingNumber": "1Z1"},
        remove=("awaitingShipmentSince",),
    )

    record = orders.get(ORDER_ID)
    assert moved is True
    assert timeline(record)[-2:] == [("SHIPPED", LATER), ("COMPLETED", LATER)]
    assert (record["status"], record["trackingNumber"]) == ("COMPLETED", "1Z1")
    assert "awaitingShipmentSince" not in record


def test_advance_through_is_allowed_only_from_before_the_first_status_passed(order_at, orders):
    before = order_at(OrderStatus.CANCELLED)

    with pytest.raises(InvalidOrderStateError, match="CANCELLED; it cannot move to SHIPPED"):
        orders.advance(ORDER_ID, OrderStatus.COMPLETED, LATER, through=(OrderStatus.SHIPPED,))

    assert orders.get(ORDER_ID) == before


def test_a_refused_move_is_explained_from_the_refused_write_itself(order_at, orders, capacity_meter):
    order_at(OrderStatus.AUTHORIZED)

    with capacity_meter:
        assert orders.advance(ORDER_ID, OrderStatus.VALIDATED, LATER) is False
        with pytest.raises(OrderNotFoundError):
            orders.advance("no-such-order", OrderStatus.VALIDATED, LATER)

    assert [request.operation for request in capacity_meter.requests] == ["UpdateItem", "UpdateItem"]


def test_the_warehouse_queue_holds_exactly_the_orders_awaiting_shipment_longest_waiting_first(order_at, orders):
    order_at(OrderStatus.AWAITING_SHIPMENT, order_id="waits-since-later", awaitingShipmentSince=LATER)
    order_at(OrderStatus.AWAITING_SHIPMENT, order_id="waits-since-now", awaitingShipmentSince=NOW)
    order_at(OrderStatus.AWAITING_SHIPMENT, order_id="shipped", awaitingShipmentSince=NOW)
    orders.advance(
        "shipped", OrderStatus.COMPLETED, LATER, through=(OrderStatus.SHIPPED,), remove=("awaitingShipmentSince",)
    )
    order_at(OrderStatus.AUTHORIZED, order_id="not-yet")

    queue, _ = orders.awaiting_shipment(10, None)
    first, cursor = orders.awaiting_shipment(1, None)
    second, _ = orders.awaiting_shipment(1, cursor)

    assert [(entry["orderId"], entry["awaitingShipmentSince"]) for entry in queue] == [
        ("waits-since-now", NOW),
        ("waits-since-later", LATER),
    ]
    assert {entry["statusShard"] for entry in queue} <= set(AWAITING_SHIPMENT_SHARDS)
    assert first + second == queue, "pages follow each other"


def test_the_warehouse_queue_merges_its_shards_and_pages_through_the_same_millisecond_once_each(order_at, orders):
    waiting = [f"order-{n}" for n in range(9)]
    for order_id in waiting:
        order_at(OrderStatus.AWAITING_SHIPMENT, order_id=order_id, awaitingShipmentSince=NOW)
    order_at(OrderStatus.AWAITING_SHIPMENT, order_id="waits-longest", awaitingShipmentSince=EARLIER)

    pages, cursor = [], None
    while len(pages) < 20:
        page, cursor = orders.awaiting_shipment(3, cursor)
        pages.append([entry["orderId"] for entry in page])
        if cursor is None:
            break

    assert len({orders.get(order_id)["statusShard"] for order_id in waiting}) > 1, "the orders span shards"
    assert pages == [
        ["waits-longest", "order-0", "order-1"],
        ["order-2", "order-3", "order-4"],
        ["order-5", "order-6", "order-7"],
        ["order-8"],
    ]


def test_a_query_of_a_keys_only_index_returns_whole_orders_newest_first(orders):
    for order_id, created in (("older", NOW), ("newer", LATER)):
        orders.create(placed_order(order_id), created)

    page, cursor = orders.query("by-customer", "cust-42", 10, None)

    assert [order["orderId"] for order in page] == ["newer", "older"]
    assert page[0] == orders.get("newer")
    assert cursor is None


def test_every_status_write_files_the_order_under_its_status_shard_and_when_it_got_there(orders):
    orders.create(placed_order(), NOW)
    created = orders.get(ORDER_ID)
    orders.advance(ORDER_ID, OrderStatus.VALIDATED, LATER)
    moved = orders.get(ORDER_ID)

    assert created["statusShard"] == status_shard(ORDER_ID, OrderStatus.RECEIVED)
    assert created["statusAt"] == f"RECEIVED#{NOW}"
    assert moved["statusShard"] == status_shard(ORDER_ID, OrderStatus.VALIDATED)
    assert moved["statusAt"] == f"VALIDATED#{LATER}"
    assert moved["statusShard"] in INDEXES["by-status-shard"].shard_values("VALIDATED")


def test_orders_spread_over_every_status_shard(orders):
    shards = {status_shard(f"ord-{n:032x}", OrderStatus.RECEIVED) for n in range(200)}

    assert shards == set(INDEXES["by-status-shard"].shard_values("RECEIVED"))


def test_listing_by_status_merges_the_shards_newest_first_and_continues_from_a_position(orders):
    for minute in range(8):
        orders.create(placed_order(f"order-{minute}"), f"2026-03-01T10:0{minute}:00.000Z")
    orders.advance("order-7", OrderStatus.VALIDATED, LATER)

    first, position = orders.with_status([OrderStatus.RECEIVED], 4, None)
    second, end = orders.with_status([OrderStatus.RECEIVED], 4, position)

    assert len({orders.get(f"order-{minute}")["statusShard"] for minute in range(7)}) > 1, "the orders span shards"
    assert [order["orderId"] for order in first] == ["order-6", "order-5", "order-4", "order-3"]
    assert [order["orderId"] for order in second] == ["order-2", "order-1", "order-0"]
    assert position == (first[-1]["createdAt"], "order-3")
    assert end is None


def test_a_shoppers_orders_of_one_status_are_newest_into_that_status_first(orders):
    for order_id in ("first", "second", "third"):
        orders.create(placed_order(order_id), NOW)
    orders.advance("second", OrderStatus.VALIDATED, LATER)
    orders.advance("first", OrderStatus.VALIDATED, MUCH_LATER)

    validated, _ = orders.query("by-customer-status", "cust-42", 10, None, sort_prefix="VALIDATED#")
    received, _ = orders.query("by-customer-status", "cust-42", 10, None, sort_prefix="RECEIVED#")

    assert [order["orderId"] for order in validated] == ["first", "second"]
    assert [order["orderId"] for order in received] == ["third"]
