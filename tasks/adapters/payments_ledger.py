"""The payments ledger: one entry per authorization, capture, void and refund of an order, kept for audit.

Each entry kind is written at most once per order (a conditional put), which is what makes a double charge
impossible to record and easy to detect. It is also what makes the payment tasks idempotent: a task reads the entry
it would write before it calls the provider, and a retry finds it there and reuses its reference.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
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
from tasks.errors import InvalidOrderStateError

PAYMENTS_TABLE_ENV = "PAYMENTS_TABLE_NAME"


class LedgerEntryKind(StrEnum):
    AUTHORIZATION = "AUTHORIZATION"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


@dataclass(frozen=True)
class LedgerEntry:
    order_id: str
    kind: LedgerEntryKind
    reference: str
    amount_cents: int
    currency: str
    at: str


class PaymentsLedger(ABC):
    @abstractmethod
    def record(self, entry: LedgerEntry) -> None:
        """Write the entry once. A repeat with the same reference changes nothing; a different one is refused."""

    @abstractmethod
    def entries(self, order_id: str) -> dict[LedgerEntryKind, LedgerEntry]:
        """Every entry of the order, by kind."""

    @abstractmethod
    def entries_and_order(
        self, order_id: str, kinds: Collection[LedgerEntryKind]
    ) -> tuple[dict[LedgerEntryKind, LedgerEntry], dict[str, Any] | None]:
        """The order's entries of ``kinds`` and the order record (None if there is none), in one consistent read."""


class DynamoDBPaymentsLedger(PaymentsLedger):
    def __init__(self, name: str, client: Any = None, orders_table: str | None = None):
        self._table = name
        self._orders = orders_table
        self._client = client or dynamodb_client()

    def record(self, entry: LedgerEntry) -> None:
        item = {
            "orderId": entry.order_id,
            "entry": entry.kind.value,
            "reference": entry.reference,
            "amountCents": entry.amount_cents,
            "currency": entry.currency,
            "at": entry.at,
        }
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(#entry)",
                    ExpressionAttributeNames={"#entry": "entry"},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            recorded = error.response.get("Item")
            if recorded is None or _entry(from_item(recorded)).reference != entry.reference:
                raise InvalidOrderStateError(
                    f"order {entry.order_id} already has a different {entry.kind.value} in the ledger"
                ) from error

    def entries(self, order_id: str) -> dict[LedgerEntryKind, LedgerEntry]:
        with transient_errors_retried_by_the_workflow():
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="orderId = :orderId",
                ExpressionAttributeValues={":orderId": to_value(order_id)},
                ConsistentRead=True,
            )
        items = [from_item(raw) for raw in response.get("Items", [])]
        return {entry.kind: entry for entry in map(_entry, items) if entry is not None}

    def entries_and_order(
        self, order_id: str, kinds: Collection[LedgerEntryKind]
    ) -> tuple[dict[LedgerEntryKind, LedgerEntry], dict[str, Any] | None]:
        if self._orders is None:
            raise RuntimeError(f"{ORDERS_TABLE_ENV} is not set: this ledger cannot read orders")
        found = batch_get(
            self._client,
            {
                self._orders: [{"orderId": order_id}],
                self._table: [{"orderId": order_id, "entry": kind.value} for kind in kinds],
            },
            consistent=True,
        )
        entries = [entry for entry in map(_entry, found[self._table]) if entry is not None]
        orders = found[self._orders]
        return {entry.kind: entry for entry in entries}, (orders[0] if orders else None)


def _entry(item: dict[str, Any]) -> LedgerEntry | None:
    """The entry an item holds; None for the ledger table's other items (the simulator's attempt counters)."""
    if item["entry"] not in LedgerEntryKind.__members__:
        return None
    return LedgerEntry(
        order_id=item["orderId"],
        kind=LedgerEntryKind(item["entry"]),
        reference=item["reference"],
        amount_cents=int(item["amountCents"]),
        currency=item["currency"],
        at=item["at"],
    )


def payments_ledger() -> PaymentsLedger:
    """The ledger this function was deployed with; the tasks that may read orders also read them through it."""
    return DynamoDBPaymentsLedger(table_name(PAYMENTS_TABLE_ENV), orders_table=os.environ.get(ORDERS_TABLE_ENV))
