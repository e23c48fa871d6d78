"""What the order API does: accept orders exactly once, show them, list them through the indexes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from tasks.adapters.idempotency_keys import IdempotencyKeys
from tasks.adapters.orders_repository import (
    BY_CUSTOMER_INDEX,
    BY_CUSTOMER_STATUS_INDEX,
    OrderRepository,
    Position,
    status_at,
)
from tasks.adapters.workflow import ExecutionStartError, OrderWorkflow
from tasks.errors import IdempotencyKeyConflictError, StorageTransientError, WorkflowUnavailableError
from tasks.logic.access import Principal
from tasks.logic.quotas import OrderQuota, give_back_order_quota, take_order_quota
from tasks.models.api import OrderAccepted, OrderPage, OrderView
from tasks.models.order import OrderRequest, OrderStatus, PlacedOrder

MAX_PAGE = 100
MAX_PUBLIC_MESSAGE = 500


def new_order_id() -> str:
    """A random order id: nothing public (a customer, a key) lets anyone compute it.

    Example
    -------
    >>> new_order_id() != new_order_id()
    True
    """
    return f"ord-{uuid.uuid4().hex}"


def request_fingerprint(request: OrderRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit_order(
    request: OrderRequest,
    caller: Principal,
    idempotency_key: str | None,
    *,
    orders: OrderRepository,
    keys: IdempotencyKeys,
    workflow: OrderWorkflow,
    now: str,
    quota: OrderQuota | None = None,
) -> OrderAccepted:
    """Record the caller's order as RECEIVED and start its execution, named after the order, exactly once.

    The customer is the verified caller. A key belongs to its caller: the first request with it binds it to a new
    random order id, and a repeat with the same key and body returns that same order, even concurrently (both
    writes are conditional, and starting an execution with the same name and input is itself idempotent). If Step
    Functions refused the start, an order this request created is removed again, so a retry with the same key starts
    cleanly; if it may have started it (no answer, or a 5xx), the order is kept and a retry with the key returns it.

    With a ``quota`` (the API always passes one), a new order counts against the caller's limit before anything
    of it is written; a repeat whose order exists counts nothing, and an order that is not kept (or whose write
    failed) is given back.

    Raises
    ------
    ForbiddenError
        The caller is an operator: operators place no orders.
    IdempotencyKeyConflictError
        The caller used this key before with a different body.
    OrderRateLimitedError
        A new order over the caller's limit; no order was written, and a key stays bound to this body.
    WorkflowUnavailableError
        The execution could not be started (nothing was kept), or its start is not confirmed (the order was kept).
    StorageTransientError
        DynamoDB throttled, failed or did not answer; a counted order was given back.

    Example
    -------
    >>> submit_order(request, caller, "key-1", orders=orders, keys=keys, workflow=workflow, now=now_iso())
    ... # doctest: +SKIP
    OrderAccepted(orderId='ord-…', status=<OrderStatus.RECEIVED: 'RECEIVED'>, executionArn='arn:aws:states:…')
    """
    caller.require_shopper()
    fingerprint = request_fingerprint(request)
    order_id = new_order_id()
    key_bound_before = False
    if idempotency_key is not None:
        claim = keys.claim(caller.subject, idempotency_key, order_id, fingerprint, now)
        if claim.fingerprint != fingerprint:
            raise IdempotencyKeyConflictError(
                "this Idempotency-Key was already used for a different order; use a new key for a new order"
            )
        key_bound_before, order_id = claim.order_id != order_id, claim.order_id
    placed = PlacedOrder(orderId=order_id, customerId=caller.subject, **request.model_dump())
    attributes = {"idempotencyKey": idempotency_key} if idempotency_key else {}
    existing = orders.get(order_id) if key_bound_before else None
    counted = take_order_quota(caller.subject, now, quota) if quota is not None and existing is None else None
    status = OrderStatus.RECEIVED
    try:
        created = existing is None and orders.create(placed, now, attributes)
        if not created:
            existing = existing or orders.get(placed.orderId)
            if existing is None:
                created = orders.create(placed, now, attributes)
            else:
                status = OrderStatus(existing["status"])
    except StorageTransientError:
        if counted is not None:
            with contextlib.suppress(StorageTransientError):  # then the count stays until its window ends
                give_back_order_quota(counted, quota)
        raise
    if counted is not None and not created:
        give_back_order_quota(counted, quota)
    try:
        execution_arn = workflow.start(placed.orderId, placed.workflow_input())
    except ExecutionStartError as error:
        if error.may_have_started:
            raise WorkflowUnavailableError(
                "the order was recorded, but its start was not confirmed. Retry with the same Idempotency-Key"
            ) from error
        if created:
            orders.delete_if_received(placed.orderId)
            if counted is not None:
                give_back_order_quota(counted, quota)
        raise WorkflowUnavailableError(
            "the order could not be started; nothing was kept. Retry with the same Idempotency-Key"
        ) from error
    return OrderAccepted(orderId=placed.orderId, status=status, executionArn=execution_arn)


def public_failure(failure: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A failure as shoppers see it: the error's name and its message, never a stack trace or a server path.

    Lambda reports a task's error as a JSON cause (``errorMessage``, ``errorType``, ``stackTrace``); only its
    message is kept. Other causes (a cancel reason, a Step Functions timeout) are short texts and are kept whole.

    Example
    -------
    >>> public_failure({"error": "PaymentDeclinedError",
    ...                 "cause": '{"errorMessage": "card declined", "stackTrace": ["/var/task/tasks/x.py:3"]}'})
    {'error': 'PaymentDeclinedError', 'message': 'card declined'}
    """
    if not failure:
        return None
    cause = failure.get("cause") or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = str(parsed.get("errorMessage") or parsed.get("message") or "")
    else:
        message = cause if not _looks_internal(cause) else ""
    return {"error": str(failure.get("error", "")), "message": message[:MAX_PUBLIC_MESSAGE]}


