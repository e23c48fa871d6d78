"""Payments: authorize once, capture only a shipped order, and compensate from what the ledger says happened."""

from __future__ import annotations

import pytest

from tasks.adapters.dynamodb import to_item, to_value
from tasks.adapters.payments_ledger import LedgerEntry, LedgerEntryKind
from tasks.errors import InvalidOrderStateError, PaymentDeclinedError
from tasks.logic import inventory as inventory_logic
from tasks.logic import payments
from tasks.models.order import OrderStatus
from tasks.models.task_io import (
    AuthorizePaymentInput,
    CapturePaymentInput,
    CapturePaymentOutput,
    ReserveInventoryInput,
)
from workflows.resources import ORDERS_TABLE

from .support import CABLE, KEYBOARD, LATER, NOW, ORDER_ID, SAMPLE_TOTAL_CENTS

AUTHORIZATION = LedgerEntryKind.AUTHORIZATION
CAPTURE = LedgerEntryKind.CAPTURE
TRACKING_NUMBER = "1Z999AA10123456784"
MUCH_LATER = "2026-03-02T00:00:00.000Z"


def authorization_request() -> AuthorizePaymentInput:
    return AuthorizePaymentInput(orderId=ORDER_ID, amountCents=SAMPLE_TOTAL_CENTS, currency="USD")


def reservation_request() -> ReserveInventoryInput:
    lines = [
        {"sku": KEYBOARD, "name": "Keyboard", "quantity": 1, "unitPriceCents": 8999, "lineTotalCents": 8999},
        {"sku": CABLE, "name": "Cable", "quantity": 2, "unitPriceCents": 1299, "lineTotalCents": 2598},
    ]
    return ReserveInventoryInput(orderId=ORDER_ID, lines=lines)


def capture_request(authorization_id: str) -> CapturePaymentInput:
    return CapturePaymentInput(
        orderId=ORDER_ID,
        authorizationId=authorization_id,
        amountCents=SAMPLE_TOTAL_CENTS,
        currency="USD",
        trackingNumber=TRACKING_NUMBER,
    )


@pytest.fixture
def authorize(provider, ledger, orders, tables):
    def run(token: str = "tok_ok", now: str = NOW) -> str:
        """Authorize with ``token`` as the order record's payment token, where AuthorizePayment reads it."""
        tables.update_item(
            TableName=ORDERS_TABLE.local_name,
            Key=to_item({"orderId": ORDER_ID}),
            UpdateExpression="SET paymentToken = :token",
            ExpressionAttributeValues={":token": to_value(token)},
        )
        request = authorization_request()
        return payments.authorize(request, provider=provider, ledger=ledger, orders=orders, now=now).authorizationId

    return run


@pytest.fixture
def reserve(inventory, orders):
    def run(now: str = NOW) -> int:
        return inventory_logic.reserve(reservation_request(), inventory=inventory, orders=orders, now=now).reservedUnits

    return run


@pytest.fixture
def awaiting_shipment(order_at, orders, authorize) -> str:
    """An authorized order waiting for the warehouse; returns its authorization id."""
    order_at(OrderStatus.VALIDATED)
    authorization_id = authorize()
    orders.advance(ORDER_ID, OrderStatus.AWAITING_SHIPMENT, NOW)
    return authorization_id


@pytest.fixture
def capture(provider, ledger, orders):
    def run(authorization_id: str, now: str = LATER) -> CapturePaymentOutput:
        request = capture_request(authorization_id)
        return payments.capture(request, provider=provider, ledger=ledger, orders=orders, now=now)

    return run


@pytest.fixture
def void_or_refund(provider, ledger):
    def run(now: str = LATER) -> str:
        return payments.void_or_refund(ORDER_ID, provider=provider, ledger=ledger, now=now).action

    return run


