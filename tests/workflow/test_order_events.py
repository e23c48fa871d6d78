"""Order events on the ``orders`` bus, through the same stream function AWS runs: one per status, in order.

The in-process stack has the orders table's stream, the bus, and a queue subscribed to it by a rule, as a
downstream team subscribes one; ``order_stack.events`` reads that queue. Every scenario's ``broken_invariants``
already checks that the events equal the timeline; these tests look closer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.testkit.fixtures import sample_order
from local.testkit.invariants import broken_event_promises
from workflows.resources import PUBLISH_ORDER_EVENTS

pytestmark = pytest.mark.workflow


def test_a_completed_order_publishes_each_status_once_in_sequence(order_stack):
    run = order_stack.run_order(sample_order())

    events = order_stack.events(run.order_id)

    assert [event["status"] for event in events] == run.timeline
    assert [event["sequence"] for event in events] == list(range(1, len(run.timeline) + 1))
    assert [event["previousStatus"] for event in events] == [None, *run.timeline[:-1]]
    assert {event["customerId"] for event in events} == {run.order["customerId"]}
    shipped = next(event for event in events if event["status"] == "SHIPPED")
    assert shipped["trackingNumber"] == run.order["trackingNumber"]
    assert events[-1]["totalCents"] == run.order["totalCents"] and events[-1]["currency"] == "USD"
    assert events[0]["totalCents"] is None, "RECEIVED comes before the order is priced"
    assert broken_event_promises(run.order, events) == []


def test_a_declined_order_publishes_its_failure_by_name_and_message(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    last = order_stack.events(run.order_id)[-1]

    assert last["status"] == "PAYMENT_DECLINED"
    assert last["failure"]["error"] == "PaymentDeclinedError"
    assert "declined" in last["failure"]["message"]
    assert "tok_" not in json.dumps(order_stack.events(run.order_id))


def test_a_retried_task_publishes_no_extra_event(order_stack, faults):
    faults(
        {"ReserveInventory": {"kind": "transient", "times": 2}, "AuthorizePayment": {"kind": "transient", "times": 1}}
    )

    run = order_stack.run_order(sample_order())

    assert run.status == "COMPLETED"
    assert len(run.failed_tasks()) == 3
    assert [event["status"] for event in order_stack.events(run.order_id)] == run.timeline


class PoisonRecords:
    """Makes PublishOrderEvents fail on every batch that holds a change of one order: a poison record."""

    def __init__(self, order_id: str):
        self.order_id = order_id

    def __call__(self, spec: Any, event: Any) -> None:
        if spec.logical_name == PUBLISH_ORDER_EVENTS.logical_name and self.order_id in json.dumps(event):
            raise RuntimeError(f"poison: {self.order_id}")


def test_a_poison_record_ends_in_the_dead_letter_queue_and_later_orders_events_still_flow(order_stack):
    poisoned_id = "order-poisoned"
    order_stack.runner.before_invoke.append(PoisonRecords(poisoned_id))
    _, poisoned_execution = order_stack.submit(sample_order(paymentToken="tok_declined"), order_id=poisoned_id)
    order_stack.wait_for_execution(poisoned_execution)
    order_stack.events(poisoned_id)
    later = order_stack.run_order(sample_order())

    dead = order_stack.dead_letters()
    depth = order_stack.sqs.get_queue_attributes(
        QueueUrl=order_stack.order_events.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]

    assert order_stack.events(poisoned_id) == []
    assert dead and all(letter["requestContext"]["condition"] == "RetryAttemptsExhausted" for letter in dead)
    assert all(letter["DDBStreamBatchInfo"]["startSequenceNumber"] for letter in dead)
    assert int(depth) >= 1, "the alarm's metric: messages in the DLQ"
    assert [event["status"] for event in order_stack.events(later.order_id)] == later.timeline
