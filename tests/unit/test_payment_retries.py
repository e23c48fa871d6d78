"""A payment side effect runs once per order, even when two warm containers of the function handle the retries: the
payments ledger, which every container reads before it calls the provider, is what they share."""

from __future__ import annotations

from local.aws.awslambda.runner import LocalLambdaContext, _cold_start
from tasks.adapters.dynamodb import from_item, to_item
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import OrderStatus
from workflows.resources import AUTHORIZE_PAYMENT, CAPTURE_PAYMENT, PAYMENTS_TABLE, FunctionSpec

from .support import ORDER_ID


def context(spec: FunctionSpec) -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name=spec.logical_name,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{spec.logical_name}",
        memory_limit_in_mb=256,
        timeout_seconds=15,
    )


def provider_attempts(dynamodb) -> int:
    """The simulator counts every authorization attempt that reached the provider."""
    key = to_item({"orderId": f"payment-simulator#{ORDER_ID}", "entry": "ATTEMPTS"})
    return int(from_item(dynamodb.get_item(TableName=PAYMENTS_TABLE.local_name, Key=key)["Item"])["attempts"])


def test_two_containers_share_one_authorization(order_at, ledger, tables, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    order_at(OrderStatus.VALIDATED, payment_token="tok_flaky")
    first_container, second_container = _cold_start(AUTHORIZE_PAYMENT, 0), _cold_start(AUTHORIZE_PAYMENT, 1)
    event = {"orderId": ORDER_ID, "amountCents": 1299, "currency": "USD"}

    results = []
    for handler in (first_container, second_container, first_container):
        try:
            results.append(handler(event, context(AUTHORIZE_PAYMENT)))
        except Exception as error:
            results.append(type(error).__name__)

    assert results[:2] == ["PaymentProviderTransientError", "PaymentProviderTransientError"]
    approved = results[2]
    assert second_container(event, context(AUTHORIZE_PAYMENT)) == approved, "another container reuses the entry"
    assert set(ledger.entries(ORDER_ID)) == {LedgerEntryKind.AUTHORIZATION}
    assert provider_attempts(tables) == 3, "two transient failures, one approval, and no second authorization"


def test_two_containers_capture_once(order_at, orders, ledger, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    order_at(OrderStatus.VALIDATED)
    authorization = _cold_start(AUTHORIZE_PAYMENT, 0)(
        {"orderId": ORDER_ID, "amountCents": 1299, "currency": "USD"}, context(AUTHORIZE_PAYMENT)
    )
    orders.advance(ORDER_ID, OrderStatus.AWAITING_SHIPMENT, "2026-03-01T10:01:00.000Z")
    event = {**authorization, "orderId": ORDER_ID, "amountCents": 1299, "currency": "USD", "trackingNumber": "1Z1"}

    answers = [_cold_start(CAPTURE_PAYMENT, index)(event, context(CAPTURE_PAYMENT)) for index in (0, 1)]

    assert answers[0] == answers[1]
    assert set(ledger.entries(ORDER_ID)) == {LedgerEntryKind.AUTHORIZATION, LedgerEntryKind.CAPTURE}
    assert [entry["status"] for entry in orders.get(ORDER_ID)["timeline"]].count("SHIPPED") == 1
