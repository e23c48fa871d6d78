"""Workflow scenarios: the real ASL files on moto's Step Functions engine, with the real handlers, one test per path.

Each scenario asserts the final status, the DynamoDB timeline, the states the parent and its Express child visited,
and the ledger and stock invariants.
"""

from __future__ import annotations

import json
import time

import pytest

from local.testkit.fixtures import OrderStack, child_execution_arns, poll, sample_order, visited_states
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.errors import InvalidOrderStateError
from tasks.models.order import OrderStatus

pytestmark = pytest.mark.workflow

AUTH = LedgerEntryKind.AUTHORIZATION
CAPTURE = LedgerEntryKind.CAPTURE
VOID = LedgerEntryKind.VOID

PREPARATION = ["ValidateOrder", "AuthorizeAndReserve", "AuthorizePayment", "ReserveInventory"]
COMPENSATION = ["VoidOrRefundPayment", "ReleaseInventory", "RecordFailure", "OrderFailed"]
HAPPY_PARENT = ["PrepareOrder", "RequestShipment", "CapturePayment"]
PREPARED_CHILD = [*sorted(PREPARATION), "CheckAuthorizedAndReserved", "Prepared"]


def branches_then(*states: str) -> list[str]:
    """Parallel branches may enter in either order; compare the child's visited states as (sorted prefix, rest)."""
    return [*sorted(PREPARATION), *states]


def normalised(visited: list[str]) -> list[str]:
    return [*sorted(visited[: len(PREPARATION)]), *visited[len(PREPARATION) :]]


def child_states(run) -> list[str]:
    """The states the order's (last) Express child visited, its Parallel branches sorted."""
    assert run.preparation is not None, "the parent started its child"
    return normalised(run.preparation.visited_states)


def stock_of(stack: OrderStack, order: dict) -> dict[str, int]:
    return {item["sku"]: stack.stock(item["sku"]) for item in order["items"]}


def test_happy_path_completes_captures_once_and_keeps_the_reservation(order_stack):
    order = sample_order()
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment="SHIPPED")

    assert run.status == "COMPLETED"
    assert run.execution["status"] == "SUCCEEDED"
    assert run.timeline == ["RECEIVED", "VALIDATED", "AUTHORIZED", "AWAITING_SHIPMENT", "SHIPPED", "COMPLETED"]
    assert run.visited_states == HAPPY_PARENT, "three Standard transitions"
    assert child_states(run) == PREPARED_CHILD
    assert run.preparation.execution["status"] == "SUCCEEDED"
    assert len(run.children) == 1
    assert order_stack.ledger(run.order_id) == {AUTH, CAPTURE}
    assert run.order["totalCents"] == 8999 + 2 * 1299, "prices come from the catalog"
    assert run.order["trackingNumber"] == "1Z999AA10123456784"
    assert stock_of(order_stack, order) == {
        sku: stock_before[sku] - item["quantity"] for sku, item in zip(stock_before, order["items"], strict=True)
    }
    assert order_stack.broken_invariants(run) == []


def test_validation_failure_rejects_an_unknown_sku_without_touching_payment_or_stock(order_stack):
    order = sample_order(items=[{"sku": "NO-SUCH-SKU", "quantity": 1}])

    run = order_stack.run_order(order, shipment=None)

    assert run.status == "REJECTED"
    assert run.execution["error"] == "REJECTED"
    assert run.timeline == ["RECEIVED", "REJECTED"]
    assert run.visited_states == ["PrepareOrder", "RoutePreparationFailure", "RecordFailure", "OrderFailed"]
    assert run.preparation.visited_states == ["ValidateOrder"]
    assert run.preparation.execution["error"] == "OrderValidationError"
    assert run.order["failure"]["error"] == "OrderValidationError"
    assert "items[0].sku: unknown SKU NO-SUCH-SKU" in run.order["failure"]["cause"]
    assert order_stack.ledger(run.order_id) == set()
    assert order_stack.broken_invariants(run) == []


