"""TestState and StartSyncExecution on the running stack's AWS endpoint, called as boto3 and the AWS CLI call them.

Both calls go to AWS's ``sync-`` host (botocore's ``endpoint.hostPrefix``), which does not resolve for a local
endpoint: the one setting ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` (boto3: ``Config(inject_host_prefix=False)``)
sends them to the endpoint as given. Every answer is checked against botocore's output shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.provisioning import local_state_machine_arn, resolve_locally
from tests.botocore_shapes import shape_problems
from tests.integration.service import OrdersService
from workflows.resources import ORDER_PREPARATION, ORDER_WORKFLOW

AWS_CLI = Path(sys.executable).with_name("aws")
CLI_DEADLINE_SECONDS = 60
PREPARATION = ORDER_PREPARATION.render(resolve_locally)
PRICED_ORDER = {
    "order": {"orderId": "ord-cli-1"},
    "pricing": {"lines": [{"sku": "KB-TKL-01", "quantity": 1}], "totalCents": 8999, "currency": "USD"},
}
NOT_AN_ORDER = '{"order": {"orderId": "ord-sync-1"}}'


@pytest.fixture
def aws_endpoint(local_only: OrdersService) -> str:
    assert local_only.aws_endpoint
    return local_only.aws_endpoint


@pytest.fixture
def stepfunctions(aws_endpoint: str) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(inject_host_prefix=False),
    )


def aws(endpoint: str, *arguments: str, skip_host_prefix: bool = True) -> subprocess.CompletedProcess[str]:
    """The AWS CLI against the local endpoint, with the local credentials and, by default, the host prefix off."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_DISABLE_HOST_PREFIX_INJECTION", None)
    if skip_host_prefix:
        env["AWS_DISABLE_HOST_PREFIX_INJECTION"] = "true"
    else:
        env["AWS_MAX_ATTEMPTS"] = "1"  # a host that does not resolve is retried with backoff otherwise
    return subprocess.run(
        [str(AWS_CLI), "--endpoint-url", endpoint, "--output", "json", "stepfunctions", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_DEADLINE_SECONDS,
        check=False,
    )


def test_boto3_tests_a_retry_of_the_real_authorize_payment(stepfunctions):
    answer = stepfunctions.test_state(
        definition=PREPARATION,
        stateName="AuthorizePayment",
        input=json.dumps(PRICED_ORDER),
        mock={"errorOutput": {"error": "PaymentProviderTransientError", "cause": "gateway 503"}},
        inspectionLevel="DEBUG",
    )

    assert shape_problems(answer, "stepfunctions", "TestState") == []
    assert answer["status"] == "RETRIABLE"
    assert answer["inspectionData"]["errorDetails"]["retryIndex"] == 0


def test_boto3_runs_the_express_child_synchronously(stepfunctions):
    answer = stepfunctions.start_sync_execution(
        stateMachineArn=local_state_machine_arn(ORDER_PREPARATION), input=NOT_AN_ORDER
    )

    assert shape_problems(answer, "stepfunctions", "StartSyncExecution") == []
    assert answer["status"] == "FAILED"
    assert answer["error"] == "OrderValidationError"
    assert answer["billingDetails"]["billedDurationInMilliseconds"] >= 100


def test_boto3_cannot_run_the_standard_parent_synchronously(stepfunctions):
    with pytest.raises(ClientError) as error:
        stepfunctions.start_sync_execution(stateMachineArn=local_state_machine_arn(ORDER_WORKFLOW), input="{}")

    assert error.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_the_aws_cli_tests_the_catch_of_the_real_reserve_inventory(aws_endpoint):
    called = aws(
        aws_endpoint,
        "test-state",
        "--definition",
        PREPARATION,
        "--state-name",
        "ReserveInventory",
        "--input",
        json.dumps(PRICED_ORDER),
        "--mock",
        json.dumps({"errorOutput": {"error": "InventoryTransientError", "cause": "storage busy"}}),
        "--state-configuration",
        "retrierRetryCount=3",
        "--inspection-level",
        "DEBUG",
    )

    assert called.returncode == 0, called.stderr
    answer = json.loads(called.stdout)
    assert (answer["status"], answer["nextState"]) == ("CAUGHT_ERROR", "InventoryReservationFailed")
    assert answer["inspectionData"]["errorDetails"] == {"retryIndex": 0, "catchIndex": 0}


def test_the_aws_cli_runs_the_express_child_synchronously(aws_endpoint):
    called = aws(
        aws_endpoint,
        "start-sync-execution",
        "--state-machine-arn",
        local_state_machine_arn(ORDER_PREPARATION),
        "--input",
        NOT_AN_ORDER,
    )

    assert called.returncode == 0, called.stderr
    answer = json.loads(called.stdout)
    assert (answer["status"], answer["error"]) == ("FAILED", "OrderValidationError")


def test_without_the_setting_the_aws_cli_goes_to_the_sync_host(aws_endpoint):
    """Why the docs name the setting: AWS's ``sync-`` host does not exist on this machine."""
    called = aws(aws_endpoint, "test-state", "--definition", '{"Type": "Succeed"}', skip_host_prefix=False)

    assert called.returncode != 0
    assert f"sync-{aws_endpoint.removeprefix('http://')}" in called.stderr


def test_the_aws_cli_gets_a_client_error_for_a_call_moto_lacks(aws_endpoint):
    called = aws(aws_endpoint, "validate-state-machine-definition", "--definition", '{"StartAt": "A"}')

    assert called.returncode == 255, called.stderr  # the AWS CLI v1's exit code for an error AWS answered
    assert "(UnsupportedOperation)" in called.stderr
    assert "is not supported by the local AWS endpoint" in called.stderr
    assert "max retries" not in called.stderr, "a client error is not retried"
