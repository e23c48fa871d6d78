"""The order workflow as the API and the warehouse see it: start an execution, answer its shipment callback."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


@contextmanager
def _callback_refusal() -> Iterator[None]:
    """A token Step Functions no longer accepts means the order stopped waiting: say so in domain terms. Throttling,
    Step Functions' 5xx and a call it never answered are ``WorkflowTransientError``: send the callback again."""
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
