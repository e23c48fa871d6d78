"""The graph model: the deployed ASL as nodes and edges, and real execution histories as each state's outcome.

Histories come from real runs on moto's engine (the ``order_stack`` fixture), not from hand-written event lists.
"""

from __future__ import annotations

import pytest

from local.console.graph import END, START, StateStatus, catch_label, trace_execution, workflow_graph
from local.testing import OrderStack, sample_order
from tasks.models.order import OrderStatus

pytestmark = pytest.mark.workflow

COMPENSATION_CHAIN = ["VoidOrRefundPayment", "ReleaseInventory", "RecordFailure", "RecordFailureDirectly"]


def deployed_graph(stack: OrderStack):
    """The definition as Step Functions holds it: what the console reads, in AWS as locally."""
    arn = stack.deployment.state_machine_arn
    return workflow_graph(stack.stepfunctions.describe_state_machine(stateMachineArn=arn)["definition"])


def statuses(run) -> dict[str, str]:
    trace = trace_execution(run.history, run.execution["status"])
    return {name: state.status.value for name, state in trace.runs.items()}


def test_parallel_branches_are_scopes_of_their_own(order_stack):
    graph = deployed_graph(order_stack)
    branches = graph.branches_of("AuthorizeAndReserve")
    assert [branch.start for branch in branches] == ["AuthorizePayment", "ReserveInventory"]
    assert branches[0].states == ("AuthorizePayment", "PaymentAuthorizationFailed")
    assert graph.nodes["ReserveInventory"].scope == "AuthorizeAndReserve/1"
    assert ("AuthorizePayment", "PaymentAuthorizationFailed", "catch") in graph.edge_set()
    assert ("ReserveInventory", "InventoryReservationFailed", "catch") in graph.edge_set()
    assert not any(edge.target == END for edge in graph.edges if graph.nodes[edge.source].scope), (
        "a branch's last state ends its branch, not the execution"
    )


def test_catch_choice_and_default_edges(order_stack):
    edges = deployed_graph(order_stack).edge_set()
    assert {
        (START, "ValidateOrder", "start"),
        ("ValidateOrder", "AuthorizeAndReserve", "next"),
        ("ValidateOrder", "MarkRejected", "catch"),
        ("ValidateOrder", "MarkFailed", "catch"),
        ("AuthorizeAndReserve", "MarkFailed", "catch"),
        ("CheckAuthorizedAndReserved", "MarkPaymentDeclined", "choice"),
        ("CheckAuthorizedAndReserved", "MarkOutOfStock", "choice"),
        ("CheckAuthorizedAndReserved", "RequestShipment", "default"),
        ("RequestShipment", "MarkCancelled", "catch"),
        ("RequestShipment", "MarkShipmentTimedOut", "catch"),
        ("CapturePayment", END, "end"),
    } <= edges
    labels = {(e.source, e.target): e.label for e in deployed_graph(order_stack).edges}
    assert labels[("RequestShipment", "MarkShipmentTimedOut")] == "Timeout, HeartbeatTimeout"
    assert labels[("CheckAuthorizedAndReserved", "MarkPaymentDeclined")] == "payment.error = PaymentDeclinedError"
    assert catch_label(["States.ALL"]) == "any error"


def test_the_compensation_chain_and_the_callback_wait_are_marked(order_stack):
    graph = deployed_graph(order_stack)
    assert [name for name, node in graph.nodes.items() if node.compensation] == COMPENSATION_CHAIN
    assert [name for name, node in graph.nodes.items() if node.callback] == ["RequestShipment"]
    assert graph.nodes["RequestShipment"].kind_text == "Task · waits for callback"
    compensation_edges = {(e.source, e.target) for e in graph.edges if e.failure_path}
    assert {
        ("MarkPaymentDeclined", "VoidOrRefundPayment"),
        ("VoidOrRefundPayment", "ReleaseInventory"),
        ("ReleaseInventory", "RecordFailure"),
        ("RecordFailure", "OrderFailed"),
    } <= compensation_edges
    assert not graph.nodes["CapturePayment"].failure_path
    assert not graph.nodes["PaymentAuthorizationFailed"].failure_path, "a branch's catch handler is not doomed"


