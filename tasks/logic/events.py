"""Which events one change of an order record stands for: one per timeline entry it added, none otherwise.

Every status change appends to the timeline in the same conditional write, and a retried task's write is refused
by its condition, so it changes nothing and the stream carries no record for it: one entry, one event, however
often a task runs. Writes that set fields without a status change (the payment, the task token) add no entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.logic.ordering import public_failure
from tasks.models.events import OrderStatusChanged
from tasks.models.order import FAILURE_STATUSES, OrderStatus


def status_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[OrderStatusChanged]:
    """The events for the timeline entries ``new`` has beyond ``old`` (the images of one stream record).

    Example
    -------
    >>> new = {"orderId": "o-1", "customerId": "c-1", "timeline": [{"status": "RECEIVED", "at": "t0"}]}
    >>> [(event.status.value, event.sequence) for event in status_changes(None, new)]
    [('RECEIVED', 1)]
    >>> status_changes(new, new)
    []
    """
    if not new or "timeline" not in new:
        return []
    seen = len((old or {}).get("timeline") or [])
    timeline = new["timeline"]
    return [_event(new, timeline, position) for position in range(seen, len(timeline))]


def _event(order: Mapping[str, Any], timeline: list[Mapping[str, Any]], position: int) -> OrderStatusChanged:
    status = OrderStatus(timeline[position]["status"])
    priced = order.get("totalCents") is not None
    return OrderStatusChanged(
        orderId=order["orderId"],
        customerId=order.get("customerId"),
        status=status,
        previousStatus=OrderStatus(timeline[position - 1]["status"]) if position else None,
        sequence=position + 1,
        at=timeline[position]["at"],
        totalCents=order.get("totalCents") if priced else None,
        currency=order.get("currency") if priced else None,
        trackingNumber=order.get("trackingNumber") if status is OrderStatus.SHIPPED else None,
        failure=public_failure(order.get("failure")) if status in FAILURE_STATUSES else None,
    )
