"""Input and output of every task, as the ASL passes them. Unknown keys are ignored so the ASL can evolve."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.models.order import Address, OrderId, OrderStatus, PricedLine


class TaskModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ValidateOrderInput(TaskModel):
    order: dict[str, Any]
    """The raw execution input: checking its shape is part of validating the order."""


class ValidateOrderOutput(TaskModel):
    orderId: OrderId  # noqa: N815
    lines: list[PricedLine]
    totalCents: int  # noqa: N815
    currency: str


class AuthorizePaymentInput(TaskModel):
    orderId: OrderId  # noqa: N815
    amountCents: int = Field(gt=0)  # noqa: N815
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class AuthorizePaymentOutput(TaskModel):
    authorizationId: str  # noqa: N815


class ReserveInventoryInput(TaskModel):
    orderId: OrderId  # noqa: N815
    lines: list[PricedLine] = Field(min_length=1)


class ReserveInventoryOutput(TaskModel):
    reservedUnits: int  # noqa: N815


class RequestShipmentInput(TaskModel):
    orderId: OrderId  # noqa: N815
    taskToken: str = Field(min_length=1, max_length=2048)  # noqa: N815
    shippingAddress: Address  # noqa: N815
    lines: list[PricedLine] = Field(min_length=1)


class RequestShipmentOutput(TaskModel):
    orderId: OrderId  # noqa: N815
    status: OrderStatus


class CapturePaymentInput(TaskModel):
    orderId: OrderId  # noqa: N815
    authorizationId: str = Field(min_length=1)  # noqa: N815
    amountCents: int = Field(gt=0)  # noqa: N815
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    trackingNumber: str = Field(min_length=1, max_length=64)  # noqa: N815


class CapturePaymentOutput(TaskModel):
    captureId: str  # noqa: N815
    status: OrderStatus


class CompensationInput(TaskModel):
    orderId: OrderId  # noqa: N815


class CompensationOutput(TaskModel):
    action: str
    """What the compensation did: VOIDED, REFUNDED, RELEASED, BLOCKED or NOTHING_TO_UNDO."""


class TaskFailure(TaskModel):
    """A Catch block's output: Step Functions names the error, and usually gives a cause."""

    Error: str
    Cause: str | None = None


class CompensationResult(TaskModel):
    action: str


class FailedExecution(TaskModel):
    """The parent's state on a failure route: the order, the caught error, and what each compensation did."""

    orderId: OrderId  # noqa: N815
    error: TaskFailure
    paymentCompensation: CompensationResult | None = None  # noqa: N815
    inventoryCompensation: CompensationResult | None = None  # noqa: N815
    paymentCompensationError: TaskFailure | None = None  # noqa: N815
    inventoryCompensationError: TaskFailure | None = None  # noqa: N815


class RecordFailureInput(TaskModel):
    status: OrderStatus
    """The status the failure route assigned (the ASL's ``failureStatus`` variable)."""
    execution: FailedExecution


class RecordFailureOutput(TaskModel):
    orderId: OrderId  # noqa: N815
    status: OrderStatus
    compensationFailures: int  # noqa: N815


class ReconcileOrdersInput(TaskModel):
    """What the schedule sends the reconciler (``workflows.resources.StrandedOrderSchedule.event``)."""

    strandedAfterSeconds: float = Field(gt=0)  # noqa: N815
    maxStartAttempts: int = Field(ge=1, le=100)  # noqa: N815


class StrandedOrderOutcome(StrEnum):
    """What the reconciler did with one order that had been RECEIVED for too long."""

    STARTED = "STARTED"
    """StartExecution answered with its execution: a new one, or the one already running."""
    START_FAILED = "START_FAILED"
    """StartExecution failed; the next run tries again."""
    LEFT_RUNNING = "LEFT_RUNNING"
    """Out of attempts, but its execution runs: the workflow moves it on."""
    FAILED = "FAILED"
    """Out of attempts and no execution runs: recorded FAILED, with the reason."""
    MOVED_ON = "MOVED_ON"
    """It left RECEIVED while the reconciler looked at it."""


class StrandedOrder(TaskModel):
    orderId: OrderId  # noqa: N815
    outcome: StrandedOrderOutcome
    startAttempts: int  # noqa: N815
    detail: str | None = None
    """The error of a failed start, or the status of an execution that ended without moving the order."""


class ReconcileOrdersOutput(TaskModel):
    """Every stranded order one run found, and what it did with each (``tasks.logic.reconciliation``)."""

    orders: list[StrandedOrder] = Field(default_factory=list)

    def count(self, outcome: StrandedOrderOutcome) -> int:
        return sum(order.outcome is outcome for order in self.orders)
