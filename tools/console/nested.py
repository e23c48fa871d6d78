"""The child executions a parent's tasks ran, and where each one's history comes from.

A ``states:startExecution`` task records its child's ARN in its ``TaskSubmitted`` event
(``local.aws.stepfunctions.child_executions``), and the parent's definition names the child's state machine
(``graph.nested_state_machines``). The child's events come from one of two places:

- ``EngineHistories``: GetExecutionHistory, which answers for a Standard child in AWS and for every child on the
  local engine (moto keeps an Express execution's history too);
- ``LogGroupHistories``: for an Express child in AWS, which has no GetExecutionHistory, its state machine's
  CloudWatch Logs log group (``local.aws.stepfunctions.execution_logs``): the one given (``--preparation-log-group``),
  else the one DescribeStateMachine's ``loggingConfiguration`` names.

Logs arrive late, or not at all (best-effort delivery), so a history says whether it is complete.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from local.aws.stepfunctions import execution_logs
from local.aws.stepfunctions.child_executions import child_execution_arns

EXPRESS_MAX_DURATION = timedelta(minutes=5)
"""An Express execution runs at most five minutes, so its events fall within that of its start."""
CLOCK_MARGIN = timedelta(minutes=1)
"""Slack on either side of that window when filtering a log group, for clocks and late starts."""
KEPT_HISTORIES = 256
"""Complete histories kept, newest read last: an ended child's events never change, and FilterLogEvents has a low
request quota, while a detail page polls once a second."""


@dataclass
class ChildHistory:
    """One child execution's events as GetExecutionHistory returns them, and what to say about where they came from.

    ``source`` is ``"history"`` (GetExecutionHistory), ``"logs"`` (a log group) or ``""`` (no source: ``note`` says
    why). ``complete`` is false while the execution's last event has not arrived.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    note: str | None = None
    log_group: str | None = None

    @property
    def status(self) -> str:
        return execution_logs.execution_status(self.events)

    @property
    def complete(self) -> bool:
        return execution_logs.is_complete(self.events)


class ChildHistories(Protocol):
    """Where the console reads a child execution's events from."""

    def history(self, execution_arn: str, machine: Mapping[str, Any], started: datetime | None) -> ChildHistory:
        """The events of ``execution_arn``, an execution of ``machine`` (its DescribeStateMachine answer)."""
        ...


class EngineHistories:
    """GetExecutionHistory: a Standard child in AWS, and any child on the local engine.

    Example
    -------
    >>> EngineHistories(sfn).history(child_arn, machine, None).source  # doctest: +SKIP
    'history'
    """

    def __init__(self, stepfunctions: Any):
        self._sfn = stepfunctions

    def history(self, execution_arn: str, machine: Mapping[str, Any], started: datetime | None) -> ChildHistory:
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        try:
            while True:
                page = self._sfn.get_execution_history(**request)
                events += page["events"]
                if not page.get("nextToken"):
                    return ChildHistory(events, "history")
                request["nextToken"] = page["nextToken"]
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code not in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise
            return ChildHistory(note=f"GetExecutionHistory knows no execution {execution_arn} ({code})")


class LogGroupHistories:
    """An Express child's events from its log group; a Standard child's still from GetExecutionHistory.

    Parameters
    ----------
    logs:
        A boto3 ``logs`` client.
    stepfunctions:
        For Standard children.
    log_group:
        The Express child's log group (the stack output ``PreparationLogGroupName``); without it, the one its
        state machine's logging configuration names.

    Example
    -------
    >>> histories = LogGroupHistories(logs, sfn, "/aws/vendedlogs/states/OrderPreparation")  # doctest: +SKIP
    >>> histories.history(child_arn, machine, started).source  # doctest: +SKIP
    'logs'
    """

    def __init__(self, logs: Any, stepfunctions: Any, log_group: str | None = None):
        self._logs = logs
        self._engine = EngineHistories(stepfunctions)
        self.log_group = log_group
        self._complete: OrderedDict[str, ChildHistory] = OrderedDict()

    def history(self, execution_arn: str, machine: Mapping[str, Any], started: datetime | None) -> ChildHistory:
        if machine.get("type", "STANDARD") != "EXPRESS":
            return self._engine.history(execution_arn, machine, started)
        if execution_arn in self._complete:
            self._complete.move_to_end(execution_arn)
            return self._complete[execution_arn]
        read = self._from_logs(execution_arn, machine, started)
        if read.complete:
            self._complete[execution_arn] = read
            while len(self._complete) > KEPT_HISTORIES:
                self._complete.popitem(last=False)
        return read

    def _from_logs(self, execution_arn: str, machine: Mapping[str, Any], started: datetime | None) -> ChildHistory:
        configuration = machine.get("loggingConfiguration") or {}
        log_group = self.log_group or execution_logs.log_group_name(configuration)
        if log_group is None:
            return ChildHistory(
                note=f"{machine.get('name', 'the child')} is an Express workflow that logs nowhere: give the console "
                "its log group (--preparation-log-group)"
            )
        start = started - CLOCK_MARGIN if started else None
        end = started + EXPRESS_MAX_DURATION + CLOCK_MARGIN if started else None
        try:
            events = execution_logs.read_execution_history(self._logs, log_group, execution_arn, start, end)
        except ClientError as error:
            return ChildHistory(note=f"cannot read its log group {log_group}: {error}", log_group=log_group)
        level = configuration.get("level", execution_logs.STATE_EVENTS_LEVEL)
        note = None
        if level != execution_logs.STATE_EVENTS_LEVEL:
            note = f"it logs at level {level}, not ALL: states that ran without failing show as not run"
        return ChildHistory(events, "logs", note, log_group)


@dataclass
class ChildRun:
    """A child execution one task ran (the last one, when the task was retried), with its history."""

    task: str
    execution_arn: str
    state_machine_arn: str
    history: ChildHistory

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "status": self.history.status,
            "source": self.history.source,
            "logGroup": self.history.log_group,
            "complete": self.history.complete,
            "note": self.history.note,
            "events": len(self.history.events),
        }


def started_children(history: list[Mapping[str, Any]], state_of_event: Mapping[int, str]) -> dict[str, tuple[str, Any]]:
    """For each task that started a child execution, the last child's ARN and when its task submitted it.

    Example
    -------
    >>> submitted = {"id": 5, "type": "TaskSubmitted", "timestamp": "t5", "taskSubmittedEventDetails": {
    ...     "resourceType": "states", "output": '{"ExecutionArn": "arn:child:1"}'}}
    >>> started_children([submitted], {5: "PrepareOrder"})
    {'PrepareOrder': ('arn:child:1', 't5')}
    """
    found: dict[str, tuple[str, Any]] = {}
    for event in history:
        for arn in child_execution_arns([event]):
            task = state_of_event.get(event["id"])
            if task is not None:
                found[task] = (arn, event.get("timestamp"))
    return found
