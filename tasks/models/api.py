"""Request and response bodies of the order API, beyond the order request itself."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tasks.models.order import Address, OrderItem, OrderStatus, PricedLine, TimelineEntry, printable

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(printable)
]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderAccepted(ApiModel):
    orderId: str  # noqa: N815
    status: OrderStatus
    executionArn: str  # noqa: N815


class ShipmentCallback(ApiModel):
    """The warehouse's answer: shipped with a tracking number, failed with a reason, or still working on it."""

    outcome: Literal["SHIPPED", "FAILED", "IN_PROGRESS"]
    trackingNumber: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")] | None = None  # noqa: N815
    reason: Reason | None = None

    @model_validator(mode="after")
    def _outcome_has_its_detail(self) -> ShipmentCallback:
        if self.outcome == "SHIPPED" and not self.trackingNumber:
            raise ValueError("trackingNumber is required when outcome is SHIPPED")
        if self.outcome == "FAILED" and not self.reason:
            raise ValueError("reason is required when outcome is FAILED")
        return self


class CancelRequest(ApiModel):
    reason: Reason = "cancelled by the customer"


class CallbackAccepted(ApiModel):
    orderId: str  # noqa: N815
    accepted: str


class ErrorAnswer(BaseModel):
    """Every error the API answers with: the handler's (``error``, ``message``, and ``problems`` naming each bad
    field) and API Gateway's own 401 and 403 (``message`` alone)."""

    message: str
    error: str | None = Field(default=None, description="The HTTP status phrase, e.g. 'Not Found'")
    problems: list[str] | None = Field(default=None, description="One entry per bad field: 'body.items[0]: ...'")


class FailureView(BaseModel):
    """Why an order failed, as shoppers see it: the error's name and its message, never a stack trace."""

    error: str
    message: str


class Compensations(BaseModel):
    """What each compensation did: VOIDED, REFUNDED, RELEASED, BLOCKED or NOTHING_TO_UNDO."""

    payment: str | None = None
    inventory: str | None = None


class CompensationFailures(BaseModel):
    """Compensations that still failed after their retries, by name."""

    payment: FailureView | None = None
    inventory: FailureView | None = None


class OrderView(BaseModel):
    """An order as the API shows it: never the payment token, the task token or internal bookkeeping."""

    orderId: str  # noqa: N815
    status: OrderStatus
    customerId: str | None = None  # noqa: N815
    items: list[OrderItem] = Field(default_factory=list)
    lines: list[PricedLine] = Field(default_factory=list)
    totalCents: int | None = None  # noqa: N815
    currency: str | None = None
    shippingAddress: Address | None = None  # noqa: N815
    trackingNumber: str | None = None  # noqa: N815
    timeline: list[TimelineEntry] = Field(default_factory=list)
    failure: FailureView | None = None
    compensations: Compensations | None = None
    compensationFailures: CompensationFailures | None = None  # noqa: N815
    createdAt: str | None = None  # noqa: N815
    updatedAt: str | None = None  # noqa: N815


class OrderPage(BaseModel):
    orders: list[OrderView]
    nextToken: str | None = None  # noqa: N815


class ProductView(BaseModel):
    sku: str
    name: str
    priceCents: int  # noqa: N815
    currency: str
    stock: int
