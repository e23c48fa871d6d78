"""The adapter around moto's Step Functions engine: supported versions, its wait points, and time acceleration.

``local/aws/moto/`` patches moto internals. If a moto upgrade moves one, these tests must fail loudly, before
time acceleration silently stops and every workflow test waits out real two-day timeouts.
"""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION, LambdaRunner, function_arn
from local.aws.moto import (
    CLOCK,
    WAIT_POINTS,
    ScaledEvent,
    VirtualClock,
    caches,
    fidelity,
    install_time_scale,
    quiet_engine_logs,
)
from local.aws.moto import clock as clock_module
from local.provisioning import LOCAL_ROLE_ARN
from local.testkit.fixtures import poll

from .sample_handlers import FAIL

HANG_GUARD_SECONDS = 60.0
"""How long a test waits for an execution to end before it calls that a hang; never what a test measures."""
ACCELERATED_DEADLINE_SECONDS = 60.0
"""A hang guard that still tells acceleration apart: unaccelerated, 150 declared seconds take 150 real ones."""

WAIT_POINT_USES = {
    ("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time"): "time.sleep(",
    ("moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function", "time"): "time.time()",
    ("moto.stepfunctions.parser.asl.eval.environment", "threading"): "threading.Event()",
    ("moto.stepfunctions.parser.asl.component.state.exec.execute_state", "threading"): "threading.Event()",
    ("moto.stepfunctions.parser.asl.eval.callback.callback", "Event"): "Event()",
}
"""How each moto module waits through the attribute the adapter replaces: the wait point's reason to exist."""


def test_moto_still_has_and_uses_every_wait_point_time_acceleration_replaces():
    """The loud failure on a moto upgrade: each attribute still exists, and the module still waits through it."""
    assert {(module.__name__, attribute) for module, attribute, _ in WAIT_POINTS} == set(WAIT_POINT_USES)
    for module, attribute, _ in WAIT_POINTS:
        assert hasattr(module, attribute), f"moto moved a wait point: {module.__name__}.{attribute} is gone"
        use = WAIT_POINT_USES[(module.__name__, attribute)]
        assert use in inspect.getsource(module), f"{module.__name__} no longer waits with {use}"


