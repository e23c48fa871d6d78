"""The orders table: the order's status, timeline, payment and reservation, written only by conditional updates.

Every status change is one ``UpdateItem`` whose condition admits only the statuses before the target, so a status
never moves backwards and a retried write changes nothing (not even the timeline). A refused write returns the
order as it was (``ReturnValuesOnConditionCheckFailure``), so explaining the refusal costs no second request.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.dynamodb import (
    batch_get,
    dynamodb_client,
    error_code,
    from_item,
    table_name,
    to_item,
    to_value,
    transient_errors_retried_by_the_workflow,
)
from tasks.errors import InvalidOrderStateError, OrderNotFoundError
from tasks.models.order import FAILURE_STATUSES, PROGRESS, OrderStatus, PlacedOrder, statuses_before
from workflows.resources import ORDERS_TABLE, STATUS_SHARDS, Index

ORDERS_TABLE_ENV = "ORDERS_TABLE_NAME"
BY_STATUS_INDEX = "by-status-shard"
BY_CUSTOMER_INDEX = "by-customer"
BY_CUSTOMER_STATUS_INDEX = "by-customer-status"
AWAITING_SHIPMENT_INDEX = "awaiting-shipment-shard"
STATUS_SHARD = "statusShard"
"""``<STATUS>#<n>``, n from the order id (``status_shard``): the partition key of the two sharded indexes."""
STATUS_AT = "statusAt"
"""``<STATUS>#<when it got there>``: the sort key of ``by-customer-status``, so a shopper's orders of one status are
one ``begins_with`` query, newest into that status first."""
AWAITING_SHIPMENT_SINCE = "awaitingShipmentSince"
"""Present only while the order awaits shipment: the sort key of the sparse ``awaiting-shipment-shard`` index, the
warehouse's queue. The AWAITING_SHIPMENT write sets it, and the write that moves the order on removes it."""
INDEXES = {index.name: index for index in ORDERS_TABLE.indexes}

Position = tuple[str, str]
"""Where a merged listing stands: the index's sort key value and the order id of the last entry it listed."""


def status_shard(order_id: str, status: OrderStatus) -> str:
    """The ``statusShard`` an order is filed under while it holds ``status``: the same shard for every status, from
    a stable hash of its id, so orders spread evenly over the shards whatever their ids look like.

    Example
    -------
    >>> status_shard("ord-1", OrderStatus.RECEIVED), status_shard("ord-1", OrderStatus.COMPLETED)
    ('RECEIVED#3', 'COMPLETED#3')
    """
    return f"{status.value}#{zlib.crc32(order_id.encode()) % STATUS_SHARDS}"


def status_at(status: OrderStatus, now: str) -> str:
    """The ``statusAt`` of an order that reached ``status`` at ``now``.

    Example
    -------
    >>> status_at(OrderStatus.COMPLETED, "2026-03-01T10:00:00.000Z")
    'COMPLETED#2026-03-01T10:00:00.000Z'
    """
    return f"{status.value}#{now}"


