"""ValidateOrder: checks the order and prices it from the catalog. The client never sets a price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from tasks.adapters.inventory_repository import InventoryRepository, Product
from tasks.adapters.orders_repository import OrderRepository
from tasks.errors import OrderValidationError
from tasks.models.order import OrderItem, OrderStatus, PricedLine, WorkflowOrder
from tasks.models.problems import field_problems
from tasks.models.task_io import ValidateOrderOutput


def parse_order(raw: Any) -> WorkflowOrder:
    """The order as a model, or an ``OrderValidationError`` that names every bad field."""
    if not isinstance(raw, dict):
        raise OrderValidationError(["order: must be a JSON object"])
    try:
        return WorkflowOrder.model_validate(raw)
    except ValidationError as error:
        raise OrderValidationError(field_problems(error)) from None


def refuse_unknown_skus(items: Sequence[OrderItem], *, inventory: InventoryRepository) -> None:
    """Refuse an order that names a SKU the catalog does not have, before it is accepted: one BatchGetItem.

    The API calls this so that a shopper hears 422 at once instead of a 202 and a REJECTED order later.
    ValidateOrder still checks when it prices the order, since a product can leave the catalog in between.

    Raises
    ------
    OrderValidationError
        Names each unknown line's field, ``items[1].sku: unknown SKU NO-SUCH-SKU``.

    Example
    -------
    >>> refuse_unknown_skus(request.items, inventory=inventory_repository())  # doctest: +SKIP
    """
    unknown = _unknown_skus(items, inventory.products([item.sku for item in items]))
    if unknown:
        raise OrderValidationError(unknown)


def _unknown_skus(items: Sequence[OrderItem], catalog: Mapping[str, Product]) -> list[str]:
    return [f"items[{i}].sku: unknown SKU {item.sku}" for i, item in enumerate(items) if item.sku not in catalog]


def price_order(raw: Any, *, orders: OrderRepository, inventory: InventoryRepository, now: str) -> ValidateOrderOutput:
    """Validate the order, price each line from the catalog, and record it as VALIDATED.

    Parameters
    ----------
    raw:
        The execution input: the order as the API accepted it, with its id.
    orders, inventory:
        The repositories to read the catalog from and record the order in.
    now:
        The timestamp for the timeline.

    Returns
    -------
    ValidateOrderOutput
        Priced lines and the total, in integer cents.

    Raises
    ------
    OrderValidationError
        Names each bad field: a malformed order, an unknown SKU, a mix of currencies.

    Example
    -------
    >>> price_order(order, orders=repository, inventory=catalog, now=now_iso())  # doctest: +SKIP
    ValidateOrderOutput(orderId='o-1', lines=[...], totalCents=2598, currency='USD')
    """
    order = parse_order(raw)
    catalog = inventory.products([item.sku for item in order.items])
    unknown = _unknown_skus(order.items, catalog)
    if unknown:
        raise OrderValidationError(unknown)
    currencies = {catalog[item.sku].currency for item in order.items}
    if len(currencies) != 1:
        raise OrderValidationError([f"items: products are priced in several currencies {sorted(currencies)}"])
    lines = [
        PricedLine(
            sku=item.sku,
            name=catalog[item.sku].name,
            quantity=item.quantity,
            unitPriceCents=catalog[item.sku].price_cents,
            lineTotalCents=catalog[item.sku].price_cents * item.quantity,
        )
        for item in order.items
    ]
    result = ValidateOrderOutput(
        orderId=order.orderId,
        lines=lines,
        totalCents=sum(line.lineTotalCents for line in lines),
        currency=currencies.pop(),
    )
    stored = order.model_dump(mode="json", exclude={"orderId"})
    orders.advance(
        order.orderId,
        OrderStatus.VALIDATED,
        now,
        fields={
            "lines": [line.model_dump(mode="json") for line in lines],
            "totalCents": result.totalCents,
            "currency": result.currency,
        },
        create_with={**stored, "createdAt": now},
    )
    return result