def test_moto_still_defines_every_method_the_engine_replaces():
    """The fixes (SendTaskFailure's cause, HeartbeatTimeout, atomic DynamoDB requests, the AWS endpoint's
    StartExecution, ListExecutions, GetExecutionHistory and ResultPath) and the caches replace these, as does the
    item-level transaction backup.

    Read from moto's source, not from the classes, which the engine may already have patched.
    """
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.responses import BaseResponse
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath
    from moto.stepfunctions.parser.asl.component.common.retry.backoff_rate_decl import BackoffRateDecl
    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsDecl
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringVariableSample
    from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import HeartbeatSeconds
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback import callback
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.test_state.environment import TestStateEnvironment
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.asl.parse.test_state.preprocessor import TestStatePreprocessor
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    for cls, method in [
        (StepFunctionResponse, "send_task_failure"),
        (StepFunctionResponse, "list_executions"),
        (StepFunctionResponse, "get_execution_history"),
        (StepFunctionsParserBackend, "start_execution"),
        (StepFunctionBackend, "_validate_name"),
        (ResultPath, "_eval_body"),
        (StateTask, "_from_error"),
        (callback.CallbackEndpoint, "setup_heartbeat_endpoint"),
        (TimeoutSeconds, "eval"),
        (HeartbeatSeconds, "eval"),
        (DynamoHandler, "call_action"),
        (ExecutionWorker, "_get_evaluation_entrypoint"),
        (StepFunctionsParserBackend, "_get_executions"),
        (dynamodb_models.DynamoDBBackend, "transact_write_items"),
        (Table, "all_items"),
        (Table, "query"),
        (Table, "put_item"),
        (Table, "delete_item"),
        (StateTaskServiceSfn, "_normalise_parameters"),
        (StateTaskServiceSfn, "_normalise_response"),
        (StringVariableSample, "_eval_body"),
        (Program, "eval"),
        (StepFunctionsParserBackend, "create_state_machine"),
        (BaseResponse, "_dispatch"),
        (ExecutionState, "_handle_retry"),
        (ExecutionState, "_handle_catch"),
        (ExecutionState, "_construct_error_output_value"),
        (StateParallel, "_eval_execution"),
        (StateMap, "_eval_execution"),
        (MaxAttemptsDecl, "_store_attempt_number"),
        (BackoffRateDecl, "_store_next_multiplier"),
        (TestStatePreprocessor, "visitState_decl_body"),
        (TestStateEnvironment, "as_frame_of"),
        (Environment, "is_mocked_mode"),
        (Preprocessor, "visitChoice_rule_comparison_variable"),
        (BotocoreStubber, "process_request"),
    ]:
        moto_classes = [klass for klass in cls.__mro__ if klass.__module__.startswith("moto.")]
        assert any(f"def {method}(" in inspect.getsource(klass) for klass in moto_classes), f"{cls.__name__}.{method}"
    assert "def boto_client_for(" in inspect.getsource(boto_client)
    assert "self.process_request(request)" in inspect.getsource(BotocoreStubber.__call__), (
        "mock_aws no longer answers through process_request: in-process interceptors would see nothing"
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

    assert "time.sleep(_DELAY_SECONDS_SYNC_CONDITION_CHECK)" in inspect.getsource(state_task_service_callback)
    assert "copy.deepcopy(" in inspect.getsource(dynamodb_models), "moto no longer backs up tables by deepcopy"
    from moto.dynamodb.models import table as table_module

    assert "isinstance(item, Item) and item.hash_key == hash_key" in inspect.getsource(table_module), (
        "moto's Query by partition key no longer filters all_items() by hash key: re-check the partition shortcut"
    )
    assert issubclass(callback.HeartbeatTimeoutError, Exception)
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.eval import variable_store

    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl), "TestState notes the retrier's wait"
    assert "self._inner_scope = {}" in inspect.getsource(variable_store), "TestState reads the variables it holds"


def test_virtual_clock_runs_factor_times_faster_from_when_the_factor_was_set(monkeypatch):
    real = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(clock_module, "real_time", SimpleNamespace(time=lambda: real.now))
    clock = VirtualClock()

    real.now += 2
    assert clock.time() == 1002.0
    clock.set_factor(100)
    real.now += 3
    assert clock.time() == 1002.0 + 300
    assert clock.real_seconds(50) == 0.5
    assert clock.real_seconds(None) is None


@pytest.mark.parametrize("factor", [0, -1])
def test_virtual_clock_refuses_a_factor_that_is_not_positive(factor):
    with pytest.raises(ValueError, match="must be positive"):
        VirtualClock().set_factor(factor)


@pytest.fixture
def accelerated() -> Iterator[None]:
    """The engine at 1000 times real speed, and back to real time afterwards whatever the test did."""
    quiet_engine_logs()
    install_time_scale(1000)
    try:
        yield
    finally:
        install_time_scale(1)


