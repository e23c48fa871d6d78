"""The shipped ``OrderStack`` fixture: it works in a user's test process, which need not configure AWS at all; one
stack serves the session and is as new for every test; and its waits are told, not polled."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from local.aws.moto import CLOCK
from local.simulators.catalog import catalog_items
from local.testkit.fixtures import DEFAULT_TIME_SCALE, sample_order
from tasks.models.order import OrderStatus

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from local.testkit.fixtures import OrderStack, sample_order
with OrderStack() as stack:
    print(stack.run_order(sample_order(items=[{"sku": "NO-SUCH-SKU", "quantity": 1}]), deadline=30).status)
"""
SKU = "KB-TKL-01"


def test_an_order_runs_with_no_region_or_credentials_in_the_environment():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}

    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "REJECTED"


def test_a_reset_stack_is_as_new_whatever_the_test_before_left_behind(order_stack, faults, time_scale):
    done = order_stack.run_order(sample_order())
    waiting_id, _ = order_stack.submit(sample_order())
    order_stack.wait_for_status(waiting_id, OrderStatus.AWAITING_SHIPMENT)
    faults({"ValidateOrder": {"kind": "fatal"}})
    order_stack.runner.before_invoke.append(lambda spec, event: None)
    time_scale(5)
    order_stack.sqs.send_message(QueueUrl=order_stack.order_events.dead_letter_queue_url, MessageBody="{}")
    assert order_stack.stock(SKU) < next(product["stock"] for product in catalog_items() if product["sku"] == SKU)

    order_stack.reset()

    deployment = order_stack.deployment
    for machine in (deployment.state_machine_arn, deployment.preparation_state_machine_arn):
        assert order_stack.stepfunctions.list_executions(stateMachineArn=machine)["executions"] == []
    assert (order_stack.order(done.order_id), order_stack.order(waiting_id)) == (None, None)
    assert [order_stack.stock(product["sku"]) for product in catalog_items()] == [
        product["stock"] for product in catalog_items()
    ]
    assert (order_stack.events(done.order_id), order_stack.dead_letters()) == ([], [])
    assert (order_stack.fault_injector, order_stack.runner.before_invoke) == (None, [])
    assert set(order_stack.runner.invocations.values()) == {0}
    assert CLOCK.factor == DEFAULT_TIME_SCALE
    again = order_stack.run_order(sample_order())
    assert again.status == "COMPLETED"
    assert [event["status"] for event in order_stack.events(again.order_id)] == again.timeline
    assert order_stack.broken_invariants(again) == []


def test_an_order_is_waited_for_on_the_engines_announcements_not_by_polling(order_stack):
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    clients = (order_stack.dynamodb, order_stack.stepfunctions)
    for client in clients:
        client.meta.events.register("before-call", count, unique_id="count-calls")
    try:
        run = order_stack.run_order(sample_order(), shipment="SHIPPED")
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="count-calls")

    assert run.status == "COMPLETED"
    assert calls["GetItem"] == 3, "one read before answering the warehouse, one to answer it, one for the outcome"
    assert calls["DescribeExecution"] == 1 + len(run.children), "once the parent ended, and each child once"
