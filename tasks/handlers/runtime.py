"""What every handler shares: Powertools Logger, Tracer and Metrics, and typed input parsing.

``task_handler`` wraps a function ``(request, context) -> output model`` into a Lambda handler, so the handler
modules hold nothing but their own wiring. Metrics are cleared after every invocation: Powertools clears them only
when it publishes, so with ``POWERTOOLS_METRICS_DISABLED`` (local runs, tests) they would pile up and be printed
every hundred values.

``tracer`` is the one Tracer of the process, the API's and the stream's too: see ``build_tracer``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from tasks.errors import InvalidTaskInputError
from tasks.models.problems import field_problems


class UntracedSegment(BaseSegment):
    """The segment an untraced handler annotates: it keeps nothing."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class UntracedProvider(BaseProvider):
    """The tracing provider where tracing is off: what X-Ray's recorder does then, without building one."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield UntracedSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield UntracedSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Any) -> None:
        pass

    def patch_all(self) -> None:
        pass


def build_tracer() -> Tracer:
    """Powertools' Tracer, which builds the X-Ray recorder only where tracing is on.

    ``Tracer()`` imports ``aws_xray_sdk.core`` even when tracing is disabled, and that import builds a recorder whose
    sampler creates two X-Ray clients: over 100 ms of every cold start in local runs and tests. Whether tracing is
    off is Powertools' own decision (``POWERTOOLS_TRACE_DISABLED``, or not running in Lambda), so a function traced
    in Lambda gets the Tracer it always had, X-Ray recorder, patched libraries and all.

    Example
    -------
    >>> tracer = build_tracer()  # outside Lambda, or with POWERTOOLS_TRACE_DISABLED=true
    >>> type(tracer.provider).__name__
    'UntracedProvider'
    """
    if Tracer._is_tracer_disabled():
        return Tracer(disabled=True, provider=UntracedProvider())
    return Tracer()


logger = Logger()
tracer = build_tracer()
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