def test_authorize_records_the_authorization_and_keeps_the_order_validated_without_stock(
    order_at, orders, ledger, authorize
):
    order_at(OrderStatus.VALIDATED)

    authorization_id = authorize()

    entry = ledger.entries(ORDER_ID)[AUTHORIZATION]
    assert (entry.reference, entry.amount_cents, entry.currency) == (authorization_id, SAMPLE_TOTAL_CENTS, "USD")
    record = orders.get(ORDER_ID)
    assert record["payment"]["authorizationId"] == authorization_id
    assert record["status"] == "VALIDATED", "AUTHORIZED waits for the reservation"


def test_a_declined_authorization_records_nothing(order_at, orders, ledger, authorize):
    order_at(OrderStatus.VALIDATED)

    with pytest.raises(PaymentDeclinedError):
        authorize("tok_declined")

    assert ledger.entries(ORDER_ID) == {}
    assert "payment" not in orders.get(ORDER_ID)


@pytest.mark.parametrize("payment_first", [True, False], ids=["payment-then-stock", "stock-then-payment"])
def test_the_order_becomes_authorized_once_payment_and_stock_are_both_done(
    order_at, orders, authorize, reserve, payment_first
):
    order_at(OrderStatus.VALIDATED)
    first, second = (authorize, reserve) if payment_first else (reserve, authorize)

    first()
    assert orders.get(ORDER_ID)["status"] == "VALIDATED"
    second(now=LATER)

    record = orders.get(ORDER_ID)
    assert record["status"] == "AUTHORIZED"
    assert [entry["status"] for entry in record["timeline"]] == ["RECEIVED", "VALIDATED", "AUTHORIZED"]
    assert record["timeline"][-1]["at"] == LATER


def test_reserve_reports_the_units_it_reserved(order_at, reserve):
    order_at(OrderStatus.VALIDATED)

    assert reserve() == 3


def test_release_reports_what_the_compensation_did(order_at, inventory, reserve):
    order_at(OrderStatus.VALIDATED)
    reserve()

    assert inventory_logic.release(ORDER_ID, inventory=inventory, now=LATER).action == "RELEASED"
    assert inventory_logic.release(ORDER_ID, inventory=inventory, now=LATER).action == "NOTHING_TO_UNDO"


def test_capture_records_shipped_before_completed_and_captures_once(awaiting_shipment, orders, ledger, capture):
    result = capture(awaiting_shipment)

    assert result.status is OrderStatus.COMPLETED
    record = orders.get(ORDER_ID)
    assert [entry["status"] for entry in record["timeline"]][-3:] == ["AWAITING_SHIPMENT", "SHIPPED", "COMPLETED"]
    assert (record["trackingNumber"], record["captureId"]) == (TRACKING_NUMBER, result.captureId)
    entry = ledger.entries(ORDER_ID)[CAPTURE]
    assert (entry.reference, entry.amount_cents) == (result.captureId, SAMPLE_TOTAL_CENTS)


def test_a_repeated_capture_returns_the_same_capture_and_leaves_the_order_alone(awaiting_shipment, orders, capture):
    first = capture(awaiting_shipment)
    order_before = orders.get(ORDER_ID)

    again = capture(awaiting_shipment, now=MUCH_LATER)

    assert again == first
    assert orders.get(ORDER_ID) == order_before


def test_a_repeated_capture_leaves_the_ledger_entry_alone(awaiting_shipment, ledger, capture):
    capture(awaiting_shipment)
    ledger_before = ledger.entries(ORDER_ID)

    capture(awaiting_shipment, now=MUCH_LATER)

    assert ledger.entries(ORDER_ID) == ledger_before


def test_capture_of_a_cancelled_order_is_refused_before_any_money_moves(
    awaiting_shipment, orders, ledger, provider, capture
):
    orders.advance(ORDER_ID, OrderStatus.CANCELLED, NOW)

    with pytest.raises(InvalidOrderStateError, match="CANCELLED"):
        capture(awaiting_shipment)

    assert CAPTURE not in ledger.entries(ORDER_ID)
    assert ("capture", ORDER_ID) not in provider.calls
    assert orders.get(ORDER_ID)["status"] == "CANCELLED"


