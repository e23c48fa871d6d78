"""The order models refuse every malformed order and say which field is wrong, in the ``items[0].quantity`` form."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from local.testkit.fixtures import sample_order
from tasks.models.api import CancelRequest
from tasks.models.order import (
    FAILURE_STATUSES,
    MAX_LINES,
    PROGRESS,
    OrderRequest,
    OrderStatus,
    PlacedOrder,
    statuses_before,
)
from tasks.models.problems import field_path, field_problems


def refused_fields(model: type[BaseModel], data: dict[str, Any]) -> set[str]:
    """The field paths ``model`` names when it refuses ``data``."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return {problem.split(": ", 1)[0] for problem in field_problems(refused.value)}


def with_address(**changes: Any) -> dict[str, Any]:
    return sample_order(shippingAddress={**sample_order()["shippingAddress"], **changes})


def test_the_sample_order_is_valid():
    """The baseline every refusal below changes in exactly one place."""
    assert OrderRequest.model_validate(sample_order()).items[1].quantity == 2


@pytest.mark.parametrize(
    ("order", "field"),
    [
        pytest.param(sample_order(items=[{"sku": "KB-TKL-01", "quantity": 0}]), "items[0].quantity", id="quantity-0"),
        pytest.param(
            sample_order(items=[{"sku": "KB-TKL-01", "quantity": 101}]), "items[0].quantity", id="quantity-101"
        ),
        pytest.param(
            sample_order(items=[{"sku": "KB-TKL-01", "quantity": True}]), "items[0].quantity", id="quantity-bool"
        ),
        pytest.param(
            sample_order(items=[{"sku": "KB-TKL-01", "quantity": "2"}]), "items[0].quantity", id="quantity-string"
        ),
        pytest.param(
            sample_order(items=[{"sku": "KB-TKL-01", "quantity": 1.5}]), "items[0].quantity", id="quantity-float"
        ),
        pytest.param(sample_order(items=[]), "items", id="no-items"),
        pytest.param(
            sample_order(items=[{"sku": f"SKU-{n}", "quantity": 1} for n in range(MAX_LINES + 1)]),
            "items",
            id="too-many-lines",
        ),
        pytest.param(
            sample_order(items=[{"sku": "KB-TKL-01", "quantity": 1}, {"sku": "KB-TKL-01", "quantity": 2}]),
            "items",
            id="duplicate-sku",
        ),
        pytest.param(sample_order(customerId="cust-42"), "customerId", id="customer-is-the-caller-not-the-body"),
        pytest.param(sample_order(items=[{"sku": "KB\nTKL", "quantity": 1}]), "items[0].sku", id="sku-newline"),
        pytest.param(sample_order(items=[{"sku": "KB-TKL-01\n", "quantity": 1}]), "items[0].sku", id="sku-trailing"),
        pytest.param(with_address(name="Ada\x1b[31mLovelace"), "shippingAddress.name", id="address-escape"),
        pytest.param(with_address(line1="12 Analytical\rRow"), "shippingAddress.line1", id="address-carriage-return"),
        pytest.param(with_address(city="Lon\x7fdon"), "shippingAddress.city", id="address-delete-char"),
        pytest.param(with_address(city="Lon\x85don"), "shippingAddress.city", id="address-c1-control"),
        pytest.param(with_address(name="Ada \u202eecalevoL"), "shippingAddress.name", id="address-bidi-override"),
        pytest.param(with_address(line1="12 \u2066Row\u2069"), "shippingAddress.line1", id="address-bidi-isolate"),
        pytest.param(with_address(country="gb"), "shippingAddress.country", id="country-lowercase"),
        pytest.param(with_address(country="GBR"), "shippingAddress.country", id="country-three-letters"),
        pytest.param(with_address(postalCode="NW1\t6XE"), "shippingAddress.postalCode", id="postal-code-tab"),
        pytest.param(
            {key: value for key, value in sample_order().items() if key != "shippingAddress"},
            "shippingAddress",
            id="missing-address",
        ),
        pytest.param(sample_order(paymentToken="card-4242"), "paymentToken", id="payment-token-format"),
        pytest.param(
            sample_order(items=[{"sku": "KB-TKL-01", "quantity": 1, "unitPriceCents": 1}]),
            "items[0].unitPriceCents",
            id="client-unit-price",
        ),
        pytest.param(sample_order(totalCents=1), "totalCents", id="client-total"),
    ],
)
def test_order_request_refuses_a_bad_order_naming_exactly_the_bad_field(order, field):
    assert refused_fields(OrderRequest, order) == {field}


