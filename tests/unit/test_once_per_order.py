"""A payment side effect runs once per order, even when two warm containers of the function handle the retries."""

from __future__ import annotations

from local.lambda_runner import LocalLambdaContext, _cold_start
from tasks.adapters.dynamodb import from_item, to_item
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import OrderStatus
from workflows.resources import AUTHORIZE_PAYMENT, PAYMENTS_TABLE

from .support import ORDER_ID


def context() -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name="AuthorizePayment",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:AuthorizePayment",
        memory_limit_in_mb=256,
        timeout_seconds=15,
    )


def provider_attempts(dynamodb) -> int:
    """The simulator counts every authorization attempt that reached the provider."""
    key = to_item({"orderId": f"payment-simulator#{ORDER_ID}", "entry": "ATTEMPTS"})
    return int(from_item(dynamodb.get_item(TableName=PAYMENTS_TABLE.local_name, Key=key)["Item"])["attempts"])


def test_two_containers_share_one_idempotency_record(order_at, ledger, tables, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    order_at(OrderStatus.VALIDATED, payment_token="tok_flaky")
    first_container, second_container = _cold_start(AUTHORIZE_PAYMENT, 0), _cold_start(AUTHORIZE_PAYMENT, 1)
    event = {"orderId": ORDER_ID, "amountCents": 1299, "currency": "USD"}

    results = []
    for handler in (first_container, second_container, first_container):
        try:
            results.append(handler(event, context()))
        except Exception as error:
            results.append(type(error).__name__)

    assert results[:2] == ["PaymentProviderTransientError", "PaymentProviderTransientError"]
    approved = results[2]
    assert second_container(event, context()) == approved, "a repeat in another container reuses the result"
    assert set(ledger.entries(ORDER_ID)) == {LedgerEntryKind.AUTHORIZATION}
    assert provider_attempts(tables) == 3, "two transient failures, one approval, and no second authorization"
