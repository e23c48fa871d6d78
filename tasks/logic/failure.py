"""RecordFailure: the last step of every failure path."""

from __future__ import annotations

import json

from tasks.adapters.orders_repository import AWAITING_SHIPMENT_SINCE, OrderRepository
from tasks.models.task_io import RecordFailureInput, RecordFailureOutput, TaskFailure

MAX_CAUSE_LENGTH = 4000
"""Causes can be whole stack traces; the order item must stay far below DynamoDB's 400 KB."""


def record_failure(request: RecordFailureInput, *, orders: OrderRepository, now: str) -> RecordFailureOutput:
    """Record the terminal status with its error, what each compensation did, and any compensation that failed.

    A compensation that finally failed is written on the order (``compensationFailures``) so it is never lost.
    The same write takes the order out of the warehouse's queue.

    Example
    -------
    >>> record_failure(request, orders=orders, now=now_iso())  # doctest: +SKIP
    RecordFailureOutput(orderId='o-1', status=<OrderStatus.PAYMENT_DECLINED: ...>, compensationFailures=0)
    """
    execution = request.execution
    compensation_failures = {
        name: _describe(error)
        for name, error in (
            ("payment", execution.paymentCompensationError),
            ("inventory", execution.inventoryCompensationError),
        )
        if error is not None
    }
    compensations = {
        name: result.action
        for name, result in (
            ("payment", execution.paymentCompensation),
            ("inventory", execution.inventoryCompensation),
        )
        if result is not None
    }
    orders.advance(
        execution.orderId,
        request.status,
        now,
        fields={
            "failure": _describe(own_failure(execution.error)),
            "compensations": compensations,
            "compensationFailures": compensation_failures,
        },
        create_with={"createdAt": now},
        remove=(AWAITING_SHIPMENT_SINCE,),
    )
    return RecordFailureOutput(
        orderId=execution.orderId, status=request.status, compensationFailures=len(compensation_failures)
    )


NESTED_EXECUTION_FAILED = "States.TaskFailed"


def own_failure(error: TaskFailure) -> TaskFailure:
    """The error that ended the order: a failed child execution's own error and cause, not their wrapping.

    Through ``startExecution.sync:2`` a failed child surfaces as ``States.TaskFailed`` whose cause is the child's
    DescribeExecution output as JSON (its input included); the order records the child's ``Error`` and ``Cause``.

    Example
    -------
    >>> wrapped = '{"Status": "FAILED", "Error": "OutOfStockError", "Cause": "short", "Input": {}}'
    >>> own_failure(TaskFailure(Error="States.TaskFailed", Cause=wrapped))
    TaskFailure(Error='OutOfStockError', Cause='short')
    >>> own_failure(TaskFailure(Error="ShipmentFailedError", Cause="flooded")).Error
    'ShipmentFailedError'
    """
    if error.Error != NESTED_EXECUTION_FAILED or not error.Cause:
        return error
    try:
        child = json.loads(error.Cause)
    except ValueError:
        return error
    if not isinstance(child, dict) or "Status" not in child:
        return error
    return TaskFailure(
        Error=str(child.get("Error") or f"Execution{str(child['Status']).title().replace('_', '')}"),
        Cause=child.get("Cause") if isinstance(child.get("Cause"), str) else None,
    )


def _describe(failure: TaskFailure) -> dict[str, str]:
    return {"error": failure.Error, "cause": (failure.Cause or "")[:MAX_CAUSE_LENGTH]}
