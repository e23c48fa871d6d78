"""The WebSocket API of live order status: a connection as the table keeps it, and what the push function reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Connection(BaseModel):
    """One open WebSocket connection: who opened it, and the index key its events are found by."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    connectionId: str = Field(min_length=1)  # noqa: N815
    subject: str = Field(min_length=1)
    operator: bool = False
    subscriber: str = Field(min_length=1)
    """``customer#<sub>``, or ``operators#<n>`` for an operator, who receives every order's events."""
    connectedAt: str  # noqa: N815
    expiration: int
    """Epoch seconds after which DynamoDB's TTL may delete the entry (API Gateway has closed it by then)."""


class PushResult(BaseModel):
    """What one event's push did: how many connections received it, and how many were gone (and deleted)."""

    model_config = ConfigDict(frozen=True)

    orderId: str  # noqa: N815
    sequence: int
    delivered: int = 0
    gone: int = 0
