"""RecordFailure: the terminal status, its error, and what every compensation did, written on the order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks.logic.failure import MAX_CAUSE_LENGTH, record_failure
from tasks.models.order import OrderStatus
from tasks.models.task_io import RecordFailureInput

from .support import LATER, NOW, ORDER_ID


def failure_input(
    status: str = "PAYMENT_DECLINED", details: dict[str, str] | None = None, **fields: Any
) -> RecordFailureInput:
    """What the ASL hands RecordFailure: the status its failure route assigned, and the whole state."""
    details = details or {"Error": "PaymentDeclinedError", "Cause": "card declined"}
    return RecordFailureInput.model_validate(
        {"status": status, "execution": {"orderId": ORDER_ID, "error": details, **fields}}
    )


def test_record_failure_stores_the_status_error_and_compensations(order_at, orders):
    order_at(OrderStatus.VALIDATED)
    request = failure_input(paymentCompensation={"action": "VOIDED"}, inventoryCompensation={"action": "RELEASED"})

    result = record_failure(request, orders=orders, now=LATER)

    assert (result.status, result.compensationFailures) == (OrderStatus.PAYMENT_DECLINED, 0)
    record = orders.get(ORDER_ID)
    assert record["status"] == "PAYMENT_DECLINED"
    assert record["timeline"][-1] == {"status": "PAYMENT_DECLINED", "at": LATER}
    assert record["failure"] == {"error": "PaymentDeclinedError", "cause": "card declined"}
    assert record["compensations"] == {"payment": "VOIDED", "inventory": "RELEASED"}
    assert record["compensationFailures"] == {}


def test_a_compensation_that_finally_failed_is_kept_on_the_order_and_counted(order_at, orders):
    order_at(OrderStatus.AWAITING_SHIPMENT)
    request = failure_input(
        "CANCELLED",
        paymentCompensation={"action": "VOIDED"},
        inventoryCompensationError={"Error": "States.TaskFailed", "Cause": "DynamoDB unavailable"},
    )

    result = record_failure(request, orders=orders, now=LATER)

    assert result.compensationFailures == 1
    record = orders.get(ORDER_ID)
    assert record["compensations"] == {"payment": "VOIDED"}
    assert record["compensationFailures"] == {
        "inventory": {"error": "States.TaskFailed", "cause": "DynamoDB unavailable"}
    }


def test_a_long_cause_is_truncated_and_a_missing_one_is_empty(order_at, orders):
    order_at(OrderStatus.VALIDATED)
    long_trace = "Traceback " + "x" * (2 * MAX_CAUSE_LENGTH)
    request = failure_input(
        "FAILED", {"Error": "States.TaskFailed", "Cause": long_trace}, paymentCompensationError={"Error": "E"}
    )

    record_failure(request, orders=orders, now=LATER)

    record = orders.get(ORDER_ID)
    assert record["failure"]["cause"] == long_trace[:MAX_CAUSE_LENGTH]
    assert record["compensationFailures"]["payment"] == {"error": "E", "cause": ""}


def test_record_failure_creates_an_order_that_was_never_stored(orders, tables):
    """A malformed order is REJECTED before the API or ValidateOrder could store it; it must still be found."""
    result = record_failure(failure_input("REJECTED"), orders=orders, now=NOW)

    assert result.status is OrderStatus.REJECTED
    record = orders.get(ORDER_ID)
    assert [(entry["status"], entry["at"]) for entry in record["timeline"]] == [("RECEIVED", NOW), ("REJECTED", NOW)]
    assert record["createdAt"] == NOW


@pytest.mark.parametrize("terminal", [OrderStatus.COMPLETED, OrderStatus.CANCELLED])
def test_record_failure_leaves_a_finished_order_alone(order_at, orders, terminal):
    before = order_at(terminal)

    record_failure(failure_input("FAILED"), orders=orders, now=LATER)

    assert orders.get(ORDER_ID) == before


def test_a_failed_child_execution_is_recorded_with_its_own_error_not_its_wrapping(order_at, orders):
    order_at(OrderStatus.VALIDATED)
    child = {"Status": "FAILED", "Error": "OutOfStockError", "Cause": "KBD-MX-BRN short", "Input": {"order": {}}}
    request = failure_input("OUT_OF_STOCK", {"Error": "States.TaskFailed", "Cause": json.dumps(child)})

    record_failure(request, orders=orders, now=LATER)

    assert orders.get(ORDER_ID)["failure"] == {"error": "OutOfStockError", "cause": "KBD-MX-BRN short"}


def test_a_child_that_timed_out_is_recorded_by_its_status(order_at, orders):
    order_at(OrderStatus.VALIDATED)
    child = {"Status": "TIMED_OUT", "Input": {"order": {}}}
    request = failure_input("FAILED", {"Error": "States.TaskFailed", "Cause": json.dumps(child)})

    record_failure(request, orders=orders, now=LATER)

    assert orders.get(ORDER_ID)["failure"] == {"error": "ExecutionTimedOut", "cause": ""}
