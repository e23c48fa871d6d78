"""The promises the service makes about every order, checked from its record, its ledger and its execution.

Workflow tests assert them per scenario; the chaos benchmark asserts them over thousands of orders.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import FAILURE_STATUSES, OrderStatus

TERMINAL = "every order ends in a terminal status"
NO_CAPTURE_WITHOUT_SHIPMENT = "no capture without a shipment"
AUTHORIZATION_VOIDED = "every authorization of a failed, declined or cancelled order voided"
RESERVATION_RELEASED = "the reserved units of every non-completed order released"
STATUS_MATCHES_EXECUTION = "the DynamoDB status equals the execution outcome"
COMPLETED_IS_CAPTURED = "every completed order captured and still reserved"

ORDER_INVARIANTS = (
    TERMINAL,
    NO_CAPTURE_WITHOUT_SHIPMENT,
    AUTHORIZATION_VOIDED,
    RESERVATION_RELEASED,
    STATUS_MATCHES_EXECUTION,
    COMPLETED_IS_CAPTURED,
)


def broken_invariants(
    order: Mapping[str, Any], ledger: Collection[LedgerEntryKind], execution: Mapping[str, Any]
) -> list[str]:
    """The invariants this order breaks; empty when it keeps every promise.

    Parameters
    ----------
    order:
        The order item from DynamoDB.
    ledger:
        The kinds of payments-ledger entries the order has.
    execution:
        ``DescribeExecution`` of the order's execution.

    Example
    -------
    >>> broken_invariants({"status": "FAILED", "timeline": []}, {LedgerEntryKind.AUTHORIZATION}, {"status": "FAILED",
    ...     "error": "FAILED"})
    ['every authorization of a failed, declined or cancelled order voided']
    """
    status = OrderStatus(order["status"])
    timeline = [entry["status"] for entry in order.get("timeline", [])]
    reservation = order.get("reservation") or {}
    broken = []
    if not status.is_terminal:
        broken.append(TERMINAL)
    if LedgerEntryKind.CAPTURE in ledger and OrderStatus.SHIPPED.value not in timeline:
        broken.append(NO_CAPTURE_WITHOUT_SHIPMENT)
    if status in FAILURE_STATUSES and LedgerEntryKind.AUTHORIZATION in ledger:
        voided = LedgerEntryKind.VOID in ledger
        refunded = LedgerEntryKind.CAPTURE in ledger and LedgerEntryKind.REFUND in ledger
        if not (voided or refunded):
            broken.append(AUTHORIZATION_VOIDED)
    if status is not OrderStatus.COMPLETED and reservation.get("status") == "RESERVED":
        broken.append(RESERVATION_RELEASED)
    if not _status_matches(status, execution):
        broken.append(STATUS_MATCHES_EXECUTION)
    if status is OrderStatus.COMPLETED and (
        LedgerEntryKind.CAPTURE not in ledger
        or LedgerEntryKind.REFUND in ledger
        or reservation.get("status") != "RESERVED"
    ):
        broken.append(COMPLETED_IS_CAPTURED)
    return broken


def _status_matches(status: OrderStatus, execution: Mapping[str, Any]) -> bool:
    if status is OrderStatus.COMPLETED:
        return execution.get("status") == "SUCCEEDED"
    if status in FAILURE_STATUSES:
        return execution.get("status") == "FAILED" and execution.get("error") == status.value
    return execution.get("status") == "RUNNING"
