"""Where the console reads a child execution's events: GetExecutionHistory, or an Express child's log group in AWS.

The log events are those of ``tests.unit.test_execution_logs``: a declined order's preparation, as Step Functions
writes them at level ALL without execution data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.unit.test_execution_logs import EXECUTION_ARN, LOG_GROUP, STARTED_MS, declined, filtered
from tools.console.nested import CLOCK_MARGIN, EXPRESS_MAX_DURATION, EngineHistories, LogGroupHistories

STARTED = datetime.fromtimestamp(STARTED_MS / 1000, UTC)
CONFIGURED = {
    "level": "ALL",
    "includeExecutionData": False,
    "destinations": [
        {"cloudWatchLogsLogGroup": {"logGroupArn": f"arn:aws:logs:eu-west-1:123456789012:log-group:{LOG_GROUP}:*"}}
    ],
}
EXPRESS = {
    "name": "OrderPreparation4C5A2D1B-pK3vLq8Zr2Xn",
    "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:OrderPreparation4C5A2D1B-pK3vLq8Zr2Xn",
    "type": "EXPRESS",
    "loggingConfiguration": CONFIGURED,
}


class PagedLogs:
    """A logs client that answers FilterLogEvents in pages of ten, the first one empty as AWS may answer, and
    records what it was asked."""

    def __init__(self, records: list[dict[str, Any]]):
        self.events = filtered(records)
        self.requests: list[dict[str, Any]] = []

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        page = int(request.get("nextToken", "0"))
        events = [] if page == 0 else self.events[(page - 1) * 10 : page * 10]
        more = page * 10 < len(self.events)
        return {"events": events, **({"nextToken": str(page + 1)} if more else {})}


class NoStepFunctions:
    """An Express child in AWS: GetExecutionHistory is never asked."""

    def get_execution_history(self, **request: Any) -> dict[str, Any]:
        raise AssertionError("GetExecutionHistory does not answer for Express executions")


class OneHistory:
    """GetExecutionHistory of a Standard child."""

    def __init__(self, events: list[dict[str, Any]]):
        self.events = events

    def get_execution_history(self, **request: Any) -> dict[str, Any]:
        return {"events": self.events}


def test_an_express_childs_events_come_from_the_log_group_its_state_machine_logs_to():
    logs = PagedLogs(declined())
    history = LogGroupHistories(logs, NoStepFunctions()).history(EXECUTION_ARN, EXPRESS, STARTED)
    assert (history.source, history.log_group, history.note) == ("logs", LOG_GROUP, None)
    assert (history.status, history.complete, len(history.events)) == ("FAILED", True, 26)
    assert len(logs.requests) == 4, "every page is read, the empty first one too"
    request = logs.requests[0]
    assert request["logGroupName"] == LOG_GROUP
    assert request["filterPattern"] == f'{{ $.execution_arn = "{EXECUTION_ARN}" }}'
    assert request["startTime"] == int((STARTED - CLOCK_MARGIN).timestamp() * 1000)
    assert request["endTime"] == int((STARTED + EXPRESS_MAX_DURATION + CLOCK_MARGIN).timestamp() * 1000)


def test_the_log_group_given_wins_over_the_configuration():
    logs = PagedLogs(declined())
    given = "/aws/vendedlogs/states/OrderPreparation-given"
    history = LogGroupHistories(logs, NoStepFunctions(), given).history(EXECUTION_ARN, EXPRESS, None)
    assert history.log_group == given and logs.requests[0]["logGroupName"] == given
    assert "startTime" not in logs.requests[0], "without its start, the whole retention is searched"


def test_an_express_child_that_logs_nowhere_or_only_errors_says_so():
    unlogged = {**EXPRESS, "loggingConfiguration": {"level": "OFF"}}
    nowhere = LogGroupHistories(PagedLogs([]), NoStepFunctions()).history(EXECUTION_ARN, unlogged, STARTED)
    assert nowhere.source == "" and "--preparation-log-group" in nowhere.note and nowhere.events == []
    errors_only = {**EXPRESS, "loggingConfiguration": {**CONFIGURED, "level": "ERROR"}}
    logs = PagedLogs(declined({"TaskFailed", "FailStateEntered", "ExecutionFailed"}))
    partial = LogGroupHistories(logs, NoStepFunctions()).history(EXECUTION_ARN, errors_only, STARTED)
    assert partial.source == "logs" and "level ERROR" in partial.note and not partial.complete


def test_a_standard_child_and_any_local_child_are_read_from_their_history():
    events = [
        {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": STARTED},
        {"id": 2, "previousEventId": 1, "type": "ExecutionSucceeded", "timestamp": STARTED},
    ]
    standard = {**EXPRESS, "type": "STANDARD"}
    read = LogGroupHistories(PagedLogs([]), OneHistory(events)).history("arn:child", standard, STARTED)
    assert (read.source, read.status, read.complete) == ("history", "SUCCEEDED", True)
    local = EngineHistories(OneHistory(events)).history("arn:child", EXPRESS, STARTED)
    assert (local.source, local.events) == ("history", events), "the local engine keeps an Express history too"


def test_a_complete_history_is_read_from_its_log_group_once_and_an_incomplete_one_again():
    logs = PagedLogs(declined())
    histories = LogGroupHistories(logs, NoStepFunctions())
    first = histories.history(EXECUTION_ARN, EXPRESS, STARTED)
    assert histories.history(EXECUTION_ARN, EXPRESS, STARTED) is first and len(logs.requests) == 4
    arriving = PagedLogs(declined()[:12])
    histories = LogGroupHistories(arriving, NoStepFunctions())
    assert not histories.history(EXECUTION_ARN, EXPRESS, STARTED).complete
    arriving.events = filtered(declined())
    assert histories.history(EXECUTION_ARN, EXPRESS, STARTED).complete, "the page polls until the last event came"
