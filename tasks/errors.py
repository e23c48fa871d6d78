"""Errors that leave a handler and reach the state machine.

Lambda reports an unhandled exception's class name as ``errorType``; the ASL's ``Retry`` and ``Catch`` blocks match it
by that name. Renaming a class here is therefore a change to the workflow: the ASL test suite checks both agree.
"""

from __future__ import annotations


class OrderError(Exception):
    """Base of every error the workflow matches by name."""


class InvalidTaskInputError(OrderError):
    """A task received input that does not fit its model; the message names each offending field."""


class OrderValidationError(OrderError):
    """The order cannot be accepted: unknown SKU, bad quantity, bad address. The message names the field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class PaymentDeclinedError(OrderError):
    """The payment provider declined the authorization. Not retried."""


class PaymentProviderTransientError(OrderError):
    """The payment provider is briefly unavailable. Retried with backoff."""


class OutOfStockError(OrderError):
    """At least one SKU lacks the stock for its line; nothing was reserved."""


class InventoryTransientError(OrderError):
    """The stock transaction collided with another one. Retried with backoff."""


class StorageTransientError(OrderError):
    """DynamoDB throttled or briefly failed. Retried with backoff."""


class OrderNotFoundError(OrderError):
    """The order a task was asked to work on does not exist."""


class InvalidOrderStateError(OrderError):
    """The order is not in a status that allows this step (a status never moves backwards)."""


class OrderCancelledError(OrderError):
    """Sent by the cancel API through SendTaskFailure while the order awaits shipment."""


class ShipmentFailedError(OrderError):
    """Sent by the warehouse through SendTaskFailure when it cannot ship."""


class IdempotencyKeyConflictError(OrderError):
    """API only: an Idempotency-Key was reused with a different order body."""


class WorkflowUnavailableError(OrderError):
    """API only: the order could not be started (or its start was not confirmed); the client may retry with the same
    key."""


class WorkflowTransientError(OrderError):
    """API only: Step Functions throttled a callback (SendTask*), failed on its side or did not answer; send it
    again."""


class OrderRateLimitedError(OrderError):
    """API only: the shopper placed as many orders as the limit allows in this minute or day; nothing was written.

    ``retry_after_seconds`` is how long until the window that refused the order ends (the ``Retry-After`` header).
    """

    def __init__(self, message: str, retry_after_seconds: int):
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class UnauthenticatedError(OrderError):
    """API only: the request carries no verified identity (API Gateway's authorizer claims are missing)."""


class ForbiddenError(OrderError):
    """API only: the caller is known but may not do this (an operator placing an order)."""


class EventPublishError(OrderError):
    """Stream function only: EventBridge refused events; the record is retried, then recorded in the DLQ."""


class ConnectionUnauthorizedError(Exception):
    """A WebSocket ``$connect`` without a valid ID token. Its message is exactly ``Unauthorized``: that is what makes
    API Gateway answer the handshake 401 instead of 500."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")
