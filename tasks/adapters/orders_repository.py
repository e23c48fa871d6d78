"""The orders table: the order's status, timeline, payment and reservation, written only by conditional updates.

Every status change is one ``UpdateItem`` whose condition admits only the statuses before the target, so a status
never moves backwards and a retried write changes nothing (not even the timeline). A refused write returns the
order as it was (``ReturnValuesOnConditionCheckFailure``), so explaining the refusal costs no second request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
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
from workflows.resources import ORDERS_TABLE

ORDERS_TABLE_ENV = "ORDERS_TABLE_NAME"
AWAITING_SHIPMENT_INDEX = "awaiting-shipment"
AWAITING_SHIPMENT_SINCE = "awaitingShipmentSince"
"""Present only while the order awaits shipment: the sort key of the sparse ``awaiting-shipment`` index, the
warehouse's queue. The AWAITING_SHIPMENT write sets it, and the write that moves the order on removes it."""
INDEXES = {index.name: index for index in ORDERS_TABLE.indexes}


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
        self, index: str, key_name: str, key_value: str, limit: int, cursor: dict | None, up_to: str | None = None
    ) -> tuple[list[dict[str, Any]], dict | None]:
        """Whole orders, newest first, from a GSI, created at ``up_to`` or earlier if given; returns the page and
        the cursor of the next page (None at the end). An index that keeps only keys is followed by a BatchGetItem
        of the orders it names."""

    @abstractmethod
    def awaiting_shipment(self, limit: int, cursor: dict | None) -> tuple[list[dict[str, Any]], dict | None]:
        """The warehouse's queue, longest waiting first: ``orderId`` and ``awaitingShipmentSince`` of each order that
        awaits shipment, and the cursor of the next page (None at the end)."""

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
    ) -> bool:
        """Move the order forward to ``target`` and append it to the timeline.

        Returns False, changing nothing, when the order is already at ``target`` or past it, so retries are harmless.
        ``create_with`` creates a missing order with those fields; ``requires`` is an extra condition expression over
        ``#reservation``/``#payment`` that must hold too. ``through`` names statuses the order passes on the way,
        each appended to the timeline before ``target`` in the same write (SHIPPED on the way to COMPLETED), and
        the move must be allowed from the first of them; ``remove`` names attributes the write deletes.
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
        self, index: str, key_name: str, key_value: str, limit: int, cursor: dict | None, up_to: str | None = None
    ) -> tuple[list[dict[str, Any]], dict | None]:
        condition = "#key = :key" + (" AND createdAt <= :upTo" if up_to else "")
        values = {":key": to_value(key_value), **({":upTo": to_value(up_to)} if up_to else {})}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#key": key_name},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        entries, next_cursor = self._query(request, cursor)
        if INDEXES[index].projection is None:
            return entries, next_cursor
        ids = [entry["orderId"] for entry in entries]
        found = batch_get(self._client, {self._table: [{"orderId": i} for i in ids]}, consistent=False)[self._table]
        by_id = {order["orderId"]: order for order in found}
        return [by_id[order_id] for order_id in ids if order_id in by_id], next_cursor

    def awaiting_shipment(self, limit: int, cursor: dict | None) -> tuple[list[dict[str, Any]], dict | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": AWAITING_SHIPMENT_INDEX,
            "KeyConditionExpression": "#status = :awaiting",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":awaiting": to_value(OrderStatus.AWAITING_SHIPMENT.value)},
            "Limit": limit,
        }
        return self._query(request, cursor)

    def _query(self, request: dict[str, Any], cursor: dict | None) -> tuple[list[dict[str, Any]], dict | None]:
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
    ) -> bool:
        allowed = statuses_before((*through, target)[0])
        names = {"#status": "status", "#timeline": "timeline", "#updatedAt": "updatedAt"}
        values: dict[str, Any] = {
            ":target": target.value,
            ":now": now,
            ":entry": [{"status": status.value, "at": now} for status in (*through, target)],
            ":emptyTimeline": [],
        }
        assignments = [
            "#status = :target",
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
            _explain_refused_move(order_id, _refused_item(error), (*through, target)[0], requires)
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


def _refused_item(error: ClientError) -> dict[str, Any] | None:
    """The order as a refused conditional write found it (None: there was no order)."""
    item = error.response.get("Item")
    return from_item(item) if item else None


def _explain_refused_move(
    order_id: str, current: Mapping[str, Any] | None, target: OrderStatus, requires: str | None
) -> None:
    """A refused move is fine when the order already reached ``target``; otherwise say why it was refused."""
    if current is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    status = OrderStatus(current["status"])
    if _already_settled(status, target):
        return
    if requires and status in statuses_before(target):
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
