"""RecordFailure: the last step of every failure path."""

from __future__ import annotations

from tasks.adapters.orders_repository import OrderRepository
from tasks.models.task_io import RecordFailureInput, RecordFailureOutput, TaskFailure

MAX_CAUSE_LENGTH = 4000
"""Causes can be whole stack traces; the order item must stay far below DynamoDB's 400 KB."""


def record_failure(request: RecordFailureInput, *, orders: OrderRepository, now: str) -> RecordFailureOutput:
    """Record the terminal status with its error, what each compensation did, and any compensation that failed.

    A compensation that finally failed is written on the order (``compensationFailures``) so it is never lost.

    Example
    -------
    >>> record_failure(request, orders=orders, now=now_iso())  # doctest: +SKIP
    RecordFailureOutput(orderId='o-1', status=<OrderStatus.PAYMENT_DECLINED: ...>, compensationFailures=0)
    """
    compensation_failures = {
        name: _describe(error)
        for name, error in (
            ("payment", request.paymentCompensationError),
            ("inventory", request.inventoryCompensationError),
        )
        if error is not None
    }
    compensations = {
        name: result.action
        for name, result in (("payment", request.paymentCompensation), ("inventory", request.inventoryCompensation))
        if result is not None
    }
    orders.advance(
        request.orderId,
        request.failure.status,
        now,
        fields={
            "failure": _describe(request.failure.details),
            "compensations": compensations,
            "compensationFailures": compensation_failures,
        },
        create_with={"createdAt": now},
    )
    return RecordFailureOutput(
        orderId=request.orderId, status=request.failure.status, compensationFailures=len(compensation_failures)
    )


def _describe(failure: TaskFailure) -> dict[str, str]:
    return {"error": failure.Error, "cause": (failure.Cause or "")[:MAX_CAUSE_LENGTH]}
