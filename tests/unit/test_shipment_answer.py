"""How the shipment wait ended, read from the order execution's history: what lets a repeated callback be accepted.

The histories are the order workflow's events as the local engine records them (newest first, as
``reverseOrder=True`` returns them), trimmed to the fields the reading uses, plus AWS's shapes the engine lacks.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tasks.adapters.workflow import (
    HISTORY_PAGE_SIZE,
    SHIPMENT_STATE,
    StepFunctionsOrderWorkflow,
    TaskAnswer,
    task_answer,
)
from workflows.resources import WORKFLOW_DIR

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:order-workflow"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:order-workflow:order-1"
LAMBDA = {"resourceType": "lambda", "resource": "invoke"}
CALLBACK = {"resourceType": "lambda", "resource": "invoke.waitForTaskToken"}


def event(event_id: int, previous: int, kind: str, **details: Any) -> dict[str, Any]:
    key = {
        "TaskStateEntered": "stateEnteredEventDetails",
        "TaskStateExited": "stateExitedEventDetails",
        "FailStateEntered": "stateEnteredEventDetails",
    }.get(kind, kind[0].lower() + kind[1:] + "EventDetails")
    return {"id": event_id, "previousEventId": previous, "type": kind, key: details}


def task(first_id: int, previous: int, state: str, resource: dict[str, str], *outcome: Any) -> list[dict[str, Any]]:
    """A Task state's events from its entry: entered, scheduled, started (submitted for a callback task), outcome."""
    events = [
        event(first_id, previous, "TaskStateEntered", name=state),
        event(first_id + 1, first_id, "TaskScheduled", **resource),
        event(first_id + 2, first_id + 1, "TaskStarted", **resource),
    ]
    if resource == CALLBACK:
        events.append(event(first_id + 3, first_id + 2, "TaskSubmitted", **resource))
    if outcome:
        kind, details = outcome
        events.append(event(events[-1]["id"] + 1, events[-1]["id"], kind, **resource, **details))
        events.append(event(events[-1]["id"] + 1, events[-1]["id"], "TaskStateExited", name=state))
    return events


PREPARED = [
    event(1, 0, "ExecutionStarted"),
    *task(2, 0, "PrepareOrder", {"resourceType": "states", "resource": "startExecution.sync:2"}, "TaskSucceeded", {}),
]
SHIPPED = [
    *PREPARED,
    *task(8, 7, SHIPMENT_STATE, CALLBACK, "TaskSucceeded", {"output": '{"trackingNumber": "1Z999AA10123456784"}'}),
    *task(14, 13, "CapturePayment", LAMBDA, "TaskSucceeded", {"output": '{"Payload": {"status": "COMPLETED"}}'}),
    event(19, 18, "ExecutionSucceeded"),
]
CANCELLED = [
    *PREPARED,
    *task(8, 7, SHIPMENT_STATE, CALLBACK, "TaskFailed", {"error": "OrderCancelledError", "cause": "changed my mind"}),
    *task(14, 13, "VoidOrRefundPayment", LAMBDA, "TaskSucceeded", {"output": "{}"}),
    *task(19, 18, "ReleaseInventory", LAMBDA, "TaskSucceeded", {"output": "{}"}),
    *task(24, 23, "RecordFailure", LAMBDA, "TaskSucceeded", {"output": "{}"}),
    event(29, 28, "FailStateEntered", name="OrderFailed"),
    event(30, 29, "ExecutionFailed", error="CANCELLED"),
]
HEARTBEAT_EXPIRED = [
    *PREPARED,
    *task(8, 7, SHIPMENT_STATE, CALLBACK, "TaskTimedOut", {"error": "States.HeartbeatTimeout"}),
    *task(14, 13, "VoidOrRefundPayment", LAMBDA, "TaskSucceeded", {"output": "{}"}),
]
WAITING = [*PREPARED, *task(8, 7, SHIPMENT_STATE, CALLBACK)]
RETRIED_AND_WAITING = [
    *PREPARED,
    event(8, 7, "TaskStateEntered", name=SHIPMENT_STATE),
    event(9, 8, "TaskScheduled", **CALLBACK),
    event(10, 9, "TaskStarted", **CALLBACK),
    event(11, 10, "TaskFailed", **CALLBACK, error="StorageTransientError", cause="throttled"),
    event(12, 11, "TaskScheduled", **CALLBACK),
    event(13, 12, "TaskStarted", **CALLBACK),
    event(14, 13, "TaskSubmitted", **CALLBACK),
]
"""The RequestShipment invocation failed and its Retry runs it again: the new attempt waits for its own token."""
NEVER_WAITED = [
    *PREPARED,
    *task(8, 7, "RecordFailure", LAMBDA, "TaskSucceeded", {"output": "{}"}),
    event(13, 12, "FailStateEntered", name="OrderFailed"),
    event(14, 13, "ExecutionFailed", error="OUT_OF_STOCK"),
]


