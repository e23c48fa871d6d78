"""The shoppers' order counters, in the order-quotas table: one item per shopper and UTC day holds both windows.

The item counts the day's orders (``dayOrders``) and those of its latest clock minute (``minute``, the minute's
start in epoch seconds, and ``minuteOrders``). One conditional UpdateItem counts an order in both windows, or in
neither: its condition checks both limits, so the two windows are checked together and a refused order changes
nothing. A minute that has passed is not counted on: the first order of a new minute sets ``minute`` and starts
``minuteOrders`` at one, which is a second form of the update; a write that meets the other form's item
(``ReturnValuesOnConditionCheckFailure``) learns from it which form fits, or which window is full. ``expiration``
(the day's end) lets DynamoDB's TTL remove the item; the key names its day, so an item TTL has not removed yet is
never counted again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.dynamodb import (
    dynamodb_client,
    error_code,
    from_item,
    table_name,
    to_item,
    to_value,
    transient_errors_retried_by_the_workflow,
)
from tasks.errors import StorageTransientError
from workflows.resources import ORDER_QUOTAS_TABLE, OrderRateLimit

RECORD_PREFIX = "order-quota#"
MAX_ATTEMPTS = 4
"""A write can meet the other form of the update once per minute boundary; four attempts leave room for a race."""


class QuotaWindow(StrEnum):
    MINUTE = "minute"
    DAY = "day"


@dataclass(frozen=True)
class QuotaCounters:
    """Which counters one order counts in: the shopper's item for ``day`` (the day's start, epoch seconds) and the
    clock minute starting at ``minute``; the item expires when its day ends."""

    customer_id: str
    day: int
    minute: int
    day_ends: int

    @property
    def key(self) -> dict[str, Any]:
        return {"id": to_value(f"{RECORD_PREFIX}{self.customer_id}#{self.day}")}


class OrderQuotas(ABC):
    @abstractmethod
    def count(self, counters: QuotaCounters, limit: OrderRateLimit) -> QuotaWindow | None:
        """Count one order in both windows unless either is full; the full window (nothing counted), or None."""

    @abstractmethod
    def give_back(self, counters: QuotaCounters) -> None:
        """Uncount an order that ``count`` counted but that was not kept."""


class DynamoDBOrderQuotas(OrderQuotas):
    def __init__(self, name: str, client: Any = None):
        self._table = name
        self._client = client or dynamodb_client()

    def count(self, counters: QuotaCounters, limit: OrderRateLimit) -> QuotaWindow | None:
        minute, same_minute = counters.minute, False
        for _ in range(MAX_ATTEMPTS):
            stored = self._counted(counters, limit, minute, same_minute)
            if stored is None:
                return None
            if stored.get("dayOrders", 0) >= limit.per_day:
                return QuotaWindow.DAY
            minute = max(minute, stored.get("minute", minute))
            same_minute = stored.get("minute") == minute
            if same_minute and stored.get("minuteOrders", 0) >= limit.per_minute:
                return QuotaWindow.MINUTE
        raise StorageTransientError("the order counters kept changing under this request; retry it")

    def _counted(
        self, counters: QuotaCounters, limit: OrderRateLimit, minute: int, same_minute: bool
    ) -> dict[str, Any] | None:
        """One conditional update: None when it counted the order, else the item as it stood (which refused it).

        ``same_minute``: the item's minute is ``minute`` already, so its count goes on; otherwise the item's minute
        is older (or missing) and starts again at one order. A later minute written by a container whose clock runs
        ahead is counted in, not overwritten (``count`` moves ``minute`` up to it).
        """
        values = {":one": 1, ":minute": minute, ":perDay": limit.per_day, ":expiration": counters.day_ends}
        if same_minute:
            update = "SET #expiration = :expiration ADD #day :one, #minuteOrders :one"
            condition = "#minute = :minute AND #minuteOrders < :perMinute AND #day < :perDay"
            values[":perMinute"] = limit.per_minute
        else:
            update = "SET #minute = :minute, #minuteOrders = :one, #expiration = :expiration ADD #day :one"
            condition = (
                "(attribute_not_exists(#minute) OR #minute < :minute) "
                "AND (attribute_not_exists(#day) OR #day < :perDay)"
            )
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.update_item(
                    TableName=self._table,
                    Key=counters.key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={
                        "#day": "dayOrders",
                        "#minute": "minute",
                        "#minuteOrders": "minuteOrders",
                        "#expiration": ORDER_QUOTAS_TABLE.ttl_attribute,
                    },
                    ExpressionAttributeValues=to_item(values),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return from_item(error.response.get("Item", {}))
        return None

    def give_back(self, counters: QuotaCounters) -> None:
        """The day always gives the order back; its minute only while the item still counts that minute."""
        names = {"#day": "dayOrders", "#minute": "minute", "#minuteOrders": "minuteOrders"}
        values = {":less": to_value(-1), ":minute": to_value(counters.minute)}
        try:
            with transient_errors_retried_by_the_workflow():
                self._client.update_item(
                    TableName=self._table,
                    Key=counters.key,
                    UpdateExpression="ADD #day :less, #minuteOrders :less",
                    ConditionExpression="#minute = :minute",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            with transient_errors_retried_by_the_workflow():
                self._client.update_item(
                    TableName=self._table,
                    Key=counters.key,
                    UpdateExpression="ADD #day :less",
                    ExpressionAttributeNames={"#day": "dayOrders"},
                    ExpressionAttributeValues={":less": to_value(-1)},
                )


def order_quotas() -> OrderQuotas:
    return DynamoDBOrderQuotas(table_name(ORDER_QUOTAS_TABLE.env_var))