class RealWaitsRecorded(threading.Event):
    """Below ``ScaledEvent`` in a test's event class: records the real seconds each wait was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.real_timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.real_timeouts.append(timeout)
        return super().wait(timeout)


class RecordedScaledEvent(ScaledEvent, RealWaitsRecorded):
    """A ``ScaledEvent`` whose real waits are recorded."""


def test_a_scaled_event_waits_the_scaled_time(accelerated):
    event = RecordedScaledEvent()

    assert event.wait(20) is False

    assert CLOCK.factor == 1000.0
    assert event.real_timeouts == [pytest.approx(0.02)], "20 virtual seconds are 20 real milliseconds"


WAIT_AND_RETRY = {
    "StartAt": "Pause",
    "States": {
        "Pause": {"Type": "Wait", "Seconds": 100, "Next": "Attempt"},
        "Attempt": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn(FAIL.logical_name), "Payload": {"orderId.$": "$.orderId"}},
            "Retry": [{"ErrorEquals": ["SampleTaskError"], "IntervalSeconds": 50, "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
            "End": True,
        },
        "Done": {"Type": "Succeed"},
    },
}
"""150 declared seconds of waiting: a Wait state, then a Task that fails, waits out its retry, and fails again."""


def start(stepfunctions: Any, definition: dict[str, Any], execution_input: dict[str, Any]) -> str:
    state_machine = stepfunctions.create_state_machine(
        name="wait-and-retry", definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN, type="STANDARD"
    )
    execution = stepfunctions.start_execution(
        stateMachineArn=state_machine["stateMachineArn"], input=json.dumps(execution_input)
    )
    return execution["executionArn"]


def ended(stepfunctions: Any, execution_arn: str) -> dict[str, Any] | None:
    execution = stepfunctions.describe_execution(executionArn=execution_arn)
    return None if execution["status"] == "RUNNING" else execution


def test_a_wait_and_a_retry_interval_run_accelerated_with_the_history_in_definition_order(accelerated):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        runner = LambdaRunner([FAIL])
        runner.install()
        try:
            stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
            execution_arn = start(stepfunctions, WAIT_AND_RETRY, {"orderId": "o-1"})
            execution = poll(
                lambda: ended(stepfunctions, execution_arn),
                deadline=ACCELERATED_DEADLINE_SECONDS,
                what="150 declared seconds, accelerated",
            )
            history = stepfunctions.get_execution_history(executionArn=execution_arn)["events"]
        finally:
            runner.uninstall()

    assert execution["status"] == "SUCCEEDED"
    assert [event["type"] for event in history] == [
        "ExecutionStarted",
        "WaitStateEntered",
        "WaitStateExited",
        "TaskStateEntered",
        *["TaskScheduled", "TaskStarted", "TaskFailed"] * 2,
        "TaskStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    failures = [event["taskFailedEventDetails"]["error"] for event in history if event["type"] == "TaskFailed"]
    assert failures == ["SampleTaskError", "SampleTaskError"]
    assert runner.invocations[FAIL.logical_name] == 2


@pytest.fixture
def dynamodb_with_patched_transactions() -> Iterator[Any]:
    install_time_scale(1)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=LOCAL_REGION)
        for name, keys in {"stock": ["sku"], "lines": ["orderId", "line"]}.items():
            client.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": key, "KeyType": kind} for key, kind in zip(keys, ["HASH", "RANGE"], strict=False)
                ],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        client.put_item(TableName="stock", Item={"sku": {"S": "A"}, "stock": {"N": "5"}})
        client.put_item(TableName="stock", Item={"sku": {"S": "B"}, "stock": {"N": "0"}})
        yield client


def _decrement(sku: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "stock",
            "Key": {"sku": {"S": sku}},
            "UpdateExpression": "SET stock = stock - :one",
            "ConditionExpression": "stock >= :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def _stock(client: Any, sku: str) -> int:
    return int(client.get_item(TableName="stock", Key={"sku": {"S": sku}}, ConsistentRead=True)["Item"]["stock"]["N"])


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(dynamodb_with_patched_transactions):
    client = dynamodb_with_patched_transactions
    new_line = {"Put": {"TableName": "lines", "Item": {"orderId": {"S": "o-1"}, "line": {"S": "1"}}}}

    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[_decrement("A"), new_line, _decrement("B")])

    assert _stock(client, "A") == 5 and _stock(client, "B") == 0
    assert client.scan(TableName="lines")["Count"] == 0


def test_a_committed_transaction_writes_every_item_and_leaves_the_rest_of_the_table(dynamodb_with_patched_transactions):
    client = dynamodb_with_patched_transactions
    client.put_item(TableName="lines", Item={"orderId": {"S": "o-0"}, "line": {"S": "1"}})
    new_line = {"Put": {"TableName": "lines", "Item": {"orderId": {"S": "o-1"}, "line": {"S": "1"}}}}

    client.transact_write_items(TransactItems=[_decrement("A"), new_line])

    assert _stock(client, "A") == 4 and _stock(client, "B") == 0
    assert client.scan(TableName="lines")["Count"] == 2


def test_a_transaction_does_not_copy_the_tables_it_names(dynamodb_with_patched_transactions, monkeypatch):
    from moto.dynamodb.models.table import Table

    copied_tables = []
    monkeypatch.setattr(Table, "__deepcopy__", lambda table, memo: copied_tables.append(table.name), raising=False)

    dynamodb_with_patched_transactions.transact_write_items(TransactItems=[_decrement("A")])

    assert copied_tables == []


def _lines(client: Any) -> list[tuple[str, str]]:
    response = client.query(
        TableName="lines",
        KeyConditionExpression="orderId = :order",
        ExpressionAttributeValues={":order": {"S": "o-1"}},
    )
    return [(item["line"]["S"], item.get("note", {}).get("S", "")) for item in response["Items"]]


def test_queries_see_every_put_replace_update_and_delete_since_the_last_one(dynamodb_with_patched_transactions):
    client = dynamodb_with_patched_transactions

    def put(line: str, note: str = "") -> None:
        item = {"orderId": {"S": "o-1"}, "line": {"S": line}, **({"note": {"S": note}} if note else {})}
        client.put_item(TableName="lines", Item=item)

    put("2")
    assert _lines(client) == [("2", "")]
    put("1")
    assert _lines(client) == [("1", ""), ("2", "")]
    put("1", note="replaced")
    assert _lines(client) == [("1", "replaced"), ("2", "")]
    client.update_item(
        TableName="lines",
        Key={"orderId": {"S": "o-1"}, "line": {"S": "2"}},
        UpdateExpression="SET note = :note",
        ExpressionAttributeValues={":note": {"S": "updated"}},
    )
    assert _lines(client) == [("1", "replaced"), ("2", "updated")]
    client.delete_item(TableName="lines", Key={"orderId": {"S": "o-1"}, "line": {"S": "1"}})
    assert _lines(client) == [("2", "updated")]
    cancelled = {"Put": {"TableName": "lines", "Item": {"orderId": {"S": "o-1"}, "line": {"S": "3"}}}}
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[cancelled, _decrement("B")])
    assert _lines(client) == [("2", "updated")]


@pytest.fixture
def table_sorts(monkeypatch) -> list[str]:
    """The name of each table moto sorts whole (``Table.all_items`` as shipped), in order."""
    sorts: list[str] = []
    unsorted_all_items = caches._all_items
    monkeypatch.setattr(caches, "_all_items", lambda table: sorts.append(table.name) or unsorted_all_items(table))
    return sorts


def _scanned_lines(client: Any) -> int:
    return client.scan(TableName="lines")["Count"]


def test_a_table_is_sorted_once_between_writes_however_often_it_is_scanned(
    dynamodb_with_patched_transactions, table_sorts
):
    client = dynamodb_with_patched_transactions
    client.put_item(TableName="lines", Item={"orderId": {"S": "o-1"}, "line": {"S": "1"}})

    assert [_scanned_lines(client) for _ in range(3)] == [1, 1, 1]
    client.put_item(TableName="lines", Item={"orderId": {"S": "o-1"}, "line": {"S": "2"}})
    assert _scanned_lines(client) == 2

    assert table_sorts == ["lines", "lines"]


def test_a_query_by_partition_key_reads_its_partition_in_order_without_sorting_the_table(
    dynamodb_with_patched_transactions, table_sorts
):
    client = dynamodb_with_patched_transactions
    for order, line in [("o-2", "1"), ("o-1", "3"), ("o-0", "1"), ("o-1", "1"), ("o-1", "2"), ("o-3", "9")]:
        client.put_item(TableName="lines", Item={"orderId": {"S": order}, "line": {"S": line}})

    def page(**extra: Any) -> dict[str, Any]:
        return client.query(
            TableName="lines",
            KeyConditionExpression="orderId = :order",
            ExpressionAttributeValues={":order": {"S": "o-1"}},
            **extra,
        )

    first = page(Limit=2)
    rest = page(ExclusiveStartKey=first["LastEvaluatedKey"])
    backwards = page(ScanIndexForward=False)
    missing = client.query(
        TableName="lines",
        KeyConditionExpression="orderId = :order",
        ExpressionAttributeValues={":order": {"S": "o-9"}},
    )

    assert [item["line"]["S"] for item in first["Items"] + rest["Items"]] == ["1", "2", "3"]
    assert [item["line"]["S"] for item in backwards["Items"]] == ["3", "2", "1"]
    assert missing["Items"] == []
    assert table_sorts == []


def test_a_table_with_only_a_partition_key_is_queried_by_its_key(dynamodb_with_patched_transactions, table_sorts):
    response = dynamodb_with_patched_transactions.query(
        TableName="stock",
        KeyConditionExpression="sku = :sku",
        ExpressionAttributeValues={":sku": {"S": "A"}},
    )

    assert [item["stock"]["N"] for item in response["Items"]] == ["5"]
    assert table_sorts == []


@pytest.mark.parametrize("worker", [None, SimpleNamespace(env=None)], ids=["no worker yet", "worker without env"])
@pytest.mark.parametrize("callback", ["success", "failure", "heartbeat"])
def test_a_callback_skips_an_execution_that_is_still_starting(worker, callback):
    """moto lists an execution as RUNNING before its worker builds the environment that holds task tokens."""
    from botocore.exceptions import ClientError
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    install_time_scale(1)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
        stepfunctions.create_state_machine(
            name="starting",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=LOCAL_ROLE_ARN,
        )
        machine = stepfunctions_parser_backends[DEFAULT_ACCOUNT_ID][LOCAL_REGION].state_machines[0]
        machine.executions.append(SimpleNamespace(status=ExecutionStatus.RUNNING, exec_worker=worker))
        send = {
            "success": lambda: stepfunctions.send_task_success(taskToken="never-issued", output="{}"),
            "failure": lambda: stepfunctions.send_task_failure(taskToken="never-issued", error="E", cause="c"),
            "heartbeat": lambda: stepfunctions.send_task_heartbeat(taskToken="never-issued"),
        }[callback]

        with pytest.raises(ClientError) as refused:
            send()

    assert refused.value.response["Error"]["Code"] == "InvalidToken"


@pytest.fixture
def stepfunctions() -> Iterator[Any]:
    """moto's Step Functions engine, adapted as the local stack runs it, answering a boto3 client."""
    install_time_scale(1)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=LOCAL_REGION)


