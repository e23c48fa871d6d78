"""What every caller does when an AWS API fails under it: throttling, a 5xx, a timeout, a partial answer.

The faults act at the AWS endpoint (``local.endpoint.aws_faults``), under the real handlers and the real ASL; the
stack's own reads (what the assertions see) are never faulted. Per service:

- DynamoDB under a task: the task raises the transient error its state's ``Retry`` names, and the order goes on;
- DynamoDB and Step Functions under the API: 503 with ``Retry-After`` and the error body, never 500 or 502, and the
  same request again places one order, starts one execution and counts one order against the shopper's limit;
- EventBridge under the stream publisher: the batch is retried from its failed record; what still fails is recorded
  in the stream's dead-letter queue, never lost.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.testkit.fixtures import SAMPLE_CUSTOMER_ID, ApiAnswer, OrderStack, sample_order
from tasks.adapters.aws_sdk import API_CALLS, STREAM_CALLS, TASK_CALLS
from tasks.adapters.dynamodb import UNPROCESSED_ROUNDS, from_item
from tasks.adapters.orders_repository import BY_CUSTOMER_INDEX
from tasks.models.order import OrderStatus
from tests.workflow.test_faults import SUCCEEDED, attempts_of, stock_of
from workflows.resources import ORDER_QUOTAS_TABLE, STREAM_RETRY_ATTEMPTS

pytestmark = pytest.mark.workflow

SLOW_DEADLINE = 120.0
"""For runs that sleep through the SDK's and the publisher's real backoff, on a busy machine."""
TRACKING = "1Z999AA10123456784"


def order_status_changes(stack: OrderStack, order_id: str) -> list[str]:
    return [event["status"] for event in stack.events(order_id)]


# --- DynamoDB under the workflow's tasks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("throttling", "ProvisionedThroughputExceededException"),
        ("server-error", "InternalServerError"),
        ("timeout", "no answer: the write was made, its answer lost"),
    ],
)
def test_a_task_whose_dynamodb_write_fails_raises_storage_transient_error_and_its_state_retries_it(
    order_stack, aws_faults, kind, answer
):
    injector = aws_faults({"dynamodb:UpdateItem": {"kind": kind, "times": TASK_CALLS.total_attempts}})

    run = order_stack.run_order(sample_order(), shipment="SHIPPED")

    assert attempts_of(run, "ValidateOrder") == ["StorageTransientError", SUCCEEDED], answer
    assert injector.injected() == {"dynamodb:UpdateItem": TASK_CALLS.total_attempts}, "each SDK attempt was faulted"
    assert run.status == "COMPLETED"
    assert run.timeline.count("VALIDATED") == 1
    assert order_stack.broken_invariants(run) == []


def test_a_conflicting_stock_transaction_raises_inventory_transient_error_and_is_retried(order_stack, aws_faults):
    order = sample_order()
    stock_before = stock_of(order_stack, order)
    aws_faults({"dynamodb:TransactWriteItems": {"kind": "conflict", "times": 1}})

    run = order_stack.run_order(order, shipment="SHIPPED")

    assert attempts_of(run, "ReserveInventory") == ["InventoryTransientError", SUCCEEDED]
    assert run.status == "COMPLETED"
    held = {item["sku"]: item["quantity"] for item in order["items"]}
    assert stock_of(order_stack, order) == {sku: stock_before[sku] - held[sku] for sku in held}
    assert order_stack.broken_invariants(run) == []


def test_keys_dynamodb_keeps_leaving_unprocessed_end_in_a_retried_storage_transient_error_not_a_lambda_timeout(
    order_stack, aws_faults
):
    calls_per_attempt = UNPROCESSED_ROUNDS + 1
    attempts = 4
    aws_faults({"dynamodb:BatchGetItem": {"kind": "partial", "times": calls_per_attempt * attempts}})

    run = order_stack.run_order(sample_order(), shipment="SHIPPED", deadline=SLOW_DEADLINE)

    assert attempts_of(run, "ValidateOrder") == ["StorageTransientError"] * attempts
    assert run.status == "FAILED"
    assert run.order["failure"]["error"] == "StorageTransientError"
    assert order_stack.broken_invariants(run) == []


# --- DynamoDB and Step Functions under the API -----------------------------------------------------------------------


def place(stack: OrderStack, key: str | None) -> ApiAnswer:
    return stack.call_api("POST", "/orders", sample_order(), {"Idempotency-Key": key} if key else {})


def assert_unavailable(answer: ApiAnswer) -> None:
    assert answer.status == 503, answer
    assert answer.headers["Retry-After"] == "1"
    assert answer.body["error"] == "Service Unavailable"
    assert "Retry" in answer.body["message"] or "again" in answer.body["message"]


def orders_counted(stack: OrderStack) -> int:
    """How many orders the shopper's limit counted today (the order-quotas table, read by the harness)."""
    items = stack.dynamodb.scan(TableName=ORDER_QUOTAS_TABLE.local_name, ConsistentRead=True)["Items"]
    return sum(int(from_item(item)["dayOrders"]) for item in items)


