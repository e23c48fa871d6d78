"""AuthorizePayment, CapturePayment and the payment compensation, over the provider port and the ledger.

The ledger is what makes each of them safe to repeat: a task reads the entry it would write (in the same request as
the order) before it calls the provider, so a retry after the entry was written reuses its reference and never
reaches the provider again. A retry after a crash between the provider's answer and the entry calls the provider
once more with the same order id, which the provider port promises names the same operation (no second hold, no
second capture); the entry's conditional put then records it once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tasks.adapters.inventory_repository import RESERVED
from tasks.adapters.orders_repository import AWAITING_SHIPMENT_SINCE, OrderRepository
from tasks.adapters.payment_provider import PaymentProvider
from tasks.adapters.payments_ledger import LedgerEntry, LedgerEntryKind, PaymentsLedger
from tasks.errors import InvalidOrderStateError, OrderNotFoundError, PaymentDeclinedError
from tasks.logic.inventory import PREPARED, STOCK_RESERVED
from tasks.models.order import FAILURE_STATUSES, OrderStatus, statuses_before
from tasks.models.task_io import (
    AuthorizePaymentInput,
    AuthorizePaymentOutput,
    CapturePaymentInput,
    CapturePaymentOutput,
    CompensationOutput,
)

AUTHORIZATION, CAPTURE, VOID, REFUND = (
    LedgerEntryKind.AUTHORIZATION,
    LedgerEntryKind.CAPTURE,
    LedgerEntryKind.VOID,
    LedgerEntryKind.REFUND,
)


def authorize(
    request: AuthorizePaymentInput,
    *,
    provider: PaymentProvider,
    ledger: PaymentsLedger,
    orders: OrderRepository,
    now: str,
) -> AuthorizePaymentOutput:
    """Authorize the order total once, record it in the ledger, and mark the order AUTHORIZED once stock is reserved.

    A retry of an order that is AUTHORIZED already (or further) answers from the ledger and writes nothing; an order
    that has failed is never authorized.

    Raises
    ------
    InvalidOrderStateError
        The order has failed, or was authorized before for another amount or currency.

    Example
    -------
    >>> authorize(request, provider=simulator, ledger=ledger, orders=orders, now=now_iso())  # doctest: +SKIP
    AuthorizePaymentOutput(authorizationId='auth_...')
    """
    entries, order = ledger.entries_and_order(request.orderId, (AUTHORIZATION,))
    if order is None:
        raise OrderNotFoundError(f"order {request.orderId} does not exist")
    status = OrderStatus(order["status"])
    if status in FAILURE_STATUSES:
        raise InvalidOrderStateError(f"order {request.orderId} is {status.value}; it cannot move to AUTHORIZED")
    authorization_id = _recorded_or_made(
        entries,
        AUTHORIZATION,
        request,
        lambda: provider.authorize(
            request.orderId, request.amountCents, request.currency, _payment_token(order, request.orderId)
        ),
        ledger=ledger,
        now=now,
    )
    if status not in statuses_before(OrderStatus.AUTHORIZED):
        return AuthorizePaymentOutput(authorizationId=authorization_id)
    payment = {"authorizationId": authorization_id, "amountCents": request.amountCents, "at": now}
    stock_reserved = (order.get("reservation") or {}).get("status") == RESERVED
    _record_payment(orders, request.orderId, payment, now, stock_reserved=stock_reserved)
    return AuthorizePaymentOutput(authorizationId=authorization_id)


def _record_payment(
    orders: OrderRepository, order_id: str, payment: Mapping[str, Any], now: str, *, stock_reserved: bool
) -> None:
    """Write the payment, and the AUTHORIZED move once the stock is reserved too.

    When the order read before the provider call held the reservation already, the payment and the move are one
    write. Otherwise the payment is written alone, and the write returns the order: if the reservation landed
    meanwhile, this branch makes the move; if not, ReserveInventory's read after its transaction finds the payment
    and makes it (``tasks.logic.inventory.reserve``). Either way a branch writes its part once, and the move is
    made once.
    """
    if stock_reserved and orders.advance(
        order_id, OrderStatus.AUTHORIZED, now, fields={"payment": payment}, requires=STOCK_RESERVED
    ):
        return
    written = orders.set_fields(order_id, {"payment": payment}, only_if_status=OrderStatus.VALIDATED)
    if written is not None and (written.get("reservation") or {}).get("status") == RESERVED:
        orders.advance(order_id, OrderStatus.AUTHORIZED, now, requires=PREPARED)


def _payment_token(order: Mapping[str, Any], order_id: str) -> str:
    """The token the shopper paid with, from the order record: it never travels through the workflow's data."""
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
    """Capture the authorization once, then record the shipment and the completion in one conditional write.

    The order is read with the ledger first: an order that no longer awaits its shipment (cancelled, failed) is
    refused before the provider is reached, so the capture never happens. The write that follows records SHIPPED
    and COMPLETED together (two timeline entries, two events) and takes the order out of the warehouse's queue.

    Example
    -------
    >>> capture(request, provider=simulator, ledger=ledger, orders=orders, now=now_iso())  # doctest: +SKIP
    CapturePaymentOutput(captureId='cap_...', status=<OrderStatus.COMPLETED: 'COMPLETED'>)
    """
    entries, order = ledger.entries_and_order(request.orderId, (AUTHORIZATION, CAPTURE, VOID))
    if order is None:
        raise OrderNotFoundError(f"order {request.orderId} does not exist")
    status = OrderStatus(order["status"])
    if status is OrderStatus.COMPLETED and order.get("captureId"):
        return CapturePaymentOutput(captureId=order["captureId"], status=OrderStatus.COMPLETED)
    if status not in statuses_before(OrderStatus.COMPLETED):
        raise InvalidOrderStateError(f"order {request.orderId} is {status.value}; it cannot move to SHIPPED")
    authorization = entries.get(AUTHORIZATION)
    if authorization is None or authorization.reference != request.authorizationId:
        raise InvalidOrderStateError(f"order {request.orderId} has no authorization {request.authorizationId}")
    if VOID in entries:
        raise InvalidOrderStateError(f"order {request.orderId}: authorization was voided; nothing to capture")
    capture_id = _recorded_or_made(
        entries,
        CAPTURE,
        request,
        lambda: provider.capture(request.orderId, request.authorizationId, request.amountCents),
        ledger=ledger,
        now=now,
    )
    orders.advance(
        request.orderId,
        OrderStatus.COMPLETED,
        now,
        # an order an earlier version of this task left SHIPPED has that entry already
        through=() if status is OrderStatus.SHIPPED else (OrderStatus.SHIPPED,),
        fields={"trackingNumber": request.trackingNumber, "captureId": capture_id},
        remove=(AWAITING_SHIPMENT_SINCE,),
    )
    return CapturePaymentOutput(captureId=capture_id, status=OrderStatus.COMPLETED)


