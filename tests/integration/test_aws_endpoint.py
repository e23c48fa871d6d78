"""The local AWS endpoint as outside clients see it: boto3 over HTTP, as the AWS CLI calls it, against AWS's documents.

Each test starts executions on the running stack's own state machine, as an operator with the CLI would, not through
the order API: nameless ones, ones whose input is not JSON or is no order, and reads their histories and lists.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.testkit.fixtures import poll
from tests.integration.service import OrdersService
from workflows.resources import ORDER_WORKFLOW, STATE_MACHINES

ENDED_DEADLINE_SECONDS = 60.0
"""How long a test waits for an execution to end before it calls that a hang; never what a test measures."""
TASK_SCHEDULED = {"TaskScheduled", "LambdaFunctionScheduled"}
EXECUTION_DATA = {"input", "inputDetails", "output", "outputDetails", "parameters", "assignedVariables"}


@pytest.fixture
def stepfunctions(local_only: OrdersService) -> Any:
    return local_only.stepfunctions()


@pytest.fixture
def machine_arn(stepfunctions: Any) -> str:
    """The order workflow: the parent, which the API starts; its Express child is the only other state machine."""
    machines = {machine["name"]: machine for machine in stepfunctions.list_state_machines()["stateMachines"]}
    assert {name: machine["type"] for name, machine in machines.items()} == {
        spec.local_name: spec.workflow_type.value for spec in STATE_MACHINES
    }
    return machines[ORDER_WORKFLOW.local_name]["stateMachineArn"]


def ended(stepfunctions: Any, execution_arn: str, deadline: float = ENDED_DEADLINE_SECONDS) -> dict[str, Any]:
    def described() -> dict[str, Any] | None:
        execution = stepfunctions.describe_execution(executionArn=execution_arn)
        return None if execution["status"] == "RUNNING" else execution

    return poll(described, deadline=deadline, what=f"execution {execution_arn} to end")


def detail_keys(events: list[dict[str, Any]]) -> set[str]:
    """Every field of every event's details (``executionStartedEventDetails``, ``taskScheduledEventDetails``, ...)."""
    details = [value for event in events for name, value in event.items() if name.endswith("EventDetails")]
    return {key for detail in details for key in detail}


def attempts_per_state(events: list[dict[str, Any]]) -> dict[str, int]:
    """How often each state's task was scheduled, from a history: more than once is a retry."""
    attempts: dict[str, int] = {}
    state = None
    for event in events:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
            attempts.setdefault(state, 0)
        elif event["type"] in TASK_SCHEDULED:
            attempts[state] += 1
    return attempts


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response


def test_every_nameless_start_gets_its_own_uuid_and_every_listed_execution_has_a_name(stepfunctions, machine_arn):
    arns = [stepfunctions.start_execution(stateMachineArn=machine_arn)["executionArn"] for _ in range(2)]
    executions = [ended(stepfunctions, arn) for arn in arns]

    names = [execution["name"] for execution in executions]
    assert [str(uuid.UUID(name)) for name in names] == names and len(set(names)) == 2
    assert [arn.rsplit(":", 1)[1] for arn in arns] == names
    listed = stepfunctions.list_executions(stateMachineArn=machine_arn, maxResults=1000)["executions"]
    assert set(names) <= {execution["name"] for execution in listed}
    assert all(execution.get("name") for execution in listed)


def test_input_that_is_not_json_is_refused_as_invalid_execution_input(stepfunctions, machine_arn):
    answer = refused(lambda: stepfunctions.start_execution(stateMachineArn=machine_arn, input="{not json"))

    assert answer["Error"]["Code"] == "InvalidExecutionInput"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_history_in_reverse_order_starts_with_the_newest_event(stepfunctions, machine_arn):
    arn = stepfunctions.start_execution(stateMachineArn=machine_arn, input="{}")["executionArn"]
    ended(stepfunctions, arn)

    oldest_first = stepfunctions.get_execution_history(executionArn=arn)["events"]
    newest_first = stepfunctions.get_execution_history(executionArn=arn, reverseOrder=True)["events"]

    assert [event["id"] for event in newest_first] == [event["id"] for event in reversed(oldest_first)]
    assert (oldest_first[0]["type"], newest_first[0]["type"]) == ("ExecutionStarted", "ExecutionFailed")


def test_the_history_pages_as_documented(stepfunctions, machine_arn):
    arn = stepfunctions.start_execution(stateMachineArn=machine_arn, input="{}")["executionArn"]
    ended(stepfunctions, arn)
    everything = [event["id"] for event in stepfunctions.get_execution_history(executionArn=arn)["events"]]

    paged = [
        event["id"]
        for page in stepfunctions.get_paginator("get_execution_history").paginate(
            executionArn=arn, PaginationConfig={"PageSize": 3}
        )
        for event in page["events"]
    ]

    assert paged == everything and len(everything) > 3