def test_capture_refuses_an_authorization_the_ledger_does_not_hold(awaiting_shipment, ledger, provider, capture):
    with pytest.raises(InvalidOrderStateError, match="has no authorization auth_forged"):
        capture("auth_forged")

    assert CAPTURE not in ledger.entries(ORDER_ID)
    assert ("capture", ORDER_ID) not in provider.calls


def test_capture_refuses_a_voided_authorization(awaiting_shipment, ledger, capture, void_or_refund):
    void_or_refund()

    with pytest.raises(InvalidOrderStateError, match="voided"):
        capture(awaiting_shipment)

    assert CAPTURE not in ledger.entries(ORDER_ID)


def test_void_or_refund_voids_an_open_authorization_once(awaiting_shipment, ledger, provider, void_or_refund):
    assert void_or_refund() == "VOIDED"
    assert void_or_refund() == "VOIDED", "a repeat answers what the first one did"

    entries = ledger.entries(ORDER_ID)
    assert set(entries) == {AUTHORIZATION, LedgerEntryKind.VOID}
    assert entries[LedgerEntryKind.VOID].amount_cents == SAMPLE_TOTAL_CENTS
    assert provider.calls.count(("void", ORDER_ID)) == 1


def test_void_or_refund_refunds_a_capture_once(awaiting_shipment, ledger, provider, capture, void_or_refund):
    captured = capture(awaiting_shipment)

    assert void_or_refund() == "REFUNDED"
    assert void_or_refund() == "REFUNDED", "a repeat answers what the first one did"

    entries = ledger.entries(ORDER_ID)
    assert set(entries) == {AUTHORIZATION, CAPTURE, LedgerEntryKind.REFUND}
    assert entries[LedgerEntryKind.REFUND].amount_cents == entries[CAPTURE].amount_cents
    assert entries[CAPTURE].reference == captured.captureId
    assert provider.calls.count(("refund", ORDER_ID)) == 1
    assert ("void", ORDER_ID) not in provider.calls, "a captured payment is refunded, never voided"


def test_void_or_refund_without_any_payment_does_nothing(ledger, provider, void_or_refund):
    assert void_or_refund() == "NOTHING_TO_UNDO"

    assert ledger.entries(ORDER_ID) == {}
    assert provider.calls == []


def test_a_repeated_authorize_reuses_the_ledger_entry_without_reaching_the_provider(
    order_at, ledger, provider, authorize
):
    order_at(OrderStatus.VALIDATED)
    first = authorize()
    entries_before = ledger.entries(ORDER_ID)

    again = authorize(now=LATER)

    assert again == first
    assert provider.calls == [("authorize", ORDER_ID)], "no second hold"
    assert ledger.entries(ORDER_ID) == entries_before


def test_an_authorize_repeated_with_another_amount_is_refused(order_at, orders, ledger, provider, authorize):
    order_at(OrderStatus.VALIDATED)
    authorize()
    request = AuthorizePaymentInput(orderId=ORDER_ID, amountCents=SAMPLE_TOTAL_CENTS + 1, currency="USD")

    with pytest.raises(InvalidOrderStateError, match=f"AUTHORIZATION of {SAMPLE_TOTAL_CENTS} USD"):
        payments.authorize(request, provider=provider, ledger=ledger, orders=orders, now=LATER)

    assert ledger.entries(ORDER_ID)[AUTHORIZATION].amount_cents == SAMPLE_TOTAL_CENTS
    assert provider.calls == [("authorize", ORDER_ID)]


