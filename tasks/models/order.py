"""The order as the API receives it, as the workflow prices it, and as DynamoDB stores it."""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_LINES = 50
"""One DynamoDB transaction reserves every line, and it holds at most 100 items."""
MAX_QUANTITY = 100

OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")]
"""Also the Step Functions execution name, so it obeys that name's rules (80 characters, no spaces)."""
CustomerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
PaymentToken = Annotated[str, StringConstraints(pattern=r"^tok_[A-Za-z0-9_]{1,60}$")]
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode's control characters (C0, DEL, C1), format characters (zero-width space, direction marks, the bidi
overrides and isolates, the Arabic letter mark, soft hyphen) and the line and paragraph separators. None belongs in a
name or an address: they are invisible, break a label or a log line, or make it read differently from what it holds.
"""


def printable(text: str) -> str:
    """``text`` if it holds no character of ``UNPRINTABLE_CATEGORIES``; otherwise a ``ValueError`` naming the first.

    Example
    -------
    >>> printable("Zürich")
    'Zürich'
    >>> printable("Ada\u200bLovelace")
    Traceback (most recent call last):
    ...
    ValueError: must not contain control, invisible or line-breaking characters: U+200B at position 4
    """
    for position, character in enumerate(text, start=1):
        if unicodedata.category(character) in UNPRINTABLE_CATEGORIES:
            raise ValueError(
                "must not contain control, invisible or line-breaking characters: "
                f"U+{ord(character):04X} at position {position}"
            )
    return text


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(printable)]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,11}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    VALIDATED = "VALIDATED"
    AUTHORIZED = "AUTHORIZED"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


PROGRESS: tuple[OrderStatus, ...] = (
    OrderStatus.RECEIVED,
    OrderStatus.VALIDATED,
    OrderStatus.AUTHORIZED,
    OrderStatus.AWAITING_SHIPMENT,
    OrderStatus.SHIPPED,
    OrderStatus.COMPLETED,
)
"""The happy path, in order. A status only ever moves forward along it, or to a terminal failure."""

FAILURE_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.REJECTED,
        OrderStatus.PAYMENT_DECLINED,
        OrderStatus.OUT_OF_STOCK,
        OrderStatus.CANCELLED,
        OrderStatus.FAILED,
    }
)
TERMINAL_STATUSES: frozenset[OrderStatus] = FAILURE_STATUSES | {OrderStatus.COMPLETED}


def statuses_before(target: OrderStatus) -> tuple[OrderStatus, ...]:
    """The statuses an order may hold for ``target`` to be a forward move.

    Example
    -------
    >>> [s.value for s in statuses_before(OrderStatus.AUTHORIZED)]
    ['RECEIVED', 'VALIDATED']
    >>> OrderStatus.SHIPPED in statuses_before(OrderStatus.CANCELLED)
    True
    """
    if target in FAILURE_STATUSES:
        return tuple(s for s in PROGRESS if not s.is_terminal)
    return PROGRESS[: PROGRESS.index(target)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(StrictModel):
    name: Text
    line1: Text
    city: Text
    postalCode: PostalCode  # noqa: N815 - the wire format is camelCase
    country: CountryCode


class OrderItem(StrictModel):
    sku: Sku
    quantity: Quantity


class OrderContents(StrictModel):
    """What is ordered and where it goes. Prices are absent on purpose: they come from the catalog."""

    items: list[OrderItem] = Field(min_length=1, max_length=MAX_LINES)
    shippingAddress: Address  # noqa: N815

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[OrderItem]) -> list[OrderItem]:
        seen: set[str] = set()
        for item in items:
            if item.sku in seen:
                raise ValueError(f"SKU {item.sku} appears more than once; send one line with the total quantity")
            seen.add(item.sku)
        return items


class OrderRequest(OrderContents):
    """What a frontend submits. The customer is not part of it: it is the caller's verified identity."""

    paymentToken: PaymentToken  # noqa: N815


class WorkflowOrder(OrderContents):
    """The execution input of the workflow: the order with its id and owner, and never the payment token.

    Execution input reaches the history, the state machine's logs and the console; the one task that needs the
    token (AuthorizePayment) reads it from the order record instead.
    """

    orderId: OrderId  # noqa: N815
    customerId: CustomerId  # noqa: N815


class PlacedOrder(WorkflowOrder):
    """An accepted order as the API stores it, payment token included."""

    paymentToken: PaymentToken  # noqa: N815

    def workflow_input(self) -> dict[str, object]:
        """The execution input for this order: everything but the payment token."""
        return WorkflowOrder.model_validate(self.model_dump(exclude={"paymentToken"})).model_dump(mode="json")


class PricedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: Sku
    name: str
    quantity: Quantity
    unitPriceCents: int = Field(ge=0)  # noqa: N815
    lineTotalCents: int = Field(ge=0)  # noqa: N815


class TimelineEntry(BaseModel):
    status: OrderStatus
    at: str
