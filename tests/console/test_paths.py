"""Which edge each hand-over of an execution followed: the Choice rule that matched, the Catch that took the error.

The order workflow's histories come from real runs on moto's engine (``order_stack``); so does a small machine with a
loop, a Parallel state with a Choice in a branch and a Catch. Where the history cannot tell (a JSONata condition, a
log without execution data), the candidates are ``possible``, never taken.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from local.aws.stepfunctions.execution_logs import execution_status
from local.provisioning import LOCAL_ROLE_ARN
from local.testkit.fixtures import poll, sample_order
from tasks.models.order import OrderStatus
from tools.console.graph import (
    END,
    START,
    EdgeKind,
    ExecutionTrace,
    Transition,
    nested_state_machines,
    nested_trace,
    trace_execution,
    workflow_graph,
)
from tools.console.paths import DEFAULT_RULE, matched_catcher, matched_rule, path_taken, rule_holds

PREPARATION = "PrepareOrder"
CHECK = f"{PREPARATION}/CheckAuthorizedAndReserved"


def deployed_graph(stack):
    describe = stack.stepfunctions.describe_state_machine
    parent = describe(stateMachineArn=stack.deployment.state_machine_arn)["definition"]
    children = {
        task: describe(stateMachineArn=arn)["definition"] for task, arn in nested_state_machines(parent).items()
    }
    return workflow_graph(parent, children)


def drawn(run, strip: tuple[str, ...] = ()) -> ExecutionTrace:
    """The trace the console draws for a run; ``strip`` drops those fields from every state's entry and exit, as a
    log written without execution data has none."""

    def stripped(history):
        return [
            {
                **event,
                **{
                    key: {name: value for name, value in details.items() if name not in strip}
                    for key, details in event.items()
                    if key in ("stateEnteredEventDetails", "stateExitedEventDetails")
                },
            }
            for event in history
        ]

    child = stripped(run.preparation.history)
    parent = trace_execution(stripped(run.history), run.execution["status"])
    return nested_trace(parent, {PREPARATION: trace_execution(child, execution_status(child))})


def out_of(edges, source: str) -> list[tuple[str, str, tuple[int, ...]]]:
    return sorted((edge.target, edge.kind.value, edge.rules) for edge in edges if edge.source == source)


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("order", "status", "route", "check"),
    [
        (
            sample_order(paymentToken="tok_declined"),
            OrderStatus.PAYMENT_DECLINED,
            ("VoidOrRefundPayment", "choice", (1,)),
            ("PrepareOrder/PaymentNotAuthorized", "choice", (0,)),
        ),
        (
            sample_order(items=[{"sku": "HDST-ANC-BT", "quantity": 5}]),
            OrderStatus.OUT_OF_STOCK,
            ("VoidOrRefundPayment", "choice", (2,)),
            ("PrepareOrder/StockNotReserved", "choice", (1,)),
        ),
        (
            sample_order(items=[{"sku": "NOPE-1", "quantity": 1}]),
            OrderStatus.REJECTED,
            ("RecordFailure", "choice", (0,)),
            None,
        ),
    ],
    ids=["declined", "out-of-stock", "rejected"],
)
def test_only_the_choice_rule_that_matched_is_taken(order_stack, order, status, route, check):
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(order, shipment=None)
    assert run.status == status

    path = path_taken(graph, drawn(run))

    assert out_of(path.taken, "RoutePreparationFailure") == [route]
    assert out_of(path.taken, CHECK) == ([check] if check else [])
    assert path.possible == set(), "the history tells every rule apart"
    assert out_of(path.taken, PREPARATION) == [("RoutePreparationFailure", "catch", (0,))]
    assert path.catchers == {edge: {0} for edge in path.taken if edge.kind is EdgeKind.CATCH and edge.rules == (0,)}


@pytest.mark.workflow
def test_a_compensation_that_succeeded_took_its_next_not_its_catch(order_stack):
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    path = path_taken(graph, drawn(run))

    assert out_of(path.taken, "VoidOrRefundPayment") == [("ReleaseInventory", "next", ())]
    assert out_of(path.taken, "ReleaseInventory") == [("RecordFailure", "next", ())]
    assert out_of(path.taken, "RecordFailure") == [("OrderFailed", "next", ())]


@pytest.mark.workflow
@pytest.mark.parametrize(("shipment", "catcher"), [("CANCEL", 0), ("FAILED", 1)])
def test_the_catcher_that_took_the_error_is_named_on_the_one_catch_edge(order_stack, shipment, catcher):
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(sample_order(), shipment=shipment)

    path = path_taken(graph, drawn(run))

    (edge,) = [edge for edge in path.taken if edge.source == "RequestShipment"]
    assert (edge.target, edge.kind, edge.rules) == ("VoidOrRefundPayment", EdgeKind.CATCH, (0, 1, 2, 3))
    assert path.catchers[edge] == {catcher}
    assert out_of(path.taken, CHECK) == [("PrepareOrder/Prepared", "default", ())]


@pytest.mark.workflow
def test_a_completed_order_takes_the_default_and_the_end(order_stack):
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(sample_order(), shipment="SHIPPED")

    path = path_taken(graph, drawn(run))

    assert out_of(path.taken, CHECK) == [("PrepareOrder/Prepared", "default", ())]
    assert out_of(path.taken, "CapturePayment") == [(END, "end", ())]
    assert out_of(path.taken, START) == [(PREPARATION, "start", ())]
    assert not any(edge.kind is EdgeKind.CATCH for edge in path.taken)


@pytest.mark.workflow
def test_without_execution_data_the_assignments_still_tell_the_rules_apart(order_stack):
    """A log group written without execution data has no inputs: the Choice's own assignments still name the rule
    of RoutePreparationFailure, and the child's Choice, which assigns nothing, is left undecided between its two
    rules to PaymentNotAuthorized."""
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    path = path_taken(graph, drawn(run, strip=("input", "output")))

    assert out_of(path.taken, "RoutePreparationFailure") == [("VoidOrRefundPayment", "choice", (1,))]
    assert out_of(path.taken, CHECK) == []
    assert out_of(path.possible, CHECK) == [
        ("PrepareOrder/PaymentNotAuthorized", "choice", (0,)),
        ("PrepareOrder/PaymentNotAuthorized", "choice", (2,)),
    ]


LOOP = {
    "StartAt": "Bump",
    "States": {
        "Bump": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Enough?"},
        "Enough?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.n", "NumericLessThan": 2, "Next": "Bump"},
                {"Variable": "$.n", "NumericEquals": 2, "Next": "Split"},
            ],
            "Default": "Split",
        },
        "Split": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Inner?",
                    "States": {
                        "Inner?": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.n", "IsNumeric": True, "Next": "Yes"}],
                            "Default": "Yes",
                        },
                        "Yes": {"Type": "Pass", "End": True},
                    },
                },
                {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Nope", "Cause": "on purpose"}}},
            ],
            "Catch": [
                {"ErrorEquals": ["Other"], "Next": "Done"},
                {"ErrorEquals": ["States.ALL"], "Next": "Done"},
            ],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}
"""A loop that visits ``Enough?`` twice (rule 0, then rule 1, whose Next is also the Default's), a Parallel state
with a Choice in one branch and a failing branch, caught by a Catch whose target is also the Parallel's Next."""


def run_on_the_engine(stack, definition: dict[str, Any], execution_input: dict[str, Any]) -> list[dict[str, Any]]:
    sfn = stack.stepfunctions
    machine = sfn.create_state_machine(
        name=f"console-paths-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))["executionArn"]
    poll(
        lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING",
        deadline=20,
        what="the execution to end",
    )
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


@pytest.mark.workflow
def test_a_loop_takes_each_rule_it_matched_and_a_branch_and_a_catch_take_theirs(order_stack):
    history = run_on_the_engine(order_stack, LOOP, {"n": 0})
    graph = workflow_graph(LOOP)

    path = path_taken(graph, trace_execution(history, "SUCCEEDED"))

    assert out_of(path.taken, "Enough?") == [("Bump", "choice", (0,)), ("Split", "choice", (1,))]
    assert out_of(path.taken, "Inner?") == [("Yes", "choice", (0,))]
    assert out_of(path.taken, "Split") == [("Done", "catch", (0, 1))], "it failed, so not its Next"
    assert out_of(path.taken, "Done") == [(END, "end", ())]
    assert path.possible == set()
    assert path.catchers == {}, "a failed Parallel state's event names no error, so no Catcher is named"


def hand_over(source: str, target: str, **known: Any) -> ExecutionTrace:
    return ExecutionTrace({}, {(source, target)}, {}, [Transition(source, target, **known)])


JSONATA_CHOICE = {
    "StartAt": "Route",
    "QueryLanguage": "JSONata",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Condition": "{% $states.input.a %}", "Next": "Done"},
                {"Condition": "{% $states.input.b %}", "Next": "Done"},
            ],
            "Default": "Other",
        },
        "Done": {"Type": "Succeed"},
        "Other": {"Type": "Succeed"},
    },
}


