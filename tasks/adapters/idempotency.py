"""Powertools idempotency, persisted in the idempotency table and keyed on the order id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from tasks.adapters.dynamodb import table_name

IDEMPOTENCY_TABLE_ENV = "IDEMPOTENCY_TABLE_NAME"

Request = TypeVar("Request", bound=BaseModel)
Result = TypeVar("Result", bound=BaseModel)


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


class OncePerOrder(Generic[Request, Result]):
    """Runs a side effect at most once per order id; a repeat gets the stored result instead of a second run.

    ``operation`` names the record (``<operation>#<hash of the order id>``): Powertools would otherwise use the
    function's module path, which is not stable across deployments or the local runner's containers.

    Example
    -------
    >>> def authorize(request: AuthorizePaymentInput) -> AuthorizePaymentOutput: ...  # doctest: +SKIP
    >>> authorize_once = OncePerOrder("AuthorizePayment", authorize, amount_must_match=True)  # doctest: +SKIP
    >>> authorize_once(request, context)  # doctest: +SKIP
    """

    def __init__(self, operation: str, function: Callable[[Request], Result], *, amount_must_match: bool = False):
        self._config = keyed_on_order_id(amount_must_match=amount_must_match)
        self._function = idempotent_function(
            function,
            data_keyword_argument="request",
            persistence_store=idempotency_store(),
            config=self._config,
            output_serializer=PydanticSerializer,
            key_prefix=operation,
        )

    def __call__(self, request: Request, context: LambdaContext) -> Result:
        self._config.register_lambda_context(context)
        return self._function(request=request)
