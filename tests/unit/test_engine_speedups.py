"""The engine adapter's speed-ups: same answers with less work, no growth over time, no pause a signal can replace.

Each cache replaces work moto repeats (the serializer's alias lookups, EventBridge's JSONPath parses); these tests
check that the answers are the ones moto gives without them, and that the moto internals they hook are still there
and still used, so a moto release that moves one fails here instead of silently losing the speed-up.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import boto3
import jsonpath_ng.ext
import pytest
from moto import mock_aws
from moto.core import serialize as moto_serialize
from moto.events.utils import EventTemplateParser
from moto.stepfunctions.parser import utils as engine_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.moto import caches, install_time_scale
from local.provisioning import LOCAL_ROLE_ARN
from local.testkit.fixtures import poll

PASS_THROUGH = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}


@pytest.fixture
def aws() -> Iterator[None]:
    install_time_scale(1)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def responses_of_a_few_calls() -> list[dict[str, Any]]:
    """Responses of three services whose serializers take different paths (JSON, query-like, nested shapes)."""
    dynamodb = boto3.client("dynamodb", region_name=LOCAL_REGION)
    stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    answers = [
        dynamodb.describe_table(TableName="t")["Table"],
        dynamodb.get_item(TableName="t", Key={"id": {"S": "a"}})["Item"],
        stepfunctions.describe_state_machine(
            stateMachineArn=stepfunctions.list_state_machines()["stateMachines"][0]["stateMachineArn"]
        ),
        sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="q")["QueueUrl"], AttributeNames=["All"]),
    ]
    for answer in answers:
        answer.pop("ResponseMetadata", None)
    return json.loads(json.dumps(answers, default=str))


def test_the_serializer_shortcuts_give_the_responses_moto_gives_without_them(aws, monkeypatch):
    dynamodb = boto3.client("dynamodb", region_name=LOCAL_REGION)
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(
        TableName="t",
        Item={
            "id": {"S": "a"},
            "nested": {"M": {"list": {"L": [{"N": "1.50"}, {"BOOL": False}, {"NULL": True}, {"M": {}}]}}},
            "sets": {"M": {"strings": {"SS": ["x", "y"]}, "numbers": {"NS": ["2", "3"]}}},
            "blob": {"B": b"\x00\x01"},
            "blobs": {"L": [{"BS": [b"\x02"]}]},
        },
    )
    boto3.client("stepfunctions", region_name=LOCAL_REGION).create_state_machine(
        name="m", definition=json.dumps(PASS_THROUGH), roleArn=LOCAL_ROLE_ARN
    )
    boto3.client("sqs", region_name=LOCAL_REGION).create_queue(QueueName="q")

    remembered = responses_of_a_few_calls()
    for picker in caches.SERIALIZER_PICKERS:
        monkeypatch.setattr(picker, "get_possible_keys", caches.UNCACHED_POSSIBLE_KEYS[picker])
    monkeypatch.setattr(
        moto_serialize.BaseJSONSerializer, "_serialize_type_structure", caches._serialize_json_structure
    )
    as_shipped = responses_of_a_few_calls()

    assert remembered == as_shipped
    assert caches._possible_keys, "the serializer never asked the cache"


def test_moto_still_asks_each_picker_for_the_possible_keys():
    assert "self.get_possible_keys(context)" in inspect.getsource(moto_serialize.AttributePicker.__call__)
    assert "super().get_possible_keys(context)" in inspect.getsource(
        caches.UNCACHED_POSSIBLE_KEYS[moto_serialize.XFormedAttributePicker]
    )


def test_eventbridge_parses_each_input_path_once():
    install_time_scale(1)

    assert "from jsonpath_ng.ext import parse" in inspect.getsource(EventTemplateParser.parse)
    assert jsonpath_ng.ext.parse("$.detail") is jsonpath_ng.ext.parse("$.detail")
    assert jsonpath_ng.ext.parse("$.detail").find({"detail": {"a": 1}})[0].value == {"a": 1}


def test_finished_executions_do_not_pile_up_in_moto_thread_list(aws):
    stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    machine = stepfunctions.create_state_machine(name="m", definition=json.dumps(PASS_THROUGH), roleArn=LOCAL_ROLE_ARN)[
        "stateMachineArn"
    ]

    for _ in range(30):
        arn = stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
        poll(
            lambda arn=arn: stepfunctions.describe_execution(executionArn=arn)["status"] != "RUNNING",
            deadline=5,
            what=f"execution {arn} to end",
        )

    assert "TMP_THREADS.append" in inspect.getsource(caches._start_execution_worker)
    assert ExecutionWorker.start is caches._start_forgetting_finished_threads
    assert len(engine_utils.TMP_THREADS) <= 2


def test_a_sync_parent_learns_of_its_child_end_without_waiting_out_its_pause(aws, monkeypatch):
    stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    child = stepfunctions.create_state_machine(
        name="child", definition=json.dumps(PASS_THROUGH), roleArn=LOCAL_ROLE_ARN, type="EXPRESS"
    )["stateMachineArn"]
    start_child = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child, "Input": {}},
        "End": True,
    }
    parent = stepfunctions.create_state_machine(
        name="parent",
        definition=json.dumps({"StartAt": "Start", "States": {"Start": start_child}}),
        roleArn=LOCAL_ROLE_ARN,
    )["stateMachineArn"]
    monkeypatch.setattr(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 60.0)

    arn = stepfunctions.start_execution(stateMachineArn=parent)["executionArn"]
    ended = poll(
        lambda: (execution := stepfunctions.describe_execution(executionArn=arn))["status"] != "RUNNING" and execution,
        deadline=10,
        what="the parent to end, woken by its child's end rather than its 60 s pause",
    )

    assert ended["status"] == "SUCCEEDED"
    assert "time.sleep(_DELAY_SECONDS_SYNC_CONDITION_CHECK)" in inspect.getsource(state_task_service_callback)