def test_rules_the_history_cannot_tell_apart_are_possible_not_taken():
    graph = workflow_graph(JSONATA_CHOICE)

    path = path_taken(graph, hand_over("Route", "Done", input='{"a": true, "b": true}'))

    assert path.taken == set()
    assert out_of(path.possible, "Route") == [("Done", "choice", (0,)), ("Done", "choice", (1,))]


def test_a_lone_edge_to_the_state_entered_next_is_taken_whatever_the_history_lacks():
    graph = workflow_graph(JSONATA_CHOICE)

    path = path_taken(graph, hand_over("Route", "Other"))

    assert out_of(path.taken, "Route") == [("Other", "default", ())]


def test_a_rule_whose_next_disagrees_with_the_history_is_not_believed():
    state = LOOP["States"]["Enough?"]
    assert matched_rule(state, Transition("Enough?", "Split", input='{"n": 2}')) == 1
    assert matched_rule(state, Transition("Enough?", "Split", input='{"n": 7}')) == DEFAULT_RULE
    assert matched_rule(state, Transition("Enough?", "Bump", input='{"n": 7}')) is None
    assert matched_rule(state, Transition("Enough?", "Split")) is None, "no input, no answer"


def test_a_catch_with_its_source_failed_is_taken_over_a_next_to_the_same_state():
    asl = {
        "StartAt": "Charge",
        "States": {
            "Charge": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Catch": [{"ErrorEquals": ["Declined"], "Next": "Undo"}],
                "Next": "Undo",
            },
            "Undo": {"Type": "Succeed"},
        },
    }
    graph = workflow_graph(asl)

    failed = path_taken(graph, hand_over("Charge", "Undo", caught=True, error="Declined"))
    succeeded = path_taken(graph, hand_over("Charge", "Undo"))

    assert out_of(failed.taken, "Charge") == [("Undo", "catch", (0,))]
    assert out_of(succeeded.taken, "Charge") == [("Undo", "next", ())]


