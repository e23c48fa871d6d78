"""The payments ledger: one entry per authorization, capture, void and refund of an order, kept for audit.

Each entry kind is written at most once per order (a conditional put), which is what makes a double charge
impossible to record and easy to detect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.dynamodb import (
    dynamodb_client,
    error_code,
    from_item,
    table_name,
    to_item,
    to_value,
    transient_errors_retried_by_the_workflow,
)
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


class DynamoDBPaymentsLedger(PaymentsLedger):
    def __init__(self, name: str, client: Any = None):
        self._table = name
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
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            recorded = self.entries(entry.order_id).get(entry.kind)
            if recorded is None or recorded.reference != entry.reference:
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
        result: dict[LedgerEntryKind, LedgerEntry] = {}
        for raw in response.get("Items", []):
            item = from_item(raw)
            if item["entry"] not in LedgerEntryKind.__members__:
                continue
            kind = LedgerEntryKind(item["entry"])
            result[kind] = LedgerEntry(
                order_id=item["orderId"],
                kind=kind,
                reference=item["reference"],
                amount_cents=int(item["amountCents"]),
                currency=item["currency"],
                at=item["at"],
            )
        return result


def payments_ledger() -> PaymentsLedger:
    return DynamoDBPaymentsLedger(table_name(PAYMENTS_TABLE_ENV))
