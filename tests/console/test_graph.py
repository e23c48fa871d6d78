"""The graph model: the deployed ASL as nodes and edges, and real execution histories as each state's outcome.

The order workflow's first state, PrepareOrder, runs the Express child order-preparation; the graph holds the child's
states inside it, keyed ``PrepareOrder/<state>``, and colors them from the child execution's own history. Histories
come from real runs on moto's engine (the ``order_stack`` fixture), not from hand-written event lists.
"""

from __future__ import annotations

import pytest

from local.aws.stepfunctions.execution_logs import execution_status
from local.testkit.fixtures import OrderStack, sample_order
from tasks.models.order import OrderStatus
from tools.console.graph import (
    END,
    START,
    EdgeKind,
    StateStatus,
    catch_label,
    child_scope_id,
    nested_state_machines,
    nested_trace,
    trace_execution,
    workflow_graph,
)

pytestmark = pytest.mark.workflow

COMPENSATION_CHAIN = ["VoidOrRefundPayment", "ReleaseInventory", "RecordFailure", "RecordFailureDirectly"]
PREPARATION = "PrepareOrder"


def child(state: str) -> str:
    return f"{PREPARATION}/{state}"


def deployed_graph(stack: OrderStack):
    """The definitions as Step Functions holds them, the parent's and its child's: what the console reads."""
    describe = stack.stepfunctions.describe_state_machine
    parent = describe(stateMachineArn=stack.deployment.state_machine_arn)["definition"]
    machines = nested_state_machines(parent)
    children = {task: describe(stateMachineArn=arn)["definition"] for task, arn in machines.items()}
    return workflow_graph(parent, children)


def trace_of(run):
    """The parent's trace with its last child's states, as the console draws one order."""
    parent = trace_execution(run.history, run.execution["status"])
    preparation = run.preparation
    return nested_trace(
        parent, {PREPARATION: trace_execution(preparation.history, execution_status(preparation.history))}
    )


def statuses(run) -> dict[str, str]:
    return {name: state.status.value for name, state in trace_of(run).runs.items()}


def test_the_child_machine_is_a_scope_inside_the_task_that_runs_it(order_stack):
    graph = deployed_graph(order_stack)
    assert nested_state_machines(
        order_stack.stepfunctions.describe_state_machine(stateMachineArn=order_stack.deployment.state_machine_arn)[
            "definition"
        ]
    ) == {PREPARATION: order_stack.deployment.preparation_state_machine_arn}
    (flow,) = graph.branches_of(PREPARATION)
    assert flow.id == child_scope_id(PREPARATION) and flow.start == child("ValidateOrder")
    assert graph.is_container(PREPARATION) and graph.nodes[PREPARATION].runs == "order-preparation"
    validate = graph.nodes[child("ValidateOrder")]
    assert (validate.display_name, validate.execution_of, validate.scope) == ("ValidateOrder", PREPARATION, flow.id)
    assert ("ValidateOrder" not in graph.nodes) and ("AuthorizePayment" not in graph.nodes), "no state is drawn twice"
    crossing = [e for e in graph.edges if graph.nodes[e.source].execution_of != graph.nodes[e.target].execution_of]
    assert crossing == [], "the child's states are joined to each other only: the task holds them"


def test_parallel_branches_inside_the_child_are_scopes_of_their_own(order_stack):
    graph = deployed_graph(order_stack)
    branches = graph.branches_of(child("AuthorizeAndReserve"))
    assert [branch.start for branch in branches] == [child("AuthorizePayment"), child("ReserveInventory")]
    assert branches[0].states == (child("AuthorizePayment"), child("PaymentAuthorizationFailed"))
    assert graph.nodes[child("ReserveInventory")].scope == child("AuthorizeAndReserve/1")
    assert (child("AuthorizePayment"), child("PaymentAuthorizationFailed"), "catch") in graph.edge_set()
    assert (child("ReserveInventory"), child("InventoryReservationFailed"), "catch") in graph.edge_set()
    assert not any(edge.target == END for edge in graph.edges if graph.nodes[edge.source].scope), (
        "a branch's last state ends its branch, and the child's its own execution, not the parent's"
    )


def test_catch_choice_and_default_edges(order_stack):
    graph = deployed_graph(order_stack)
    assert {
        (START, PREPARATION, "start"),
        (PREPARATION, "RequestShipment", "next"),
        (PREPARATION, "RoutePreparationFailure", "catch"),
        (PREPARATION, "VoidOrRefundPayment", "catch"),
        ("RoutePreparationFailure", "RecordFailure", "choice"),
        ("RoutePreparationFailure", "VoidOrRefundPayment", "default"),
        ("RequestShipment", "VoidOrRefundPayment", "catch"),
        ("CapturePayment", END, "end"),
        (child("ValidateOrder"), child("AuthorizeAndReserve"), "next"),
        (child("CheckAuthorizedAndReserved"), child("PaymentNotAuthorized"), "choice"),
        (child("CheckAuthorizedAndReserved"), child("StockNotReserved"), "choice"),
        (child("CheckAuthorizedAndReserved"), child("Prepared"), "default"),
    } <= graph.edge_set()
    labels = {(e.source, e.target, e.label) for e in graph.edges}
    assert {
        (PREPARATION, "RoutePreparationFailure", "TaskFailed"),
        ("RoutePreparationFailure", "RecordFailure", "preparationFailure.Error = OrderValidationError"),
        (child("CheckAuthorizedAndReserved"), child("PaymentNotAuthorized"), "payment.error = PaymentDeclinedError"),
    } <= labels
    assert catch_label(["States.ALL"]) == "any error"


