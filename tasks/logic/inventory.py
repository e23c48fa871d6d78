"""ReserveInventory and the inventory compensation."""

from __future__ import annotations

from tasks.adapters.inventory_repository import InventoryRepository, ReservedLine
from tasks.adapters.orders_repository import OrderRepository
from tasks.models.order import OrderStatus
from tasks.models.task_io import CompensationOutput, ReserveInventoryInput, ReserveInventoryOutput

PREPARED = "attribute_exists(#payment) AND #reservation.#rstatus = :reserved"
"""Both parallel branches are done: the order is AUTHORIZED only when the payment and the reservation both exist.

Each branch writes its own part first and then tries the move, so whichever finishes second makes it.
"""


def reserve(
    request: ReserveInventoryInput, *, inventory: InventoryRepository, orders: OrderRepository, now: str
) -> ReserveInventoryOutput:
    """Reserve every line in one transaction, then mark the order AUTHORIZED if the payment is authorized too.

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
    orders.advance(request.orderId, OrderStatus.AUTHORIZED, now, requires=PREPARED)
    return ReserveInventoryOutput(reservedUnits=sum(line.quantity for line in lines))


def release(order_id: str, *, inventory: InventoryRepository, now: str) -> CompensationOutput:
    """Compensation: give the reserved stock back. Safe to repeat, and safe to run before a late reservation."""
    return CompensationOutput(action=inventory.release(order_id, now))