def shoppers_orders(stack: OrderStack) -> list[dict[str, Any]]:
    return stack.orders.query(BY_CUSTOMER_INDEX, SAMPLE_CUSTOMER_ID, 100, None)[0]


def executions_named(stack: OrderStack, order_id: str) -> list[str]:
    listed = stack.stepfunctions.list_executions(stateMachineArn=stack.deployment.state_machine_arn)["executions"]
    return [execution["executionArn"] for execution in listed if execution["name"] == order_id]


def ship_and_finish(stack: OrderStack, order_id: str, execution_arn: str) -> dict[str, Any]:
    assert stack.wait_for_shipment_request(order_id, execution_arn, SLOW_DEADLINE)
    stack.confirm_shipment(order_id)
    return stack.wait_for_execution(execution_arn, SLOW_DEADLINE)


def assert_placed_exactly_once(stack: OrderStack, accepted: ApiAnswer) -> None:
    order_id = accepted.body["orderId"]
    assert [order["orderId"] for order in shoppers_orders(stack)] == [order_id], "one order"
    assert executions_named(stack, order_id) == [accepted.body["executionArn"]], "one execution"
    assert orders_counted(stack) == 1, "counted once against the shopper's limit"
    assert ship_and_finish(stack, order_id, accepted.body["executionArn"])["status"] == "SUCCEEDED"
    assert stack.order(order_id)["status"] == OrderStatus.COMPLETED.value


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("throttling", "nothing was kept"),
        ("server-error", "its start was not confirmed"),
        ("unavailable", "its start was not confirmed"),
        ("timeout", "its start was not confirmed"),
    ],
)
def test_the_api_answers_503_when_start_execution_fails_and_the_same_request_then_places_one_order(
    order_stack, aws_faults, kind, says
):
    """A throttled start started nothing, so the order is removed; after a 5xx or no answer it may have started,
    so the order is kept, and the retry starts it by its name (idempotent)."""
    injector = aws_faults({"states:StartExecution": {"kind": kind, "times": API_CALLS.total_attempts}})

    refused = place(order_stack, "checkout-1")
    kept = shoppers_orders(order_stack)
    accepted = place(order_stack, "checkout-1")

    assert_unavailable(refused)
    assert says in refused.body["message"]
    assert len(kept) == (0 if kind == "throttling" else 1)
    assert accepted.status == 202, accepted
    assert injector.injected() == {"states:StartExecution": API_CALLS.total_attempts}
    assert_placed_exactly_once(order_stack, accepted)


@pytest.mark.parametrize(
    ("operation", "kind"),
    [
        ("dynamodb:PutItem", "throttling"),
        ("dynamodb:PutItem", "server-error"),
        ("dynamodb:UpdateItem", "throttling"),
        ("dynamodb:UpdateItem", "server-error"),
        ("dynamodb:GetItem", "timeout"),
    ],
)
def test_the_api_answers_503_when_dynamodb_fails_and_the_same_request_then_places_one_order(
    order_stack, aws_faults, operation, kind
):
    """PutItem: the key's claim; UpdateItem: the shopper's order counter; GetItem: the repeat's read of its order."""
    if operation == "dynamodb:GetItem":
        first = place(order_stack, "checkout-2")
        assert first.status == 202
        order_stack.wait_for_the_callback_wait(first.body["executionArn"], SLOW_DEADLINE)  # its tasks also GetItem
    injector = aws_faults({operation: {"kind": kind, "times": API_CALLS.total_attempts}})

    refused = place(order_stack, "checkout-2")
    accepted = place(order_stack, "checkout-2")

    assert_unavailable(refused)
    assert accepted.status == 202, accepted
    assert injector.injected() == {operation: API_CALLS.total_attempts}
    assert_placed_exactly_once(order_stack, accepted)


