"""A call moto does not implement gets a 400 that says so, from any service, with no traceback in the log.

The AWS endpoint is served here as the local stack serves it (waitress, ``LoopbackGuard``, ``AwsCallsOnly``, moto's
dispatcher) and called over HTTP, as the AWS CLI calls it. Before the fix moto raised ``NotImplementedError``: the
server answered 500, the CLI retried it four times, and every try left a traceback in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local.aws.moto import install_time_scale
from local.endpoint.aws_calls_only import AwsCallsOnly
from local.endpoint.listener import LocalListener, LoopbackGuard


@pytest.fixture(scope="module")
def aws_endpoint() -> Iterator[str]:
    install_time_scale(1)
    app = LoopbackGuard(AwsCallsOnly(DomainDispatcherApplication(create_backend_app)), same_origin_only=True)
    listener = LocalListener("the AWS endpoint", 0, app, threads=4)
    listener.start()
    yield listener.url
    listener.stop()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response


UNSUPPORTED_CALLS = {
    "ValidateStateMachineDefinition": ("stepfunctions", lambda c: c.validate_state_machine_definition(definition="{")),
    "DescribeContributorInsights": ("dynamodb", lambda c: c.describe_contributor_insights(TableName="orders")),
    "ListMessageMoveTasks": ("sqs", lambda c: c.list_message_move_tasks(SourceArn="arn:aws:sqs:us-east-1:1:q")),
}
"""A call of each of three services that moto 5.2.6 does not implement."""


@pytest.mark.parametrize("operation", UNSUPPORTED_CALLS)
def test_a_call_moto_lacks_is_a_client_error_that_names_it_and_is_not_retried(aws_endpoint, caplog, operation):
    service, call = UNSUPPORTED_CALLS[operation]
    caplog.set_level(logging.DEBUG)

    answer = refused(lambda: call(client(service, aws_endpoint)))

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert answer["ResponseMetadata"]["RetryAttempts"] == 0
    assert answer["Error"]["Code"].endswith("UnsupportedOperation")  # SQS: AWS.SimpleQueueService.UnsupportedOperation
    assert answer["Error"]["Message"].startswith(f"{operation} of {service} is not supported by the local AWS endpoint")
    assert [record for record in caplog.records if record.exc_info or "Traceback" in record.getMessage()] == []
    assert [record.getMessage() for record in caplog.records if record.name == "local.aws.moto.endpoint"] == [
        answer["Error"]["Message"]
    ]


def test_a_call_moto_implements_is_answered_as_before(aws_endpoint):
    assert client("stepfunctions", aws_endpoint).list_activities()["activities"] == []
