"""``orders up`` runs the reconciler on its schedule: an order written as the API writes it, whose request died before
StartExecution, is started and reaches the warehouse, and the shopper sees it move on through the API."""

from __future__ import annotations

import boto3

from local.testkit.fixtures import sample_order
from tasks.adapters.orders_repository import DynamoDBOrderRepository
from tasks.logic.clock import now_iso, seconds_before
from tasks.logic.ordering import new_order_id
from tasks.models.order import PlacedOrder
from tests.integration.service import OrdersService
from workflows.resources import ORDERS_TABLE


def test_an_order_the_api_wrote_but_never_started_is_started_by_the_local_reconciler(local_only: OrdersService):
    placed = local_only.request("POST", "/orders", sample_order())
    assert placed.status == 202, placed.body
    shopper = local_only.request("GET", f"/orders/{placed.body['orderId']}").body["customerId"]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=local_only.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    stranded = PlacedOrder(orderId=new_order_id(), customerId=shopper, **sample_order())
    a_minute_ago = seconds_before(now_iso(), 60)
    assert DynamoDBOrderRepository(ORDERS_TABLE.local_name, dynamodb).create(stranded, a_minute_ago)

    order = local_only.wait_for_status(stranded.orderId, "AWAITING_SHIPMENT", deadline=60)

    execution_arn = placed.body["executionArn"].replace(placed.body["orderId"], stranded.orderId)
    execution = local_only.stepfunctions().describe_execution(executionArn=execution_arn)
    assert execution["status"] == "RUNNING"
    assert [entry["status"] for entry in order["timeline"]][:2] == ["RECEIVED", "VALIDATED"]
