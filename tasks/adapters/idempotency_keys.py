"""Idempotency-Key records of the order API: each caller's key names one random order id, in the idempotency table.

The record's id is a hash of the customer and the key, so the same key from two customers names two orders, and
an order id says nothing about either: knowing a customer's key does not let anyone compute or squat their order.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.dynamodb import (
    dynamodb_client,
    error_code,
    from_item,
    table_name,
    to_item,
    transient_errors_retried_by_the_workflow,
)

IDEMPOTENCY_TABLE_ENV = "IDEMPOTENCY_TABLE_NAME"
RECORD_PREFIX = "order-key#"
"""Names what the record is, in a table that may hold other kinds of idempotency records one day."""


@dataclass(frozen=True)
class KeyClaim:
    """The order a caller's key stands for, and the fingerprint of the body that first used it."""

    order_id: str
    fingerprint: str


def record_id(customer_id: str, idempotency_key: str) -> str:
    """The record of one customer's key.

    Example
    -------
    >>> record_id("cust-1", "key-1") == record_id("cust-2", "key-1")
    False
    """
    digest = hashlib.sha256(f"{customer_id}\n{idempotency_key}".encode()).hexdigest()
    return RECORD_PREFIX + digest


class IdempotencyKeys(ABC):
    @abstractmethod
    def claim(self, customer_id: str, idempotency_key: str, order_id: str, fingerprint: str) -> KeyClaim:
        """Bind the key to ``order_id`` unless it is bound already; the claim that holds either way."""


class DynamoDBIdempotencyKeys(IdempotencyKeys):
    def __init__(self, name: str, client: Any = None):
        self._table = name
        self._client = client or dynamodb_client()

    def claim(self, customer_id: str, idempotency_key: str, order_id: str, fingerprint: str) -> KeyClaim:
        key = {"id": record_id(customer_id, idempotency_key)}
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item({**key, "orderId": order_id, "fingerprint": fingerprint}),
                    ConditionExpression="attribute_not_exists(id)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            existing = from_item(error.response["Item"])
            return KeyClaim(existing["orderId"], existing["fingerprint"])
        return KeyClaim(order_id, fingerprint)


def idempotency_keys() -> IdempotencyKeys:
    return DynamoDBIdempotencyKeys(table_name(IDEMPOTENCY_TABLE_ENV))
