"""Idempotency-Key records of the order API: each caller's key names one random order id, in the idempotency table.

The record's id is a hash of the customer and the key, so the same key from two customers names two orders, and
an order id says nothing about either: knowing a customer's key does not let anyone compute or squat their order.
A key holds for ``KEY_LIFETIME`` (24 hours): the record's ``expiration`` is the table's TTL attribute, and a key
whose record has expired but not yet been deleted by TTL (which can take days) is claimed anew.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
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

IDEMPOTENCY_TABLE_ENV = "IDEMPOTENCY_TABLE_NAME"
RECORD_PREFIX = "order-key#"
"""Names what the record is, in a table that may hold other kinds of idempotency records one day."""
KEY_LIFETIME = timedelta(hours=24)
"""How long a key stands for its order: Stripe's window for Idempotency-Key, and Powertools idempotency's default."""
EXPIRATION_ATTRIBUTE = "expiration"
"""The Idempotency table's TTL attribute (``workflows.resources.IDEMPOTENCY_TABLE``): epoch seconds."""


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


def expires_at(now: str) -> int:
    """When a key claimed at ``now`` (an ISO 8601 timestamp, as ``tasks.logic.clock.now_iso`` makes) expires, in
    epoch seconds as DynamoDB's TTL reads it.

    Example
    -------
    >>> expires_at("2026-03-01T10:00:00.000Z")
    1772445600
    """
    return _epoch_seconds(now) + int(KEY_LIFETIME.total_seconds())


def _epoch_seconds(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp())


class IdempotencyKeys(ABC):
    @abstractmethod
    def claim(self, customer_id: str, idempotency_key: str, order_id: str, fingerprint: str, now: str) -> KeyClaim:
        """Bind the key to ``order_id`` unless it is bound and unexpired at ``now``; the claim that holds either way."""


class DynamoDBIdempotencyKeys(IdempotencyKeys):
    def __init__(self, name: str, client: Any = None):
        self._table = name
        self._client = client or dynamodb_client()

    def claim(self, customer_id: str, idempotency_key: str, order_id: str, fingerprint: str, now: str) -> KeyClaim:
        record = {
            "id": record_id(customer_id, idempotency_key),
            "orderId": order_id,
            "fingerprint": fingerprint,
            EXPIRATION_ATTRIBUTE: expires_at(now),
        }
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(record),
                    ConditionExpression="attribute_not_exists(id) OR #expiration <= :now",
                    ExpressionAttributeNames={"#expiration": EXPIRATION_ATTRIBUTE},
                    ExpressionAttributeValues={":now": to_value(_epoch_seconds(now))},
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
