"""The promises the service makes about every order, checked from its record, its ledger and its executions.

Workflow tests assert them per scenario; the chaos benchmark asserts them over thousands of orders. The order's
events (``broken_event_promises``) must mirror its timeline, and its Express child executions (the preparation)
must agree with it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import FAILURE_STATUSES, OrderStatus

TERMINAL = "every order ends in a terminal status"
NO_CAPTURE_WITHOUT_SHIPMENT = "no capture without a shipment"
AUTHORIZATION_VOIDED = "every authorization of a failed, declined or cancelled order voided"
RESERVATION_RELEASED = "the reserved units of every non-completed order released"
STATUS_MATCHES_EXECUTION = "the DynamoDB status equals the execution outcome"
COMPLETED_IS_CAPTURED = "every completed order captured and still reserved"
PREPARATION_AGREES = "the order's preparation (its Express child) ended once, and its outcome agrees with the order"

ORDER_INVARIANTS = (
    TERMINAL,
    NO_CAPTURE_WITHOUT_SHIPMENT,
    AUTHORIZATION_VOIDED,
    RESERVATION_RELEASED,
    STATUS_MATCHES_EXECUTION,
    COMPLETED_IS_CAPTURED,
    PREPARATION_AGREES,
)


def broken_invariants(
    order: Mapping[str, Any],
    ledger: Collection[LedgerEntryKind],
    execution: Mapping[str, Any],
    children: Sequence[Mapping[str, Any]] | None = None,
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
    children:
        ``DescribeExecution`` of each child execution the parent started, in order; None skips their promise.

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
    if children is not None and not _preparation_agrees(status, timeline, children):
        broken.append(PREPARATION_AGREES)
    return broken


def _preparation_agrees(status: OrderStatus, timeline: Sequence[str], children: Sequence[Mapping[str, Any]]) -> bool:
    """Once the order is terminal, no child still runs, at most one succeeded, and the last one succeeded exactly when
    the order was authorized and reserved. No child at all: its start failed, and the order failed with it."""
    if not children:
        return status is OrderStatus.FAILED and OrderStatus.AUTHORIZED.value not in timeline
    outcomes = [child.get("status") for child in children]
    if status.is_terminal and "RUNNING" in outcomes:
        return False
    if outcomes.count("SUCCEEDED") > 1:
        return False
    return (outcomes[-1] == "SUCCEEDED") == (OrderStatus.AUTHORIZED.value in timeline)


def _status_matches(status: OrderStatus, execution: Mapping[str, Any]) -> bool:
    if status is OrderStatus.COMPLETED:
        return execution.get("status") == "SUCCEEDED"
    if status in FAILURE_STATUSES:
        return execution.get("status") == "FAILED" and execution.get("error") == status.value
    return execution.get("status") == "RUNNING"


EVENT_SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "events" / "order-status-changed.schema.json"
EVENTS_MATCH_TIMELINE = "one OrderStatusChanged per timeline entry, in sequence"
EVENTS_FIT_THE_SCHEMA = "every event fits docs/events/order-status-changed.schema.json"
EVENTS_CARRY_NOTHING_SENSITIVE = "no event carries a payment token or an address"
SENSITIVE_KEYS = ("paymentToken", "shippingAddress", "taskToken")


@functools.cache
def event_schema_validator() -> Any:
    return Draft202012Validator(json.loads(EVENT_SCHEMA_FILE.read_text()))


def broken_event_promises(order: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The promises of the order's events (their ``detail``) that are broken; empty when they keep every one.

    Example
    -------
    >>> order = {"orderId": "o-1", "timeline": [{"status": "RECEIVED", "at": "t0"}]}
    >>> broken_event_promises(order, [])
    ['one OrderStatusChanged per timeline entry, in sequence']
    """
    timeline = [(entry["status"], position + 1) for position, entry in enumerate(order.get("timeline", []))]
    broken = []
    if [(event.get("status"), event.get("sequence")) for event in events] != timeline:
        broken.append(EVENTS_MATCH_TIMELINE)
    if any(not event_schema_validator().is_valid(event) for event in events):
        broken.append(EVENTS_FIT_THE_SCHEMA)
    if any(key in json.dumps(event) or "tok_" in json.dumps(event) for event in events for key in SENSITIVE_KEYS):
        broken.append(EVENTS_CARRY_NOTHING_SENSITIVE)
    return broken