def void_or_refund(order_id: str, *, provider: PaymentProvider, ledger: PaymentsLedger, now: str) -> CompensationOutput:
    """Compensation: refund a capture, void an open authorization, or do nothing. Safe to repeat.

    The ledger says what happened, so the compensation never needs to know which step failed; a repeat answers
    what the first run did (REFUNDED, VOIDED) without reaching the provider again.
    """
    entries = ledger.entries(order_id)
    capture_entry = entries.get(CAPTURE)
    authorization = entries.get(AUTHORIZATION)
    if capture_entry is not None:
        if REFUND not in entries:
            refund_id = provider.refund(order_id, capture_entry.reference, capture_entry.amount_cents)
            ledger.record(_follow_up(capture_entry, REFUND, refund_id, now))
        return CompensationOutput(action="REFUNDED")
    if authorization is not None:
        if VOID not in entries:
            void_id = provider.void(order_id, authorization.reference)
            ledger.record(_follow_up(authorization, VOID, void_id, now))
        return CompensationOutput(action="VOIDED")
    return CompensationOutput(action="NOTHING_TO_UNDO")


def _recorded_or_made(
    entries: Mapping[LedgerEntryKind, LedgerEntry],
    kind: LedgerEntryKind,
    request: AuthorizePaymentInput | CapturePaymentInput,
    make: Callable[[], str],
    *,
    ledger: PaymentsLedger,
    now: str,
) -> str:
    """The reference of the ledger's entry of ``kind`` (a repeat of the same amount), or of a new one: ``make`` asks
    the provider, and the entry is recorded once."""
    recorded = entries.get(kind)
    if recorded is not None:
        _same_amount(recorded, request.amountCents, request.currency)
        return recorded.reference
    reference = make()
    ledger.record(_entry(request.orderId, kind, reference, request, now))
    return reference


def _same_amount(recorded: LedgerEntry, amount_cents: int, currency: str) -> None:
    """A repeat must ask for what the entry records: the workflow never changes an order's total."""
    if (recorded.amount_cents, recorded.currency) != (amount_cents, currency):
        raise InvalidOrderStateError(
            f"order {recorded.order_id} already has a {recorded.kind.value} of {recorded.amount_cents} "
            f"{recorded.currency}, not {amount_cents} {currency}"
        )


def _entry(
    order_id: str,
    kind: LedgerEntryKind,
    reference: str,
    request: AuthorizePaymentInput | CapturePaymentInput,
    now: str,
) -> LedgerEntry:
    return LedgerEntry(
        order_id=order_id,
        kind=kind,
        reference=reference,
        amount_cents=request.amountCents,
        currency=request.currency,
        at=now,
    )


def _follow_up(original: LedgerEntry, kind: LedgerEntryKind, reference: str, now: str) -> LedgerEntry:
    return LedgerEntry(
        order_id=original.order_id,
        kind=kind,
        reference=reference,
        amount_cents=original.amount_cents,
        currency=original.currency,
        at=now,
    )