TWO_PASSES = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Pass", "Result": {"step": 1}, "ResultPath": "$.first", "Next": "Second"},
        "Second": {"Type": "Pass", "End": True},
    },
}
"""Eight events: started, two states entered and exited, succeeded; the first adds its result to the input."""


def state_machine(stepfunctions: Any, definition: dict[str, Any]) -> str:
    return stepfunctions.create_state_machine(
        name="adapted", definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN
    )["stateMachineArn"]


def run_to_the_end(stepfunctions: Any, machine_arn: str, execution_input: str = "{}", **name: str) -> dict[str, Any]:
    arn = stepfunctions.start_execution(stateMachineArn=machine_arn, input=execution_input, **name)["executionArn"]
    return poll(lambda: ended(stepfunctions, arn), deadline=HANG_GUARD_SECONDS, what=f"execution {arn} to end")


def error_of(call: Any) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]


def test_every_nameless_start_gets_a_uuid_name_as_in_aws(stepfunctions):
    machine = state_machine(stepfunctions, TWO_PASSES)

    first = run_to_the_end(stepfunctions, machine)
    second = run_to_the_end(stepfunctions, machine)

    names = [execution["name"] for execution in (first, second)]
    assert [str(uuid.UUID(name)) for name in names] == names and names[0] != names[1]
    assert [execution["executionArn"].rsplit(":", 1)[1] for execution in (first, second)] == names
    listed = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    assert sorted(execution["name"] for execution in listed) == sorted(names)


