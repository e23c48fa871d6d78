"""ReserveInventory and the inventory compensation."""

from __future__ import annotations

from tasks.adapters.inventory_repository import InventoryRepository, ReservedLine
from tasks.adapters.orders_repository import OrderRepository
from tasks.models.order import OrderStatus, statuses_before
from tasks.models.task_io import CompensationOutput, ReserveInventoryInput, ReserveInventoryOutput

STOCK_RESERVED = "#reservation.#rstatus = :reserved"
PREPARED = f"attribute_exists(#payment) AND {STOCK_RESERVED}"
"""Both parallel branches are done: the order is AUTHORIZED only when the payment and the reservation both exist.

Each branch writes its own part first and then looks for the other's in what it reads back (AuthorizePayment in the
order its write returns, ReserveInventory in a read after its transaction). DynamoDB orders the writes of one item,
so at least the branch that wrote second sees both parts, and it makes the conditional move.
"""


def reserve(
    request: ReserveInventoryInput, *, inventory: InventoryRepository, orders: OrderRepository, now: str
) -> ReserveInventoryOutput:
    """Reserve every line in one transaction, then mark the order AUTHORIZED if the payment is authorized too.

    The payment is usually not there yet, so the order is read rather than a move tried: a read costs a fifth of
    the write a refused move would.

    Raises
    ------
    OutOfStockError
        Names the SKUs that are short. Nothing was reserved.

    Example
    -------
    >>> reserve(request, inventory=catalog, orders=orders, now=now_iso())  # doctest: +SKIP
    ReserveInventoryOutput(reservedUnits=3)
    """
    lines = [ReservedLine(sku=line.sku, quantity=line.quantity) for line in request.lines]
    inventory.reserve(request.orderId, lines, now)
    order = orders.get(request.orderId)
    if order and "payment" in order and OrderStatus(order["status"]) in statuses_before(OrderStatus.AUTHORIZED):
        orders.advance(request.orderId, OrderStatus.AUTHORIZED, now, requires=PREPARED)
    return ReserveInventoryOutput(reservedUnits=sum(line.quantity for line in lines))


def release(order_id: str, *, inventory: InventoryRepository, now: str) -> CompensationOutput:
    """Compensation: give the reserved stock back. Safe to repeat, and safe to run before a late reservation."""
    return CompensationOutput(action=inventory.release(order_id, now))
