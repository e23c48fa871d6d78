"""An Express execution's history, read from the CloudWatch Logs log group its state machine logs to.

Express workflows keep no history in Step Functions: GetExecutionHistory does not answer for them, and their events
exist only in CloudWatch Logs, one log event per history event, delivered on a best-effort basis (AWS: "Using
CloudWatch Logs to log execution history in Step Functions",
https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html). Each log event's message is one JSON object::

    {"id": "2", "type": "TaskStateEntered", "details": {"name": "ValidateOrder"}, "previous_event_id": "0",
     "event_timestamp": "1796117400225", "execution_arn": "arn:aws:states:...:express:...", "redrive_count": "0"}

``id`` and ``previous_event_id`` are strings, ``event_timestamp`` is milliseconds since the epoch as a string, and
``details`` is the event's details object of GetExecutionHistory (``stateEnteredEventDetails``,
``taskFailedEventDetails``...) without its key; without ``includeExecutionData`` it holds no input, output or
parameters. Which event types are logged depends on the level
(https://docs.aws.amazon.com/step-functions/latest/dg/cloudwatch-log-level.html): ``ALL`` logs every one, ``ERROR``
only failures (no state is ever seen entered or exited), ``FATAL`` only the execution's failure, ``OFF`` nothing.

The events become GetExecutionHistory's shape, so ``tools.console.graph.trace_execution`` and ``orders watch`` read
both the same way. Log stream names are not relied on: the log group is filtered by the execution's ARN.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
"""Step Functions' log levels, most to least detailed."""
STATE_EVENTS_LEVEL = "ALL"
"""The only level at which states are logged as entered and exited, which is what the console colors by."""
TERMINAL_EVENTS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
"""The event that ends an execution, and the status DescribeExecution would report after it."""
MAX_PAGES = 50
"""FilterLogEvents may answer empty pages while it searches; a read gives up after this many pages."""


def log_filter_pattern(execution_arn: str) -> str:
    """The FilterLogEvents pattern that selects one execution's events in a log group.

    Example
    -------
    >>> log_filter_pattern("arn:aws:states:eu-west-1:1:express:prep:n:u")
    '{ $.execution_arn = "arn:aws:states:eu-west-1:1:express:prep:n:u" }'
    """
    if '"' in execution_arn or "\\" in execution_arn:
        raise ValueError(f"not an execution ARN: {execution_arn!r}")
    return f'{{ $.execution_arn = "{execution_arn}" }}'


def details_key(event_type: str) -> str:
    """The key GetExecutionHistory puts an event's details under.

    Example
    -------
    >>> details_key("ParallelStateEntered"), details_key("TaskFailed"), details_key("MapIterationStarted")
    ('stateEnteredEventDetails', 'taskFailedEventDetails', 'mapIterationStartedEventDetails')
    """
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[:1].lower() + event_type[1:] + "EventDetails"


def history_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """One logged event (a log message, parsed) as GetExecutionHistory returns it.

    Example
    -------
    >>> event = history_event({"id": "3", "type": "TaskScheduled", "details": {"resourceType": "lambda"},
    ...     "previous_event_id": "2", "event_timestamp": "1796117400225", "execution_arn": "arn:x"})
    >>> event["id"], event["previousEventId"], event["taskScheduledEventDetails"], event["timestamp"].isoformat()
    (3, 2, {'resourceType': 'lambda'}, '2026-12-01T09:30:00.225000+00:00')
    """
    event: dict[str, Any] = {
        "id": int(record["id"]),
        "previousEventId": int(record.get("previous_event_id") or 0),
        "timestamp": datetime.fromtimestamp(int(record["event_timestamp"]) / 1000, UTC),
        "type": str(record["type"]),
    }
    details = record.get("details")
    if isinstance(details, Mapping) and details:
        event[details_key(event["type"])] = dict(details)
    return event


