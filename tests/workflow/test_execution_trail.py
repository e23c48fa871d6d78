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

    assert states[0] == (0, "PrepareOrder")
    assert [name for depth, name in states if depth == 0] == run.visited_states
    assert [name for depth, name in states if depth == 1] == run.preparation.visited_states
    assert trail.new_states() == [], "nothing is repeated"


def test_the_trail_of_an_execution_that_does_not_exist_is_empty(order_stack):
    missing = order_stack.deployment.state_machine_arn.replace(":stateMachine:", ":execution:") + ":no-such-order"

    assert ExecutionTrail(order_stack.stepfunctions, missing).new_states() == []