def test_authorize_after_the_reservation_is_one_read_one_ledger_put_and_one_order_write(
    order_at, orders, ledger, provider, reserve, capacity_meter
):
    order_at(OrderStatus.VALIDATED)
    reserve()

    with capacity_meter:
        payments.authorize(authorization_request(), provider=provider, ledger=ledger, orders=orders, now=LATER)

    assert [request.operation for request in capacity_meter.requests] == ["BatchGetItem", "PutItem", "UpdateItem"]
    assert orders.get(ORDER_ID)["status"] == "AUTHORIZED"


class ReservesWhenPaymentIsWritten:
    """The orders repository, with ReserveInventory running in full just before AuthorizePayment's payment-only
    write: the interleaving in which neither branch's first look finds the other's part."""

    def __init__(self, orders, reserve):
        self._orders, self._reserve = orders, reserve

    def __getattr__(self, name):
        return getattr(self._orders, name)

    def set_fields(self, *args, **kwargs):
        self._reserve()
        return self._orders.set_fields(*args, **kwargs)


def test_the_order_becomes_authorized_when_the_reservation_lands_between_the_payment_branch_writes(
    order_at, orders, ledger, provider, reserve
):
    order_at(OrderStatus.VALIDATED)
    interleaved = ReservesWhenPaymentIsWritten(orders, lambda: reserve(now=NOW))

    payments.authorize(authorization_request(), provider=provider, ledger=ledger, orders=interleaved, now=LATER)

    record = orders.get(ORDER_ID)
    assert record["status"] == "AUTHORIZED"
    assert [entry["status"] for entry in record["timeline"]] == ["RECEIVED", "VALIDATED", "AUTHORIZED"]


def test_capture_writes_shipped_and_completed_together_in_three_requests(
    awaiting_shipment, orders, capture, capacity_meter
):
    with capacity_meter:
        capture(awaiting_shipment, now=LATER)

    record = orders.get(ORDER_ID)
    assert record["timeline"][-2:] == [{"status": "SHIPPED", "at": LATER}, {"status": "COMPLETED", "at": LATER}]
    assert [request.operation for request in capacity_meter.requests] == ["BatchGetItem", "PutItem", "UpdateItem"]


def test_a_capture_retried_after_its_ledger_entry_completes_the_order_without_a_second_capture(
    awaiting_shipment, orders, ledger, provider, capture
):
    ledger.record(
        LedgerEntry(ORDER_ID, CAPTURE, "cap_before_the_crash", SAMPLE_TOTAL_CENTS, "USD", NOW),
    )

    result = capture(awaiting_shipment)

    assert result.captureId == "cap_before_the_crash"
    assert ("capture", ORDER_ID) not in provider.calls
    record = orders.get(ORDER_ID)
    assert (record["status"], record["captureId"]) == ("COMPLETED", "cap_before_the_crash")


def test_capture_takes_the_order_out_of_the_warehouse_queue(awaiting_shipment, orders, capture):
    orders.set_fields(ORDER_ID, {"awaitingShipmentSince": NOW}, only_if_status=OrderStatus.AWAITING_SHIPMENT)

    capture(awaiting_shipment)

    assert orders.awaiting_shipment(10, None)[0] == []
    assert "awaitingShipmentSince" not in orders.get(ORDER_ID)


def test_an_order_that_has_failed_is_never_authorized(order_at, ledger, provider, authorize):
    order_at(OrderStatus.FAILED)

    with pytest.raises(InvalidOrderStateError, match="FAILED; it cannot move to AUTHORIZED"):
        authorize()

    assert provider.calls == []
    assert ledger.entries(ORDER_ID) == {}


def test_a_retry_after_the_move_answers_from_the_ledger_and_writes_nothing(
    order_at, orders, ledger, provider, reserve, authorize, capacity_meter
):
    order_at(OrderStatus.VALIDATED)
    reserve()
    first = authorize()

    with capacity_meter:
        again = payments.authorize(authorization_request(), provider=provider, ledger=ledger, orders=orders, now=LATER)

    assert again.authorizationId == first
    assert [request.operation for request in capacity_meter.requests] == ["BatchGetItem"]