def history_from_log_events(log_events: Iterable[Mapping[str, Any]], execution_arn: str) -> list[dict[str, Any]]:
    """The history of ``execution_arn`` from FilterLogEvents' ``events``, oldest first.

    Messages of other executions, and anything that is not a Step Functions event, are left out; an event
    delivered twice counts once.

    Parameters
    ----------
    log_events:
        FilterLogEvents' ``events`` (each with its ``message``), of any number of pages, in any order.
    execution_arn:
        The execution whose events to keep.

    Example
    -------
    >>> message = json.dumps({"id": "1", "type": "ExecutionStarted", "details": {"roleArn": "arn:role"},
    ...     "previous_event_id": "0", "event_timestamp": "1796117400000", "execution_arn": "arn:x"})
    >>> [event["type"] for event in history_from_log_events([{"message": message}] * 2, "arn:x")]
    ['ExecutionStarted']
    """
    events: dict[int, dict[str, Any]] = {}
    for log_event in log_events:
        try:
            record = json.loads(log_event["message"])
        except (KeyError, TypeError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("execution_arn") != execution_arn:
            continue
        try:
            event = history_event(record)
        except (KeyError, TypeError, ValueError):
            continue
        events.setdefault(event["id"], event)
    return [events[event_id] for event_id in sorted(events)]


def execution_status(history: Iterable[Mapping[str, Any]]) -> str:
    """The status the execution has after ``history``: RUNNING until an event ends it.

    Example
    -------
    >>> execution_status([{"id": 1, "type": "ExecutionStarted"}, {"id": 2, "type": "ExecutionFailed"}])
    'FAILED'
    """
    statuses = [TERMINAL_EVENTS[event["type"]] for event in history if event["type"] in TERMINAL_EVENTS]
    return statuses[-1] if statuses else "RUNNING"


def is_complete(history: list[Mapping[str, Any]]) -> bool:
    """Every event from the first to the one that ended the execution is there (logs may arrive late, or never).

    Example
    -------
    >>> is_complete([{"id": 1, "type": "ExecutionStarted"}, {"id": 3, "type": "ExecutionSucceeded"}])
    False
    """
    ids = [event["id"] for event in history]
    return execution_status(history) != "RUNNING" and ids == list(range(1, len(ids) + 1))


def log_group_name(logging_configuration: Mapping[str, Any] | None) -> str | None:
    """The log group of DescribeStateMachine's ``loggingConfiguration``; None when it logs nowhere.

    Example
    -------
    >>> log_group_name({"level": "ALL", "destinations": [{"cloudWatchLogsLogGroup": {
    ...     "logGroupArn": "arn:aws:logs:eu-west-1:1:log-group:/aws/vendedlogs/states/prep:*"}}]})
    '/aws/vendedlogs/states/prep'
    """
    if not logging_configuration or logging_configuration.get("level", "OFF") == "OFF":
        return None
    for destination in logging_configuration.get("destinations") or []:
        arn = (destination.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "")
        if ":log-group:" in arn:
            return arn.split(":log-group:", 1)[1].removesuffix(":*")
    return None


def read_execution_history(
    logs: Any,
    log_group: str,
    execution_arn: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """The history of one execution, from every page FilterLogEvents answers for it.

    Parameters
    ----------
    logs:
        A boto3 ``logs`` client.
    log_group:
        The log group the execution's state machine logs to.
    execution_arn:
        The execution (an Express ARN has ``:express:`` where a Standard one has ``:execution:``).
    start, end:
        The time the events fall in, to keep the scan short; by default all of the group's retention.

    Example
    -------
    >>> read_execution_history(logs, "/aws/vendedlogs/states/prep", child_arn)[0]["type"]  # doctest: +SKIP
    'ExecutionStarted'
    """
    request: dict[str, Any] = {"logGroupName": log_group, "filterPattern": log_filter_pattern(execution_arn)}
    if start is not None:
        request["startTime"] = int(start.timestamp() * 1000)
    if end is not None:
        request["endTime"] = int(end.timestamp() * 1000)
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = logs.filter_log_events(**request)
        found += page.get("events", [])
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return history_from_log_events(found, execution_arn)
