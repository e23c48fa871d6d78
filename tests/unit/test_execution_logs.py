"""An Express execution's CloudWatch Logs events as its history: the shape AWS logs, read back as GetExecutionHistory's.

The log events are a declined order's preparation (PaymentDeclinedError in AuthorizePayment), logged at level ALL
without execution data, in the shape Step Functions writes (https://docs.aws.amazon.com/step-functions/latest/dg/
cw-logs.html): every field a string, ``details`` the event's details object without its key, no input or output.
"""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws.stepfunctions.execution_logs import (
    details_key,
    execution_status,
    history_event,
    history_from_log_events,
    is_complete,
    log_filter_pattern,
    log_group_name,
    read_execution_history,
)
from tools.console.graph import trace_execution

EXECUTION_ARN = (
    "arn:aws:states:eu-west-1:123456789012:express:OrderPreparation4C5A2D1B-pK3vLq8Zr2Xn:"
    "0b6c3a8e-2f41-4d5e-9c7a-1e2f3a4b5c6d:7d8e9f0a-1b2c-4d3e-8f9a-0b1c2d3e4f5a"
)
LOG_GROUP = "/aws/vendedlogs/states/OrderPreparation"
LOG_STREAM = "states/OrderPreparation4C5A2D1B-pK3vLq8Zr2Xn/2026-12-01-09-30/00000001"
STARTED_MS = 1_796_117_400_000
"""2026-12-01T09:30:00Z."""
LAMBDA = {"resourceType": "lambda", "resource": "invoke"}
DECLINED_CAUSE = json.dumps(
    {"errorMessage": "card declined for order ord-1 (simulated)", "errorType": "PaymentDeclinedError"}
)

DECLINED = [
    (1, 0, "ExecutionStarted", {"roleArn": "arn:aws:iam::123456789012:role/OrderPreparationRole"}),
    (2, 0, "TaskStateEntered", {"name": "ValidateOrder"}),
    (3, 2, "TaskScheduled", {**LAMBDA, "region": "eu-west-1"}),
    (4, 3, "TaskStarted", LAMBDA),
    (5, 4, "TaskSucceeded", LAMBDA),
    (6, 5, "TaskStateExited", {"name": "ValidateOrder"}),
    (7, 6, "ParallelStateEntered", {"name": "AuthorizeAndReserve"}),
    (8, 7, "ParallelStateStarted", {}),
    (9, 8, "TaskStateEntered", {"name": "AuthorizePayment"}),
    (10, 9, "TaskScheduled", {**LAMBDA, "region": "eu-west-1"}),
    (11, 10, "TaskStarted", LAMBDA),
    (12, 8, "TaskStateEntered", {"name": "ReserveInventory"}),
    (13, 12, "TaskScheduled", {**LAMBDA, "region": "eu-west-1"}),
    (14, 13, "TaskStarted", LAMBDA),
    (15, 14, "TaskSucceeded", LAMBDA),
    (16, 15, "TaskStateExited", {"name": "ReserveInventory"}),
    (17, 11, "TaskFailed", {**LAMBDA, "error": "PaymentDeclinedError", "cause": DECLINED_CAUSE}),
    (18, 17, "TaskStateExited", {"name": "AuthorizePayment"}),
    (19, 18, "PassStateEntered", {"name": "PaymentAuthorizationFailed"}),
    (20, 19, "PassStateExited", {"name": "PaymentAuthorizationFailed"}),
    (21, 20, "ParallelStateSucceeded", {}),
    (22, 21, "ParallelStateExited", {"name": "AuthorizeAndReserve"}),
    (23, 22, "ChoiceStateEntered", {"name": "CheckAuthorizedAndReserved"}),
    (24, 23, "ChoiceStateExited", {"name": "CheckAuthorizedAndReserved"}),
    (25, 24, "FailStateEntered", {"name": "PaymentNotAuthorized"}),
    (26, 25, "ExecutionFailed", {"error": "PaymentDeclinedError", "cause": DECLINED_CAUSE}),
]
"""(id, previous id, type, details) of every event, as the local engine records this execution."""
ERROR_LEVEL_TYPES = {"TaskFailed", "FailStateEntered", "ExecutionFailed"}
"""The types of DECLINED that level ERROR logs (the cloudwatch-log-level table)."""


def log_record(event_id: int, previous: int, event_type: str, details: dict[str, Any], arn: str = EXECUTION_ARN):
    """One event as Step Functions writes it to CloudWatch Logs: the log message, parsed."""
    return {
        "id": str(event_id),
        "type": event_type,
        "details": details,
        "previous_event_id": str(previous),
        "event_timestamp": str(STARTED_MS + 20 * event_id),
        "execution_arn": arn,
        "redrive_count": "0",
    }


def filtered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FilterLogEvents' ``events`` for those records."""
    return [
        {
            "logStreamName": LOG_STREAM,
            "timestamp": int(record["event_timestamp"]),
            "message": json.dumps(record),
            "ingestionTime": int(record["event_timestamp"]) + 850,
            "eventId": f"3786{index:052d}",
        }
        for index, record in enumerate(records)
    ]


def declined(types: set[str] | None = None, arn: str = EXECUTION_ARN) -> list[dict[str, Any]]:
    return [log_record(*event, arn=arn) for event in DECLINED if types is None or event[2] in types]


def statuses(history: list[dict[str, Any]]) -> dict[str, str]:
    trace = trace_execution(history, execution_status(history))
    return {name: run.status.value for name, run in trace.runs.items()}