def _looks_internal(text: str) -> bool:
    """A traceback or a file path is for operators, who read the whole cause in the console."""
    return "Traceback" in text or 'File "' in text or "/var/task" in text or "site-packages" in text


def order_view(record: Mapping[str, Any]) -> OrderView:
    """The order as the API shows it: the fields of ``OrderView`` only, with failures as shoppers may see them."""
    shown = {key: value for key, value in record.items() if key in OrderView.model_fields}
    if "failure" in shown:
        shown["failure"] = public_failure(shown["failure"])
    if shown.get("compensationFailures"):
        shown["compensationFailures"] = {
            name: public_failure(failure) for name, failure in shown["compensationFailures"].items()
        }
    return OrderView.model_validate(shown)


def get_order(order_id: str, caller: Principal, *, orders: OrderRepository) -> OrderView:
    """The order, if the caller may see it; another customer's order is as unknown as a made-up id."""
    return order_view(caller.owned(order_id, orders.get(order_id)))


def list_orders(
    caller: Principal,
    *,
    orders: OrderRepository,
    status: OrderStatus | None,
    customer_id: str | None,
    limit: int,
    next_token: str | None,
) -> OrderPage:
    """A page of orders, read through the GSIs (never a scan), which keep only keys: the repository batch-gets the
    orders they name. Every page costs O(limit) reads, however many orders the caller or the shop has.

    A shopper always lists their own orders: the query is pinned to the caller, so a ``customerId`` naming anyone
    else finds nothing. Operators list any customer's, any status, or everything.

    - a customer: the by-customer index, newest created first;
    - a customer and a status: the by-customer-status index, newest into that status first;
    - a status only: the shards of by-status-shard merged, newest created first;
    - neither: every status's shards merged, newest created first.

    A page token is checked against the query it continues, so a forged or mismatched one is a 400 rather than a
    DynamoDB error. An order that moved on a moment ago can be missing from a page the index still filed it in, so a
    page can hold fewer than ``limit`` orders while more follow.
    """
    if not caller.is_operator:
        if customer_id not in (None, caller.subject):
            return OrderPage(orders=[], nextToken=None)
        customer_id = caller.subject
    if customer_id is not None:
        return _customer_page(orders, customer_id, status, limit, next_token)
    expected: dict[str, str | None] = {"createdAt": None, "orderId": None}
    if status is not None:
        expected["status"] = status.value
    cursor = _cursor(next_token, expected)
    before = (cursor["createdAt"], cursor["orderId"]) if cursor else None
    found, position = orders.with_status([status] if status else list(OrderStatus), limit, before)
    return OrderPage(orders=[order_view(item) for item in found], nextToken=_position_token(position, status))


def _customer_page(
    orders: OrderRepository, customer_id: str, status: OrderStatus | None, limit: int, next_token: str | None
) -> OrderPage:
    """One query of the customer's partition: of by-customer, or of by-customer-status within the status."""
    if status is None:
        cursor = _cursor(next_token, {"orderId": None, "createdAt": None, "customerId": customer_id})
        found, cursor = orders.query(BY_CUSTOMER_INDEX, customer_id, limit, cursor)
    else:
        prefix = status_at(status, "")
        expected = {"orderId": None, "statusAt": None, "customerId": customer_id}
        cursor = _cursor(next_token, expected, prefixes={"statusAt": prefix})
        found, cursor = orders.query(BY_CUSTOMER_STATUS_INDEX, customer_id, limit, cursor, sort_prefix=prefix)
    return OrderPage(orders=[order_view(item) for item in found], nextToken=encode_token(cursor))


def _position_token(position: Position | None, status: OrderStatus | None) -> str | None:
    if position is None:
        return None
    created_at, order_id = position
    return encode_token({"createdAt": created_at, "orderId": order_id, **({"status": status.value} if status else {})})


class InvalidPageTokenError(ValueError):
    pass


def _cursor(
    token: str | None, expected: dict[str, str | None], prefixes: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    """The token's cursor, if it has exactly the expected keys, all strings, with the expected values where given
    and the expected ``prefixes`` (a cursor outside the query's key condition is a DynamoDB error)."""
    cursor = decode_token(token)
    if cursor is None:
        return None
    fits = (
        set(cursor) == set(expected)
        and all(isinstance(cursor[name], str) and value in (None, cursor[name]) for name, value in expected.items())
        and all(cursor[name].startswith(prefix) for name, prefix in (prefixes or {}).items())
    )
    if not fits:
        raise InvalidPageTokenError("nextToken: not a token of this query; repeat the query with the same filters")
    return cursor


def encode_token(cursor: dict | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(cursor, sort_keys=True).encode()).decode()


def decode_token(token: str | None) -> dict | None:
    if not token:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidPageTokenError("nextToken: not a token this API returned") from error
    if not isinstance(cursor, dict):
        raise InvalidPageTokenError("nextToken: not a token this API returned")
    return cursor
