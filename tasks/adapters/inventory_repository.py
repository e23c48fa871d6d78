"""The product catalog and its stock, and the reservation each order holds against it.

A reservation is one DynamoDB transaction over every product line and the order item, so either all lines are
reserved or none are. The reservation lives on the order (``reservation``), which makes release idempotent and lets a
release that runs before a late reservation leave a RELEASED marker that makes the late one fail.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.dynamodb import (
    batch_get,
    dynamodb_client,
    error_code,
    from_item,
    table_name,
    to_item,
    to_value,
    transient_errors_retried_by_the_workflow,
)
from tasks.adapters.orders_repository import ORDERS_TABLE_ENV
from tasks.errors import InvalidOrderStateError, InventoryTransientError, OutOfStockError

PRODUCTS_TABLE_ENV = "PRODUCTS_TABLE_NAME"
RESERVED = "RESERVED"
RELEASED = "RELEASED"
TRANSIENT_CANCELLATION_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
"""Cancellation reasons that say nothing about stock: the workflow retries them."""


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    currency: str
    stock: int


@dataclass(frozen=True)
class ReservedLine:
    sku: str
    quantity: int


class InventoryRepository(ABC):
    @abstractmethod
    def products(self, skus: Sequence[str]) -> dict[str, Product]:
        """The catalog entries of those SKUs that exist."""

    @abstractmethod
    def catalog(self) -> list[Product]:
        """Every product. The catalog is small; this is the one place a scan is fine."""

    @abstractmethod
    def reserve(self, order_id: str, lines: Sequence[ReservedLine], now: str) -> None:
        """Reserve every line atomically. Raises OutOfStockError naming the short SKUs; nothing is reserved then."""

    @abstractmethod
    def release(self, order_id: str, now: str) -> str:
        """Undo the order's reservation. Returns RELEASED, BLOCKED (nothing was reserved yet) or NOTHING_TO_UNDO."""


