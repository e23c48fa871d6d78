"""``orders watch --states`` follows the parent and its Express child: each state once, the child's one level down."""

from __future__ import annotations

import pytest

from local.aws.stepfunctions.child_executions import ExecutionTrail
from local.testkit.fixtures import sample_order

pytestmark = pytest.mark.workflow


def test_the_trail_gives_each_state_of_the_parent_and_its_child_once_in_order(order_stack):
    run = order_stack.run_order(sample_order(), shipment="SHIPPED")
    trail = ExecutionTrail(order_stack.stepfunctions, run.execution_arn)

    states = trail.new_states()

    assert [state.name for state in states if state.depth == 0] == run.visited_states
    assert [state.name for state in states if state.depth == 1] == run.preparation.visited_states
    assert trail.new_states() == [], "nothing is repeated"


def test_the_childs_states_come_between_the_parent_state_that_started_it_and_the_next(order_stack):
    """The child runs while the parent waits in PrepareOrder: its states belong before RequestShipment."""
    run = order_stack.run_order(sample_order(), shipment="SHIPPED")

    states = ExecutionTrail(order_stack.stepfunctions, run.execution_arn).new_states()

    first, *rest = run.visited_states
    assert first == "PrepareOrder"
    assert [state.name for state in states] == [first, *run.preparation.visited_states, *rest]
    assert [state.at for state in states] == sorted(state.at for state in states)


def test_the_trail_of_an_execution_that_does_not_exist_is_empty(order_stack):
    missing = order_stack.deployment.state_machine_arn.replace(":stateMachine:", ":execution:") + ":no-such-order"

    assert ExecutionTrail(order_stack.stepfunctions, missing).new_states() == []