def test_a_duplicate_sku_is_refused_with_a_message_that_says_how_to_fix_it():
    order = sample_order(items=[{"sku": "KB-TKL-01", "quantity": 1}, {"sku": "KB-TKL-01", "quantity": 2}])

    with pytest.raises(ValidationError) as refused:
        OrderRequest.model_validate(order)

    (problem,) = field_problems(refused.value)
    assert problem.startswith("items: ")
    assert "KB-TKL-01 appears more than once" in problem


INVISIBLE_AND_LINE_BREAKING = {
    "\u200b": "zero-width space (Cf)",
    "\u200e": "left-to-right mark (Cf)",
    "\u061c": "Arabic letter mark (Cf)",
    "\u2028": "line separator (Zl)",
    "\u2029": "paragraph separator (Zp)",
}


@pytest.mark.parametrize("character", list(INVISIBLE_AND_LINE_BREAKING), ids=list(INVISIBLE_AND_LINE_BREAKING.values()))
@pytest.mark.parametrize("field", ["name", "line1", "city"])
def test_an_address_refuses_invisible_and_line_breaking_characters_naming_the_field(field, character):
    order = with_address(**{field: f"Ada{character}Lovelace"})

    with pytest.raises(ValidationError) as refused:
        OrderRequest.model_validate(order)

    (problem,) = field_problems(refused.value)
    assert problem.startswith(f"shippingAddress.{field}: ")
    assert f"U+{ord(character):04X} at position 4" in problem


@pytest.mark.parametrize("character", list(INVISIBLE_AND_LINE_BREAKING), ids=list(INVISIBLE_AND_LINE_BREAKING.values()))
def test_a_cancel_reason_refuses_invisible_and_line_breaking_characters(character):
    assert refused_fields(CancelRequest, {"reason": f"changed{character}my mind"}) == {"reason"}


def test_names_and_addresses_in_any_script_are_printable():
    address = {"name": "Zoë Ångström-Łukasiewicz", "line1": "東京都千代田区 1-1", "city": "القاهرة"}

    assert OrderRequest.model_validate(with_address(**address)).shippingAddress.city == "القاهرة"


@pytest.mark.parametrize(
    "order_id",
    ["", "has space", "-leading-dash", "x" * 81, "ord/1"],
    ids=["empty", "space", "leading-dash", "81-chars", "slash"],
)
def test_placed_order_refuses_an_order_id_that_cannot_name_an_execution(order_id):
    assert refused_fields(PlacedOrder, {"orderId": order_id, "customerId": "cust-42", **sample_order()}) == {"orderId"}


def test_placed_order_accepts_an_80_character_order_id():
    placed = PlacedOrder.model_validate({"orderId": "o" * 80, "customerId": "cust-42", **sample_order()})

    assert placed.orderId == "o" * 80


def test_statuses_before_a_progress_status_are_exactly_the_earlier_ones():
    assert statuses_before(OrderStatus.RECEIVED) == ()
    assert statuses_before(OrderStatus.AUTHORIZED) == (OrderStatus.RECEIVED, OrderStatus.VALIDATED)
    assert statuses_before(OrderStatus.COMPLETED) == PROGRESS[:-1]


@pytest.mark.parametrize("failure", sorted(FAILURE_STATUSES))
def test_statuses_before_a_failure_are_every_non_terminal_status(failure):
    """Any order still in flight may fail; one that completed or already failed may not."""
    assert statuses_before(failure) == (
        OrderStatus.RECEIVED,
        OrderStatus.VALIDATED,
        OrderStatus.AUTHORIZED,
        OrderStatus.AWAITING_SHIPMENT,
        OrderStatus.SHIPPED,
    )


def test_terminal_statuses_are_completed_and_the_failures():
    assert {status for status in OrderStatus if status.is_terminal} == FAILURE_STATUSES | {OrderStatus.COMPLETED}


def test_field_path_writes_list_indexes_in_brackets_and_names_the_body_when_empty():
    assert field_path(("items", 0, "quantity")) == "items[0].quantity"
    assert field_path(("shippingAddress", "postalCode")) == "shippingAddress.postalCode"
    assert field_path((0, "sku")) == "[0].sku"
    assert field_path(()) == "(body)"


def test_field_problems_prefixes_paths_for_nested_inputs():
    with pytest.raises(ValidationError) as refused:
        OrderRequest.model_validate(sample_order(items=[{"sku": "KB-TKL-01", "quantity": 0}]))

    (problem,) = field_problems(refused.value, prefix=("order",))
    assert problem.startswith("order.items[0].quantity: ")


def test_field_problems_never_echo_the_rejected_value():
    """Problems end up in logs and API answers: a mistyped card token must not travel with them."""
    secret = "tok_live-4242-4242-4242"
    with pytest.raises(ValidationError) as refused:
        OrderRequest.model_validate(sample_order(paymentToken=secret))

    (problem,) = field_problems(refused.value)
    assert problem.startswith("paymentToken: ")
    assert secret not in problem