@pytest.mark.parametrize("name", ["two words", "brackets[1]", "a/b", "x" * 81])
def test_a_name_aws_refuses_is_refused(stepfunctions, name):
    machine = state_machine(stepfunctions, TWO_PASSES)

    code, _ = error_of(lambda: stepfunctions.start_execution(stateMachineArn=machine, name=name))

    assert code in {"InvalidName", "ValidationException"}
    assert stepfunctions.list_executions(stateMachineArn=machine)["executions"] == []


def test_input_that_is_not_json_is_invalid_execution_input(stepfunctions):
    machine = state_machine(stepfunctions, TWO_PASSES)

    code, message = error_of(lambda: stepfunctions.start_execution(stateMachineArn=machine, input="{not json"))

    assert code == "InvalidExecutionInput" and message


def test_every_error_of_the_engine_is_one_the_response_serializer_names():
    """moto 5.2.6 serializes a ``ServiceException``'s ``code``, so the engine's errors reach clients with their
    codes and no adapter sets them; an error outside that class would reach clients with an empty code again."""
    from moto.core.exceptions import ServiceException
    from moto.stepfunctions.parser import api

    coded = [error for error in vars(api).values() if isinstance(error, type) and "code" in error.__dict__]

    assert api.InvalidExecutionInput in coded and api.TaskTimedOut in coded
    assert all(issubclass(error, ServiceException) for error in coded)


