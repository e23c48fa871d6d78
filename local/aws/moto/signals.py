"""Announcements: an execution's end and a stream record, their listeners, and forgetting executions.

The test harness (``local.testkit.fixtures``) and the stream poller
(``local.aws.dynamodbstreams.event_source_mapping``) wait on these instead of polling moto, and a ``.sync`` parent
wakes as soon as an execution ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

from moto.dynamodb.models.table import StreamShard
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

# --- signals: the test harness and the stream poller are told of an execution's end and of a stream record --------
# Without them they asked moto every few milliseconds (DescribeExecution, GetItem, GetRecords), which cost CPU on the
# cores the engine needs and added up to a poll interval of latency at every step. Listeners run on moto's threads,
# inside its DynamoDB lock: they must only take note and wake someone, never call AWS or raise.

ExecutionEndListener = Callable[[str], None]
"""Called with the execution's ARN once moto recorded how it ended (DescribeExecution then shows it)."""
StreamRecordListener = Callable[[str, dict[str, Any]], None]
"""Called with the table's name and the stream record (as GetRecords returns it) moto just appended."""
EXECUTION_END_LISTENERS: list[ExecutionEndListener] = []
STREAM_RECORD_LISTENERS: list[StreamRecordListener] = []
_record_execution_end = BaseExecutionWorkerCommunication.terminated
_append_stream_record = StreamShard.add


def _execution_end_announced(self: BaseExecutionWorkerCommunication) -> None:
    _record_execution_end(self)
    for listener in list(EXECUTION_END_LISTENERS):
        listener(self.execution.exec_arn)


def _stream_record_announced(self: StreamShard, old: Any, new: Any) -> None:
    _append_stream_record(self, old, new)
    if self.items:
        for listener in list(STREAM_RECORD_LISTENERS):
            listener(self.table.name, self.items[-1].record)


def announce_execution_ends_and_stream_records() -> None:
    """Tell ``EXECUTION_END_LISTENERS`` when an execution ends and ``STREAM_RECORD_LISTENERS`` when a table's stream
    gets a record, so that waiting for either is a wait on a condition instead of a poll."""
    BaseExecutionWorkerCommunication.terminated = _execution_end_announced
    StreamShard.add = _stream_record_announced


_an_execution_ended = threading.Condition()


def _wake_sync_tasks(_execution_arn: str) -> None:
    with _an_execution_ended:
        _an_execution_ended.notify_all()


class _SleepUntilAnExecutionEnds:
    """``time`` for moto's ``.sync`` loop: its pause between two looks at the child ends as soon as any execution
    ends, and after ``NESTED_EXECUTION_POLL_SECONDS`` (``local.aws.moto.fidelity``) at the latest (a child that
    ended just before the pause)."""

    @staticmethod
    def sleep(seconds: float) -> None:
        with _an_execution_ended:
            _an_execution_ended.wait(seconds)


def wake_sync_tasks_when_an_execution_ends() -> None:
    """A ``.sync`` parent looked at its child every 50 ms; it now looks again as soon as an execution ends, as AWS's
    parent learns of its child's end from an event."""
    EXECUTION_END_LISTENERS.append(_wake_sync_tasks)
    state_task_service_callback.time = _SleepUntilAnExecutionEnds


def forget_executions(state_machine_arn: str) -> None:
    """Drop a state machine's executions, none of them running, as if it had just been created: a test stack reset
    between tests then lists none of an earlier test's. Deleting and creating the machine does the same through the
    API, but moto parses the definition again for it, which costs more than a whole test."""
    _, _, _, region, account, _ = state_machine_arn.split(":", 5)
    machine = stepfunctions_parser_backends[account][region].describe_state_machine(state_machine_arn)
    running = [execution.exec_arn for execution in machine.executions if execution.exec_status in (None, "RUNNING")]
    if running:
        raise RuntimeError(f"{state_machine_arn} still runs {running}: stop them first")
    machine.executions.clear()
