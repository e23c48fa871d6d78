"""ValidateOrder: the order is checked, priced from the catalog only, and stored VALIDATED with its lines."""

from __future__ import annotations

from typing import Any

import pytest

from local.provisioning import seed_catalog
from local.testkit.fixtures import SAMPLE_CUSTOMER_ID, sample_order
from tasks.errors import OrderValidationError
from tasks.logic.validation import price_order, refuse_unknown_skus
from tasks.models.order import OrderRequest

from .support import CABLE, KEYBOARD, LATER, NOW, ORDER_ID, SAMPLE_TOTAL_CENTS, placed_order


def raw_order(**overrides: Any) -> dict[str, Any]:
    """The execution input as the API starts it: the order, its id and its customer, without the payment token."""
    order = {"orderId": ORDER_ID, "customerId": SAMPLE_CUSTOMER_ID, **sample_order(**overrides)}
    order.pop("paymentToken")
    return order


def test_price_order_prices_every_line_from_the_catalog_in_cents(orders, inventory):
    priced = price_order(raw_order(), orders=orders, inventory=inventory, now=NOW)

    assert [(line.sku, line.quantity, line.unitPriceCents, line.lineTotalCents) for line in priced.lines] == [
        (KEYBOARD, 1, 8999, 8999),
        (CABLE, 2, 1299, 2598),
    ]
    assert (priced.orderId, priced.totalCents, priced.currency) == (ORDER_ID, SAMPLE_TOTAL_CENTS, "USD")
    assert priced.lines[0].name == "Tenkeyless Mechanical Keyboard"


def test_price_order_stores_the_order_validated_with_lines_and_total(orders, inventory):
    orders.create(placed_order(), NOW)

    priced = price_order(raw_order(), orders=orders, inventory=inventory, now=LATER)

    record = orders.get(ORDER_ID)
    assert record["status"] == "VALIDATED"
    assert [entry["status"] for entry in record["timeline"]] == ["RECEIVED", "VALIDATED"]
    assert record["lines"] == [line.model_dump(mode="json") for line in priced.lines]
    assert (record["totalCents"], record["currency"]) == (SAMPLE_TOTAL_CENTS, "USD")


def test_price_order_creates_an_order_the_api_never_stored_without_its_payment_token(orders, inventory):
    price_order(raw_order(), orders=orders, inventory=inventory, now=NOW)

    record = orders.get(ORDER_ID)
    assert record["status"] == "VALIDATED"
    assert [entry["status"] for entry in record["timeline"]] == ["RECEIVED", "VALIDATED"]
    assert (record["customerId"], record["createdAt"]) == ("cust-42", NOW)
    assert record["shippingAddress"]["country"] == "GB"
    assert "paymentToken" not in record


def test_an_execution_input_that_carries_a_payment_token_is_rejected_by_name(orders, inventory):
    with pytest.raises(OrderValidationError, match="paymentToken"):
        price_order({**raw_order(), "paymentToken": "tok_ok"}, orders=orders, inventory=inventory, now=NOW)

    assert orders.get(ORDER_ID) is None


def test_a_repeated_price_order_leaves_the_timeline_alone(orders, inventory):
    price_order(raw_order(), orders=orders, inventory=inventory, now=NOW)
    before = orders.get(ORDER_ID)

    price_order(raw_order(), orders=orders, inventory=inventory, now=LATER)

    assert orders.get(ORDER_ID) == before


def test_an_unknown_sku_is_named_by_its_line_and_nothing_is_stored(orders, inventory):
    order = raw_order(items=[{"sku": KEYBOARD, "quantity": 1}, {"sku": "NO-SUCH-SKU", "quantity": 1}])

    with pytest.raises(OrderValidationError) as refused:
        price_order(order, orders=orders, inventory=inventory, now=NOW)

    assert refused.value.problems == ["items[1].sku: unknown SKU NO-SUCH-SKU"]
    assert orders.get(ORDER_ID) is None


def test_the_api_check_names_every_unknown_sku_by_its_line_and_passes_a_known_order(inventory):
    known = OrderRequest.model_validate(sample_order())
    mixed = OrderRequest.model_validate(
        sample_order(
            items=[{"sku": "NOPE-1", "quantity": 1}, {"sku": KEYBOARD, "quantity": 1}, {"sku": "NOPE-2", "quantity": 2}]
        )
    )

    refuse_unknown_skus(known.items, inventory=inventory)
    with pytest.raises(OrderValidationError) as refused:
        refuse_unknown_skus(mixed.items, inventory=inventory)

    assert refused.value.problems == ["items[0].sku: unknown SKU NOPE-1", "items[2].sku: unknown SKU NOPE-2"]


@pytest.mark.parametrize(
    ("order", "field"),
    [
        pytest.param(raw_order(items=[{"sku": KEYBOARD, "quantity": 0}]), "items[0].quantity", id="quantity"),
        pytest.param(
            raw_order(items=[{"sku": KEYBOARD, "quantity": 1, "unitPriceCents": 1}]),
            "items[0].unitPriceCents",
            id="client-price",
        ),
        pytest.param({k: v for k, v in raw_order().items() if k != "orderId"}, "orderId", id="missing-order-id"),
        pytest.param(raw_order(shippingAddress=None), "shippingAddress", id="null-address"),
        pytest.param(["not", "an", "order"], "order", id="not-an-object"),
    ],
)
def test_a_malformed_order_is_refused_naming_the_field_and_nothing_is_stored(orders, inventory, order, field):
    with pytest.raises(OrderValidationError) as refused:
        price_order(order, orders=orders, inventory=inventory, now=NOW)

    assert [problem.split(": ", 1)[0] for problem in refused.value.problems] == [field]
    assert orders.get(ORDER_ID) is None


def test_products_priced_in_several_currencies_are_refused(tables, orders, inventory):
    seed_catalog(tables, [{"sku": "EU-PLUG", "name": "EU plug", "priceCents": 500, "currency": "EUR", "stock": 9}])
    order = raw_order(items=[{"sku": KEYBOARD, "quantity": 1}, {"sku": "EU-PLUG", "quantity": 1}])

    with pytest.raises(OrderValidationError) as refused:
        price_order(order, orders=orders, inventory=inventory, now=NOW)

    assert refused.value.problems == ["items: products are priced in several currencies ['EUR', 'USD']"]
    assert orders.get(ORDER_ID) is None