def test_validation_failure_names_the_field_of_a_malformed_order(order_stack):
    order = sample_order(items=[{"sku": "KB-TKL-01", "quantity": 0}])

    run = order_stack.run_order(order, shipment=None)

    assert run.status == "REJECTED"
    assert "items[0].quantity" in run.order["failure"]["cause"]
    assert order_stack.broken_invariants(run) == []


def test_payment_declined_releases_the_reserved_stock(order_stack):
    order = sample_order(paymentToken="tok_declined")
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment=None)

    assert run.status == "PAYMENT_DECLINED"
    assert run.execution["error"] == "PAYMENT_DECLINED"
    assert run.timeline == ["RECEIVED", "VALIDATED", "PAYMENT_DECLINED"]
    assert "PaymentAuthorizationFailed" in run.preparation.visited_states
    assert run.preparation.visited_states[-2:] == ["CheckAuthorizedAndReserved", "PaymentNotAuthorized"]
    assert run.visited_states == ["PrepareOrder", "RoutePreparationFailure", *COMPENSATION]
    assert run.order["failure"]["error"] == "PaymentDeclinedError"
    assert run.order["compensations"] == {"payment": "NOTHING_TO_UNDO", "inventory": "RELEASED"}
    assert order_stack.ledger(run.order_id) == set()
    assert stock_of(order_stack, order) == stock_before
    assert order_stack.broken_invariants(run) == []


def test_out_of_stock_voids_the_authorization(order_stack):
    order = sample_order(items=[{"sku": "HDST-ANC-BT", "quantity": 4}, {"sku": "KB-TKL-01", "quantity": 1}])
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment=None)

    assert run.status == "OUT_OF_STOCK"
    assert run.timeline == ["RECEIVED", "VALIDATED", "OUT_OF_STOCK"]
    assert "InventoryReservationFailed" in run.preparation.visited_states
    assert run.preparation.visited_states[-1] == "StockNotReserved"
    assert run.visited_states == ["PrepareOrder", "RoutePreparationFailure", *COMPENSATION]
    assert run.order["failure"]["error"] == "OutOfStockError"
    assert "HDST-ANC-BT" in run.order["failure"]["cause"]
    assert run.order["compensations"] == {"payment": "VOIDED", "inventory": "BLOCKED"}
    assert order_stack.ledger(run.order_id) == {AUTH, VOID}
    assert stock_of(order_stack, order) == stock_before, "all lines or none: the keyboard was not reserved either"
    assert order_stack.broken_invariants(run) == []


def test_transient_payment_recovers_after_two_retries(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_flaky"))

    assert run.status == "COMPLETED"
    assert run.failed_tasks() == ["PaymentProviderTransientError", "PaymentProviderTransientError"]
    assert run.preparation.visited_states.count("AuthorizePayment") == 1, "a retry stays inside the state"
    assert run.visited_states == HAPPY_PARENT
    assert order_stack.runner.invocations["AuthorizePayment"] == 3
    assert order_stack.ledger(run.order_id) == {AUTH, CAPTURE}
    assert order_stack.broken_invariants(run) == []


def test_retries_exhausted_fails_the_order_and_releases_stock(order_stack):
    order = sample_order(paymentToken="tok_unavailable")
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment=None)

    assert run.status == "FAILED"
    assert run.failed_tasks() == ["PaymentProviderTransientError"] * 4 + ["States.TaskFailed"], (
        "one attempt and three retries in the child, then the parent sees its child fail"
    )
    assert run.visited_states == ["PrepareOrder", "RoutePreparationFailure", *COMPENSATION]
    assert run.preparation.visited_states[-1] == "PaymentNotAuthorized"
    assert run.order["failure"]["error"] == "PaymentProviderTransientError"
    assert run.order["compensations"]["inventory"] == "RELEASED"
    assert stock_of(order_stack, order) == stock_before
    assert order_stack.broken_invariants(run) == []


