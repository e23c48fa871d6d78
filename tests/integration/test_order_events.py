"""A downstream team subscribes its own queue to the ``orders`` bus, as in AWS, and receives the events of orders.

The queue and its rule are made with boto3 on the local AWS endpoint, exactly the calls the README shows. Each
order's events equal its timeline, in sequence, and carry no payment token and no address.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3

from local.testkit.fixtures import sample_order
from local.testkit.invariants import broken_event_promises

TERMINAL = ("COMPLETED", "REJECTED", "PAYMENT_DECLINED", "OUT_OF_STOCK", "CANCELLED", "FAILED")
SHIPPED = {"outcome": "SHIPPED", "trackingNumber": "1Z999AA10123456784"}
RECEIVE_DEADLINE_SECONDS = 30


def client(local_only, name: str):
    return boto3.client(
        name,
        endpoint_url=local_only.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def subscribe(local_only) -> str:
    """A queue of our own, subscribed by a rule on the bus, as a downstream team does it."""
    sqs, events = client(local_only, "sqs"), client(local_only, "events")
    name = f"downstream-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["orders"], "detail-type": ["OrderStatusChanged"]}
    events.put_rule(Name=name, EventBusName="orders", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName="orders", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received(local_only, url: str, order_ids: set[str], expected: dict[str, int]) -> dict[str, list[dict]]:
    """Read the queue until every order has ``expected`` events, or the deadline passes."""
    sqs = client(local_only, "sqs")
    found: dict[str, list[dict]] = {order_id: [] for order_id in order_ids}
    give_up = time.monotonic() + RECEIVE_DEADLINE_SECONDS
    while any(len(found[order_id]) < expected[order_id] for order_id in order_ids):
        assert time.monotonic() < give_up, f"events not within {RECEIVE_DEADLINE_SECONDS}s: {found}"
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["orderId"] in found:
                found[event["detail"]["orderId"]].append(event)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_subscribed_queue_receives_each_status_of_a_completed_and_a_declined_order(local_only):
    url = subscribe(local_only)
    completed = local_only.request("POST", "/orders", sample_order()).body["orderId"]
    declined = local_only.request("POST", "/orders", sample_order(paymentToken="tok_declined")).body["orderId"]
    local_only.wait_for_status(completed, "AWAITING_SHIPMENT")
    local_only.request("POST", f"/orders/{completed}/shipment", SHIPPED)
    orders = {order_id: local_only.wait_for_status(order_id, *TERMINAL) for order_id in (completed, declined)}

    events = received(local_only, url, set(orders), {key: len(order["timeline"]) for key, order in orders.items()})

    for order_id, order in orders.items():
        details = sorted((event["detail"] for event in events[order_id]), key=lambda detail: detail["sequence"])
        assert {(event["source"], event["detail-type"]) for event in events[order_id]} == {
            ("orders", "OrderStatusChanged")
        }
        assert broken_event_promises(order, details) == [], details
        assert "tok_" not in json.dumps(details) and "Analytical Row" not in json.dumps(details)
    assert orders[completed]["status"] == "COMPLETED" and orders[declined]["status"] == "PAYMENT_DECLINED"
