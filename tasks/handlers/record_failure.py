"""RecordFailure task: the terminal status, its error, and any compensation that failed (also as a metric).

An input it cannot read (no usable ``orderId``: an execution that was not started by the API) raises
``InvalidTaskInputError``, which the ASL does not retry: it ends the execution as no order (``NotAnOrder``).
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.orders_repository import order_repository
from tasks.handlers.runtime import metrics, task_handler
from tasks.logic.clock import now_iso
from tasks.logic.failure import record_failure
from tasks.models.task_io import RecordFailureInput, RecordFailureOutput

COMPENSATION_FAILURES_METRIC = "CompensationFailures"


@task_handler(RecordFailureInput)
def handler(request: RecordFailureInput, context: LambdaContext) -> RecordFailureOutput:
    result = record_failure(request, orders=order_repository(), now=now_iso())
    metrics.add_metric(name="OrdersFailed", unit="Count", value=1)
    metrics.add_metric(name=COMPENSATION_FAILURES_METRIC, unit="Count", value=result.compensationFailures)
    return result
