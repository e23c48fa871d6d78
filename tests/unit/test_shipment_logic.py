"""The shipment wait: the task token is stored with the order, and every answer goes back with the latest one."""

from __future__ import annotations

import pytest

from tasks.adapters.orders_repository import status_shard
from tasks.adapters.workflow import TaskAnswer
from tasks.errors import InvalidOrderStateError, OrderNotFoundError
from tasks.logic import shipment
from tasks.logic.failure import record_failure
from tasks.models.order import OrderStatus
from tasks.models.task_io import RecordFailureInput, RequestShipmentInput, RequestShipmentOutput

from .support import KEYBOARD, LATER, NOW, ORDER_ID, FakeOrderWorkflow, placed_order

FIRST_TOKEN = "token-first-attempt"
RETRY_TOKEN = "token-after-a-retry"


def shipment_request(task_token: str) -> RequestShipmentInput:
    line = {"sku": KEYBOARD, "name": "Keyboard", "quantity": 1, "unitPriceCents": 8999, "lineTotalCents": 8999}
    address = placed_order().shippingAddress
    return RequestShipmentInput(orderId=ORDER_ID, taskToken=task_token, shippingAddress=address, lines=[line])


@pytest.fixture
def request_shipment(orders):
    def run(task_token: str, now: str = NOW) -> RequestShipmentOutput:
        return shipment.request_shipment(shipment_request(task_token), orders=orders, now=now)

    return run


@pytest.fixture
def awaiting(order_at, request_shipment) -> None:
    """An authorized order that RequestShipment put in the warehouse's queue."""
    order_at(OrderStatus.AUTHORIZED)
    request_shipment(FIRST_TOKEN)


def test_request_shipment_stores_the_token_and_awaits_the_warehouse(order_at, orders, request_shipment):
    order_at(OrderStatus.AUTHORIZED)

    result = request_shipment(FIRST_TOKEN)

    assert result.status is OrderStatus.AWAITING_SHIPMENT
    record = orders.get(ORDER_ID)
    assert record["status"] == "AWAITING_SHIPMENT"
    assert record["shipment"] == {"taskToken": FIRST_TOKEN, "requestedAt": NOW}


def test_a_retried_request_shipment_replaces_the_token_without_a_second_timeline_entry(
    awaiting, orders, request_shipment
):
    request_shipment(RETRY_TOKEN, now=LATER)

    record = orders.get(ORDER_ID)
    assert record["shipment"] == {"taskToken": RETRY_TOKEN, "requestedAt": LATER}
    assert [entry["status"] for entry in record["timeline"]].count("AWAITING_SHIPMENT") == 1


@pytest.mark.parametrize("terminal", [OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.FAILED])
def test_request_shipment_is_refused_for_a_finished_order(order_at, orders, request_shipment, terminal):
    before = order_at(terminal)

    with pytest.raises(InvalidOrderStateError):
        request_shipment(RETRY_TOKEN)

    assert orders.get(ORDER_ID) == before


def test_confirm_shipment_completes_the_task_with_the_latest_token(awaiting, orders, workflow, request_shipment):
    request_shipment(RETRY_TOKEN, now=LATER)

    shipment.confirm_shipment(ORDER_ID, "1Z999", orders=orders, workflow=workflow)

    assert workflow.calls == [("complete_task", RETRY_TOKEN, {"trackingNumber": "1Z999"})]


def test_cancel_order_fails_the_task_as_order_cancelled(awaiting, orders, workflow):
    shipment.cancel_order(ORDER_ID, "changed my mind", orders=orders, workflow=workflow)

    assert workflow.calls == [("fail_task", FIRST_TOKEN, "OrderCancelledError", "changed my mind")]


def test_fail_shipment_fails_the_task_as_shipment_failed(awaiting, orders, workflow):
    shipment.fail_shipment(ORDER_ID, "warehouse flooded", orders=orders, workflow=workflow)

    assert workflow.calls == [("fail_task", FIRST_TOKEN, "ShipmentFailedError", "warehouse flooded")]


def test_acknowledge_shipment_sends_a_heartbeat(awaiting, orders, workflow):
    shipment.acknowledge_shipment(ORDER_ID, orders=orders, workflow=workflow)

    assert workflow.calls == [("heartbeat", FIRST_TOKEN)]


ANSWERS = {
    "confirm": (shipment.confirm_shipment, "1Z999"),
    "cancel": (shipment.cancel_order, "too late"),
    "fail": (shipment.fail_shipment, "lost"),
    "acknowledge": (shipment.acknowledge_shipment,),
}
"""Every answer the warehouse or the customer can give to a shipment wait, with its arguments after the order id."""


def callbacks_sent(workflow: FakeOrderWorkflow) -> list[tuple]:
    """The workflow calls other than reading how the shipment wait ended."""
    return [call for call in workflow.calls if call[0] != "shipment_answer"]


def test_an_answer_for_an_order_not_awaiting_shipment_is_refused_and_sends_nothing(
    order_at, orders, workflow, subtests
):
    """Even with a stored token: the token of an order that moved on belongs to a task that no longer waits."""
    for status in (OrderStatus.AUTHORIZED, OrderStatus.SHIPPED, OrderStatus.CANCELLED):
        order_at(status, order_id=status.value, shipment={"taskToken": FIRST_TOKEN, "requestedAt": NOW})
        for answer, (send, *arguments) in ANSWERS.items():
            with subtests.test(f"{answer} while {status.value}"):
                with pytest.raises(InvalidOrderStateError, match=f"is {status.value}, not AWAITING_SHIPMENT"):
                    send(status.value, *arguments, orders=orders, workflow=workflow)

                assert callbacks_sent(workflow) == []


