"""The WebSocket connections table: one entry per open connection, found by subscriber key through a keys-only GSI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tasks.adapters.dynamodb import dynamodb_client, table_name, to_item
from workflows.resources import CONNECTIONS_TABLE

BY_SUBSCRIBER = CONNECTIONS_TABLE.indexes[0].name


class ConnectionsRepository:
    """Records and forgets connections, and lists the ones subscribed to a set of keys.

    Example
    -------
    >>> connections = ConnectionsRepository("websocket-connections")  # doctest: +SKIP
    >>> connections.subscribed(["customer#sub-1"])  # doctest: +SKIP
    ['c-1']
    """

    def __init__(self, name: str, client: Any = None):
        self._table = name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or dynamodb_client()

    def record(self, connection: dict[str, Any]) -> None:
        self.client.put_item(TableName=self._table, Item=to_item(connection))

    def forget(self, connection_id: str) -> None:
        """Delete the entry; deleting one already gone is no error ($disconnect after a 410, or after TTL)."""
        self.client.delete_item(TableName=self._table, Key=to_item({"connectionId": connection_id}))

    def subscribed(self, subscribers: Iterable[str]) -> list[str]:
        """The connection ids under each key, every page of each query (the index is eventually consistent)."""
        paginator = self.client.get_paginator("query")
        found: list[str] = []
        for subscriber in subscribers:
            pages = paginator.paginate(
                TableName=self._table,
                IndexName=BY_SUBSCRIBER,
                KeyConditionExpression="subscriber = :subscriber",
                ExpressionAttributeValues=to_item({":subscriber": subscriber}),
            )
            found += [item["connectionId"]["S"] for page in pages for item in page["Items"]]
        return found


def connections_repository() -> ConnectionsRepository:
    return ConnectionsRepository(table_name(CONNECTIONS_TABLE.env_var))
