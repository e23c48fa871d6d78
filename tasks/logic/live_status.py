"""Live order status: who a connection belongs to, and which connections an order's status change goes to.

A shopper's connections are found under ``customer#<sub>``; an operator's under one of ``OPERATOR_SUBSCRIBER_SHARDS``
keys ``operators#<n>``, since operators receive every order's events. An event therefore reaches its owner's
connections and the operators', and nobody else's: the owner is the event's ``customerId``, which the order was
written with from the verified token, never from a request body.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Protocol

from tasks.logic.access import Principal
from tasks.models.events import OrderStatusChanged
from tasks.models.websocket import Connection, PushResult
from workflows.resources import OPERATOR_SUBSCRIBER_SHARDS, WEBSOCKET_CONNECTION_TTL_SECONDS


class ConnectionGoneError(Exception):
    """The connection is closed (API Gateway answered 410 Gone): the client went away without a $disconnect yet."""


class Connections(Protocol):
    def subscribed(self, subscribers: Iterable[str]) -> list[str]: ...

    def forget(self, connection_id: str) -> None: ...


class Sender(Protocol):
    def post(self, connection_id: str, message: bytes) -> None: ...


def customer_key(subject: str) -> str:
    return f"customer#{subject}"


def operator_key(connection_id: str) -> str:
    """The operator shard of a connection, stable for its id (crc32, not ``hash``, which varies by process)."""
    return f"operators#{zlib.crc32(connection_id.encode()) % OPERATOR_SUBSCRIBER_SHARDS}"


def new_connection(connection_id: str, principal: Principal, now_epoch: int, now_iso: str) -> Connection:
    """The entry ``$connect`` writes for a verified caller.

    Example
    -------
    >>> new_connection("c-1", Principal("sub-1"), 0, "1970-01-01T00:00:00Z").subscriber
    'customer#sub-1'
    """
    return Connection(
        connectionId=connection_id,
        subject=principal.subject,
        operator=principal.is_operator,
        subscriber=operator_key(connection_id) if principal.is_operator else customer_key(principal.subject),
        connectedAt=now_iso,
        expiration=now_epoch + WEBSOCKET_CONNECTION_TTL_SECONDS,
    )


def subscribers_of(event: OrderStatusChanged) -> list[str]:
    """Every key whose connections receive ``event``: its owner's, and each operator shard.

    Example
    -------
    >>> from tasks.models.events import OrderStatusChanged
    >>> event = OrderStatusChanged(orderId="o", customerId="c", status="RECEIVED", previousStatus=None,
    ...                            sequence=1, at="2026-12-06T00:00:00Z")
    >>> subscribers_of(event)[:2]
    ['customer#c', 'operators#0']
    """
    owners = [customer_key(event.customerId)] if event.customerId else []
    return owners + [f"operators#{shard}" for shard in range(OPERATOR_SUBSCRIBER_SHARDS)]


def push_status_change(event: OrderStatusChanged, connections: Connections, sender: Sender) -> PushResult:
    """Post ``event`` (its JSON, as on the bus) to every connection subscribed to it; delete the ones that are gone.

    A connection is posted to once even if it were found under two keys. Any other error propagates, so the rule's
    retry delivers the event again (a client deduplicates by ``orderId`` and ``sequence``).
    """
    message = event.model_dump_json().encode()
    delivered = gone = 0
    for connection_id in dict.fromkeys(connections.subscribed(subscribers_of(event))):
        try:
            sender.post(connection_id, message)
            delivered += 1
        except ConnectionGoneError:
            connections.forget(connection_id)
            gone += 1
    return PushResult(orderId=event.orderId, sequence=event.sequence, delivered=delivered, gone=gone)
