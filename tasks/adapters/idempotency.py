"""Powertools idempotency, persisted in the idempotency table and keyed on the order id."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from tasks.adapters.dynamodb import table_name

IDEMPOTENCY_TABLE_ENV = "IDEMPOTENCY_TABLE_NAME"


def idempotency_store() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name(IDEMPOTENCY_TABLE_ENV))


def keyed_on_order_id(*, amount_must_match: bool = False) -> IdempotencyConfig:
    """One record per order and operation. With ``amount_must_match`` a repeat with another amount is refused."""
    return IdempotencyConfig(
        event_key_jmespath="orderId",
        payload_validation_jmespath="amountCents" if amount_must_match else None,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=7 * 24 * 3600,
    )
