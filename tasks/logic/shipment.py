"""The shipment wait: RequestShipment stores the task token; the warehouse and the customer answer with it."""

from __future__ import annotations

from collections.abc import Callable

from tasks.adapters.orders_repository import AWAITING_SHIPMENT_SINCE, OrderRepository
from tasks.adapters.workflow import OrderWorkflow, TaskAnswer
from tasks.errors import InvalidOrderStateError, OrderCancelledError, OrderNotFoundError, ShipmentFailedError
from tasks.models.order import OrderStatus
from tasks.models.task_io import RequestShipmentInput, RequestShipmentOutput


def request_shipment(request: RequestShipmentInput, *, orders: OrderRepository, now: str) -> RequestShipmentOutput:
    """Store the task token and put the order in the warehouse's queue (AWAITING_SHIPMENT), in one write.

    The warehouse reads its queue from the sparse ``awaiting-shipment`` index (``awaitingShipmentSince``, set here
    and removed by the write that moves the order on) and answers through the shipment callback API, which finds
    the token on the order. A retry of this task brings a new token; it replaces the stored one, and the order
    keeps its place in the queue.

    Example
    -------
    >>> request_shipment(request, orders=orders, now=now_iso())  # doctest: +SKIP
    RequestShipmentOutput(orderId='o-1', status=<OrderStatus.AWAITING_SHIPMENT: 'AWAITING_SHIPMENT'>)
    """
    shipment = {"taskToken": request.taskToken, "requestedAt": now}
    moved = orders.advance(
        request.orderId,
        OrderStatus.AWAITING_SHIPMENT,
        now,
        fields={"shipment": shipment, AWAITING_SHIPMENT_SINCE: now},
    )
    if not moved and not orders.set_fields(
        request.orderId, {"shipment": shipment}, only_if_status=OrderStatus.AWAITING_SHIPMENT
    ):
        raise InvalidOrderStateError(f"order {request.orderId} is no longer waiting for a shipment")
    return RequestShipmentOutput(orderId=request.orderId, status=OrderStatus.AWAITING_SHIPMENT)


def _awaited_task_token(orders: OrderRepository, order_id: str) -> str:
    order = orders.get(order_id)
    if order is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    if order["status"] != OrderStatus.AWAITING_SHIPMENT.value or "shipment" not in order:
        raise InvalidOrderStateError(f"order {order_id} is {order['status']}, not AWAITING_SHIPMENT")
    return order["shipment"]["taskToken"]


def _answer_shipment_wait(
    order_id: str, answer: TaskAnswer, send: Callable[[str], None], *, orders: OrderRepository, workflow: OrderWorkflow
) -> None:
    """Send ``answer`` with the order's token; when the workflow no longer waits, it is accepted all the same if the
    execution's history shows the wait ended with this very answer.

    A callback whose reply was lost (a timeout, which the SDK resends) or that the caller sends again after a 503 was
    taken the first time: its repeat is refused (the token is closed, or the order moved on), yet it must not hear
    409. Any other ending (another answer won, the wait timed out) keeps the refusal.
    """
    try:
        send(_awaited_task_token(orders, order_id))
    except InvalidOrderStateError:
        if workflow.shipment_answer(order_id) != answer:
            raise


def confirm_shipment(order_id: str, tracking_number: str, *, orders: OrderRepository, workflow: OrderWorkflow) -> None:
    """The warehouse shipped the order: resume the workflow, which records SHIPPED and captures the payment. A repeat
    of a confirmation the workflow took is accepted again.

    Example
    -------
    >>> confirm_shipment("o-1", "1Z999AA10123456784", orders=orders, workflow=workflow)  # doctest: +SKIP
    """
    output = {"trackingNumber": tracking_number}
    _answer_shipment_wait(
        order_id,
        TaskAnswer.succeeded(output),
        lambda token: workflow.complete_task(token, output),
        orders=orders,
        workflow=workflow,
    )


def fail_shipment(order_id: str, reason: str, *, orders: OrderRepository, workflow: OrderWorkflow) -> None:
    """The warehouse cannot ship: the workflow compensates and the order ends FAILED. A repeat is accepted again."""
    _fail_shipment_wait(order_id, ShipmentFailedError.__name__, reason, orders=orders, workflow=workflow)


def cancel_order(order_id: str, reason: str, *, orders: OrderRepository, workflow: OrderWorkflow) -> None:
    """The customer cancels while the order awaits shipment: the workflow compensates and ends CANCELLED. A repeat of
    a cancellation the workflow took is accepted again."""
    _fail_shipment_wait(order_id, OrderCancelledError.__name__, reason, orders=orders, workflow=workflow)


def _fail_shipment_wait(
    order_id: str, error: str, cause: str, *, orders: OrderRepository, workflow: OrderWorkflow
) -> None:
    _answer_shipment_wait(
        order_id,
        TaskAnswer.failed(error, cause),
        lambda token: workflow.fail_task(token, error, cause),
        orders=orders,
        workflow=workflow,
    )


def acknowledge_shipment(order_id: str, *, orders: OrderRepository, workflow: OrderWorkflow) -> None:
    """The warehouse is still working on it: a heartbeat, which keeps HeartbeatSeconds from expiring."""
    workflow.heartbeat(_awaited_task_token(orders, order_id))