def test_the_api_gives_up_on_a_silent_dynamodb_in_time_to_answer_503_not_the_gateways_502(order_stack, aws_faults):
    """Each attempt waits out the API's read timeout; the API's attempts (and the SDK's backoff between them) must
    end well inside the function's timeout, or the function is cut off and API Gateway answers 502."""
    silence = {
        "kind": "timeout",
        "times": API_CALLS.total_attempts,
        "latency_ms": API_CALLS.read_timeout_seconds * 1000,
    }
    aws_faults({"dynamodb:PutItem": silence})

    refused = place(order_stack, "checkout-3")
    accepted = place(order_stack, "checkout-3")

    assert_unavailable(refused)
    assert accepted.status == 202, accepted
    assert_placed_exactly_once(order_stack, accepted)


def test_an_order_whose_write_failed_is_given_back_to_the_shoppers_limit(order_stack, aws_faults):
    """No key: the counter is taken, then the order's write fails; the counter must not keep it."""
    aws_faults({"dynamodb:PutItem": {"kind": "server-error", "times": API_CALLS.total_attempts}})

    refused = place(order_stack, None)

    assert_unavailable(refused)
    assert shoppers_orders(order_stack) == []
    assert orders_counted(order_stack) == 0
    accepted = place(order_stack, None)
    assert accepted.status == 202
    assert orders_counted(order_stack) == 1


@pytest.mark.parametrize("kind", ["throttling", "server-error", "timeout"])
def test_the_shipment_callback_answers_503_when_send_task_success_fails_and_the_warehouse_retries_it(
    order_stack, aws_faults, kind
):
    order_id, execution_arn = order_stack.submit(sample_order())
    assert order_stack.wait_for_shipment_request(order_id, execution_arn, SLOW_DEADLINE)
    injector = aws_faults({"states:SendTaskSuccess": {"kind": kind, "times": API_CALLS.total_attempts}})
    callback = {"outcome": "SHIPPED", "trackingNumber": TRACKING}

    refused = order_stack.call_api("POST", f"/orders/{order_id}/shipment", callback)
    again = order_stack.call_api("POST", f"/orders/{order_id}/shipment", callback)

    assert_unavailable(refused)
    assert again.status == 202, again
    assert injector.injected() == {"states:SendTaskSuccess": API_CALLS.total_attempts}
    assert order_stack.wait_for_execution(execution_arn, SLOW_DEADLINE)["status"] == "SUCCEEDED"
    run = order_stack.outcome(order_id, execution_arn)
    assert run.status == "COMPLETED" and run.order["trackingNumber"] == TRACKING
    assert order_stack.broken_invariants(run) == []


def confirm(stack: OrderStack, order_id: str, tracking_number: str = TRACKING) -> ApiAnswer:
    return stack.call_api(
        "POST", f"/orders/{order_id}/shipment", {"outcome": "SHIPPED", "trackingNumber": tracking_number}
    )


def assert_completed_once(stack: OrderStack, order_id: str, execution_arn: str) -> None:
    assert stack.wait_for_execution(execution_arn, SLOW_DEADLINE)["status"] == "SUCCEEDED"
    run = stack.outcome(order_id, execution_arn)
    assert run.status == "COMPLETED" and run.order["trackingNumber"] == TRACKING
    assert attempts_of(run, "CapturePayment") == [SUCCEEDED], "captured once"
    assert stack.broken_invariants(run) == []


def test_a_confirmation_whose_answer_was_lost_is_accepted_and_the_order_completes_once(order_stack, aws_faults):
    """SendTaskSuccess is carried out and its answer lost; the SDK sends it again and Step Functions refuses the
    closed token. The execution's history shows the workflow took this very answer: 202, not 409."""
    order_id, execution_arn = order_stack.submit(sample_order())
    assert order_stack.wait_for_shipment_request(order_id, execution_arn, SLOW_DEADLINE)
    injector = aws_faults({"states:SendTaskSuccess": {"kind": "timeout", "times": 1}})

    answer = confirm(order_stack, order_id)

    assert answer.status == 202, answer
    assert injector.injected() == {"states:SendTaskSuccess": 1}
    assert_completed_once(order_stack, order_id, execution_arn)


