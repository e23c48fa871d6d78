"""TestState on moto's engine: the real ASL files' states, mocks checked against botocore's shapes, one attempt.

Each test calls TestState as a test author would, with a default boto3 client (in-process it reaches the
``sync-states`` host botocore sends the call to) and checks the answer against AWS's documented output shape.
Where AWS's own answers are known (TestState's mock scenarios, recorded against AWS) the messages are AWS's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.moto import install_time_scale
from local.aws.stepfunctions.endpoint import serve_sync_executions_and_test_state
from local.provisioning import LOCAL_ROLE_ARN, resolve_locally
from tests.botocore_shapes import shape_problems
from workflows.resources import ORDER_PREPARATION, ORDER_WORKFLOW

PREPARATION = ORDER_PREPARATION.render(resolve_locally)
WORKFLOW = ORDER_WORKFLOW.render(resolve_locally)
PRICED_ORDER = json.dumps(
    {
        "order": {"orderId": "ord-1"},
        "pricing": {"lines": [{"sku": "KB-TKL-01", "quantity": 1}], "totalCents": 8999, "currency": "USD"},
    }
)
TRANSIENT_DECLINE = {"errorOutput": {"error": "PaymentProviderTransientError", "cause": "the gateway answered 503"}}
RETRIED_FIVE_TIMES = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "f", "Payload.$": "$"},
    "Retry": [
        {"ErrorEquals": ["Other"], "MaxAttempts": 1},
        {"ErrorEquals": ["MockException"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2.0},
    ],
    "End": True,
}
"""A retrier without jitter, so its backoff is exact: AWS answers 16 seconds after four retries."""


@pytest.fixture
def stepfunctions() -> Iterator[Any]:
    install_time_scale(1)
    serve_sync_executions_and_test_state()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=LOCAL_REGION)


def answer_of(stepfunctions: Any, **request: Any) -> dict[str, Any]:
    answer = stepfunctions.test_state(**request)
    assert shape_problems(answer, "stepfunctions", "TestState") == []
    return answer


def refused(stepfunctions: Any, **request: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as error:
        stepfunctions.test_state(**request)
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error.value.response["Error"]


def test_a_state_of_the_real_definition_passes_its_output_to_its_next_state(stepfunctions):
    answer = answer_of(
        stepfunctions,
        definition=PREPARATION,
        stateName="Prepared",
        input=json.dumps({"pricing": {"totalCents": 1}, "preparation": {"payment": {"authorizationId": "a-1"}}}),
    )

    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"pricing": {"totalCents": 1}, "authorizationId": "a-1"}
    assert "nextState" not in answer and "inspectionData" not in answer


def test_a_retried_error_is_retriable_with_the_retrier_and_its_backoff(stepfunctions):
    answer = answer_of(
        stepfunctions,
        definition=PREPARATION,
        stateName="AuthorizePayment",
        input=PRICED_ORDER,
        mock=TRANSIENT_DECLINE,
        inspectionLevel="DEBUG",
    )

    assert (answer["status"], answer["error"], answer["cause"]) == (
        "RETRIABLE",
        "PaymentProviderTransientError",
        "the gateway answered 503",
    )
    assert "nextState" not in answer and "output" not in answer
    details = answer["inspectionData"]["errorDetails"]
    assert details["retryIndex"] == 0
    assert 0 <= details["retryBackoffIntervalSeconds"] <= 1  # IntervalSeconds 1, full jitter
    assert json.loads(answer["inspectionData"]["afterParameters"])["Payload"] == {
        "orderId": "ord-1",
        "amountCents": 8999,
        "currency": "USD",
    }


def test_the_backoff_grows_with_the_retries_already_made_and_an_exhausted_retrier_fails(stepfunctions):
    request = {
        "definition": json.dumps(RETRIED_FIVE_TIMES),
        "input": "{}",
        "mock": {"errorOutput": {"error": "MockException", "cause": "Mock the cause of the error."}},
        "inspectionLevel": "TRACE",
    }

    four = answer_of(stepfunctions, **request, stateConfiguration={"retrierRetryCount": 4})
    five = answer_of(stepfunctions, **request, stateConfiguration={"retrierRetryCount": 5})

    assert four["status"] == "RETRIABLE"
    assert four["inspectionData"]["errorDetails"] == {"retryIndex": 1, "retryBackoffIntervalSeconds": 16}
    assert (five["status"], five["error"]) == ("FAILED", "MockException")
    assert five["inspectionData"]["errorDetails"] == {"retryIndex": 1}


def test_an_error_past_its_retries_is_caught_with_the_catchers_next_state(stepfunctions):
    answer = answer_of(
        stepfunctions,
        definition=PREPARATION,
        stateName="ReserveInventory",
        input=PRICED_ORDER,
        mock={"errorOutput": {"error": "OutOfStockError", "cause": "KB-TKL-01: 0 left"}},
        inspectionLevel="DEBUG",
    )

    assert (answer["status"], answer["nextState"]) == ("CAUGHT_ERROR", "InventoryReservationFailed")
    assert json.loads(answer["output"]) == {"Error": "OutOfStockError", "Cause": "KB-TKL-01: 0 left"}
    assert answer["inspectionData"]["errorDetails"] == {"catchIndex": 0}


def test_a_mocked_result_goes_through_the_result_selector(stepfunctions):
    result = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": {"authorizationId": "auth-7"}}

    answer = answer_of(
        stepfunctions,
        definition=PREPARATION,
        stateName="AuthorizePayment",
        input=PRICED_ORDER,
        mock={"result": json.dumps(result)},
        inspectionLevel="DEBUG",
    )

    assert (answer["status"], json.loads(answer["output"])) == ("SUCCEEDED", {"authorizationId": "auth-7"})
    assert json.loads(answer["inspectionData"]["result"]) == result


@pytest.mark.parametrize(
    ("result", "mode", "message"),
    [
        ({"StatusCode": "200"}, "STRICT", "Field 'StatusCode' must be a number"),
        ({"StatusCode": "200"}, "PRESENT", "Field 'StatusCode' must be a number"),
        ({"FunctionError": 7}, "PRESENT", "Field 'FunctionError' must be a string"),
    ],
)
def test_a_mocked_result_that_does_not_fit_the_lambda_invoke_shape_is_refused(stepfunctions, result, mode, message):
    error = refused(
        stepfunctions,
        definition=PREPARATION,
        stateName="AuthorizePayment",
        input=PRICED_ORDER,
        mock={"result": json.dumps(result), "fieldValidationMode": mode},
    )

    assert error == {"Code": "ValidationException", "Message": f"Mock result schema validation error: {message}"}


@pytest.mark.parametrize(
    ("mode", "status"),
    [("STRICT", None), ("PRESENT", "SUCCEEDED"), ("NONE", "SUCCEEDED")],
)
def test_a_missing_required_field_fails_only_the_strict_mode(stepfunctions, mode, status):
    request = {
        "definition": WORKFLOW,
        "stateName": "PrepareOrder",
        "input": "{}",
        "mock": {
            "result": json.dumps({"Status": "SUCCEEDED", "Output": {"pricing": {}, "authorizationId": "a-1"}, "X": 1}),
            "fieldValidationMode": mode,
        },
    }

    if status is None:
        assert refused(stepfunctions, **request) == {
            "Code": "ValidationException",
            "Message": "Mock result schema validation error: Required field 'ExecutionArn' is missing",
        }
    else:
        assert answer_of(stepfunctions, **request)["status"] == status


def test_a_choice_reads_and_assigns_variables(stepfunctions):
    answer = answer_of(
        stepfunctions,
        definition=WORKFLOW,
        stateName="RoutePreparationFailure",
        input="{}",
        variables=json.dumps({"preparationFailure": {"Error": "PaymentDeclinedError"}}),
        inspectionLevel="DEBUG",
    )

    assert (answer["status"], answer["nextState"]) == ("SUCCEEDED", "VoidOrRefundPayment")
    assert json.loads(answer["inspectionData"]["variables"]) == {
        "preparationFailure": {"Error": "PaymentDeclinedError"},
        "failureStatus": "PAYMENT_DECLINED",
        "failureError": "PaymentDeclinedError",
    }


def test_a_mocked_parallel_state_takes_the_mock_as_its_branches_results(stepfunctions):
    answer = answer_of(
        stepfunctions,
        definition=PREPARATION,
        stateName="AuthorizeAndReserve",
        input="{}",
        mock={"result": json.dumps([{"authorizationId": "a-1"}, {"reservedUnits": 3}])},
    )

    assert (answer["status"], answer["nextState"]) == ("SUCCEEDED", "CheckAuthorizedAndReserved")
    assert json.loads(answer["output"]) == {
        "preparation": {"payment": {"authorizationId": "a-1"}, "inventory": {"reservedUnits": 3}}
    }


def test_a_map_iterations_context_reaches_the_state_inside_it(stepfunctions):
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "f",
            "Payload": {"sku.$": "$$.Map.Item.Value.sku", "index.$": "$$.Map.Item.Index"},
        },
        "End": True,
    }

    answer = answer_of(
        stepfunctions,
        definition=json.dumps(task),
        input="{}",
        context=json.dumps({"Map": {"Item": {"Index": 2, "Value": {"sku": "KB-TKL-01"}}}}),
        mock={"result": json.dumps({"StatusCode": 200, "Payload": {}})},
        inspectionLevel="DEBUG",
    )

    assert json.loads(answer["inspectionData"]["afterParameters"])["Payload"] == {"sku": "KB-TKL-01", "index": 2}


def test_a_fail_state_fails_with_its_error_and_cause(stepfunctions):
    answer = answer_of(stepfunctions, definition=json.dumps({"Type": "Fail", "Error": "Nope", "Cause": "because"}))

    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Nope", "because")


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            {"definition": json.dumps({"Type": "Pass", "End": True}), "mock": {"result": "{}"}},
            "ValidationException",
            "State type 'Pass' is not supported when a mock is specified",
        ),
        (
            {"definition": PREPARATION, "stateName": "AuthorizeAndReserve"},
            "InvalidDefinition",
            "TestState API does not support Map or Parallel states. Supported state types include: "
            "[Task, Wait, Pass, Succeed, Fail, Choice]",
        ),
        (
            {"definition": PREPARATION, "stateName": "AuthorizeAndReserve", "mock": {"result": "[1]"}},
            "ValidationException",
            "Mocked result must contain the same number of items as number of Parallel branches.",
        ),
        (
            {"definition": PREPARATION, "stateName": "ValidateOrder", "mock": {"result": "not JSON"}},
            "ValidationException",
            "Mocked result must be valid JSON",
        ),
        (
            {
                "definition": PREPARATION,
                "stateName": "ValidateOrder",
                "mock": {"result": "{}", "errorOutput": {"error": "E"}},
            },
            "ValidationException",
            "A test mock should have only one of the following fields: [result, errorOutput].",
        ),
        (
            {"definition": PREPARATION, "stateName": "ValidateOrder", "mock": {"result": "{}"}, "revealSecrets": True},
            "ValidationException",
            "TestState does not support RevealSecrets when a mock is specified.",
        ),
        (
            {"definition": PREPARATION, "stateName": "ValidateOrder"},
            "ValidationException",
            "RoleArn must be specified when testing a Task state",
        ),
        (
            {"definition": PREPARATION, "stateName": "NoSuchState"},
            "ValidationException",
            "State 'NoSuchState' not found in the definition",
        ),
        (
            {"definition": PREPARATION, "stateName": "Prepared", "inspectionLevel": "ALL"},
            "ValidationException",
            "1 validation error detected: Value 'ALL' at 'inspectionLevel' failed to satisfy constraint: "
            "Member must satisfy enum value set: [INFO, DEBUG, TRACE]",
        ),
    ],
    ids=[
        "mock-on-pass",
        "parallel-without-mock",
        "parallel-mock-size",
        "mock-not-json",
        "result-and-error",
        "reveal-secrets-with-mock",
        "task-without-role",
        "unknown-state",
        "unknown-level",
    ],
)
def test_what_aws_refuses_is_refused_with_its_error(stepfunctions, request_, code, message):
    assert refused(stepfunctions, **request_) == {"Code": code, "Message": message}


def test_an_invalid_definition_is_refused_as_invalid(stepfunctions):
    error = refused(stepfunctions, definition=json.dumps({"StartAt": "A", "States": {}}), stateName="A")

    assert error["Code"] == "InvalidDefinition"


def test_a_map_setting_the_engine_cannot_honour_is_refused_as_unsupported_locally(stepfunctions):
    error = refused(
        stepfunctions,
        definition=PREPARATION,
        stateName="AuthorizeAndReserve",
        mock={"result": "[{}, {}]"},
        stateConfiguration={"mapIterationFailureCount": 1},
    )

    assert error["Code"] == "UnsupportedOperation"
    assert "mapIterationFailureCount is not supported by the local AWS endpoint" in error["Message"]


def test_an_unmocked_task_runs_its_call(stepfunctions):
    """Without a mock the Task makes its call, as in AWS: here moto's Lambda has no such function."""
    answer = answer_of(
        stepfunctions, definition=PREPARATION, stateName="ValidateOrder", input=PRICED_ORDER, roleArn=LOCAL_ROLE_ARN
    )

    assert (answer["status"], answer["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")