def test_shipment_failed_voids_and_releases(order_stack):
    order = sample_order()
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment="FAILED")

    assert run.status == "FAILED"
    assert run.timeline == ["RECEIVED", "VALIDATED", "AUTHORIZED", "AWAITING_SHIPMENT", "FAILED"]
    assert run.visited_states == ["PrepareOrder", "RequestShipment", *COMPENSATION]
    assert run.order["failure"] == {"error": "ShipmentFailedError", "cause": "warehouse flooded"}
    assert run.order["compensations"] == {"payment": "VOIDED", "inventory": "RELEASED"}
    assert order_stack.ledger(run.order_id) == {AUTH, VOID}
    assert stock_of(order_stack, order) == stock_before
    assert order_stack.broken_invariants(run) == []


def test_cancelled_while_awaiting_shipment_compensates_and_ends_cancelled(order_stack):
    run = order_stack.run_order(sample_order(), shipment="CANCEL")

    assert run.status == "CANCELLED"
    assert run.execution["error"] == "CANCELLED"
    assert run.timeline == ["RECEIVED", "VALIDATED", "AUTHORIZED", "AWAITING_SHIPMENT", "CANCELLED"]
    assert run.visited_states == ["PrepareOrder", "RequestShipment", *COMPENSATION]
    assert run.order["compensations"] == {"payment": "VOIDED", "inventory": "RELEASED"}
    assert CAPTURE not in order_stack.ledger(run.order_id)
    assert order_stack.broken_invariants(run) == []


HANG_GUARD_SECONDS = 30.0
"""How long a wait for an execution's end may take before the test calls it hung: a guard, not what a test measures.
"At once" stays apart from what it replaces: a two-day timeout lasts 172 s at the stack's 1000x."""


SHIPMENT_TIMEOUT_SCALE = 200_000.0
"""Two days become 0.86 s and the one-day heartbeat 0.43 s: fast, for a test that never sends a heartbeat."""


HEARTBEATING_SCALE = 100_000.0
"""Two days become 1.7 s and the one-day heartbeat 0.86 s: a heartbeat every 0.1 s keeps the task alive even on a busy
CI machine, where the 0.43 s heartbeat of ``SHIPMENT_TIMEOUT_SCALE`` once ran out before the first heartbeat."""


def test_shipment_timeout_fails_the_order_after_two_days_of_heartbeats_without_a_shipment(order_stack):
    order_stack.run_order(sample_order())  # warm containers: a cold start would eat the first heartbeat's window
    order_stack.set_time_scale(HEARTBEATING_SCALE)
    order_id, execution_arn = order_stack.submit(sample_order())
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    order_stack.wait_for_the_callback_wait(execution_arn)

    def heartbeat_until_over() -> bool:
        if order_stack.stepfunctions.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            return True
        try:
            order_stack.acknowledge_shipment(order_id)
        except InvalidOrderStateError:
            return True
        time.sleep(0.1)
        return False

    poll(heartbeat_until_over, deadline=20, what="the shipment timeout to fire")
    run = order_stack.outcome(order_id, execution_arn, order_stack.wait_for_execution(execution_arn))

    assert run.status == "FAILED"
    assert run.order["failure"]["error"] == "States.Timeout"
    assert run.visited_states == ["PrepareOrder", "RequestShipment", *COMPENSATION]
    assert order_stack.ledger(run.order_id) == {AUTH, VOID}
    assert order_stack.broken_invariants(run) == []


def test_heartbeat_timeout_fails_an_order_the_warehouse_never_acknowledges(order_stack):
    order_stack.set_time_scale(SHIPMENT_TIMEOUT_SCALE)

    run = order_stack.run_order(sample_order(), shipment=None)

    assert run.status == "FAILED"
    assert run.order["failure"]["error"] == "States.HeartbeatTimeout"
    assert run.visited_states == ["PrepareOrder", "RequestShipment", *COMPENSATION]
    assert order_stack.broken_invariants(run) == []


def test_a_shipment_callback_for_an_order_that_is_not_waiting_is_refused(order_stack):
    run = order_stack.run_order(sample_order(), shipment="SHIPPED")

    with pytest.raises(InvalidOrderStateError, match="COMPLETED"):
        order_stack.confirm_shipment(run.order_id, tracking_number="1Z999AA10999999999")
    with pytest.raises(InvalidOrderStateError):
        order_stack.cancel(run.order_id)


