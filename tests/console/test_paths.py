"""Which edge each hand-over of an execution followed, read from the history: the Choice rule its Next and the
variables it assigned name, the Catch that took the error.

The order workflow's histories come from real runs on moto's engine (``order_stack``); so does a small machine with a
loop, a Parallel state with a Choice in a branch and a Catch. No condition is evaluated: where the Next and the
assignments leave several rules (rules with one Next and no telling ``Assign``, a log without execution data), they
are ``possible``, never taken.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
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
from tools.console.paths import matched_catcher, path_taken

PREPARATION = "PrepareOrder"
CHECK = f"{PREPARATION}/CheckAuthorizedAndReserved"
WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
EXECUTION_DATA = ("input", "output", "assignedVariables", "assignedVariablesDetails")
"""What a log written without execution data leaves out of a state's entry and exit."""


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
            [
                ("PrepareOrder/PaymentNotAuthorized", "choice", (0,)),
                ("PrepareOrder/PaymentNotAuthorized", "choice", (2,)),
            ],
        ),
        (
            sample_order(items=[{"sku": "HDST-ANC-BT", "quantity": 5}]),
            OrderStatus.OUT_OF_STOCK,
            ("VoidOrRefundPayment", "choice", (2,)),
            [("PrepareOrder/StockNotReserved", "choice", (1,)), ("PrepareOrder/StockNotReserved", "choice", (3,))],
        ),
        (
            sample_order(items=[{"sku": "NOPE-1", "quantity": 1}]),
            OrderStatus.REJECTED,
            ("RecordFailure", "choice", (0,)),
            [],
        ),
    ],
    ids=["declined", "out-of-stock", "rejected"],
)
def test_the_rule_its_next_and_assignments_name_is_taken_and_rules_they_leave_are_possible(
    order_stack, order, status, route, check
):
    """RoutePreparationFailure's three rules to VoidOrRefundPayment assign each its own ``failureStatus``: the exit's
    assignments leave one. CheckAuthorizedAndReserved's two rules to each state assign nothing: both stay possible."""
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(order, shipment=None)
    assert run.status == status

    path = path_taken(graph, drawn(run))

    assert out_of(path.taken, "RoutePreparationFailure") == [route]
    assert out_of(path.possible, "RoutePreparationFailure") == []
    assert out_of(path.taken, CHECK) == []
    assert out_of(path.possible, CHECK) == check
    assert {edge.source for edge in path.possible} <= {CHECK}
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
def test_without_execution_data_the_rules_to_the_state_entered_are_possible(order_stack):
    """A log written without execution data records no assignments either: of RoutePreparationFailure, the three
    rules and the Default to VoidOrRefundPayment are possible, the rule to RecordFailure is neither."""
    graph = deployed_graph(order_stack)
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    path = path_taken(graph, drawn(run, strip=EXECUTION_DATA))

    assert out_of(path.taken, "RoutePreparationFailure") == []
    assert out_of(path.possible, "RoutePreparationFailure") == [
        ("VoidOrRefundPayment", "choice", (1,)),
        ("VoidOrRefundPayment", "choice", (2,)),
        ("VoidOrRefundPayment", "choice", (3,)),
        ("VoidOrRefundPayment", "default", ()),
    ]
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
                {
                    "And": [{"Variable": "$.n", "IsNumeric": True}, {"Variable": "$.n", "NumericEquals": 2}],
                    "Assign": {"via": "equals"},
                    "Next": "Split",
                },
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
            ],
            "Next": "Risky",
        },
        "Risky": {
            "Type": "Parallel",
            "Branches": [
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
"""A loop that visits ``Enough?`` twice from ``n`` 0 (rule 0, then rule 1, whose Next is also the Default's but which
alone assigns), a Parallel state with a Choice in its branch (a rule and the Default to one state, neither assigning),
then a Parallel state whose branch fails, caught by a Catch whose target is also its Next. The failing branch has a
Parallel state of its own: beside the Choice's branch, it would cancel that branch before the Choice ran whenever it
failed first."""


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
def test_a_loop_takes_each_rule_the_history_names_and_a_branch_and_a_catch_take_theirs(order_stack):
    history = run_on_the_engine(order_stack, LOOP, {"n": 0})
    graph = workflow_graph(LOOP)

    path = path_taken(graph, trace_execution(history, "SUCCEEDED"))

    assert out_of(path.taken, "Enough?") == [("Bump", "choice", (0,)), ("Split", "choice", (1,))]
    assert out_of(path.taken, "Inner?") == []
    assert out_of(path.possible, "Inner?") == [("Yes", "choice", (0,)), ("Yes", "default", ())]
    assert out_of(path.taken, "Split") == [("Risky", "next", ())]
    assert out_of(path.taken, "Risky") == [("Done", "catch", (0, 1))], "it failed, so not its Next"
    assert out_of(path.taken, "Done") == [(END, "end", ())]
    assert {edge.source for edge in path.possible} == {"Inner?"}
    assert path.catchers == {}, "a failed Parallel state's event names no error, so no Catcher is named"


@pytest.mark.workflow
def test_an_exit_that_recorded_no_assignment_leaves_the_rule_and_the_default_possible(order_stack):
    """From ``n`` 5 the Default was taken and the exit recorded no ``assignedVariables``. That is not read as
    "assigned nothing" (moto also records none for a single-comparison rule whose ``Assign`` it dropped), so the rule
    to the same state stays possible beside the Default."""
    history = run_on_the_engine(order_stack, LOOP, {"n": 5})

    path = path_taken(workflow_graph(LOOP), trace_execution(history, "SUCCEEDED"))

    assert out_of(path.taken, "Enough?") == []
    assert out_of(path.possible, "Enough?") == [("Split", "choice", (1,)), ("Split", "default", ())]


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

    path = path_taken(graph, hand_over("Route", "Done", assigned={}))

    assert path.taken == set()
    assert out_of(path.possible, "Route") == [("Done", "choice", (0,)), ("Done", "choice", (1,))]


def test_a_lone_edge_to_the_state_entered_next_is_taken_whatever_the_history_lacks():
    graph = workflow_graph(JSONATA_CHOICE)

    path = path_taken(graph, hand_over("Route", "Other"))

    assert out_of(path.taken, "Route") == [("Other", "default", ())]


def route_preparation_failure() -> dict[str, Any]:
    """RoutePreparationFailure as the order workflow declares it, the only state of a machine of its own."""
    state = json.loads((WORKFLOWS / "order_workflow.asl.json").read_text())["States"]["RoutePreparationFailure"]
    targets = {rule["Next"] for rule in state["Choices"]} | {state["Default"]}
    return {
        "StartAt": "RoutePreparationFailure",
        "States": {"RoutePreparationFailure": state, **{target: {"Type": "Succeed"} for target in targets}},
    }


@pytest.mark.parametrize(
    ("assigned", "taken", "possible"),
    [
        ({"failureStatus": "PAYMENT_DECLINED", "failureError": "PaymentDeclinedError"}, [("choice", (1,))], []),
        ({"failureStatus": "FAILED", "failureError": "States.Timeout"}, [("choice", (3,))], []),
        ({}, [("default", ())], []),
        (None, [], [("choice", (1,)), ("choice", (2,)), ("choice", (3,)), ("default", ())]),
        (
            {"failureStatus": "NOT_A_STATUS"},
            [],
            [("choice", (1,)), ("choice", (2,)), ("choice", (3,)), ("default", ())],
        ),
    ],
    ids=["declined", "failed", "nothing-assigned", "not-recorded", "agrees-with-none"],
)
def test_of_rules_with_one_next_the_exits_assignments_keep_those_that_agree(assigned, taken, possible):
    graph = workflow_graph(route_preparation_failure())

    path = path_taken(graph, hand_over("RoutePreparationFailure", "VoidOrRefundPayment", assigned=assigned))

    assert [(kind, rules) for _, kind, rules in out_of(path.taken, "RoutePreparationFailure")] == taken
    assert [(kind, rules) for _, kind, rules in out_of(path.possible, "RoutePreparationFailure")] == possible


SHARED_ASSIGN = {
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Assign": {"via": "state"},
            "Choices": [
                {"Variable": "$.a", "IsPresent": True, "Assign": {"rule": "a", "via": "a"}, "Next": "Done"},
                {"Variable": "$.b", "IsPresent": True, "Assign": {"from.$": "$.b"}, "Next": "Done"},
                {"Variable": "$.c", "IsPresent": True, "Assign": {"rule": "c"}, "Next": "Done"},
                {"Variable": "$.d", "IsPresent": True, "Assign": {"rule.$": "$.d"}, "Next": "Done"},
            ],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}
"""Rules to one state told apart by the names they assign and by constants, two with a path we do not evaluate, and
an ``Assign`` of the state's own, which AWS documents as applying whichever rule matched and moto applies only with
the Default's Next."""


@pytest.mark.parametrize(
    ("assigned", "taken", "possible"),
    [
        ({"via": "state"}, [("default", ())], []),
        ({"from": "x", "via": "state"}, [("choice", (1,))], []),
        ({"from": "x"}, [("choice", (1,))], []),
        ({"rule": "c", "via": "state"}, [], [("choice", (2,)), ("choice", (3,))]),
        ({"rule": "z"}, [("choice", (3,))], []),
        ({"rule": "a", "via": "a"}, [("choice", (0,))], []),
        ({"rule": "a", "via": "state"}, [], [("choice", (0,)), ("choice", (3,))]),
    ],
    ids=["default", "rule-and-state", "rule-alone", "constant-or-path", "only-the-path", "rule-wins", "state-wins"],
)
def test_a_value_the_engine_computed_is_never_compared_nor_one_both_assigns(assigned, taken, possible):
    """Rule 3's ``$.d`` could have made any value, so it stays beside rule 2 when rule 2's constant was recorded, and
    alone when no constant was. Rule 0 and the state both assign ``via``: whichever value was recorded, rule 0
    agrees; the state's ``via`` applied with a rule or not, that rule agrees."""
    path = path_taken(workflow_graph(SHARED_ASSIGN), hand_over("Route", "Done", assigned=assigned))

    assert [(kind, rules) for _, kind, rules in out_of(path.taken, "Route")] == taken
    assert [(kind, rules) for _, kind, rules in out_of(path.possible, "Route")] == possible


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
