"""The reconciler: orders stranded in RECEIVED without an execution are started, or failed with a reason.

The API writes an order, then starts its execution. A Lambda that dies between the two (a timeout, an out-of-memory
kill) leaves the order RECEIVED with nothing to move it on: a shopper who retries with the same Idempotency-Key repairs
it, one who sent no key or never retries does not. On a schedule (``workflows.resources.STRANDED_ORDER_SCHEDULE``)
the reconciler takes the orders that have been RECEIVED for longer than the API's timeout, oldest first:

- while it has attempts left for an order, it counts one on the order and starts the order's execution, named after
  the order, with the input the API gives it. StartExecution with the same name and input answers with an execution
  that is still running, so an order whose execution runs but has not written yet keeps that one execution;
- out of attempts, it asks whether the order has an execution. A running one is left to move the order on. With none,
  or one that ended without moving it, the order is recorded FAILED with ``NOT_STARTED_ERROR`` and a cause the
  shopper may read. Nothing needs compensating: the first task writes VALIDATED before payment and stock are touched,
  and the FAILED write holds only while the order is RECEIVED, so a preparation that comes later finds the order
  failed and goes no further.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.adapters.orders_repository import OrderRepository
from tasks.adapters.workflow import ExecutionStartError, OrderWorkflow
from tasks.errors import OrderNotFoundError
from tasks.logic.clock import seconds_before
from tasks.models.order import OrderStatus, PlacedOrder
from tasks.models.task_io import ReconcileOrdersInput, ReconcileOrdersOutput, StrandedOrder, StrandedOrderOutcome

START_ATTEMPTS = "startAttempts"
"""How often the reconciler tried to start the order: set on the order before each attempt."""
NOT_STARTED_ERROR = "OrderNotStartedError"
"""The ``failure.error`` of an order the reconciler failed."""
RUNNING = "RUNNING"
ORDERS_PER_RUN = 100
"""The oldest this many stranded orders are handled per run; any more wait for the next run. A stranded order is rare
(it takes a Lambda that died between two calls), and 100 starts fit the function's timeout many times over."""


def reconcile_orders(
    request: ReconcileOrdersInput,
    *,
    orders: OrderRepository,
    workflow: OrderWorkflow,
    now: str,
    limit: int = ORDERS_PER_RUN,
) -> ReconcileOrdersOutput:
    """Start or fail every order that has been RECEIVED for ``request.strandedAfterSeconds``, oldest first.

    Example
    -------
    >>> request = ReconcileOrdersInput(strandedAfterSeconds=120, maxStartAttempts=5)
    >>> reconcile_orders(request, orders=orders, workflow=workflow, now=now_iso())  # doctest: +SKIP
    ReconcileOrdersOutput(orders=[StrandedOrder(orderId='ord-…', outcome=<StrandedOrderOutcome.STARTED: 'STARTED'>,
    startAttempts=1, detail=None)])
    """
    stranded = orders.received_before(seconds_before(now, request.strandedAfterSeconds), limit)
    return ReconcileOrdersOutput(
        orders=[
            reconcile_order(order, request.maxStartAttempts, orders=orders, workflow=workflow, now=now)
            for order in stranded
        ]
    )


def reconcile_order(
    order: Mapping[str, Any], max_start_attempts: int, *, orders: OrderRepository, workflow: OrderWorkflow, now: str
) -> StrandedOrder:
    """Start one stranded order, or fail it once ``max_start_attempts`` starts did not move it on."""
    order_id = order["orderId"]
    attempts = int(order.get(START_ATTEMPTS, 0))
    if attempts < max_start_attempts:
        return _start(order, attempts + 1, orders=orders, workflow=workflow)
    execution_status = workflow.execution_status(order_id)
    if execution_status == RUNNING:
        return StrandedOrder(orderId=order_id, outcome=StrandedOrderOutcome.LEFT_RUNNING, startAttempts=attempts)
    if execution_status is None:
        cause = f"the order could not be started after {attempts} attempts"
    else:
        cause = f"the order's execution ended ({execution_status}) before it took the order"
    failure = {"error": NOT_STARTED_ERROR, "cause": f"{cause}; nothing was charged and no stock was reserved"}
    try:
        failed = orders.advance(
            order_id, OrderStatus.FAILED, now, fields={"failure": failure}, only_from=(OrderStatus.RECEIVED,)
        )
    except OrderNotFoundError:
        failed = False
    return StrandedOrder(
        orderId=order_id,
        outcome=StrandedOrderOutcome.FAILED if failed else StrandedOrderOutcome.MOVED_ON,
        startAttempts=attempts,
        detail=execution_status,
    )


def _start(
    order: Mapping[str, Any], attempt: int, *, orders: OrderRepository, workflow: OrderWorkflow
) -> StrandedOrder:
    """Count the attempt on the order while it is still RECEIVED, then start its execution as the API would have."""
    order_id = order["orderId"]
    if orders.set_fields(order_id, {START_ATTEMPTS: attempt}, only_if_status=OrderStatus.RECEIVED) is None:
        return StrandedOrder(orderId=order_id, outcome=StrandedOrderOutcome.MOVED_ON, startAttempts=attempt - 1)
    placed = PlacedOrder.model_validate({name: order[name] for name in PlacedOrder.model_fields})
    try:
        workflow.start(order_id, placed.workflow_input())
    except ExecutionStartError as error:
        return StrandedOrder(
            orderId=order_id, outcome=StrandedOrderOutcome.START_FAILED, startAttempts=attempt, detail=error.reason
        )
    return StrandedOrder(orderId=order_id, outcome=StrandedOrderOutcome.STARTED, startAttempts=attempt)
