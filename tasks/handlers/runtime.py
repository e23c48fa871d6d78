"""What every task handler shares: Powertools Logger, Tracer and Metrics, and typed input parsing.

``task_handler`` wraps a function ``(request, context) -> output model`` into a Lambda handler, so the handler
modules hold nothing but their own wiring. Metrics are cleared after every invocation: Powertools clears them only
when it publishes, so with ``POWERTOOLS_METRICS_DISABLED`` (local runs, tests) they would pile up and be printed
every hundred values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from tasks.errors import InvalidTaskInputError
from tasks.models.problems import field_problems

logger = Logger()
tracer = Tracer()
metrics = Metrics()

ORDER_ID_PATH = "orderId || order.orderId"
"""Where the correlation id is in a task's event: most tasks get ``orderId``, ValidateOrder gets the whole order."""

InputModel = TypeVar("InputModel", bound=BaseModel)
TaskFunction = Callable[[InputModel, LambdaContext], BaseModel]


def parse_task_input(event: Any, model: type[InputModel]) -> InputModel:
    """The event as ``model``, or an ``InvalidTaskInputError`` that names every bad field.

    Example
    -------
    >>> from tasks.models.task_io import CompensationInput
    >>> parse_task_input({"orderId": "o-1"}, CompensationInput).orderId
    'o-1'
    """
    if not isinstance(event, dict):
        raise InvalidTaskInputError(f"event: expected a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise InvalidTaskInputError("; ".join(field_problems(error))) from None


def task_handler(model: type[InputModel]) -> Callable[[TaskFunction], Callable[[dict, LambdaContext], dict]]:
    """Make a Lambda handler from a typed task function.

    Example
    -------
    >>> from tasks.models.task_io import CompensationInput, CompensationOutput
    >>> @task_handler(CompensationInput)
    ... def handler(request, context):
    ...     return CompensationOutput(action="NOTHING_TO_UNDO")
    """

    def decorate(function: TaskFunction) -> Callable[[dict, LambdaContext], dict]:
        @metrics.log_metrics
        @tracer.capture_lambda_handler
        @logger.inject_lambda_context(correlation_id_path=ORDER_ID_PATH)
        def instrumented(event: dict, context: LambdaContext) -> dict:
            request = parse_task_input(event, model)
            return function(request, context).model_dump(mode="json")

        @functools.wraps(function)
        def handler(event: dict, context: LambdaContext) -> dict:
            try:
                return instrumented(event, context)
            finally:
                metrics.clear_metrics()

        return handler

    return decorate