def event_ids(page: dict[str, Any]) -> list[int]:
    return [event["id"] for event in page["events"]]


def all_pages(stepfunctions: Any, **request: Any) -> list[list[int]]:
    pages, token = [], None
    while True:
        page = stepfunctions.get_execution_history(**request, **({"nextToken": token} if token else {}))
        pages.append(event_ids(page))
        token = page.get("nextToken")
        if not token:
            return pages


def test_the_history_comes_in_pages_oldest_or_with_reverse_order_newest_first(stepfunctions):
    arn = run_to_the_end(stepfunctions, state_machine(stepfunctions, TWO_PASSES))["executionArn"]

    assert event_ids(stepfunctions.get_execution_history(executionArn=arn)) == [1, 2, 3, 4, 5, 6]
    newest_first = stepfunctions.get_execution_history(executionArn=arn, reverseOrder=True)
    assert event_ids(newest_first) == [6, 5, 4, 3, 2, 1]
    assert newest_first["events"][0]["type"] == "ExecutionSucceeded"
    assert all_pages(stepfunctions, executionArn=arn, maxResults=4) == [[1, 2, 3, 4], [5, 6]]
    assert all_pages(stepfunctions, executionArn=arn, maxResults=4, reverseOrder=True) == [[6, 5, 4, 3], [2, 1]]


def test_a_history_page_token_of_another_execution_or_none_at_all_is_an_invalid_token(stepfunctions):
    machine = state_machine(stepfunctions, TWO_PASSES)
    first, second = (run_to_the_end(stepfunctions, machine)["executionArn"] for _ in range(2))
    token = stepfunctions.get_execution_history(executionArn=first, maxResults=2)["nextToken"]

    for arn, bad in [(second, token), (first, "garbage"), (first, "e30=")]:
        code, _ = error_of(
            lambda arn=arn, bad=bad: stepfunctions.get_execution_history(executionArn=arn, nextToken=bad)
        )
        assert code == "InvalidToken"
    code, _ = error_of(lambda: stepfunctions.get_execution_history(executionArn=first, maxResults=1001))
    assert code == "ValidationException"


EXECUTION_DATA_KEYS = {"input", "inputDetails", "output", "outputDetails", "parameters"}


def data_keys(events: list[dict[str, Any]]) -> set[str]:
    details = [value for event in events for name, value in event.items() if name.endswith("EventDetails")]
    return {key for detail in details for key in detail}