def newest_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda event: event["id"], reverse=True)


@pytest.mark.parametrize(
    ("history", "answer"),
    [
        (SHIPPED, TaskAnswer.succeeded({"trackingNumber": "1Z999AA10123456784"})),
        (CANCELLED, TaskAnswer.failed("OrderCancelledError", "changed my mind")),
        (HEARTBEAT_EXPIRED, TaskAnswer.failed("States.HeartbeatTimeout", "")),
        (WAITING, None),
        (RETRIED_AND_WAITING, None),
        (NEVER_WAITED, None),
        ([], None),
    ],
    ids=["succeeded", "failed", "heartbeat expired", "still waiting", "retried and waiting", "no such task", "empty"],
)
def test_the_answer_that_ended_the_shipment_wait_is_read_from_the_history(history, answer):
    assert task_answer(newest_first(history), SHIPMENT_STATE) == answer


def test_a_succeeded_answer_differs_from_another_tracking_number_and_from_a_failure():
    shipped = task_answer(newest_first(SHIPPED), SHIPMENT_STATE)

    assert shipped != TaskAnswer.succeeded({"trackingNumber": "1Z000"})
    assert shipped != TaskAnswer.failed("ShipmentFailedError", "lost")


def test_when_the_page_ends_before_the_state_was_entered_the_callback_resource_decides():
    """A bounded page of a long history may hold the outcome without the TaskStateEntered its chain leads to."""
    page = [event for event in newest_first(CANCELLED) if event["id"] >= 12]

    assert task_answer(page, SHIPMENT_STATE) == TaskAnswer.failed("OrderCancelledError", "changed my mind")
    assert task_answer([event for event in page if event["id"] != 12], SHIPMENT_STATE) is None


def test_the_shipment_state_is_the_order_workflows_only_callback_task():
    states = json.loads((WORKFLOW_DIR / "order_workflow.asl.json").read_text())["States"]

    callbacks = [name for name, state in states.items() if str(state.get("Resource", "")).endswith(".waitForTaskToken")]

    assert callbacks == [SHIPMENT_STATE]


@pytest.fixture
def stubbed() -> tuple[StepFunctionsOrderWorkflow, Stubber]:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return StepFunctionsOrderWorkflow(STATE_MACHINE_ARN, client), Stubber(client)


def test_the_adapter_reads_the_newest_page_of_the_orders_execution(stubbed):
    workflow, stubber = stubbed
    request = {"executionArn": EXECUTION_ARN, "reverseOrder": True, "maxResults": HISTORY_PAGE_SIZE}
    stubber.add_response("get_execution_history", {"events": []}, request)

    with stubber:
        assert workflow.shipment_answer("order-1") is None

    stubber.assert_no_pending_responses()


def test_an_order_without_an_execution_has_no_shipment_answer(stubbed):
    workflow, stubber = stubbed
    stubber.add_client_error("get_execution_history", "ExecutionDoesNotExist", http_status_code=400)

    with stubber:
        assert workflow.shipment_answer("order-1") is None
