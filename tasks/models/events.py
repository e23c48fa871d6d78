"""The event other systems receive on the ``orders`` bus: one ``OrderStatusChanged`` per status an order takes.

Nothing sensitive: no payment token, no address. ``sequence`` is the status's 1-based position in the order's
timeline, so a consumer can order and deduplicate by ``(orderId, sequence)``. The JSON Schema of the detail is
``docs/events/order-status-changed.schema.json``; a test keeps it and this model in step.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tasks.models.api import FailureView
from tasks.models.order import OrderStatus

SCHEMA_VERSION = "1"


class OrderStatusChanged(BaseModel):
    """The ``detail`` of one event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orderId: str  # noqa: N815
    customerId: str | None  # noqa: N815
    status: OrderStatus
    previousStatus: OrderStatus | None  # noqa: N815
    sequence: int = Field(ge=1)
    at: str
    schemaVersion: str = SCHEMA_VERSION  # noqa: N815
    totalCents: int | None = None  # noqa: N815
    currency: str | None = None
    trackingNumber: str | None = None  # noqa: N815
    failure: FailureView | None = None