def test_without_execution_data_the_history_holds_no_input_output_or_task_parameters(accelerated):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        runner = LambdaRunner([FAIL])
        runner.install()
        try:
            stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
            arn = start(stepfunctions, WAIT_AND_RETRY, {"orderId": "o-1"})
            poll(lambda: ended(stepfunctions, arn), deadline=HANG_GUARD_SECONDS, what="the sample execution to end")
            with_data = stepfunctions.get_execution_history(executionArn=arn)["events"]
            without = stepfunctions.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
        finally:
            runner.uninstall()

    assert data_keys(with_data) >= EXECUTION_DATA_KEYS
    assert not data_keys(without) & EXECUTION_DATA_KEYS
    assert [event["type"] for event in without] == [event["type"] for event in with_data]
    failed = next(event for event in without if event["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"]["error"] == "SampleTaskError", "errors and causes are not execution data"


@pytest.mark.parametrize("status", ["DONE", "failed", "PENDING_REDRIVE"])
def test_listing_by_a_status_that_does_not_exist_or_needs_a_map_run_is_a_validation_exception(stepfunctions, status):
    machine = state_machine(stepfunctions, TWO_PASSES)

    code, _ = error_of(lambda: stepfunctions.list_executions(stateMachineArn=machine, statusFilter=status))

    assert code == "ValidationException"


def test_listing_by_a_status_that_exists_still_filters(stepfunctions):
    machine = state_machine(stepfunctions, TWO_PASSES)
    run_to_the_end(stepfunctions, machine)

    def listed(status: str) -> int:
        return len(stepfunctions.list_executions(stateMachineArn=machine, statusFilter=status)["executions"])

    assert (listed("SUCCEEDED"), listed("FAILED"), listed("TIMED_OUT")) == (1, 0, 0)


@pytest.mark.parametrize(
    ("execution_input", "path"),
    [('"hello"', "$.first"), ("[1, 2]", "$.first"), ("null", "$.first"), ('{"first": "x"}', "$.first.step")],
    ids=["string", "list", "null", "through-a-string"],
)
def test_a_result_path_that_cannot_be_applied_fails_in_plain_words(stepfunctions, execution_input, path):
    """``$.first.step`` needs ``$.first`` to be an object too; moto failed with a Python TypeError, or not at all."""
    pass_state = {"Type": "Pass", "Result": {"step": 1}, "ResultPath": path, "End": True}
    machine = state_machine(stepfunctions, {"StartAt": "First", "States": {"First": pass_state}})

    execution = run_to_the_end(stepfunctions, machine, execution_input)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.ResultPathMatchFailure"
    assert execution["cause"] == (
        f"Unable to apply ResultPath {path} to the input of state 'First': "
        f"the path must lead through JSON objects, and the input is {execution_input}"
    )


def test_a_result_path_into_an_object_still_adds_the_result(stepfunctions):
    execution = run_to_the_end(stepfunctions, state_machine(stepfunctions, TWO_PASSES), '{"orderId": "o-1"}')

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"orderId": "o-1", "first": {"step": 1}}


def machine_of_type(stepfunctions: Any, name: str, definition: dict[str, Any], workflow_type: str = "STANDARD") -> str:
    return stepfunctions.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN, type=workflow_type
    )["stateMachineArn"]


def parent_of(child_arn: str, catch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    start = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child_arn, "Input": {"order.$": "$"}},
        "End": True,
    }
    if catch:
        start["Catch"] = catch
    return {"StartAt": "Start", "States": {"Start": start, "Caught": {"Type": "Pass", "End": True}}}


def test_a_nested_sync_execution_returns_the_child_output_as_json_in_aws_casing(stepfunctions):
    child = machine_of_type(
        stepfunctions,
        "child",
        {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "Parameters": {"got.$": "$.order"}, "End": True}}},
        "EXPRESS",
    )

    execution = run_to_the_end(stepfunctions, machine_of_type(stepfunctions, "parent", parent_of(child)), '{"a": 1}')

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["Output"] == {"got": {"a": 1}}, "sync:2 parses the child's output"
    assert (output["Status"], output["StateMachineArn"]) == ("SUCCEEDED", child)
    (child_execution,) = stepfunctions.list_executions(stateMachineArn=child)["executions"]
    waited = (execution["stopDate"] - child_execution["stopDate"]).total_seconds()
    assert waited < 0.4, f"the parent learned of its child's end {waited:.2f} s late (moto polled every 0.5 s)"


def test_a_failed_child_surfaces_as_states_task_failed_with_its_description_as_the_cause(stepfunctions):
    child = machine_of_type(
        stepfunctions,
        "failing-child",
        {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "OutOfStockError", "Cause": "short"}}},
        "EXPRESS",
    )

    execution = run_to_the_end(stepfunctions, machine_of_type(stepfunctions, "parent-2", parent_of(child)))

    assert (execution["status"], execution["error"]) == ("FAILED", "States.TaskFailed")
    described = json.loads(execution["cause"])
    assert (described["Status"], described["Error"], described["Cause"]) == ("FAILED", "OutOfStockError", "short")