def test_the_catchers_of_one_state_that_go_to_the_same_state_are_one_edge_with_a_line_each(order_stack):
    graph = deployed_graph(order_stack)
    (shipment,) = [e for e in graph.edges if e.source == "RequestShipment" and e.kind is EdgeKind.CATCH]
    assert shipment.target == "VoidOrRefundPayment" and shipment.rules == (0, 1, 2, 3)
    assert shipment.label.split("\n") == [
        "OrderCancelledError",
        "ShipmentFailedError",
        "Timeout, HeartbeatTimeout",
        "any error",
    ]
    preparation = sorted((e.target, e.rules) for e in graph.edges if e.source == PREPARATION and e.kind == "catch")
    assert preparation == [("RoutePreparationFailure", (0,)), ("VoidOrRefundPayment", (1,))], "apart: two targets"
    choices = [e.rules for e in graph.edges if e.source == "RoutePreparationFailure" and e.kind is EdgeKind.CHOICE]
    assert choices == [(0,), (1,), (2,), (3,)], "each Choice rule stays an edge of its own"


def test_the_compensation_chain_and_the_callback_wait_are_marked(order_stack):
    graph = deployed_graph(order_stack)
    assert [name for name, node in graph.nodes.items() if node.compensation] == COMPENSATION_CHAIN
    assert [name for name, node in graph.nodes.items() if node.callback] == ["RequestShipment"]
    assert graph.nodes["RequestShipment"].kind_text == "Task · waits for callback"
    compensation_edges = {(e.source, e.target) for e in graph.edges if e.failure_path}
    assert {
        ("RoutePreparationFailure", "VoidOrRefundPayment"),
        ("VoidOrRefundPayment", "ReleaseInventory"),
        ("ReleaseInventory", "RecordFailure"),
        ("RecordFailure", "OrderFailed"),
    } <= compensation_edges
    assert not graph.nodes["CapturePayment"].failure_path
    assert not graph.nodes[PREPARATION].failure_path, "the child's Fail states are the child's, not the order's"
    assert not graph.nodes[child("PaymentAuthorizationFailed")].failure_path, "a branch's catch handler is not doomed"


def test_a_task_without_a_child_machine_cannot_hold_one():
    asl = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}}
    with pytest.raises(ValueError, match="no task of the definition starts a state machine as 'A'"):
        workflow_graph(asl, {"A": asl})
    dynamic = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "End": True}
    dynamic["Parameters"] = {"StateMachineArn.$": "$.machine"}
    assert nested_state_machines({"StartAt": "A", "States": {"A": dynamic}}) == {}, "no one machine to draw"


def test_a_declined_payment_is_caught_in_its_branch_of_the_child_and_compensated_by_the_parent(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    assert run.status == OrderStatus.PAYMENT_DECLINED
    trace = trace_of(run)
    assert statuses(run) == {
        PREPARATION: "caught",
        child("ValidateOrder"): "succeeded",
        child("AuthorizeAndReserve"): "succeeded",
        child("AuthorizePayment"): "caught",
        child("PaymentAuthorizationFailed"): "succeeded",
        child("ReserveInventory"): "succeeded",
        child("CheckAuthorizedAndReserved"): "succeeded",
        child("PaymentNotAuthorized"): "failed",
        "RoutePreparationFailure": "succeeded",
        "VoidOrRefundPayment": "succeeded",
        "ReleaseInventory": "succeeded",
        "RecordFailure": "succeeded",
        "OrderFailed": "failed",
    }
    assert trace.runs[child("AuthorizePayment")].error == "PaymentDeclinedError"
    assert trace.status_of("RequestShipment") is StateStatus.NOT_RUN
    assert trace.status_of(child("Prepared")) is StateStatus.NOT_RUN
    assert {
        (PREPARATION, child("ValidateOrder")),
        (child("AuthorizeAndReserve"), child("AuthorizePayment")),
        (child("AuthorizePayment"), child("PaymentAuthorizationFailed")),
        (child("CheckAuthorizedAndReserved"), child("PaymentNotAuthorized")),
        (PREPARATION, "RoutePreparationFailure"),
        ("VoidOrRefundPayment", "ReleaseInventory"),
        ("RecordFailure", "OrderFailed"),
    } <= trace.taken
    assert (child("CheckAuthorizedAndReserved"), child("Prepared")) not in trace.taken
    assert not any(END in edge for edge in trace.taken), "the child's end is not the order's"


def test_a_completed_order_colors_every_state_of_the_child_it_ran(order_stack):
    run = order_stack.run_order(sample_order(), shipment="SHIPPED")
    assert run.status == OrderStatus.COMPLETED, run.failed_tasks()
    ran = {name for name, status in statuses(run).items() if status == "succeeded"}
    assert {
        PREPARATION,
        child("ValidateOrder"),
        child("AuthorizeAndReserve"),
        child("AuthorizePayment"),
        child("ReserveInventory"),
        child("CheckAuthorizedAndReserved"),
        child("Prepared"),
        "RequestShipment",
        "CapturePayment",
    } == ran
    assert (child("CheckAuthorizedAndReserved"), child("Prepared")) in trace_of(run).taken


def test_transient_failures_then_success_count_as_retries(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_flaky"), shipment="SHIPPED")
    trace = trace_of(run)
    authorize = trace.runs[child("AuthorizePayment")]
    assert (authorize.status, authorize.retries, authorize.attempts) == (StateStatus.RETRIED, 2, 3)
    assert trace.status_of("CapturePayment") is StateStatus.SUCCEEDED
    assert ("CapturePayment", END) in trace.taken


def test_retries_exhausted_inside_a_branch_are_caught_with_their_count(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_unavailable"), shipment=None)
    authorize = trace_of(run).runs[child("AuthorizePayment")]
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
