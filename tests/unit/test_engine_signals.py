"""The engine's announcements (``local.aws.moto``): an execution's end, a stream record, and forgetting
executions.

The test stack's waits and the stream poller wait on these instead of asking moto every few milliseconds. They hook
moto internals, so if a moto upgrade moves one of them, these tests fail instead of every wait running into its
deadline.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.moto import (
    EXECUTION_END_LISTENERS,
    STREAM_RECORD_LISTENERS,
    forget_executions,
    install_time_scale,
)
from local.provisioning import LOCAL_ROLE_ARN
from local.testkit.fixtures import poll

SIGNAL_SECONDS = 5.0
"""A deadline for each announcement; they come within milliseconds."""
AN_HOUR_OF_WAITING = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
ONE_PASS = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}


def test_moto_still_ends_executions_and_appends_stream_records_where_the_engine_listens():
    """Read from moto's source, not from the classes, which the engine has patched."""
    from moto.dynamodb.models import table as table_module
    from moto.stepfunctions import models as stepfunctions_models
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.backend import execution, execution_worker

    assert "self._execution_communication.terminated()" in inspect.getsource(execution_worker.ExecutionWorker)
    assert "def terminated(self)" in inspect.getsource(execution.BaseExecutionWorkerCommunication)
    assert "self.items.append(StreamRecord(" in inspect.getsource(table_module.StreamShard)
    assert "state_machine.executions.append(execution)" in inspect.getsource(parser_models)
    assert "self.describe_state_machine(state_machine_arn).executions" in inspect.getsource(stepfunctions_models)


@pytest.fixture
def announcements() -> Iterator[dict[str, Any]]:
    """What the engine announces while a test runs: ended execution ARNs and (table, record) pairs, with events."""
    heard: dict[str, Any] = {"ended": [], "records": [], "any": threading.Event()}

    def ended(execution_arn: str) -> None:
        heard["ended"].append(execution_arn)
        heard["any"].set()

    def recorded(table_name: str, record: dict[str, Any]) -> None:
        heard["records"].append((table_name, record))
        heard["any"].set()

    install_time_scale(1)
    EXECUTION_END_LISTENERS.append(ended)
    STREAM_RECORD_LISTENERS.append(recorded)
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield heard
    finally:
        EXECUTION_END_LISTENERS.remove(ended)
        STREAM_RECORD_LISTENERS.remove(recorded)


def machine(stepfunctions: Any, definition: dict[str, Any]) -> str:
    return stepfunctions.create_state_machine(
        name="announced", definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN
    )["stateMachineArn"]


def stopped(stepfunctions: Any, execution_arn: str) -> bool:
    """moto cannot stop an execution whose worker has not started yet."""
    try:
        stepfunctions.stop_execution(executionArn=execution_arn)
    except AttributeError:
        return False
    return True


def test_an_execution_end_is_announced_once_describe_execution_shows_it(announcements):
    stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    arn = stepfunctions.start_execution(stateMachineArn=machine(stepfunctions, ONE_PASS))["executionArn"]

    assert announcements["any"].wait(SIGNAL_SECONDS), "no execution end was announced"
    assert announcements["ended"] == [arn]
    assert stepfunctions.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_a_stream_record_is_announced_with_its_table_and_new_image(announcements):
    dynamodb = boto3.client("dynamodb", region_name=LOCAL_REGION)
    dynamodb.create_table(
        TableName="streamed",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )

    dynamodb.put_item(TableName="streamed", Item={"id": {"S": "o-1"}, "status": {"S": "RECEIVED"}})
    dynamodb.update_item(
        TableName="streamed",
        Key={"id": {"S": "o-1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "VALIDATED"}},
    )

    assert [(table, record["eventName"]) for table, record in announcements["records"]] == [
        ("streamed", "INSERT"),
        ("streamed", "MODIFY"),
    ]
    assert announcements["records"][-1][1]["dynamodb"]["NewImage"]["status"] == {"S": "VALIDATED"}


def test_forgotten_executions_are_no_longer_listed_and_running_ones_are_not_forgotten(announcements):
    stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    arn = machine(stepfunctions, AN_HOUR_OF_WAITING)
    waiting = stepfunctions.start_execution(stateMachineArn=arn)["executionArn"]

    with pytest.raises(RuntimeError, match="still runs"):
        forget_executions(arn)
    poll(lambda: stopped(stepfunctions, waiting), deadline=SIGNAL_SECONDS, what=f"{waiting} to stop")
    assert announcements["any"].wait(SIGNAL_SECONDS), "the stopped execution's end was not announced"
    forget_executions(arn)

    assert stepfunctions.list_executions(stateMachineArn=arn)["executions"] == []
