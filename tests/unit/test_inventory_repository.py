"""Stock: every line of an order is reserved in one transaction or none is, once, and given back at most once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.aws.moto import make_dynamodb_writes_atomic
from local.provisioning import seed_catalog
from tasks.adapters.inventory_repository import DynamoDBInventoryRepository, ReservedLine
from tasks.errors import InvalidOrderStateError, InventoryTransientError, OutOfStockError, StorageTransientError
from tasks.models.order import OrderStatus
from workflows.resources import ORDERS_TABLE, PRODUCTS_TABLE

from .support import CABLE, HEADSET, KEYBOARD, LATER, NOW, ORDER_ID

SAMPLE_LINES = [ReservedLine(KEYBOARD, 1), ReservedLine(CABLE, 2)]


@pytest.fixture
def placed(order_at):
    """The order the reservations below are made for, as ReserveInventory finds it."""
    return order_at(OrderStatus.VALIDATED)


def test_products_returns_the_catalog_entries_of_known_skus_only(inventory):
    found = inventory.products([KEYBOARD, "NO-SUCH-SKU", KEYBOARD, HEADSET])

    assert set(found) == {KEYBOARD, HEADSET}
    assert (found[KEYBOARD].price_cents, found[KEYBOARD].currency, found[KEYBOARD].stock) == (8999, "USD", 40)
    assert found[HEADSET].name == "Noise-Cancelling Bluetooth Headset"


def test_products_looks_up_more_skus_than_one_batch_get_allows(tables, inventory):
    """BatchGetItem takes at most 100 keys; a bigger lookup must be split, not refused."""
    skus = [f"BULK-{n:03}" for n in range(150)]
    seed_catalog(tables, [{"sku": sku, "name": sku, "priceCents": 1, "currency": "USD", "stock": 1} for sku in skus])

    assert set(inventory.products(skus)) == set(skus)


def test_catalog_lists_every_product_sorted_by_sku(inventory):
    skus = [product.sku for product in inventory.catalog()]

    assert skus == sorted(skus)
    assert {KEYBOARD, CABLE, HEADSET} <= set(skus)


def test_reserve_takes_every_line_from_stock_and_records_the_reservation(placed, inventory, orders, stock_of):
    inventory.reserve(ORDER_ID, SAMPLE_LINES, NOW)

    assert (stock_of(KEYBOARD), stock_of(CABLE)) == (39, 248)
    reservation = orders.get(ORDER_ID)["reservation"]
    assert reservation["status"] == "RESERVED"
    assert reservation["lines"] == [{"sku": KEYBOARD, "quantity": 1}, {"sku": CABLE, "quantity": 2}]


def test_one_short_line_reserves_nothing_and_names_only_the_short_sku(placed, inventory, orders, stock_of):
    lines = [ReservedLine(KEYBOARD, 1), ReservedLine(HEADSET, 4), ReservedLine(CABLE, 2)]

    with pytest.raises(OutOfStockError) as short:
        inventory.reserve(ORDER_ID, lines, NOW)

    assert str(short.value) == f"not enough stock for {HEADSET}"
    assert (stock_of(KEYBOARD), stock_of(HEADSET), stock_of(CABLE)) == (40, 3, 250)
    assert "reservation" not in orders.get(ORDER_ID)


def test_every_short_line_is_named(placed, inventory):
    with pytest.raises(OutOfStockError) as short:
        inventory.reserve(ORDER_ID, [ReservedLine(HEADSET, 4), ReservedLine(KEYBOARD, 41)], NOW)

    assert str(short.value) == f"not enough stock for {HEADSET}, {KEYBOARD}"


def test_an_unknown_sku_is_out_of_stock_and_creates_no_product(placed, inventory):
    with pytest.raises(OutOfStockError, match="NO-SUCH-SKU"):
        inventory.reserve(ORDER_ID, [ReservedLine("NO-SUCH-SKU", 1)], NOW)

    assert inventory.products(["NO-SUCH-SKU"]) == {}


def test_a_repeated_reserve_takes_the_stock_once(placed, inventory, stock_of):
    inventory.reserve(ORDER_ID, SAMPLE_LINES, NOW)
    inventory.reserve(ORDER_ID, SAMPLE_LINES, LATER)

    assert (stock_of(KEYBOARD), stock_of(CABLE)) == (39, 248)


def test_a_repeated_reserve_succeeds_even_when_it_took_the_last_units(placed, inventory, stock_of):
    """A retry after a lost response must not turn the order's own reservation into OutOfStockError."""
    inventory.reserve(ORDER_ID, [ReservedLine(HEADSET, 3)], NOW)

    inventory.reserve(ORDER_ID, [ReservedLine(HEADSET, 3)], LATER)

    assert stock_of(HEADSET) == 0


