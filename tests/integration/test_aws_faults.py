"""AWS-API faults on the local stack in server mode (``ORDERS_AWS_FAULTS``), as a storefront, the warehouse and an
outside AWS client meet them over HTTP, and the report ``orders up`` writes of what it injected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.provisioning import local_state_machine_arn
from local.testkit.fixtures import sample_order
from tasks.adapters.aws_sdk import API_CALLS
from tests.integration.service import OrdersService, start_local_service, stop_local_service
from workflows.resources import ORDER_WORKFLOW, ORDERS_TABLE

RULES = {
    "states:StartExecution": {"kind": "throttling", "times": API_CALLS.total_attempts},
    "states:SendTaskSuccess": {"kind": "server-error", "times": API_CALLS.total_attempts},
    "dynamodb:DescribeTable": {"kind": "unavailable", "times": 1},
}


@pytest.fixture
def faulted(local_only: OrdersService, tmp_path: Path) -> Iterator[tuple[OrdersService, Path]]:
    """``orders up`` with AWS-API faults, reporting what it injected when it stops."""
    report = tmp_path / "aws-faults.json"
    service = start_local_service({"ORDERS_AWS_FAULTS": json.dumps(RULES), "ORDERS_AWS_FAULTS_REPORT": str(report)})
    try:
        yield service, report
    finally:
        if service.process.poll() is None:
            stop_local_service(service)


def test_a_throttled_start_and_a_failed_callback_answer_503_and_their_retries_complete_the_order(faulted):
    service, report = faulted
    key = {"Idempotency-Key": "faulted-checkout"}

    refused = service.request("POST", "/orders", sample_order(), key)
    accepted = service.request("POST", "/orders", sample_order(), key)
    order_id = accepted.body["orderId"]
    service.wait_for_status(order_id, "AWAITING_SHIPMENT")
    shipped = {"outcome": "SHIPPED", "trackingNumber": "1Z999AA10123456784"}
    callback_refused = service.request("POST", f"/orders/{order_id}/shipment", shipped)
    callback_taken = service.request("POST", f"/orders/{order_id}/shipment", shipped)
    completed = service.wait_for_status(order_id, "COMPLETED")

    for answer in (refused, callback_refused):
        assert answer.status == 503, answer
        assert answer.headers["Retry-After"] == "1"
        assert answer.body["error"] == "Service Unavailable"
    assert accepted.status == 202 and callback_taken.status == 202
    assert completed["trackingNumber"] == shipped["trackingNumber"]
    executions = service.stepfunctions().list_executions(stateMachineArn=local_state_machine_arn(ORDER_WORKFLOW))
    assert [execution["name"] for execution in executions["executions"]] == [order_id], "one execution"

    harness = service.aws_client("dynamodb")
    outside = boto3.client(
        "dynamodb",
        endpoint_url=service.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="an-outside-client",
        aws_secret_access_key="local",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    assert harness.describe_table(TableName=ORDERS_TABLE.local_name)["Table"]["TableName"] == ORDERS_TABLE.local_name
    with pytest.raises(ClientError) as unavailable:
        outside.describe_table(TableName=ORDERS_TABLE.local_name)
    assert unavailable.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert unavailable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503

    assert stop_local_service(service) == 0
    assert {key: entry["faults"] for key, entry in json.loads(report.read_text()).items()} == {
        "states:StartExecution": API_CALLS.total_attempts,
        "states:SendTaskSuccess": API_CALLS.total_attempts,
        "dynamodb:DescribeTable": 1,
    }