def test_a_logged_event_reads_as_the_history_event_it_was():
    event = history_event(log_record(17, 11, "TaskFailed", {**LAMBDA, "error": "PaymentDeclinedError"}))
    assert event == {
        "id": 17,
        "previousEventId": 11,
        "timestamp": event["timestamp"],
        "type": "TaskFailed",
        "taskFailedEventDetails": {**LAMBDA, "error": "PaymentDeclinedError"},
    }
    assert int(event["timestamp"].timestamp() * 1000) == STARTED_MS + 20 * 17
    assert event["timestamp"].utcoffset().total_seconds() == 0
    assert "parallelStateStartedEventDetails" not in history_event(log_record(8, 7, "ParallelStateStarted", {}))
    assert details_key("ChoiceStateExited") == "stateExitedEventDetails"
    assert details_key("ExecutionSucceeded") == "executionSucceededEventDetails"


def test_a_declined_preparation_logged_at_level_all_colors_every_state_it_ran():
    history = history_from_log_events(filtered(declined()), EXECUTION_ARN)
    assert [event["id"] for event in history] == list(range(1, 27))
    assert (execution_status(history), is_complete(history)) == ("FAILED", True)
    assert statuses(history) == {
        "ValidateOrder": "succeeded",
        "AuthorizeAndReserve": "succeeded",
        "AuthorizePayment": "caught",
        "ReserveInventory": "succeeded",
        "PaymentAuthorizationFailed": "succeeded",
        "CheckAuthorizedAndReserved": "succeeded",
        "PaymentNotAuthorized": "failed",
    }
    authorize = trace_execution(history, "FAILED").runs["AuthorizePayment"]
    assert (authorize.error, authorize.input, authorize.attempts) == ("PaymentDeclinedError", None, 1)
    assert "card declined" in authorize.cause


def test_pages_in_any_order_with_other_executions_and_duplicates_read_as_one_history():
    other = EXECUTION_ARN.rsplit(":", 1)[0] + ":00000000-0000-4000-8000-000000000000"
    events = filtered(declined() + declined(arn=other)) + filtered(declined()[:3]) + [{"message": "START RequestId"}]
    random.Random(7).shuffle(events)
    history = history_from_log_events(events, EXECUTION_ARN)
    assert history == history_from_log_events(filtered(declined()), EXECUTION_ARN)


def test_an_execution_whose_last_events_have_not_arrived_is_running_and_incomplete():
    early = history_from_log_events(filtered(declined()[:12]), EXECUTION_ARN)
    assert (execution_status(early), is_complete(early)) == ("RUNNING", False)
    assert statuses(early)["ReserveInventory"] == "running"
    gap = history_from_log_events(filtered([*declined()[:5], *declined()[6:]]), EXECUTION_ARN)
    assert (execution_status(gap), is_complete(gap)) == ("FAILED", False), "event 6 is still on its way"


def test_at_level_error_the_states_that_ran_cannot_be_told():
    """ERROR logs failures only: no state is seen entered, so nothing shows as succeeded and the declined payment
    cannot even be pinned on AuthorizePayment. This is why the child logs at ALL."""
    history = history_from_log_events(filtered(declined(ERROR_LEVEL_TYPES)), EXECUTION_ARN)
    assert [event["type"] for event in history] == ["TaskFailed", "FailStateEntered", "ExecutionFailed"]
    assert statuses(history) == {"PaymentNotAuthorized": "failed"}
    assert execution_status(history) == "FAILED" and not is_complete(history)


def test_the_log_group_of_a_logging_configuration():
    arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{LOG_GROUP}:*"
    configuration = {"level": "ALL", "includeExecutionData": False}
    assert log_group_name({**configuration, "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]}) == (
        LOG_GROUP
    )
    assert log_group_name({"level": "OFF"}) is None and log_group_name(None) is None
    with pytest.raises(ValueError):
        log_filter_pattern('arn:" }')


@pytest.fixture
def logs():
    with mock_aws():
        client = boto3.client("logs", region_name="eu-west-1")
        client.create_log_group(logGroupName=LOG_GROUP)
        yield client


def put(logs: Any, records: list[dict[str, Any]], stream: str = LOG_STREAM) -> None:
    """Write the records as Step Functions does, each log event at its event's time, moved to the last minute:
    CloudWatch Logs refuses events older than its retention."""
    shift = int(time.time() * 1000) - STARTED_MS - 60_000
    moved = [{**record, "event_timestamp": str(int(record["event_timestamp"]) + shift)} for record in records]
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    events = [{"timestamp": int(record["event_timestamp"]), "message": json.dumps(record)} for record in moved]
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)


def test_filtering_a_log_group_reads_one_executions_history(logs):
    other = EXECUTION_ARN.rsplit(":", 1)[0] + ":00000000-0000-4000-8000-000000000000"
    put(logs, declined())
    put(logs, declined(arn=other), stream=LOG_STREAM.replace("00000001", "00000002"))
    history = read_execution_history(logs, LOG_GROUP, EXECUTION_ARN)
    assert [event["id"] for event in history] == list(range(1, 27))
    assert statuses(history)["AuthorizePayment"] == "caught"
    first, last = history[0]["timestamp"], history[-1]["timestamp"]
    assert read_execution_history(logs, LOG_GROUP, EXECUTION_ARN, start=first, end=last) == history
    assert read_execution_history(logs, LOG_GROUP, EXECUTION_ARN, start=last + timedelta(seconds=1)) == []
