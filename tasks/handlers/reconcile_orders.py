"""ReconcileOrders, on a schedule: starts orders stranded in RECEIVED without an execution, or fails them.

EventBridge Scheduler invokes it every minute with ``workflows.resources.STRANDED_ORDER_SCHEDULE.event()``; the local
runtime does the same on its virtual clock. Each order it handled is logged with its outcome, and counted as a metric:
``StrandedOrdersFailed`` raises an alarm.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.orders_repository import order_repository
from tasks.adapters.workflow import order_workflow
from tasks.handlers.runtime import logger, metrics, task_handler
from tasks.logic.clock import now_iso
from tasks.logic.reconciliation import reconcile_orders
from tasks.models.task_io import ReconcileOrdersInput, ReconcileOrdersOutput, StrandedOrderOutcome

OUTCOME_METRICS = {
    StrandedOrderOutcome.STARTED: "StrandedOrdersStarted",
    StrandedOrderOutcome.START_FAILED: "StrandedOrderStartsFailed",
    StrandedOrderOutcome.FAILED: "StrandedOrdersFailed",
}
"""The outcomes worth a metric: what was healed, what failed to start, and what the shopper is told failed."""
STRANDED_ORDERS_FAILED_METRIC = OUTCOME_METRICS[StrandedOrderOutcome.FAILED]


@task_handler(ReconcileOrdersInput)
def handler(request: ReconcileOrdersInput, context: LambdaContext) -> ReconcileOrdersOutput:
    result = reconcile_orders(request, orders=order_repository(), workflow=order_workflow(), now=now_iso())
    for order in result.orders:
        logger.info("stranded order", extra=order.model_dump(mode="json"))
    for outcome, metric in OUTCOME_METRICS.items():
        metrics.add_metric(name=metric, unit="Count", value=result.count(outcome))
    return result
