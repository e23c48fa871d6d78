"""StartSyncExecution on moto's engine: an Express execution run to its end, answered in AWS's documented shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.moto import EXECUTION_END_LISTENERS, fidelity, install_time_scale
from local.aws.stepfunctions.endpoint import serve_sync_executions_and_test_state
from local.provisioning import LOCAL_ROLE_ARN
from tests.botocore_shapes import shape_problems

PRICE = {
    "StartAt": "Price",
    "States": {"Price": {"Type": "Pass", "Parameters": {"totalCents.$": "States.MathAdd($.cents, 1)"}, "End": True}},
}
REFUSE = {"StartAt": "Refuse", "States": {"Refuse": {"Type": "Fail", "Error": "OrderValidationError", "Cause": "no"}}}
LINGER = {"StartAt": "Linger", "States": {"Linger": {"Type": "Wait", "Seconds": 30, "End": True}}}


@pytest.fixture
def stepfunctions() -> Iterator[Any]:
    install_time_scale(1)
    serve_sync_executions_and_test_state()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=LOCAL_REGION)


def machine(stepfunctions: Any, definition: dict[str, Any], kind: str = "EXPRESS") -> str:
    return stepfunctions.create_state_machine(
        name=f"m-{kind.lower()}-{len(json.dumps(definition))}",
        definition=json.dumps(definition),
        roleArn=LOCAL_ROLE_ARN,
        type=kind,
    )["stateMachineArn"]


def synchronously(stepfunctions: Any, **request: Any) -> dict[str, Any]:
    answer = stepfunctions.start_sync_execution(**request)
    assert shape_problems(answer, "stepfunctions", "StartSyncExecution") == []
    return answer


def test_an_express_execution_runs_to_its_end_and_answers_with_its_output(stepfunctions):
    arn = machine(stepfunctions, PRICE)
    listeners = list(EXECUTION_END_LISTENERS)

    answer = synchronously(stepfunctions, stateMachineArn=arn, input='{"cents": 41}', traceHeader="Root=1-a-b")

    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"totalCents": 42}
    assert (answer["input"], answer["traceHeader"], answer["stateMachineArn"]) == ('{"cents":41}', "Root=1-a-b", arn)
    assert answer["startDate"] <= answer["stopDate"]
    assert answer["billingDetails"]["billedMemoryUsedInMB"] == 64
    assert answer["billingDetails"]["billedDurationInMilliseconds"] % 100 == 0
    assert "error" not in answer
    assert listeners == EXECUTION_END_LISTENERS, "the call left its end listener behind"


def test_a_failed_execution_answers_200_with_its_error_and_cause(stepfunctions):
    answer = synchronously(stepfunctions, stateMachineArn=machine(stepfunctions, REFUSE), name="refused-1")

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (answer["status"], answer["error"], answer["cause"], answer["name"]) == (
        "FAILED",
        "OrderValidationError",
        "no",
        "refused-1",
    )
    assert "output" not in answer


def test_metadata_only_leaves_the_input_and_output_out(stepfunctions):
    answer = synchronously(
        stepfunctions, stateMachineArn=machine(stepfunctions, PRICE), input='{"cents": 1}', includedData="METADATA_ONLY"
    )

    assert answer["status"] == "SUCCEEDED"
    assert "input" not in answer and "output" not in answer
    assert answer["inputDetails"] == {"included": False}


def test_an_execution_past_the_express_limit_times_out(stepfunctions, monkeypatch):
    monkeypatch.setattr(fidelity, "EXPRESS_MAX_SECONDS", 0.2)

    answer = synchronously(stepfunctions, stateMachineArn=machine(stepfunctions, LINGER))

    assert answer["status"] == "TIMED_OUT"


def test_a_standard_state_machine_is_refused(stepfunctions):
    arn = machine(stepfunctions, PRICE, kind="STANDARD")

    with pytest.raises(ClientError) as error:
        stepfunctions.start_sync_execution(stateMachineArn=arn)

    assert error.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_input_that_is_not_json_is_refused(stepfunctions):
    with pytest.raises(ClientError) as error:
        stepfunctions.start_sync_execution(stateMachineArn=machine(stepfunctions, PRICE), input="{not json")

    assert error.value.response["Error"]["Code"] == "InvalidExecutionInput"