@pytest.mark.parametrize(
    ("tracking_number", "status"), [(TRACKING, 202), ("1Z999AA10999999999", 409)], ids=["same", "different"]
)
def test_a_repeated_confirmation_is_accepted_only_when_it_is_the_one_the_workflow_took(
    order_stack, tracking_number, status
):
    order_id, execution_arn = order_stack.submit(sample_order())
    assert order_stack.wait_for_shipment_request(order_id, execution_arn, SLOW_DEADLINE)
    assert confirm(order_stack, order_id).status == 202
    assert_completed_once(order_stack, order_id, execution_arn)

    again = confirm(order_stack, order_id, tracking_number)

    assert again.status == status, again
    assert order_stack.order(order_id)["trackingNumber"] == TRACKING


def test_a_confirmation_after_the_customer_cancelled_is_refused_and_a_repeated_cancel_accepted(order_stack):
    order_id, execution_arn = order_stack.submit(sample_order())
    assert order_stack.wait_for_shipment_request(order_id, execution_arn, SLOW_DEADLINE)
    cancel = {"reason": "changed my mind"}
    assert order_stack.call_api("POST", f"/orders/{order_id}/cancel", cancel).status == 202
    assert order_stack.wait_for_execution(execution_arn, SLOW_DEADLINE)["status"] == "FAILED"

    late = confirm(order_stack, order_id)
    repeated = order_stack.call_api("POST", f"/orders/{order_id}/cancel", cancel)

    assert late.status == 409, late
    assert repeated.status == 202, repeated
    assert order_stack.order(order_id)["status"] == OrderStatus.CANCELLED.value


# --- EventBridge under the stream publisher --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "calls"),
    [
        ("throttling", STREAM_CALLS.total_attempts),
        ("server-error", STREAM_CALLS.total_attempts),
        ("partial", 3),
    ],
)
def test_a_failed_put_events_is_retried_from_the_failed_record_and_every_event_arrives_once(
    order_stack, aws_faults, kind, calls
):
    """A partial answer refuses the order's one event three times: the publisher's own resends, then the batch."""
    injector = aws_faults({"events:PutEvents": {"kind": kind, "times": calls}})

    run = order_stack.run_order(sample_order(), shipment="SHIPPED", deadline=SLOW_DEADLINE)

    assert order_status_changes(order_stack, run.order_id) == run.timeline
    assert order_stack.dead_letters() == []
    assert injector.injected() == {"events:PutEvents": calls}
    assert order_stack.broken_invariants(run) == []


def test_events_eventbridge_keeps_refusing_go_to_the_dead_letter_queue_not_lost(order_stack, aws_faults):
    """A partial answer refuses the first of each call's entries (every one, when a record has one event): a record
    with two events gets its second published, and the first only ever into the dead-letter queue."""
    aws_faults({"events:PutEvents": {"kind": "partial"}})

    run = order_stack.run_order(sample_order(), shipment="SHIPPED", deadline=SLOW_DEADLINE)

    assert run.status == "COMPLETED", "the order does not wait for its events"
    timeline = [{"status": status, "sequence": position + 1} for position, status in enumerate(run.timeline)]
    published = [
        {"status": event["status"], "sequence": event["sequence"]} for event in order_stack.events(run.order_id)
    ]
    dead_lettered = order_stack.dead_lettered_events(run.order_id)
    assert published != timeline, "the faults held events back"
    assert all(event in timeline for event in published + dead_lettered)
    assert all(event in published or event in dead_lettered for event in timeline), (
        "every event is on the bus or in the DLQ"
    )
    dead = order_stack.dead_letters()
    assert {message["requestContext"]["condition"] for message in dead} == {"RetryAttemptsExhausted"}
    assert {message["requestContext"]["approximateInvokeCount"] for message in dead} == {1 + STREAM_RETRY_ATTEMPTS}