class OrderRepository(ABC):
    """Reads and conditional writes of order records."""

    @abstractmethod
    def create(self, order: PlacedOrder, now: str, attributes: Mapping[str, Any] | None = None) -> bool:
        """Store a new order as RECEIVED, with extra ``attributes``. False when an order with that id exists.

        The payment token is stored with the order, never passed through the workflow: AuthorizePayment reads it
        here, and the API's views of the order leave it out."""

    @abstractmethod
    def delete_if_received(self, order_id: str) -> bool:
        """Remove an order that never started: used when its execution could not be started."""

    @abstractmethod
    def query(
        self, index: str, key_value: str, limit: int, cursor: dict | None, *, sort_prefix: str | None = None
    ) -> tuple[list[dict[str, Any]], dict | None]:
        """Whole orders, newest first, from one partition of an unsharded GSI (whose sort key starts with
        ``sort_prefix`` if given), and the cursor of the next page (None at the end).

        One Query of at most ``limit`` entries, then one BatchGetItem of the orders they name. An entry whose keys
        the order no longer has (an index lags its table for a moment) is left out, so a page can hold fewer."""

    @abstractmethod
    def with_status(
        self, statuses: Iterable[OrderStatus], limit: int, before: Position | None
    ) -> tuple[list[dict[str, Any]], Position | None]:
        """Up to ``limit`` whole orders holding one of ``statuses``, newest created first, merged from every shard of
        ``by-status-shard``, and the position to continue from (None at the end).

        ``before`` continues a listing: only orders listed after it, ``(createdAt, orderId)``, come back. Costs one
        Query of at most ``limit + 1`` entries per status and shard, and one BatchGetItem, whatever the table
        holds."""

    @abstractmethod
    def received_before(self, cutoff: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` whole orders that have been RECEIVED since before ``cutoff``, oldest first, from the RECEIVED
        shards of ``by-status-shard``: the orders the reconciler looks at.

        An order is filed there only while it is RECEIVED, so this reads what is stranded (or just slow), not every
        order: one Query of at most ``limit`` entries per shard, and one BatchGetItem."""

    @abstractmethod
    def awaiting_shipment(self, limit: int, cursor: dict | None) -> tuple[list[dict[str, Any]], dict | None]:
        """The warehouse's queue, longest waiting first across its shards: ``orderId``, ``statusShard`` and
        ``awaitingShipmentSince`` of each order that awaits shipment, and the cursor of the next page (None at the
        end)."""

    @abstractmethod
    def get(self, order_id: str) -> dict[str, Any] | None:
        """The stored order, or None."""

    @abstractmethod
    def advance(
        self,
        order_id: str,
        target: OrderStatus,
        now: str,
        *,
        fields: Mapping[str, Any] | None = None,
        create_with: Mapping[str, Any] | None = None,
        requires: str | None = None,
        through: tuple[OrderStatus, ...] = (),
        remove: tuple[str, ...] = (),
        only_from: tuple[OrderStatus, ...] = (),
    ) -> bool:
        """Move the order forward to ``target`` and append it to the timeline.

        Returns False, changing nothing, when the order is already at ``target`` or past it, so retries are harmless.
        ``create_with`` creates a missing order with those fields; ``requires`` is an extra condition expression over
        ``#reservation``/``#payment`` that must hold too. ``through`` names statuses the order passes on the way,
        each appended to the timeline before ``target`` in the same write (SHIPPED on the way to COMPLETED), and
        the move must be allowed from the first of them; ``remove`` names attributes the write deletes.
        ``only_from`` narrows the statuses the move is allowed from; an order in another one is left as it is (False).
        """

    @abstractmethod
    def set_fields(
        self, order_id: str, fields: Mapping[str, Any], *, only_if_status: OrderStatus
    ) -> dict[str, Any] | None:
        """Set fields without a status change, only while the order holds ``only_if_status``. Returns the order as
        the write left it, or None when it holds another status (and nothing was written)."""


class DynamoDBOrderRepository(OrderRepository):
    def __init__(self, name: str, client: Any = None):
        self._table = name
        self._client = client or dynamodb_client()

    def create(self, order: PlacedOrder, now: str, attributes: Mapping[str, Any] | None = None) -> bool:
        item = {
            **(attributes or {}),
            **order.model_dump(mode="json"),
            "status": OrderStatus.RECEIVED.value,
            STATUS_SHARD: status_shard(order.orderId, OrderStatus.RECEIVED),
            STATUS_AT: status_at(OrderStatus.RECEIVED, now),
            "createdAt": now,
            "updatedAt": now,
            "timeline": [{"status": OrderStatus.RECEIVED.value, "at": now}],
        }
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(orderId)",
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_if_received(self, order_id: str) -> bool:
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.delete_item(
                    TableName=self._table,
                    Key=to_item({"orderId": order_id}),
                    ConditionExpression="#status = :received",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":received": to_value(OrderStatus.RECEIVED.value)},
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def query(
        self, index: str, key_value: str, limit: int, cursor: dict | None, *, sort_prefix: str | None = None
    ) -> tuple[list[dict[str, Any]], dict | None]:
        spec = INDEXES[index]
        condition = "#key = :key" + (" AND begins_with(#sort, :prefix)" if sort_prefix else "")
        names = {"#key": spec.partition_key, **({"#sort": spec.sort_key} if sort_prefix else {})}
        values = {":key": to_value(key_value), **({":prefix": to_value(sort_prefix)} if sort_prefix else {})}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        entries, next_cursor = self._index_page(request, cursor)
        if spec.projection is None:
            return entries, next_cursor
        return self._orders_named(entries, spec), next_cursor

    def with_status(
        self, statuses: Iterable[OrderStatus], limit: int, before: Position | None
    ) -> tuple[list[dict[str, Any]], Position | None]:
        spec = INDEXES[BY_STATUS_INDEX]
        partitions = [value for status in statuses for value in spec.shard_values(status.value)]
        entries, next_position = self._merged(spec, partitions, limit, before, newest_first=True)
        return self._orders_named(entries, spec), next_position

    def received_before(self, cutoff: str, limit: int) -> list[dict[str, Any]]:
        spec = INDEXES[BY_STATUS_INDEX]
        entries: list[dict[str, Any]] = []
        for value in spec.shard_values(OrderStatus.RECEIVED.value):
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": spec.name,
                "KeyConditionExpression": "#key = :key AND #sort < :cutoff",
                "ExpressionAttributeNames": {"#key": spec.partition_key, "#sort": spec.sort_key},
                "ExpressionAttributeValues": {":key": to_value(value), ":cutoff": to_value(cutoff)},
                "ScanIndexForward": True,
                "Limit": limit,
            }
            entries += self._index_page(request, None)[0]
        entries.sort(key=lambda entry: (entry[spec.sort_key], entry["orderId"]))
        return self._orders_named(entries[:limit], spec)

    def awaiting_shipment(self, limit: int, cursor: dict | None) -> tuple[list[dict[str, Any]], dict | None]:
        spec = INDEXES[AWAITING_SHIPMENT_INDEX]
        after = (cursor[AWAITING_SHIPMENT_SINCE], cursor["orderId"]) if cursor else None
        partitions = spec.shard_values(OrderStatus.AWAITING_SHIPMENT.value)
        entries, next_position = self._merged(spec, partitions, limit, after, newest_first=False)
        if next_position is None:
            return entries, None
        return entries, {AWAITING_SHIPMENT_SINCE: next_position[0], "orderId": next_position[1]}

    def _merged(
        self, spec: Index, partitions: Iterable[str], limit: int, position: Position | None, *, newest_first: bool
    ) -> tuple[list[dict[str, Any]], Position | None]:
        """The first ``limit`` entries after ``position`` over several partitions of an index, in the order of its
        sort key, then the order id; and the position of the last one when more follow."""
        found: list[dict[str, Any]] = []
        for value in partitions:
            found += self._partition_entries(spec, value, limit + 1, position, newest_first=newest_first)
        found.sort(key=lambda entry: (entry[spec.sort_key], entry["orderId"]), reverse=newest_first)
        page = found[:limit]
        if len(found) <= limit:
            return page, None
        return page, (page[-1][spec.sort_key], page[-1]["orderId"])

    def _partition_entries(
        self, spec: Index, value: str, count: int, position: Position | None, *, newest_first: bool
    ) -> list[dict[str, Any]]:
        """Up to ``count`` entries of one partition that come after ``position``.

        Entries that share the position's sort key value are read again and those already listed are dropped by
        order id, so a page that ends inside a millisecond neither skips nor repeats one."""
        condition = "#key = :key"
        names = {"#key": spec.partition_key}
        values = {":key": to_value(value)}
        if position is not None:
            condition += f" AND #sort {'<=' if newest_first else '>='} :from"
            names["#sort"] = spec.sort_key
            values[":from"] = to_value(position[0])
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": spec.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
            "Limit": count,
        }
        entries: list[dict[str, Any]] = []
        cursor = None
        while len(entries) < count:
            page, cursor = self._index_page(request, cursor)
            entries += [entry for entry in page if _comes_after(entry, spec, position, newest_first)]
            if cursor is None:
                break
        return entries[:count]

    def _orders_named(self, entries: list[dict[str, Any]], spec: Index) -> list[dict[str, Any]]:
        """The orders keys-only entries name, in their order, without those the index files under keys the order
        no longer has (it moved on a moment ago, and the index can name it twice until it catches up)."""
        ids = list(dict.fromkeys(entry["orderId"] for entry in entries))
        found = batch_get(self._client, {self._table: [{"orderId": i} for i in ids]}, consistent=False)[self._table]
        by_id = {order["orderId"]: order for order in found}
        keys = [spec.partition_key, *([spec.sort_key] if spec.sort_key else [])]
        return [
            by_id[entry["orderId"]]
            for entry in entries
            if entry["orderId"] in by_id and all(by_id[entry["orderId"]].get(key) == entry[key] for key in keys)
        ]

    def _index_page(self, request: dict[str, Any], cursor: dict | None) -> tuple[list[dict[str, Any]], dict | None]:
        """One Query of an index, from ``cursor``: its entries and the cursor after them (None at the end)."""
        if cursor:
            request["ExclusiveStartKey"] = to_item(cursor)
        with transient_errors_retried_by_the_workflow():
            response = self._client.query(**request)
        next_cursor = from_item(response["LastEvaluatedKey"]) if response.get("LastEvaluatedKey") else None
        return [from_item(item) for item in response.get("Items", [])], next_cursor

    def get(self, order_id: str) -> dict[str, Any] | None:
        with transient_errors_retried_by_the_workflow():
            response = self._client.get_item(
                TableName=self._table, Key=to_item({"orderId": order_id}), ConsistentRead=True
            )
        item = response.get("Item")
        return from_item(item) if item else None

    def advance(
        self,
        order_id: str,
        target: OrderStatus,
        now: str,
        *,
        fields: Mapping[str, Any] | None = None,
        create_with: Mapping[str, Any] | None = None,
        requires: str | None = None,
        through: tuple[OrderStatus, ...] = (),
        remove: tuple[str, ...] = (),
        only_from: tuple[OrderStatus, ...] = (),
    ) -> bool:
        allowed = only_from or statuses_before((*through, target)[0])
        names = {"#status": "status", "#timeline": "timeline", "#updatedAt": "updatedAt"}
        values: dict[str, Any] = {
            ":target": target.value,
            ":now": now,
            ":entry": [{"status": status.value, "at": now} for status in (*through, target)],
            ":emptyTimeline": [],
        }
        names.update({"#statusShard": STATUS_SHARD, "#statusAt": STATUS_AT})
        values.update({":statusShard": status_shard(order_id, target), ":statusAt": status_at(target, now)})
        assignments = [
            "#status = :target",
            "#statusShard = :statusShard",
            "#statusAt = :statusAt",
            "#updatedAt = :now",
            "#timeline = list_append(if_not_exists(#timeline, :emptyTimeline), :entry)",
        ]
        for index, (name, value) in enumerate((fields or {}).items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            assignments.append(f"#f{index} = :f{index}")
        for index, (name, value) in enumerate((create_with or {}).items()):
            names[f"#c{index}"] = name
            values[f":c{index}"] = value
            assignments.append(f"#c{index} = if_not_exists(#c{index}, :c{index})")
        if create_with is not None:
            values[":emptyTimeline"] = [{"status": OrderStatus.RECEIVED.value, "at": now}]
        removals = []
        for index, name in enumerate(remove):
            names[f"#r{index}"] = name
            removals.append(f"#r{index}")
        placeholders = []
        for index, status in enumerate(allowed):
            values[f":allowed{index}"] = status.value
            placeholders.append(f":allowed{index}")
        condition = f"#status IN ({', '.join(placeholders)})"
        if create_with is not None:
            condition = f"attribute_not_exists(orderId) OR {condition}"
        else:
            condition = f"attribute_exists(orderId) AND {condition}"
        if requires:
            condition = f"({condition}) AND ({requires})"
            placeholders_of_requires = {"#reservation": "reservation", "#payment": "payment", "#rstatus": "status"}
            names.update({name: value for name, value in placeholders_of_requires.items() if name in requires})
            if ":reserved" in requires:
                values[":reserved"] = "RESERVED"
        expression = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removals) if removals else "")
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.update_item(
                    TableName=self._table,
                    Key=to_item({"orderId": order_id}),
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={key: to_value(value) for key, value in values.items()},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            _explain_refused_move(order_id, _refused_item(error), (*through, target)[0], bool(requires or only_from))
            return False
        return True

    def set_fields(
        self, order_id: str, fields: Mapping[str, Any], *, only_if_status: OrderStatus
    ) -> dict[str, Any] | None:
        names = {"#status": "status", **{f"#f{i}": name for i, name in enumerate(fields)}}
        values = {":status": only_if_status.value, **{f":f{i}": value for i, value in enumerate(fields.values())}}
        try:
            with transient_errors_retried_by_the_workflow():
                response = self._client.update_item(
                    TableName=self._table,
                    Key=to_item({"orderId": order_id}),
                    UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                    ConditionExpression="#status = :status",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={key: to_value(value) for key, value in values.items()},
                    ReturnValues="ALL_NEW",
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response["Attributes"])


def _comes_after(entry: Mapping[str, Any], spec: Index, position: Position | None, newest_first: bool) -> bool:
    if position is None:
        return True
    where = (entry[spec.sort_key], entry["orderId"])
    return where < position if newest_first else where > position


def _refused_item(error: ClientError) -> dict[str, Any] | None:
    """The order as a refused conditional write found it (None: there was no order)."""
    item = error.response.get("Item")
    return from_item(item) if item else None


def _explain_refused_move(
    order_id: str, current: Mapping[str, Any] | None, target: OrderStatus, narrowed: bool
) -> None:
    """A refused move is fine when the order already reached ``target``, or when a narrower condition than the
    status's (``requires``, ``only_from``) refused it; otherwise say why it was refused."""
    if current is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    status = OrderStatus(current["status"])
    if _already_settled(status, target):
        return
    if narrowed and status in statuses_before(target):
        return
    raise InvalidOrderStateError(f"order {order_id} is {status.value}; it cannot move to {target.value}")


def _already_settled(status: OrderStatus, target: OrderStatus) -> bool:
    """True when moving to ``target`` has nothing left to do: the order is there already, or past it."""
    if status == target:
        return True
    if target in FAILURE_STATUSES:
        return status.is_terminal
    return status == OrderStatus.COMPLETED or (status in PROGRESS and target in statuses_before(status))


def order_repository() -> OrderRepository:
    """The repository for the table this function was deployed with."""
    return DynamoDBOrderRepository(table_name(ORDERS_TABLE_ENV))