def test_a_declined_payment_is_caught_in_its_branch_and_compensated(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    assert run.status == OrderStatus.PAYMENT_DECLINED
    trace = trace_execution(run.history, run.execution["status"])
    assert statuses(run) == {
        "ValidateOrder": "succeeded",
        "AuthorizeAndReserve": "succeeded",
        "AuthorizePayment": "caught",
        "PaymentAuthorizationFailed": "succeeded",
        "ReserveInventory": "succeeded",
        "CheckAuthorizedAndReserved": "succeeded",
        "MarkPaymentDeclined": "succeeded",
        "VoidOrRefundPayment": "succeeded",
        "ReleaseInventory": "succeeded",
        "RecordFailure": "succeeded",
        "OrderFailed": "failed",
    }
    assert trace.runs["AuthorizePayment"].error == "PaymentDeclinedError"
    assert trace.status_of("RequestShipment") is StateStatus.NOT_RUN
    assert {
        ("AuthorizeAndReserve", "AuthorizePayment"),
        ("AuthorizePayment", "PaymentAuthorizationFailed"),
        ("CheckAuthorizedAndReserved", "MarkPaymentDeclined"),
        ("VoidOrRefundPayment", "ReleaseInventory"),
        ("RecordFailure", "OrderFailed"),
    } <= trace.taken
    assert ("CheckAuthorizedAndReserved", "RequestShipment") not in trace.taken


def test_transient_failures_then_success_count_as_retries(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_flaky"), shipment="SHIPPED")
    trace = trace_execution(run.history, run.execution["status"])
    authorize = trace.runs["AuthorizePayment"]
    assert (authorize.status, authorize.retries, authorize.attempts) == (StateStatus.RETRIED, 2, 3)
    assert trace.status_of("CapturePayment") is StateStatus.SUCCEEDED
    assert ("CapturePayment", END) in trace.taken


def test_retries_exhausted_inside_a_branch_are_caught_with_their_count(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_unavailable"), shipment=None)
    authorize = trace_execution(run.history, run.execution["status"]).runs["AuthorizePayment"]
    assert authorize.status is StateStatus.CAUGHT
    assert authorize.retries == 3 and authorize.attempts == 4, "MaxAttempts 3: one try and three retries"
    assert authorize.error == "PaymentProviderTransientError"


def test_a_waiting_callback_is_running_and_aborted_once_the_execution_is_stopped(order_stack):
    order_id, execution_arn = order_stack.submit(sample_order())
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    history = order_stack.history(execution_arn)
    running = trace_execution(history, "RUNNING")
    assert running.status_of("RequestShipment") is StateStatus.RUNNING
    assert running.status_of("CapturePayment") is StateStatus.NOT_RUN
    assert trace_execution(history, "ABORTED").status_of("RequestShipment") is StateStatus.ABORTED


def test_a_failed_task_that_no_catch_takes_fails():
    history = [
        {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": "t0"},
        {
            "id": 2,
            "previousEventId": 1,
            "type": "TaskStateEntered",
            "timestamp": "t1",
            "stateEnteredEventDetails": {"name": "Charge", "input": "{}"},
        },
        {"id": 3, "previousEventId": 2, "type": "TaskScheduled", "timestamp": "t1"},
        {
            "id": 4,
            "previousEventId": 3,
            "type": "TaskFailed",
            "timestamp": "t2",
            "taskFailedEventDetails": {"error": "Boom", "cause": "it broke"},
        },
        {
            "id": 5,
            "previousEventId": 4,
            "type": "ExecutionFailed",
            "timestamp": "t2",
            "executionFailedEventDetails": {"error": "Boom", "cause": "it broke"},
        },
    ]
    charge = trace_execution(history, "FAILED").runs["Charge"]
    assert (charge.status, charge.error, charge.cause) == (StateStatus.FAILED, "Boom", "it broke")
