"""The order workflow as the API and the warehouse see it: start an execution, answer its shipment callback."""

from __future__ import annotations

import functools
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.aws_sdk import new_client
from tasks.adapters.dynamodb import error_code
from tasks.errors import InvalidOrderStateError
from workflows.resources import STATE_MACHINE_ARN_ENV

CALLBACK_GONE = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


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


@functools.cache
def stepfunctions_client() -> Any:
    """One client per process: building one costs tens of milliseconds, far more than the call it makes."""
    return new_client("stepfunctions")


class StepFunctionsOrderWorkflow(OrderWorkflow):
    def __init__(self, state_machine_arn: str, client: Any = None):
        self._state_machine_arn = state_machine_arn
        self._client = client or stepfunctions_client()

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        try:
            response = self._client.start_execution(
                stateMachineArn=self._state_machine_arn, name=order_id, input=json.dumps(execution_input)
            )
        except ClientError as error:
            if error_code(error) == "ExecutionAlreadyExists":
                return self.execution_arn(order_id)
            raise
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
    """A token Step Functions no longer accepts means the order stopped waiting: say so in domain terms."""
    try:
        yield
    except ClientError as error:
        if error_code(error) in CALLBACK_GONE:
            raise InvalidOrderStateError(
                f"the workflow no longer waits for this callback ({error_code(error)})"
            ) from error
        raise


def order_workflow() -> OrderWorkflow:
    return StepFunctionsOrderWorkflow(os.environ[STATE_MACHINE_ARN_ENV])
