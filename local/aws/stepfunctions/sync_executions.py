"""StartSyncExecution: an Express execution run to its end on moto's engine, and answered as AWS answers it.

AWS runs a synchronous Express execution for the length of the request and answers with how it ended: SUCCEEDED with
its output, FAILED with its error and cause, or TIMED_OUT past the five minutes an Express execution may last, plus
what it billed. A STANDARD state machine is refused with ``StateMachineTypeNotSupported``.

Locally the execution is started as every execution is (``StepFunctionsParserBackend.start_execution``, with the
endpoint's naming and the engine's Express limits from ``local.aws.moto``), and the call waits for the engine's
announcement that it ended (``EXECUTION_END_LISTENERS``), not by asking moto again and again. It stays listed with
the machine's other executions, as the local Express children do.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

from moto.stepfunctions.parser.api import (
    ExecutionStatus,
    StateMachineType,
    StateMachineTypeNotSupported,
    SyncExecutionStatus,
)
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from local.aws.moto.fidelity import EXPRESS_MAX_SECONDS
from local.aws.moto.signals import EXECUTION_END_LISTENERS

END_GRACE_SECONDS = 30.0
"""How long past the Express limit the call waits for the engine's own TIMED_OUT before it answers TIMED_OUT itself."""
BILLED_DURATION_STEP_MS = 100
"""Express bills duration rounded up to the next 100 ms."""
BILLED_MEMORY_STEP_MB = 64
"""Express bills memory in 64 MB steps; locally nothing measures it, so every execution bills the first step."""
METADATA_ONLY = "METADATA_ONLY"
SYNC_STATUSES = {
    ExecutionStatus.SUCCEEDED: SyncExecutionStatus.SUCCEEDED,
    ExecutionStatus.TIMED_OUT: SyncExecutionStatus.TIMED_OUT,
}
"""How a synchronous execution's status reads; every other end (FAILED, ABORTED) is FAILED."""


class _EndWatch:
    """Takes note of every execution that ends while one call waits, and wakes the call when its own has."""

    def __init__(self) -> None:
        self._ended: set[str] = set()
        self._condition = threading.Condition()

    def __call__(self, execution_arn: str) -> None:
        with self._condition:
            self._ended.add(execution_arn)
            self._condition.notify_all()

    def wait(self, execution_arn: str, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: execution_arn in self._ended, timeout)


def billed_duration_ms(start: datetime, stop: datetime) -> int:
    """The duration Express bills: rounded up to the next 100 ms, and never less than 100 ms.

    Example
    -------
    >>> start = datetime(2026, 12, 6, tzinfo=UTC)
    >>> billed_duration_ms(start, start.replace(microsecond=230_000)), billed_duration_ms(start, start)
    (300, 100)
    """
    elapsed_ms = (stop - start).total_seconds() * 1000
    return max(BILLED_DURATION_STEP_MS, math.ceil(elapsed_ms / BILLED_DURATION_STEP_MS) * BILLED_DURATION_STEP_MS)


def start_sync_execution(
    backend: Any,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
    included_data: str | None = None,
) -> dict[str, Any]:
    """Run an Express execution to its end and answer with StartSyncExecution's output.

    Parameters
    ----------
    backend:
        moto's Step Functions engine backend (``StepFunctionsParserBackend``) of the caller's account and region.
    state_machine_arn, name, execution_input, trace_header, included_data:
        The request's ``stateMachineArn``, ``name``, ``input``, ``traceHeader`` and ``includedData``.

    Returns
    -------
    dict
        StartSyncExecution's output: ``executionArn``, ``status``, ``startDate``, ``stopDate``, ``output`` or
        ``error`` and ``cause``, ``billingDetails``...

    Example
    -------
    >>> answer = start_sync_execution(backend, preparation_arn, execution_input='{"order": {}}')  # doctest: +SKIP
    >>> answer["status"], answer["error"]  # doctest: +SKIP
    ('FAILED', 'OrderValidationError')
    """
    machine = backend.describe_state_machine(state_machine_arn)
    if machine.type != StateMachineType.EXPRESS:
        raise StateMachineTypeNotSupported(
            f"StartSyncExecution runs EXPRESS state machines only; {state_machine_arn} is {machine.type}"
        )
    watch = _EndWatch()
    EXECUTION_END_LISTENERS.append(watch)
    try:
        execution = backend.start_execution(state_machine_arn, name, execution_input, trace_header)
        ended = watch.wait(execution.exec_arn, EXPRESS_MAX_SECONDS + END_GRACE_SECONDS)
    finally:
        EXECUTION_END_LISTENERS.remove(watch)
    return _answer(execution, state_machine_arn, ended, included_data)


def _answer(execution: Any, state_machine_arn: str, ended: bool, included_data: str | None) -> dict[str, Any]:
    stop_date = execution.stop_date if ended and execution.stop_date else datetime.now(tz=UTC)
    status = SyncExecutionStatus.TIMED_OUT
    if ended:
        status = SYNC_STATUSES.get(execution.exec_status, SyncExecutionStatus.FAILED)
    with_data = included_data != METADATA_ONLY
    answer: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": state_machine_arn,
        "name": execution.name,
        "startDate": execution.start_date,
        "stopDate": stop_date,
        "status": status.value,
        "inputDetails": {"included": with_data},
        "billingDetails": {
            "billedMemoryUsedInMB": BILLED_MEMORY_STEP_MB,
            "billedDurationInMilliseconds": billed_duration_ms(execution.start_date, stop_date),
        },
    }
    if with_data:
        answer["input"] = to_json_str(execution.input_data, separators=(",", ":"))
    if status == SyncExecutionStatus.SUCCEEDED:
        answer["outputDetails"] = {"included": with_data}
        if with_data:
            answer["output"] = to_json_str(execution.output, separators=(",", ":"))
    if execution.error is not None:
        answer["error"] = execution.error
    if execution.cause is not None:
        answer["cause"] = execution.cause
    if execution.trace_header:
        answer["traceHeader"] = execution.trace_header
    return answer
