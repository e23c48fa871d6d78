"""The Express child runs at least once: a repeated preparation of an order must change nothing.

AWS starts a nested Express child as an asynchronous Express execution, which may run more than once; the parent's
Retry may start it again too. Both are played here by starting the child a second time with the same input.
"""

from __future__ import annotations

import json

import pytest

from local.testkit.fixtures import OrderStack, sample_order
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import OrderStatus

pytestmark = pytest.mark.workflow


def repeat_preparation(stack: OrderStack, execution_arn: str) -> dict:
    """Start the order's child again with exactly the input its parent gave it, and wait for it to end."""
    started = next(event for event in stack.history(execution_arn) if event["type"] == "TaskScheduled")
    parameters = json.loads(started["taskScheduledEventDetails"]["parameters"])
    arn = stack.stepfunctions.start_execution(
        stateMachineArn=stack.deployment.preparation_state_machine_arn, input=json.dumps(parameters["Input"])
    )["executionArn"]
    return stack.wait_for_execution(arn)


def test_a_repeated_preparation_of_an_order_awaiting_shipment_changes_nothing(order_stack):
    order = sample_order()
    order_id, execution_arn = order_stack.submit(order)
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    before = order_stack.order(order_id)
    ledger_before = order_stack.ledger_table.entries(order_id)
    stock_before = {item["sku"]: order_stack.stock(item["sku"]) for item in order["items"]}

    repeat_preparation(order_stack, execution_arn)

    after = order_stack.order(order_id)
    assert after["status"] == "AWAITING_SHIPMENT"
    assert after["timeline"] == before["timeline"], "no status was written twice"
    assert order_stack.ledger_table.entries(order_id) == ledger_before, "no second authorization"
    assert {sku: order_stack.stock(sku) for sku in stock_before} == stock_before, "no second reservation"

    order_stack.confirm_shipment(order_id)
    run = order_stack.outcome(order_id, execution_arn, order_stack.wait_for_execution(execution_arn))
    assert run.status == "COMPLETED"
    assert order_stack.ledger(order_id) == {LedgerEntryKind.AUTHORIZATION, LedgerEntryKind.CAPTURE}
    assert order_stack.broken_invariants(run) == []


def test_a_repeated_preparation_of_a_declined_order_changes_nothing(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    stock = {sku: order_stack.stock(sku) for sku in ("KB-TKL-01", "CBL-USBC-2M")}

    repeated = repeat_preparation(order_stack, run.execution_arn)

    assert repeated["status"] == "FAILED"
    assert order_stack.order(run.order_id)["timeline"] == run.order["timeline"]
    assert order_stack.ledger(run.order_id) == set()
    assert {sku: order_stack.stock(sku) for sku in stock} == stock, "a released reservation stays released"