def test_an_answer_for_an_unknown_order_is_order_not_found(orders, workflow, subtests):
    for answer, (send, *arguments) in ANSWERS.items():
        with subtests.test(answer):
            with pytest.raises(OrderNotFoundError, match="no-such-order"):
                send("no-such-order", *arguments, orders=orders, workflow=workflow)

            assert workflow.calls == []


def test_request_shipment_puts_the_order_in_the_warehouse_queue_and_a_retry_keeps_its_place(
    order_at, orders, request_shipment
):
    order_at(OrderStatus.AUTHORIZED)

    request_shipment(FIRST_TOKEN, now=NOW)
    request_shipment(RETRY_TOKEN, now=LATER)

    queue, _ = orders.awaiting_shipment(10, None)
    shard = status_shard(ORDER_ID, OrderStatus.AWAITING_SHIPMENT)
    assert queue == [{"orderId": ORDER_ID, "statusShard": shard, "awaitingShipmentSince": NOW}]


def test_a_failure_takes_the_order_out_of_the_warehouse_queue(awaiting, orders):
    failed = RecordFailureInput.model_validate(
        {"status": "CANCELLED", "execution": {"orderId": ORDER_ID, "error": {"Error": "OrderCancelledError"}}}
    )

    record_failure(failed, orders=orders, now=LATER)

    assert orders.awaiting_shipment(10, None)[0] == []
    assert orders.get(ORDER_ID)["status"] == "CANCELLED"


class WorkflowThatNoLongerWaits(FakeOrderWorkflow):
    """Step Functions refuses every callback: the token is closed (``CALLBACK_GONE``)."""

    def complete_task(self, task_token: str, output: dict) -> None:
        super().complete_task(task_token, output)
        raise InvalidOrderStateError("the workflow no longer waits for this callback (InvalidToken)")

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        super().fail_task(task_token, error, cause)
        raise InvalidOrderStateError("the workflow no longer waits for this callback (TaskTimedOut)")


SHIPPED = TaskAnswer.succeeded({"trackingNumber": "1Z999"})
CANCELLED = TaskAnswer.failed("OrderCancelledError", "too late")
FAILED = TaskAnswer.failed("ShipmentFailedError", "lost")
TIMED_OUT = TaskAnswer.failed("States.HeartbeatTimeout", "")
REPEATS = {"confirm": SHIPPED, "cancel": CANCELLED, "fail": FAILED}
"""Each answer of ANSWERS that ends the wait, to how the history records it once taken."""


@pytest.mark.parametrize("answer", REPEATS)
def test_a_refused_answer_the_workflow_already_took_is_accepted(awaiting, orders, answer):
    workflow = WorkflowThatNoLongerWaits()
    workflow.answers[ORDER_ID] = REPEATS[answer]
    send, *arguments = ANSWERS[answer]

    send(ORDER_ID, *arguments, orders=orders, workflow=workflow)

    assert workflow.calls[-1] == ("shipment_answer", ORDER_ID)


@pytest.mark.parametrize(
    ("answer", "ended_with"),
    [
        ("confirm", TaskAnswer.succeeded({"trackingNumber": "1Z000"})),
        ("confirm", CANCELLED),
        ("cancel", SHIPPED),
        ("cancel", TaskAnswer.failed("OrderCancelledError", "another reason")),
        ("fail", CANCELLED),
        ("fail", TIMED_OUT),
        ("confirm", None),
    ],
)
def test_a_refused_answer_stays_refused_when_the_wait_ended_otherwise(awaiting, orders, answer, ended_with):
    workflow = WorkflowThatNoLongerWaits()
    if ended_with is not None:
        workflow.answers[ORDER_ID] = ended_with
    send, *arguments = ANSWERS[answer]

    with pytest.raises(InvalidOrderStateError, match="no longer waits"):
        send(ORDER_ID, *arguments, orders=orders, workflow=workflow)


def test_a_repeated_confirmation_of_an_order_that_moved_on_is_accepted_from_the_history(order_at, orders, workflow):
    order_at(OrderStatus.COMPLETED, shipment={"taskToken": FIRST_TOKEN, "requestedAt": NOW})
    workflow.answers[ORDER_ID] = SHIPPED

    shipment.confirm_shipment(ORDER_ID, "1Z999", orders=orders, workflow=workflow)

    assert workflow.calls == [("shipment_answer", ORDER_ID)]


def test_a_refused_heartbeat_stays_refused_and_reads_no_history(awaiting, orders):
    class HeartbeatRefused(FakeOrderWorkflow):
        def heartbeat(self, task_token: str) -> None:
            raise InvalidOrderStateError("the workflow no longer waits for this callback (TaskTimedOut)")

    workflow = HeartbeatRefused()
    workflow.answers[ORDER_ID] = SHIPPED

    with pytest.raises(InvalidOrderStateError):
        shipment.acknowledge_shipment(ORDER_ID, orders=orders, workflow=workflow)

    assert workflow.calls == []
