"""The payment provider port, and the simulator that stands behind it until a real provider is wired in.

The simulator behaves like a card network's test cards: the payment token chooses the outcome, never chance.

========================  ===================================================================
token                     behaviour of ``authorize``
========================  ===================================================================
``tok_ok`` (and others)   approves
``tok_declined``          declines: ``PaymentDeclinedError``
``tok_flaky``             ``PaymentProviderTransientError`` on the first two attempts of an order
``tok_unavailable``       ``PaymentProviderTransientError`` on every attempt
========================  ===================================================================
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from typing import Any

from tasks.adapters.dynamodb import (
    dynamodb_client,
    from_item,
    table_name,
    to_item,
    to_value,
    transient_errors_retried_by_the_workflow,
)
from tasks.adapters.payments_ledger import PAYMENTS_TABLE_ENV
from tasks.errors import PaymentDeclinedError, PaymentProviderTransientError

DECLINED_TOKEN = "tok_declined"
FLAKY_TOKEN = "tok_flaky"
UNAVAILABLE_TOKEN = "tok_unavailable"
FLAKY_FAILURES_PER_ORDER = 2


class PaymentProvider(ABC):
    """What the workflow needs from a payment provider. Every call is keyed by the order id."""

    @abstractmethod
    def authorize(self, order_id: str, amount_cents: int, currency: str, token: str) -> str:
        """Hold the amount on the card; returns the authorization id."""

    @abstractmethod
    def capture(self, order_id: str, authorization_id: str, amount_cents: int) -> str:
        """Take the authorized money; returns the capture id."""

    @abstractmethod
    def void(self, order_id: str, authorization_id: str) -> str:
        """Release an uncaptured authorization; returns the void id."""

    @abstractmethod
    def refund(self, order_id: str, capture_id: str, amount_cents: int) -> str:
        """Return captured money; returns the refund id."""


class AttemptCounter(ABC):
    @abstractmethod
    def increment(self, key: str) -> int:
        """Count one more attempt for ``key`` and return the new total."""


class DynamoDBAttemptCounter(AttemptCounter):
    """Counts in DynamoDB, so a flaky card behaves the same on every Lambda instance."""

    def __init__(self, name: str, client: Any = None):
        self._table = name
        self._client = client or dynamodb_client()

    def increment(self, key: str) -> int:
        with transient_errors_retried_by_the_workflow():
            response = self._client.update_item(
                TableName=self._table,
                Key=to_item({"orderId": f"payment-simulator#{key}", "entry": "ATTEMPTS"}),
                UpdateExpression="ADD attempts :one",
                ExpressionAttributeValues={":one": to_value(1)},
                ReturnValues="UPDATED_NEW",
            )
        return int(from_item(response["Attributes"])["attempts"])


class SimulatedPaymentProvider(PaymentProvider):
    def __init__(self, attempts: AttemptCounter):
        self._attempts = attempts

    def authorize(self, order_id: str, amount_cents: int, currency: str, token: str) -> str:
        """Error messages never name the token: they reach the execution history, the logs and the shopper."""
        if token == UNAVAILABLE_TOKEN:
            raise PaymentProviderTransientError("payment provider unavailable (simulated)")
        if token == FLAKY_TOKEN and self._attempts.increment(order_id) <= FLAKY_FAILURES_PER_ORDER:
            raise PaymentProviderTransientError("payment provider timed out (simulated)")
        if token == DECLINED_TOKEN:
            raise PaymentDeclinedError(f"card declined for order {order_id} (simulated)")
        return _reference("auth", order_id)

    def capture(self, order_id: str, authorization_id: str, amount_cents: int) -> str:
        return _reference("cap", order_id)

    def void(self, order_id: str, authorization_id: str) -> str:
        return _reference("void", order_id)

    def refund(self, order_id: str, capture_id: str, amount_cents: int) -> str:
        return _reference("ref", order_id)


def _reference(prefix: str, order_id: str) -> str:
    """Provider references derived from the order id: a repeated call names the same operation."""
    return f"{prefix}_{hashlib.sha256(order_id.encode()).hexdigest()[:20]}"


def payment_provider() -> PaymentProvider:
    """The provider named by ``PAYMENT_PROVIDER``; only the simulator exists today."""
    name = os.environ.get("PAYMENT_PROVIDER", "simulator")
    if name != "simulator":
        raise RuntimeError(f"PAYMENT_PROVIDER={name!r} is not available; only 'simulator' is implemented")
    return SimulatedPaymentProvider(DynamoDBAttemptCounter(table_name(PAYMENTS_TABLE_ENV)))
