"""AuthorizePayment, CapturePayment and the payment compensation, over the provider port and the ledger."""

from __future__ import annotations

from tasks.adapters.orders_repository import OrderRepository
from tasks.adapters.payment_provider import PaymentProvider
from tasks.adapters.payments_ledger import LedgerEntry, LedgerEntryKind, PaymentsLedger
from tasks.errors import InvalidOrderStateError, OrderNotFoundError, PaymentDeclinedError
from tasks.logic.inventory import PREPARED
from tasks.models.order import OrderStatus
from tasks.models.task_io import (
    AuthorizePaymentInput,
    AuthorizePaymentOutput,
    CapturePaymentInput,
    CapturePaymentOutput,
    CompensationOutput,
)


def authorize(
    request: AuthorizePaymentInput,
    *,
    provider: PaymentProvider,
    ledger: PaymentsLedger,
    orders: OrderRepository,
    now: str,
) -> AuthorizePaymentOutput:
    """Authorize the order total, record it in the ledger, and mark the order AUTHORIZED once stock is reserved too.

    Example
    -------
    >>> authorize(request, provider=simulator, ledger=ledger, orders=orders, now=now_iso())  # doctest: +SKIP
    AuthorizePaymentOutput(authorizationId='auth_...')
    """
    authorization_id = provider.authorize(
        request.orderId, request.amountCents, request.currency, _payment_token(orders, request.orderId)
    )
    ledger.record(
        LedgerEntry(
            order_id=request.orderId,
            kind=LedgerEntryKind.AUTHORIZATION,
            reference=authorization_id,
            amount_cents=request.amountCents,
            currency=request.currency,
            at=now,
        )
    )
    orders.set_fields(
        request.orderId,
        {"payment": {"authorizationId": authorization_id, "amountCents": request.amountCents, "at": now}},
        only_if_status=OrderStatus.VALIDATED,
    )
    orders.advance(request.orderId, OrderStatus.AUTHORIZED, now, requires=PREPARED)
    return AuthorizePaymentOutput(authorizationId=authorization_id)


def _payment_token(orders: OrderRepository, order_id: str) -> str:
    """The token the shopper paid with, from the order record: it never travels through the workflow's data."""
    order = orders.get(order_id)
    if order is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    token = order.get("paymentToken")
    if not token:
        raise PaymentDeclinedError(f"order {order_id} has no payment method on record")
    return token


def capture(
    request: CapturePaymentInput,
    *,
    provider: PaymentProvider,
    ledger: PaymentsLedger,
    orders: OrderRepository,
    now: str,
) -> CapturePaymentOutput:
    """Record the shipment, capture the authorization once, and complete the order.

    SHIPPED is written before the capture, so a capture can never exist without a recorded shipment; a cancelled
    order refuses the SHIPPED move and the capture never happens.
    """
    orders.advance(request.orderId, OrderStatus.SHIPPED, now, fields={"trackingNumber": request.trackingNumber})
    entries = ledger.entries(request.orderId)
    authorization = entries.get(LedgerEntryKind.AUTHORIZATION)
    if authorization is None or authorization.reference != request.authorizationId:
        raise InvalidOrderStateError(f"order {request.orderId} has no authorization {request.authorizationId}")
    if LedgerEntryKind.VOID in entries:
        raise InvalidOrderStateError(f"order {request.orderId}: authorization was voided; nothing to capture")
    capture_id = provider.capture(request.orderId, request.authorizationId, request.amountCents)
    ledger.record(
        LedgerEntry(
            order_id=request.orderId,
            kind=LedgerEntryKind.CAPTURE,
            reference=capture_id,
            amount_cents=request.amountCents,
            currency=request.currency,
            at=now,
        )
    )
    orders.advance(request.orderId, OrderStatus.COMPLETED, now, fields={"captureId": capture_id})
    return CapturePaymentOutput(captureId=capture_id, status=OrderStatus.COMPLETED)


def void_or_refund(order_id: str, *, provider: PaymentProvider, ledger: PaymentsLedger, now: str) -> CompensationOutput:
    """Compensation: refund a capture, void an open authorization, or do nothing. Safe to repeat.

    The ledger says what happened, so the compensation never needs to know which step failed.
    """
    entries = ledger.entries(order_id)
    capture_entry = entries.get(LedgerEntryKind.CAPTURE)
    authorization = entries.get(LedgerEntryKind.AUTHORIZATION)
    if capture_entry is not None:
        if LedgerEntryKind.REFUND in entries:
            return CompensationOutput(action="NOTHING_TO_UNDO")
        refund_id = provider.refund(order_id, capture_entry.reference, capture_entry.amount_cents)
        ledger.record(_follow_up(capture_entry, LedgerEntryKind.REFUND, refund_id, now))
        return CompensationOutput(action="REFUNDED")
    if authorization is not None and LedgerEntryKind.VOID not in entries:
        void_id = provider.void(order_id, authorization.reference)
        ledger.record(_follow_up(authorization, LedgerEntryKind.VOID, void_id, now))
        return CompensationOutput(action="VOIDED")
    return CompensationOutput(action="NOTHING_TO_UNDO")


def _follow_up(original: LedgerEntry, kind: LedgerEntryKind, reference: str, now: str) -> LedgerEntry:
    return LedgerEntry(
        order_id=original.order_id,
        kind=kind,
        reference=reference,
        amount_cents=original.amount_cents,
        currency=original.currency,
        at=now,
    )
