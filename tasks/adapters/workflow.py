"""The order workflow as the API and the warehouse see it: start an execution, answer its shipment callback."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tasks.adapters.aws_sdk import client_for
from tasks.adapters.dynamodb import UNANSWERED, error_code
from tasks.errors import InvalidOrderStateError, WorkflowTransientError
from workflows.resources import STATE_MACHINE_ARN_ENV

CALLBACK_GONE = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
TRANSIENT_ERROR_CODES = frozenset({"ThrottlingException", "InternalFailure", "ServiceUnavailable"})
"""Step Functions' answers that say "not now": throttled, or failed on its side (with any other 5xx)."""
ATTEMPTS_HOOK_ID = "orders-start-execution-attempts"
SHIPMENT_STATE = "RequestShipment"
"""The order workflow's Task state that waits for the warehouse's (or the customer's) callback."""
WAIT_FOR_CALLBACK = ("lambda", "invoke.waitForTaskToken")
"""``resourceType`` and ``resource`` of that state's task events: the only callback task of the order workflow."""
HISTORY_PAGE_SIZE = 100
"""Events read, newest first, to find how the shipment wait ended: the states after it add a few dozen at most."""
TASK_OUTCOMES = {
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
}
"""History events that end a task attempt, to the key of their details."""


@dataclass(frozen=True)
class TaskAnswer:
    """How a waiting task ended: the output SendTaskSuccess gave it, or the error and cause that failed it (a
    SendTaskFailure, or Step Functions' own ``States.Timeout``/``States.HeartbeatTimeout``)."""

    output: Mapping[str, Any] | None = None
    error: str | None = None
    cause: str = ""

    @classmethod
    def succeeded(cls, output: Mapping[str, Any]) -> TaskAnswer:
        return cls(output=dict(output))

    @classmethod
    def failed(cls, error: str, cause: str) -> TaskAnswer:
        return cls(error=error, cause=cause)


class ExecutionStartError(Exception):
    """StartExecution failed after the SDK's retries.

    ``may_have_started``: an attempt got no answer or a 5xx, so Step Functions may have started the execution all
    the same (a throttled or refused attempt started nothing). Starting it again by its name is safe either way.
    ``reason``: Step Functions' error code, or the name of the SDK's error when there was no answer.
    """

    def __init__(self, reason: str, *, may_have_started: bool):
        self.reason = reason
        self.may_have_started = may_have_started
        super().__init__(f"StartExecution: {reason}")


class OrderWorkflow(ABC):
    @abstractmethod
    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        """Start the order's execution, named after the order, and return its ARN. A repeat returns the same one."""

    @abstractmethod
    def execution_status(self, order_id: str) -> str | None:
        """The status of the order's execution (``RUNNING``, ``SUCCEEDED``, ...), or None when it has none."""

    @abstractmethod
    def complete_task(self, task_token: str, output: dict[str, Any]) -> None:
        """SendTaskSuccess for a waiting task."""

    @abstractmethod
    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        """SendTaskFailure for a waiting task."""

    @abstractmethod
    def heartbeat(self, task_token: str) -> None:
        """SendTaskHeartbeat for a waiting task."""

    @abstractmethod
    def shipment_answer(self, order_id: str) -> TaskAnswer | None:
        """How the order's shipment wait ended, from its execution's history; None while it waits, or when it never
        waited (or the order has no execution)."""


def stepfunctions_client() -> Any:
    """The process's client for the current caller's SDK settings (``tasks.adapters.aws_sdk``): building one costs
    tens of milliseconds, far more than the call it makes."""
    return client_for("stepfunctions")


_start_attempts: ContextVar[list[bool] | None] = ContextVar("start_attempts", default=None)


def _note_start_attempt(response: Any = None, caught_exception: BaseException | None = None, **_: Any) -> None:
    """botocore's ``needs-retry`` event, once per attempt: note whether it may have started the execution (no
    answer, or a 5xx). Returns None, so the SDK's own retry decision stands."""
    attempts = _start_attempts.get()
    if attempts is not None:
        status = response[0].status_code if response is not None and response[0] is not None else None
        attempts.append(caught_exception is not None or status is None or status >= 500)