def test_resubmitting_the_same_order_id_starts_no_second_execution(order_stack):
    order = sample_order()
    order_id, first_arn = order_stack.submit(order, order_id="order-repeat-1")
    _, second_arn = order_stack.submit(order, order_id=order_id)

    assert first_arn == second_arn
    executions = order_stack.stepfunctions.list_executions(stateMachineArn=order_stack.deployment.state_machine_arn)
    assert [e["name"] for e in executions["executions"]] == [order_id]


def test_stopping_an_execution_that_waits_for_the_warehouse_aborts_it_at_once(order_stack):
    order_id, execution_arn = order_stack.submit(sample_order())
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)

    order_stack.stepfunctions.stop_execution(executionArn=execution_arn, error="OpsStop", cause="stopped by ops")
    execution = order_stack.wait_for_execution(execution_arn, deadline=HANG_GUARD_SECONDS)

    assert execution["status"] == "ABORTED"
    assert order_stack.order(order_id)["status"] == "AWAITING_SHIPMENT", "a stop is not a cancellation"


def start_directly(order_stack: OrderStack, execution_input: object) -> tuple[dict, list[str]]:
    """Start an execution as the AWS CLI would, bypassing the API; return how it ended and the states it visited."""
    execution, history = start_directly_with_history(order_stack, execution_input)
    return execution, visited_states(history)


def start_directly_with_history(order_stack: OrderStack, execution_input: object) -> tuple[dict, list[dict]]:
    arn = order_stack.stepfunctions.start_execution(
        stateMachineArn=order_stack.deployment.state_machine_arn, input=json.dumps(execution_input)
    )["executionArn"]
    execution = order_stack.wait_for_execution(arn, deadline=HANG_GUARD_SECONDS)
    return execution, order_stack.history(arn)


def task_attempts(order_stack: OrderStack, history: list[dict]) -> dict[str, int]:
    """How many times each kind of task was scheduled, and how many Task states were entered, in the execution and
    its child executions: a retry schedules a task again without entering its state again."""
    events = [*history, *(event for arn in child_execution_arns(history) for event in order_stack.history(arn))]
    return {
        "entered": sum(event["type"] == "TaskStateEntered" for event in events),
        "scheduled": sum(event["type"] in ("TaskScheduled", "LambdaFunctionScheduled") for event in events),
    }


@pytest.mark.parametrize(
    ("execution_input", "problem"),
    [
        ({}, "execution.orderId: Field required"),
        ({"orderId": 42, "items": "many"}, "execution.orderId: Input should be a valid string"),
        ({"orderId": "not an id"}, "execution.orderId: String should match pattern"),
    ],
    ids=["empty", "wrong-types", "unusable-order-id"],
)
def test_an_execution_without_a_usable_order_id_is_no_order_and_fails_at_once(order_stack, execution_input, problem):
    execution, history = start_directly_with_history(order_stack, execution_input)
    visited = visited_states(history)
    attempts = task_attempts(order_stack, history)

    assert attempts["scheduled"] == attempts["entered"], "nothing is retried: the input will not change"
    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidExecutionInput"
    assert execution["cause"].startswith(f"The execution input is not an order ({problem}")
    assert "Traceback" not in execution["cause"] and "Error(" not in execution["cause"]
    assert visited == ["PrepareOrder", "RoutePreparationFailure", "RecordFailure", "ExplainNotAnOrder", "NotAnOrder"]
    assert order_stack.order(str(execution_input.get("orderId"))) is None, "no order is recorded for it"


def test_an_execution_whose_input_is_not_an_object_fails_naming_the_path_it_could_not_apply(order_stack):
    execution, visited = start_directly(order_stack, "hello")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.ResultPathMatchFailure"
    assert execution["cause"] == (
        "Unable to apply ResultPath $.error to the input of state 'PrepareOrder': "
        'the path must lead through JSON objects, and the input is "hello"'
    )
    assert visited == ["PrepareOrder"]