def test_reserve_for_a_missing_order_is_refused_and_takes_no_stock(inventory, tables, stock_of):
    with pytest.raises(InvalidOrderStateError, match="missing"):
        inventory.reserve("no-such-order", SAMPLE_LINES, NOW)

    assert (stock_of(KEYBOARD), stock_of(CABLE)) == (40, 250)


def test_release_returns_the_stock_exactly_once(placed, inventory, orders, stock_of):
    inventory.reserve(ORDER_ID, SAMPLE_LINES, NOW)

    assert inventory.release(ORDER_ID, LATER) == "RELEASED"
    assert inventory.release(ORDER_ID, LATER) == "NOTHING_TO_UNDO"

    assert (stock_of(KEYBOARD), stock_of(CABLE)) == (40, 250)
    assert orders.get(ORDER_ID)["reservation"]["releasedAt"] == LATER


def test_release_before_reserve_blocks_the_late_reservation(placed, inventory, orders, stock_of):
    """A compensation can overtake a slow ReserveInventory: the reservation arriving afterwards must not stick."""
    assert inventory.release(ORDER_ID, NOW) == "BLOCKED"

    with pytest.raises(InvalidOrderStateError, match="released"):
        inventory.reserve(ORDER_ID, SAMPLE_LINES, LATER)

    assert (stock_of(KEYBOARD), stock_of(CABLE)) == (40, 250)
    assert orders.get(ORDER_ID)["reservation"]["status"] == "RELEASED"
    assert inventory.release(ORDER_ID, LATER) == "NOTHING_TO_UNDO"


def test_release_of_a_missing_order_does_nothing_and_creates_no_order(inventory, orders):
    assert inventory.release("no-such-order", NOW) == "NOTHING_TO_UNDO"

    assert orders.get("no-such-order") is None


def test_concurrent_reservations_of_the_last_units_never_oversell(tables, inventory, order_at, orders, stock_of):
    """Thirty buyers, ten units.

    moto checks a transaction's conditions and writes without a lock; the local runtime's fix makes each request
    atomic, as DynamoDB is. Everything the repository does between requests still interleaves.
    """
    make_dynamodb_writes_atomic()
    seed_catalog(tables, [{"sku": "LIMITED", "name": "Limited run", "priceCents": 100, "currency": "USD", "stock": 10}])
    buyers = [f"order-{n:02}" for n in range(30)]
    for order_id in buyers:
        order_at(OrderStatus.VALIDATED, order_id=order_id)
    start = threading.Barrier(len(buyers), timeout=10)
    outcomes: dict[str, str] = {}

    def buy(order_id: str) -> None:
        start.wait()
        try:
            inventory.reserve(order_id, [ReservedLine("LIMITED", 1)], NOW)
        except OutOfStockError:
            outcomes[order_id] = "out of stock"
        else:
            outcomes[order_id] = "reserved"

    threads = [threading.Thread(target=buy, args=(order_id,)) for order_id in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(outcomes) == len(buyers), "every buyer got an answer within the deadline"
    reserved = {order_id for order_id, outcome in outcomes.items() if outcome == "reserved"}
    assert len(reserved) == 10
    assert stock_of("LIMITED") == 0
    assert {order_id for order_id in buyers if "reservation" in orders.get(order_id)} == reserved


class ThrottledTransactions:
    """moto for every call, except that DynamoDB cancels each transaction for lack of capacity.

    DynamoDB documents this cancellation: TransactionCanceledException whose reason for the throttled item is
    ``ThrottlingError`` (or ``ProvisionedThroughputExceeded``) and ``None`` for the others. moto never throttles.
    """

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803 - boto3's name
        reasons = [{"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table"}]
        reasons += [{"Code": "None"}] * (len(TransactItems) - 1)
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": reasons,
            },
            "TransactWriteItems",
        )


@pytest.fixture
def throttled(tables) -> DynamoDBInventoryRepository:
    return DynamoDBInventoryRepository(
        PRODUCTS_TABLE.local_name, ORDERS_TABLE.local_name, client=ThrottledTransactions(tables)
    )


def test_a_throttled_reservation_is_retried_not_reported_out_of_stock(placed, throttled, stock_of):
    with pytest.raises((InventoryTransientError, StorageTransientError)):
        throttled.reserve(ORDER_ID, SAMPLE_LINES, NOW)

    assert (stock_of(KEYBOARD), stock_of(CABLE)) == (40, 250)


def test_a_throttled_release_is_retried_not_reported_as_nothing_to_undo(placed, inventory, throttled, orders):
    inventory.reserve(ORDER_ID, SAMPLE_LINES, NOW)

    with pytest.raises((InventoryTransientError, StorageTransientError)):
        throttled.release(ORDER_ID, LATER)

    assert orders.get(ORDER_ID)["reservation"]["status"] == "RESERVED"