class StepFunctionsOrderWorkflow(OrderWorkflow):
    def __init__(self, state_machine_arn: str, client: Any = None):
        self._state_machine_arn = state_machine_arn
        self._client = client or stepfunctions_client()
        self._client.meta.events.register(
            "needs-retry.sfn.StartExecution", _note_start_attempt, unique_id=ATTEMPTS_HOOK_ID
        )

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        """Start the order's execution, named after the order; a repeat returns the same one.

        Raises
        ------
        ExecutionStartError
            Step Functions did not start it (after the SDK's retries), or did not say whether it did.
        """
        attempts: list[bool] = []
        noting = _start_attempts.set(attempts)
        try:
            response = self._client.start_execution(
                stateMachineArn=self._state_machine_arn, name=order_id, input=json.dumps(execution_input)
            )
        except ClientError as error:
            if error_code(error) == "ExecutionAlreadyExists":
                return self.execution_arn(order_id)
            raise ExecutionStartError(error_code(error), may_have_started=any(attempts)) from error
        except BotoCoreError as error:
            raise ExecutionStartError(type(error).__name__, may_have_started=True) from error
        finally:
            _start_attempts.reset(noting)
        return response["executionArn"]

    def execution_status(self, order_id: str) -> str | None:
        try:
            response = self._client.describe_execution(executionArn=self.execution_arn(order_id))
        except ClientError as error:
            if error_code(error) == "ExecutionDoesNotExist":
                return None
            raise
        return response["status"]

    def execution_arn(self, order_id: str) -> str:
        """Execution ARNs follow from the state machine's ARN and the execution's name (the order id)."""
        prefix, name = self._state_machine_arn.split(":stateMachine:", 1)
        return f"{prefix}:execution:{name}:{order_id}"

    def complete_task(self, task_token: str, output: dict[str, Any]) -> None:
        with _callback_refusal():
            self._client.send_task_success(taskToken=task_token, output=json.dumps(output))

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        with _callback_refusal():
            self._client.send_task_failure(taskToken=task_token, error=error, cause=cause)

    def heartbeat(self, task_token: str) -> None:
        with _callback_refusal():
            self._client.send_task_heartbeat(taskToken=task_token)

    def shipment_answer(self, order_id: str) -> TaskAnswer | None:
        """Reads the newest page of the execution's history (GetExecutionHistory): a repeated callback is told
        whether its answer is the one the workflow took.

        Example
        -------
        >>> workflow.shipment_answer("o-1")  # doctest: +SKIP
        TaskAnswer(output={'trackingNumber': '1Z999AA10123456784'}, error=None, cause='')
        """
        with _callback_refusal():
            try:
                page = self._client.get_execution_history(
                    executionArn=self.execution_arn(order_id), reverseOrder=True, maxResults=HISTORY_PAGE_SIZE
                )
            except ClientError as error:
                if error_code(error) == "ExecutionDoesNotExist":
                    return None
                raise
        return task_answer(page["events"], SHIPMENT_STATE)


def task_answer(events: Sequence[Mapping[str, Any]], state: str) -> TaskAnswer | None:
    """The answer that ended the newest attempt of the callback Task state ``state`` among ``events`` (history
    events, in either order); None when that attempt still waits (a retry after a failed invocation, say) or no
    attempt of the state is among them.

    An outcome event belongs to ``state`` when its ``previousEventId`` chain leads to the ``TaskStateEntered`` of
    ``state`` (retries stay inside the state, so the chain passes through the earlier attempts); when the chain
    leaves the page, the callback resource (``lambda`` / ``invoke.waitForTaskToken``, only RequestShipment's) decides.

    Example
    -------
    >>> task_answer(
    ...     [
    ...         {"id": 8, "previousEventId": 7, "type": "TaskStateEntered",
    ...          "stateEnteredEventDetails": {"name": "RequestShipment"}},
    ...         {"id": 12, "previousEventId": 8, "type": "TaskSucceeded",
    ...          "taskSucceededEventDetails": {"resourceType": "lambda", "resource": "invoke.waitForTaskToken",
    ...                                        "output": '{"trackingNumber": "1Z9"}'}},
    ...     ],
    ...     "RequestShipment",
    ... )
    TaskAnswer(output={'trackingNumber': '1Z9'}, error=None, cause='')
    """
    by_id = {event["id"]: event for event in events}

    def entered_state(event: Mapping[str, Any]) -> str | None:
        seen: set[int] = set()
        while "stateEnteredEventDetails" not in event:
            previous = event.get("previousEventId")
            if previous not in by_id or previous in seen:
                return None
            seen.add(previous)
            event = by_id[previous]
        return event["stateEnteredEventDetails"]["name"]

    for event in sorted(events, key=lambda event: event["id"], reverse=True):
        if event["type"] == "TaskStateExited":
            continue
        details_key = TASK_OUTCOMES.get(event["type"])
        details = event.get(details_key or _details_key(event), {})
        entered = entered_state(event)
        if entered != state and (entered is not None or _resource(details) != WAIT_FOR_CALLBACK):
            continue
        if details_key is None:
            return None
        if event["type"] == "TaskSucceeded":
            return TaskAnswer.succeeded(json.loads(details.get("output") or "{}"))
        return TaskAnswer.failed(details.get("error", ""), details.get("cause", ""))
    return None


def _details_key(event: Mapping[str, Any]) -> str:
    return next((key for key in event if key.endswith("EventDetails")), "")


def _resource(details: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return details.get("resourceType"), details.get("resource")


@contextmanager
def _callback_refusal() -> Iterator[None]:
    """A token Step Functions no longer accepts means the order stopped waiting: say so in domain terms. Throttling,
    Step Functions' 5xx and a call it never answered are ``WorkflowTransientError``: send the callback (or the
    history read that checks one) again."""
    try:
        yield
    except ClientError as error:
        if error_code(error) in CALLBACK_GONE:
            raise InvalidOrderStateError(
                f"the workflow no longer waits for this callback ({error_code(error)})"
            ) from error
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if error_code(error) in TRANSIENT_ERROR_CODES or status >= 500:
            raise WorkflowTransientError(f"Step Functions: {error_code(error)}") from error
        raise
    except UNANSWERED as error:
        raise WorkflowTransientError(f"Step Functions did not answer: {type(error).__name__}") from error


def order_workflow() -> OrderWorkflow:
    return StepFunctionsOrderWorkflow(os.environ[STATE_MACHINE_ARN_ENV])