CATCHERS = [
    {"ErrorEquals": ["Busy", "Gone"]},
    {"ErrorEquals": ["States.TaskFailed"]},
    {"ErrorEquals": ["States.Timeout"]},
    {"ErrorEquals": ["States.ALL"]},
]


@pytest.mark.parametrize(
    ("error", "catcher"),
    [("Gone", 0), ("Declined", 1), ("States.TaskFailed", 1), ("States.Timeout", None), (None, None)],
)
def test_the_first_catcher_whose_errors_take_the_error_matched(error, catcher):
    assert matched_catcher(CATCHERS, error) == catcher
    assert matched_catcher(CATCHERS[2:], "States.Timeout") == 0
    assert matched_catcher(CATCHERS[3:], "States.Timeout") == 0


DATA = {"n": 3, "s": "log-2026.txt", "b": True, "t": "2026-12-06T10:00:00Z", "nothing": None, "list": [{"x": 1}]}


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        ({"Variable": "$.n", "NumericGreaterThanEquals": 3}, True),
        ({"Variable": "$.n", "NumericLessThan": 3}, False),
        ({"Variable": "$.s", "NumericEquals": 3}, False),
        ({"Variable": "$.s", "StringMatches": "log-*.txt"}, True),
        ({"Variable": "$.s", "StringGreaterThan": "log-2025"}, True),
        ({"Variable": "$.b", "BooleanEquals": False}, False),
        ({"Variable": "$.t", "TimestampLessThan": "2026-12-07T00:00:00+00:00"}, True),
        ({"Variable": "$.nothing", "IsNull": True}, True),
        ({"Variable": "$.missing", "IsPresent": False}, True),
        ({"Variable": "$.missing", "StringEquals": "x"}, False),
        ({"Variable": "$.list[0].x", "NumericEqualsPath": "$.list[0]['x']"}, True),
        ({"Not": {"Variable": "$.b", "BooleanEquals": True}}, False),
        (
            {"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$$.Execution.Name", "StringEquals": "x"}]},
            None,
        ),
        (
            {"And": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$$.Execution.Name", "StringEquals": "x"}]},
            False,
        ),
        ({"Variable": "$counter", "NumericEquals": 2}, True),
        ({"Variable": "$unseen", "NumericEquals": 2}, None),
        ({"Variable": "$..n", "NumericEquals": 3}, None),
        ({"Condition": "{% $states.input.n = 3 %}"}, None),
    ],
)
def test_a_rule_holds_as_step_functions_evaluates_it_or_is_unknown(rule, holds):
    assert rule_holds(rule, DATA, {"counter": 2}) is holds