def test_variables_are_read_by_json_path_in_parameters_choices_and_fail_states(stepfunctions):
    definition = {
        "StartAt": "Remember",
        "States": {
            "Remember": {"Type": "Pass", "Assign": {"failure": {"Error": "E1"}, "status.$": "$.status"}, "Next": "Is"},
            "Is": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$failure.Error", "IsPresent": True},
                            {"Variable": "$failure.Error", "StringEquals": "E1"},
                        ],
                        "Assign": {"route": "matched"},
                        "Next": "Use",
                    }
                ],
                "Default": "Use",
            },
            "Use": {"Type": "Pass", "Parameters": {"route.$": "$route", "error.$": "$failure.Error"}, "Next": "End"},
            "End": {"Type": "Fail", "ErrorPath": "$status", "CausePath": "States.JsonToString($)"},
        },
    }

    execution = run_to_the_end(stepfunctions, state_machine(stepfunctions, definition), '{"status": "REJECTED"}')

    assert execution["error"] == "REJECTED"
    assert json.loads(execution["cause"]) == {"route": "matched", "error": "E1"}


def test_a_jsonpath_choice_rule_that_compares_one_variable_assigns_its_variables(stepfunctions):
    """RoutePreparationFailure's last rule: one comparison, and an Assign that names the child's error."""
    definition = {
        "StartAt": "Remember",
        "States": {
            "Remember": {"Type": "Pass", "Assign": {"failure": {"Error": "Lambda.Unknown"}}, "Next": "Is"},
            "Is": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$failure.Error",
                        "IsPresent": True,
                        "Assign": {"route.$": "$failure.Error"},
                        "Next": "Use",
                    },
                ],
                "Default": "Use",
            },
            "Use": {"Type": "Fail", "ErrorPath": "$route"},
        },
    }

    execution = run_to_the_end(stepfunctions, state_machine(stepfunctions, definition))

    assert execution["error"] == "Lambda.Unknown", execution.get("cause")


def test_a_missing_variable_field_is_not_present_to_a_choice(stepfunctions):
    definition = {
        "StartAt": "Remember",
        "States": {
            "Remember": {"Type": "Pass", "Assign": {"failure": {"Status": "TIMED_OUT"}}, "Next": "Is"},
            "Is": {
                "Type": "Choice",
                "Choices": [{"Variable": "$failure.Error", "IsPresent": True, "Next": "Named"}],
                "Default": "Unnamed",
            },
            "Named": {"Type": "Fail", "Error": "Named"},
            "Unnamed": {"Type": "Fail", "Error": "Unnamed"},
        },
    }

    assert run_to_the_end(stepfunctions, state_machine(stepfunctions, definition))["error"] == "Unnamed"


@pytest.mark.parametrize(
    "resource", ["arn:aws:states:::lambda:invoke.waitForTaskToken", "arn:aws:states:::states:startExecution.sync:2"]
)
def test_an_express_definition_with_a_job_or_callback_pattern_is_refused(stepfunctions, resource):
    task = {"Type": "Task", "Resource": resource, "Parameters": {}, "End": True}

    code, message = error_of(
        lambda: machine_of_type(stepfunctions, "express-refused", {"StartAt": "T", "States": {"T": task}}, "EXPRESS")
    )

    assert code == "InvalidDefinition"
    assert "Express state machine does not support" in message


def test_an_express_execution_ends_timed_out_after_the_express_limit(stepfunctions, monkeypatch):
    monkeypatch.setattr(fidelity, "EXPRESS_MAX_SECONDS", 0.3)
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 2, "End": True}}}
    child = machine_of_type(stepfunctions, "slow-child", waiting, "EXPRESS")
    catch = [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]

    execution = run_to_the_end(stepfunctions, machine_of_type(stepfunctions, "patient", parent_of(child, catch)))
    children = stepfunctions.list_executions(stateMachineArn=child)["executions"]

    assert [entry["status"] for entry in children] == ["TIMED_OUT"]
    assert execution["status"] == "SUCCEEDED", "the parent caught its child's timeout as States.TaskFailed"
    assert json.loads(execution["output"])["Error"] == "States.TaskFailed"