def test_without_execution_data_the_history_leaves_out_every_input_and_output(stepfunctions, machine_arn):
    marked = json.dumps({"note": "ops-marker-7f3a"})
    arn = stepfunctions.start_execution(stateMachineArn=machine_arn, input=marked)["executionArn"]
    ended(stepfunctions, arn)

    with_data = stepfunctions.get_execution_history(executionArn=arn)["events"]
    without = stepfunctions.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]

    assert detail_keys(with_data) >= {"input", "output", "parameters"}
    assert not detail_keys(without) & EXECUTION_DATA
    leaking = [event for event in without if "ops-marker-7f3a" in json.dumps(event, default=str)]
    assert {event["type"] for event in leaking} <= {"TaskFailed", "ExecutionFailed"}, [e["type"] for e in leaking]
    assert all("States.TaskFailed" in json.dumps(event, default=str) for event in leaking), (
        "only a failed child's cause holds it: AWS's DescribeExecution of the child, input included, is not data"
    )
    assert [event["type"] for event in without] == [event["type"] for event in with_data]


@pytest.mark.parametrize("status", ["DONE", "succeeded", "PENDING_REDRIVE"])
def test_listing_by_a_status_that_does_not_exist_is_a_validation_exception(stepfunctions, machine_arn, status):
    answer = refused(lambda: stepfunctions.list_executions(stateMachineArn=machine_arn, statusFilter=status))

    assert answer["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    ("execution_input", "error", "says"),
    [
        ({}, "InvalidExecutionInput", "The execution input is not an order (execution.orderId: Field required)"),
        (
            {"orderId": 7, "items": "many"},
            "InvalidExecutionInput",
            "The execution input is not an order (execution.orderId: Input should be a valid string)",
        ),
        ("hello", "States.ResultPathMatchFailure", "Unable to apply ResultPath $.error to the input of state"),
    ],
    ids=["empty-object", "wrong-types", "a-string"],
)
def test_an_input_that_is_no_order_fails_fast_and_says_what_is_wrong(
    stepfunctions, machine_arn, execution_input, error, says
):
    """Fast: no task is retried, in the parent or in its preparation child (the histories say so; a figure in
    seconds would measure the machine)."""
    arn = stepfunctions.start_execution(stateMachineArn=machine_arn, input=json.dumps(execution_input))["executionArn"]
    execution = ended(stepfunctions, arn)
    events = stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    children = [
        json.loads(event["taskSubmittedEventDetails"]["output"])["ExecutionArn"]
        for event in events
        if event["type"] == "TaskSubmitted"
    ]
    histories = [events] + [
        stepfunctions.get_execution_history(executionArn=child, maxResults=1000)["events"] for child in children
    ]

    assert execution["status"] == "FAILED"
    assert children, "the parent started its preparation child"
    retried = [(state, n) for history in histories for state, n in attempts_per_state(history).items() if n > 1]
    assert not retried, f"retried: {retried}"
    assert (execution["error"], execution["cause"][: len(says)]) == (error, says)
    assert not any(python in execution["cause"] for python in ("TypeError", "Traceback", "stackTrace"))


@pytest.mark.parametrize("path", ["/moto-api/recorder/start-recording", "/moto-api/seed?a=42", "/moto-api/"])
def test_a_web_page_cannot_reach_motos_own_api_on_the_aws_endpoint(local_only: OrdersService, path):
    """An ``<img src=".../moto-api/recorder/start-recording">`` on any site sends exactly this GET, with no Origin."""
    request = urllib.request.Request(f"{local_only.aws_endpoint}{path}", method="GET")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 403
    assert local_only.stepfunctions().list_state_machines()["stateMachines"], "the endpoint still answers AWS calls"


def test_a_signature_a_page_writes_into_the_query_string_is_no_signature(local_only: OrdersService):
    """moto checks no signature, so a presigned-looking query made any form an AWS call: this one created a SimpleDB
    domain (moto finds the service from ``Version`` in an unsigned body). A browser without ``Sec-Fetch-*`` headers,
    or any client, sends it as here."""
    forged = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local%2F20261206%2Fus-east-1%2Fsdb%2Faws4_request"
    request = urllib.request.Request(
        f"{local_only.aws_endpoint}/?{forged}&X-Amz-Signature=forged",
        data=b"Action=CreateDomain&DomainName=from-a-form&Version=2009-04-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 403
    simpledb = boto3.client(
        "sdb",
        endpoint_url=local_only.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(signature_version="v4"),
    )
    assert "from-a-form" not in simpledb.list_domains().get("DomainNames", [])