class DynamoDBInventoryRepository(InventoryRepository):
    def __init__(self, products_table: str, orders_table: str, client: Any = None):
        self._products = products_table
        self._orders = orders_table
        self._client = client or dynamodb_client()

    def catalog(self) -> list[Product]:
        products: list[Product] = []
        request: dict[str, Any] = {"TableName": self._products, "ConsistentRead": True}
        while True:
            with transient_errors_retried_by_the_workflow():
                response = self._client.scan(**request)
            products += [_product(from_item(raw)) for raw in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return sorted(products, key=lambda product: product.sku)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def products(self, skus: Sequence[str]) -> dict[str, Product]:
        keys = [{"sku": sku} for sku in dict.fromkeys(skus)]
        read = batch_get(self._client, {self._products: keys}, consistent=True)[self._products]
        return {product.sku: product for product in map(_product, read)}

    def reserve(self, order_id: str, lines: Sequence[ReservedLine], now: str) -> None:
        stock_updates = [
            {
                "Update": {
                    "TableName": self._products,
                    "Key": to_item({"sku": line.sku}),
                    "UpdateExpression": "SET stock = stock - :quantity",
                    "ConditionExpression": "attribute_exists(sku) AND stock >= :quantity",
                    "ExpressionAttributeValues": {":quantity": to_value(line.quantity)},
                }
            }
            for line in lines
        ]
        reservation = {
            "status": RESERVED,
            "at": now,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines],
        }
        order_update = {
            "Update": {
                "TableName": self._orders,
                "Key": to_item({"orderId": order_id}),
                "UpdateExpression": "SET reservation = :reservation",
                "ConditionExpression": "attribute_exists(orderId) AND attribute_not_exists(reservation)",
                "ExpressionAttributeValues": {":reservation": to_value(reservation)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.transact_write_items(TransactItems=[*stock_updates, order_update])
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            self._explain_cancelled_reservation(error, order_id, lines)

    def _explain_cancelled_reservation(self, error: ClientError, order_id: str, lines: Sequence[ReservedLine]) -> None:
        reasons = _cancellation_reasons(error)
        if TRANSIENT_CANCELLATION_REASONS.intersection(reasons):
            raise InventoryTransientError(f"stock transaction for order {order_id} was interrupted; retry") from error
        if not set(reasons) <= {"ConditionalCheckFailed", "None"}:
            raise error
        order_reason = reasons[len(lines)] if len(reasons) > len(lines) else "None"
        if order_reason == "ConditionalCheckFailed":
            order = error.response["CancellationReasons"][len(lines)].get("Item")
            existing = from_item(order).get("reservation") if order else None
            if existing is not None and existing.get("status") == RESERVED:
                return
            state = "released" if existing is not None else "missing"
            raise InvalidOrderStateError(f"order {order_id} cannot be reserved: its reservation is {state}") from error
        short = [line.sku for line, code in zip(lines, reasons, strict=False) if code == "ConditionalCheckFailed"]
        if not short:
            short = self._short_skus(lines)
        raise OutOfStockError(f"not enough stock for {', '.join(short)}") from error

    def _short_skus(self, lines: Sequence[ReservedLine]) -> list[str]:
        products = self.products([line.sku for line in lines])
        return [line.sku for line in lines if line.sku not in products or products[line.sku].stock < line.quantity]

    def _reservation(self, order_id: str) -> dict[str, Any] | None:
        with transient_errors_retried_by_the_workflow():
            response = self._client.get_item(
                TableName=self._orders,
                Key=to_item({"orderId": order_id}),
                ProjectionExpression="reservation",
                ConsistentRead=True,
            )
        return from_item(response.get("Item", {})).get("reservation")

    def release(self, order_id: str, now: str) -> str:
        reservation = self._reservation(order_id)
        if reservation is None:
            return self._block_late_reservation(order_id, now)
        if reservation.get("status") != RESERVED:
            return "NOTHING_TO_UNDO"
        restock = [
            {
                "Update": {
                    "TableName": self._products,
                    "Key": to_item({"sku": line["sku"]}),
                    "UpdateExpression": "SET stock = stock + :quantity",
                    "ExpressionAttributeValues": {":quantity": to_value(int(line["quantity"]))},
                }
            }
            for line in reservation["lines"]
        ]
        mark_released = {
            "Update": {
                "TableName": self._orders,
                "Key": to_item({"orderId": order_id}),
                "UpdateExpression": "SET reservation.#status = :released, reservation.releasedAt = :now",
                "ConditionExpression": "reservation.#status = :reserved",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":released": to_value(RELEASED),
                    ":reserved": to_value(RESERVED),
                    ":now": to_value(now),
                },
            }
        }
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.transact_write_items(TransactItems=[*restock, mark_released])
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = _cancellation_reasons(error)
            if TRANSIENT_CANCELLATION_REASONS.intersection(reasons):
                raise InventoryTransientError(f"release for order {order_id} was interrupted; retry") from error
            if reasons[-1:] == ["ConditionalCheckFailed"]:
                return "NOTHING_TO_UNDO"
            raise
        return RELEASED

    def _block_late_reservation(self, order_id: str, now: str) -> str:
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.update_item(
                    TableName=self._orders,
                    Key=to_item({"orderId": order_id}),
                    UpdateExpression="SET reservation = :tombstone",
                    ConditionExpression="attribute_exists(orderId) AND attribute_not_exists(reservation)",
                    ExpressionAttributeValues={
                        ":tombstone": to_value({"status": RELEASED, "at": now, "releasedAt": now, "lines": []})
                    },
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            if self._reservation(order_id) is not None:
                return self.release(order_id, now)
            return "NOTHING_TO_UNDO"
        return "BLOCKED"


def _cancellation_reasons(error: ClientError) -> list[str]:
    """One code per item of the cancelled transaction, in order ("None" for the items that were fine)."""
    return [reason.get("Code") or "None" for reason in error.response.get("CancellationReasons", [])]


def _product(item: dict[str, Any]) -> Product:
    return Product(
        sku=item["sku"],
        name=item["name"],
        price_cents=int(item["priceCents"]),
        currency=item["currency"],
        stock=int(item["stock"]),
    )


def inventory_repository() -> InventoryRepository:
    return DynamoDBInventoryRepository(table_name(PRODUCTS_TABLE_ENV), table_name(ORDERS_TABLE_ENV))
