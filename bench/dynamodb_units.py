"""What DynamoDB on-demand would bill for each request moto answers: write and read request units, GSIs included.

``CapacityMeter`` wraps moto's ``DynamoHandler.call_action`` (as ``bench.cost.record_paths`` does to count requests)
and prices every request from the items themselves, read from moto's backend before and after it runs, by the rules
of the DynamoDB developer guide ("DynamoDB item sizes and formats", "Read/write capacity mode", "Global secondary
indexes: provisioned throughput considerations", "Managing capacity for transactions"):

- An item's size is the UTF-8 length of its attribute names plus its values: a string its UTF-8 bytes, a number
  one byte per two significant digits plus one, a binary its raw bytes, a Boolean or null one byte, a set the sum
  of its elements, a list or map 3 bytes plus, per element, 1 byte and the element (a map element's name counts).
- A write costs one unit per started KB of the larger of the item before and after it (a delete: the item it
  removed). A conditional write that is refused still costs the existing item's size, at least one unit.
- A read costs one unit per started 4 KB when strongly consistent, half that when eventually consistent. A Query
  or Scan adds up the sizes of the items it returns (an index's entries, on an index) and rounds once; BatchGetItem
  rounds each item. Reads of nothing still cost the minimum.
- TransactWriteItems costs twice per item (ConditionCheck included), TransactGetItems twice per read. A cancelled
  transaction is counted as if each item's prepare and commit had run on the items as they were (an upper bound).
- Each GSI is written as a table of its own, at the size of the index entry (the table's and the index's keys and
  the projected attributes; the 100 bytes of per-entry storage overhead are not billed as throughput): an entry that
  appears is one put, one that disappears one delete, a changed index key a delete and a put, a change of projected
  attributes only one update, and a write that changes no key and no projected value nothing at all.

Refused requests other than condition failures (validation errors, throttling) cost nothing here. While a meter is
installed, DynamoDB requests run one at a time, so each one's before and after are its own.

Each request's units are also split by the partition key value they land on (``MeteredRequest.partitions``): the
table's, or the index's for a GSI write or an index Query (a delete on the old entry's key, a put on the new one's).
DynamoDB throttles one partition key value past 1,000 write and 3,000 read units a second, in the table and in every
GSI, which is what ``bench.cost`` models from these.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACTION_FACTOR = 2
CONDITION_FAILURES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
"""Refusals that DynamoDB bills: the condition was evaluated against the stored item."""
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"})
"""The data plane; control-plane requests (CreateTable, DescribeTable...) are neither billed nor listed."""

Item = Mapping[str, Mapping[str, Any]]
"""An item in DynamoDB's wire format: attribute name to ``{"S": ...}``, ``{"N": ...}``, ``{"M": {...}}``..."""


def value_size(value: Mapping[str, Any]) -> int:
    """The bytes one attribute value counts for, without its name.

    Example
    -------
    >>> value_size({"S": "héllo"}), value_size({"N": "8999"}), value_size({"L": [{"N": "1"}, {"BOOL": True}]})
    (6, 3, 8)
    """
    kind, payload = next(iter(value.items()))
    if kind == "S":
        return len(payload.encode())
    if kind == "N":
        return _number_size(payload)
    if kind == "B":
        return len(_raw_bytes(payload))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(element.encode()) for element in payload)
    if kind == "NS":
        return sum(_number_size(element) for element in payload)
    if kind == "BS":
        return sum(len(_raw_bytes(element)) for element in payload)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in payload)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in payload.items())
    raise ValueError(f"not a DynamoDB attribute value: {value!r}")


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def _raw_bytes(payload: str | bytes) -> bytes:
    return base64.b64decode(payload) if isinstance(payload, str) else payload


def item_size(item: Item | None) -> int:
    """The bytes an item counts for: every attribute's name and value (0 for no item).

    Example
    -------
    >>> item_size({"orderId": {"S": "o-1"}, "totalCents": {"N": "11597"}})
    24
    """
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    """Write request units of one write of ``size`` bytes: one per started KB, at least one.

    Example
    -------
    >>> write_units(0), write_units(1024), write_units(1025)
    (1, 1, 2)
    """
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    """Read request units of one read of ``size`` bytes: one per started 4 KB, half when eventually consistent.

    Example
    -------
    >>> read_units(100, consistent=True), read_units(5000, consistent=False)
    (1, 1.0)
    """
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2


@dataclass(frozen=True)
class IndexSchema:
    """A GSI as the meter sees it: its keys, the table's keys, and what it projects (None: every attribute)."""

    name: str
    keys: tuple[str, ...]
    table_keys: tuple[str, ...]
    projected: tuple[str, ...] | None = None

    @classmethod
    def from_moto(cls, index: Any, table_keys: Sequence[str]) -> IndexSchema:
        projection = index.projection or {"ProjectionType": "ALL"}
        kind = projection.get("ProjectionType", "ALL")
        projected = None if kind == "ALL" else tuple(projection.get("NonKeyAttributes", ()))
        return cls(index.name, tuple(key["AttributeName"] for key in index.schema), tuple(table_keys), projected)

    def entry(self, item: Item | None) -> dict[str, Any] | None:
        """The item's entry in this index, or None when it lacks a key attribute (a sparse index leaves it out)."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projected is None:
            return dict(item)
        kept = (*self.table_keys, *self.keys, *self.projected)
        return {name: value for name, value in item.items() if name in kept}

    def write_units(self, before: Item | None, after: Item | None) -> int:
        """What a table write from ``before`` to ``after`` costs this index.

        Example
        -------
        >>> index = IndexSchema("by-status", ("status",), ("orderId",), projected=())
        >>> old = {"orderId": {"S": "o-1"}, "status": {"S": "VALIDATED"}, "note": {"S": "x"}}
        >>> moved, noted = {**old, "status": {"S": "AUTHORIZED"}}, {**old, "note": {"S": "y"}}
        >>> index.write_units(old, moved), index.write_units(old, noted)
        (2, 0)
        """
        return sum(units for _, units in self.partition_writes(before, after))

    def partition_writes(self, before: Item | None, after: Item | None) -> list[tuple[str, int]]:
        """The index's writes for a table write, as (partition key value, units): a changed key deletes on the old
        value and puts on the new one.

        Example
        -------
        >>> index = IndexSchema("by-status", ("status",), ("orderId",), projected=())
        >>> old = {"orderId": {"S": "o-1"}, "status": {"S": "VALIDATED"}}
        >>> index.partition_writes(old, {**old, "status": {"S": "AUTHORIZED"}})
        [('VALIDATED', 1), ('AUTHORIZED', 1)]
        """
        old, new = self.entry(before), self.entry(after)
        if old is None and new is None:
            return []
        if old is None or new is None:
            entry = old or new
            return [(key_value(entry[self.keys[0]]), write_units(item_size(entry)))]
        if any(old[key] != new[key] for key in self.keys):
            return [
                (key_value(old[self.keys[0]]), write_units(item_size(old))),
                (key_value(new[self.keys[0]]), write_units(item_size(new))),
            ]
        if old == new:
            return []
        return [(key_value(new[self.keys[0]]), write_units(max(item_size(old), item_size(new))))]


def key_value(value: Mapping[str, Any]) -> str:
    """A key attribute's value as text (keys are strings, numbers or binaries).

    Example
    -------
    >>> key_value({"S": "RECEIVED#2"}), key_value({"N": "7"})
    ('RECEIVED#2', '7')
    """
    return str(next(iter(value.values())))


class PartitionUnits(NamedTuple):
    """Units one request spent on one partition key value: of ``table``, or of its GSI ``index`` ("" for the
    table itself), whose partition key is ``key`` and holds ``value`` ("*" for a Scan, which reads them all)."""

    table: str
    index: str
    key: str
    value: str
    wru: float
    rru: float


class MeteredRequest(NamedTuple):
    """One DynamoDB request and what it would be billed. ``table`` joins the tables of a multi-table request with
    ``+``; ``wru`` includes the GSI writes, and ``partitions`` splits the units by partition key value."""

    caller: str
    operation: str
    table: str
    wru: float
    rru: float
    partitions: tuple[PartitionUnits, ...] = ()


@dataclass
class Totals:
    """What one caller's requests add up to."""

    requests: int = 0
    wru: float = 0.0
    rru: float = 0.0


class CapacityMeter:
    """Prices every DynamoDB request moto answers while it is entered; ``requests`` lists them in order.

    Requests are labelled with the caller: the label of ``caller(...)`` on the thread that sent them, the Lambda
    function's name for the requests of an invocation (``label_invocations``), else ``default_caller`` (the test's
    own reads, and a state machine's direct DynamoDB integrations if they reach moto's handler).

    Example
    -------
    >>> with OrderStack(time_scale=1000) as stack, CapacityMeter() as meter:  # doctest: +SKIP
    ...     meter.label_invocations(stack.runner)
    ...     stack.run_order(sample_order(), shipment="SHIPPED")
    ...     print(meter.wru, meter.by_caller()["CapturePayment"])
    """

    _lock = threading.RLock()

    def __init__(self, default_caller: str = "Client"):
        self.default_caller = default_caller
        self.requests: list[MeteredRequest] = []
        self.index_wru: Counter[str] = Counter()
        """WRU spent on each GSI, by ``table/index``."""
        self._labels = threading.local()
        self._original: Any = None
        self._runners: list[tuple[Any, Any]] = []
        """Each labelled runner, with its own ``invoke`` attribute if it had one (None: the class's method)."""

    def __enter__(self) -> CapacityMeter:
        from moto.dynamodb.responses import DynamoHandler

        original = self._original = DynamoHandler.call_action
        meter = self

        def metered(handler: Any) -> Any:
            with meter._lock:
                return meter._meter(handler, original)

        DynamoHandler.call_action = metered
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.dynamodb.responses import DynamoHandler

        DynamoHandler.call_action = self._original
        for runner, own in reversed(self._runners):
            if own is None:
                del runner.invoke
            else:
                runner.invoke = own
        self._runners.clear()

    @contextlib.contextmanager
    def caller(self, label: str) -> Iterator[None]:
        """Label the requests this thread sends inside the block."""
        stack = self._label_stack()
        stack.append(label)
        try:
            yield
        finally:
            stack.pop()

    def label_invocations(self, runner: Any) -> None:
        """Label each request a function of ``runner`` (a ``local.aws.awslambda.runner.LambdaRunner``) sends with the
        function's name, until the meter exits."""
        from local.aws.awslambda.runner import function_name_from

        invoke = runner.invoke

        def labelled(function_name: str, payload: bytes) -> Any:
            with self.caller(function_name_from(function_name)):
                return invoke(function_name, payload)

        self._runners.append((runner, vars(runner).get("invoke")))
        runner.invoke = labelled

    @property
    def wru(self) -> float:
        return sum(request.wru for request in self.requests)

    @property
    def rru(self) -> float:
        return sum(request.rru for request in self.requests)

    def by_caller(self) -> dict[str, Totals]:
        """Requests and units per caller label, in the order the callers first appeared."""
        totals: dict[str, Totals] = {}
        for request in self.requests:
            entry = totals.setdefault(request.caller, Totals())
            entry.requests += 1
            entry.wru += request.wru
            entry.rru += request.rru
        return totals

    def clear(self) -> None:
        self.requests.clear()
        self.index_wru.clear()

    def _label_stack(self) -> list[str]:
        if not hasattr(self._labels, "stack"):
            self._labels.stack = []
        return self._labels.stack

    def _current_caller(self) -> str:
        stack = self._label_stack()
        return stack[-1] if stack else self.default_caller

    def _meter(self, handler: Any, original: Any) -> Any:
        operation = (handler.headers.get("X-Amz-Target") or handler.headers.get("x-amz-target") or "").split(".")[-1]
        if operation not in WRITE_OPERATIONS | READ_OPERATIONS:
            return original(handler)
        raw = handler.body
        body = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        backend = handler.dynamodb_backend
        targets = _write_targets(operation, body, backend) if operation in WRITE_OPERATIONS else []
        before = [_stored(backend, table, key) for table, key, _ in targets]
        response = original(handler)
        status, _, text = response
        error = _error_code(status, text)
        if error is not None and error not in CONDITION_FAILURES:
            return response
        tables = [table for table, _, _ in targets] or _read_tables(operation, body)
        if operation in WRITE_OPERATIONS:
            partitions = self._write_partitions(operation, backend, targets, before, failed=error is not None)
        else:
            partitions = _read_partitions(operation, body, text, backend)
        wru, rru = sum(part.wru for part in partitions), sum(part.rru for part in partitions)
        self.requests.append(
            MeteredRequest(
                self._current_caller(), operation, "+".join(dict.fromkeys(tables)), wru, rru, tuple(partitions)
            )
        )
        return response

    def _write_partitions(
        self, operation: str, backend: Any, targets: list[tuple[str, dict, str]], before: list, failed: bool
    ) -> list[PartitionUnits]:
        factor = TRANSACTION_FACTOR if operation == "TransactWriteItems" else 1
        partitions = []
        for (table, key, action), old in zip(targets, before, strict=True):
            new = old if failed else _stored(backend, table, key)
            size = item_size(old) if failed or action == "Delete" else max(item_size(old), item_size(new))
            partitions.append(_table_partition(backend, table, key, wru=factor * write_units(size)))
            if failed:
                continue
            for index in _indexes(backend, table):
                for value, units in index.partition_writes(old, new):
                    self.index_wru[f"{table}/{index.name}"] += units
                    partitions.append(PartitionUnits(table, index.name, index.keys[0], value, float(units), 0.0))
        return partitions


def _write_targets(operation: str, body: Mapping[str, Any], backend: Any) -> list[tuple[str, dict, str]]:
    """(table, key, action) of every item a write request touches; action is Put, Update, Delete or ConditionCheck."""
    if operation == "TransactWriteItems":
        entries = [next(iter(entry.items())) for entry in body.get("TransactItems", [])]
        return [(request["TableName"], _key(backend, request), action) for action, request in entries]
    if operation == "BatchWriteItem":
        targets = []
        for table, requests in body.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    targets.append((table, _key(backend, {"TableName": table, **request["PutRequest"]}), "Put"))
                else:
                    targets.append((table, dict(request["DeleteRequest"]["Key"]), "Delete"))
        return targets
    action = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation]
    return [(body.get("TableName", "?"), _key(backend, body), action)]


def _key(backend: Any, request: Mapping[str, Any]) -> dict:
    """The key a request names: its ``Key``, or the key attributes of the ``Item`` it puts."""
    if "Key" in request:
        return dict(request["Key"])
    table = _table(backend, request.get("TableName", ""))
    item = request.get("Item", {})
    return {name: item[name] for name in (table.table_key_attrs if table else []) if name in item}


def _table(backend: Any, name: str) -> Any:
    try:
        return backend.get_table(name)
    except Exception:
        return None


def _stored(backend: Any, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The item as moto holds it now, in wire format (a copy), or None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _table(backend, table_name)
    if table is None or any(name not in key for name in table.table_key_attrs):
        return None
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
    item = table.get_item(DynamoType(key[table.hash_key_attr]), range_key)
    return copy.deepcopy(item.to_json()["Attributes"]) if item is not None else None


def _table_partition(
    backend: Any, table_name: str, key: Mapping[str, Any], wru: float = 0.0, rru: float = 0.0
) -> PartitionUnits:
    """Units spent on the table partition of the item with ``key``."""
    table = _table(backend, table_name)
    name = table.hash_key_attr if table is not None else "?"
    value = key_value(key[name]) if name in key else "?"
    return PartitionUnits(table_name, "", name, value, float(wru), float(rru))


def _indexes(backend: Any, table_name: str) -> list[IndexSchema]:
    table = _table(backend, table_name)
    if table is None:
        return []
    return [IndexSchema.from_moto(index, table.table_key_attrs) for index in table.global_indexes]


def _error_code(status: int, text: Any) -> str | None:
    if status < 400:
        return None
    try:
        kind = json.loads(text).get("__type", "")
    except (TypeError, ValueError):
        return "Unknown"
    return kind.rsplit("#", 1)[-1] or "Unknown"


def _read_tables(operation: str, body: Mapping[str, Any]) -> list[str]:
    if operation == "BatchGetItem":
        return list(body.get("RequestItems", {}))
    if operation == "TransactGetItems":
        return [entry["Get"]["TableName"] for entry in body.get("TransactItems", [])]
    return [body.get("TableName", "?")]


def _read_partitions(operation: str, body: Mapping[str, Any], text: Any, backend: Any) -> list[PartitionUnits]:
    """Read units of a read, by the partition each item or Query reads; control-plane requests cost none."""
    answer = json.loads(text or "{}")
    if operation == "GetItem":
        item = _stored(backend, body["TableName"], body["Key"])
        units = read_units(item_size(item), bool(body.get("ConsistentRead")))
        return [_table_partition(backend, body["TableName"], body["Key"], rru=units)]
    if operation == "BatchGetItem":
        return [
            _table_partition(
                backend,
                table,
                key,
                rru=read_units(item_size(_stored(backend, table, key)), bool(request.get("ConsistentRead"))),
            )
            for table, request in body.get("RequestItems", {}).items()
            for key in request.get("Keys", [])
        ]
    if operation == "TransactGetItems":
        return [
            _table_partition(
                backend,
                entry["Get"]["TableName"],
                entry["Get"]["Key"],
                rru=TRANSACTION_FACTOR
                * read_units(item_size(_stored(backend, entry["Get"]["TableName"], entry["Get"]["Key"])), True),
            )
            for entry in body.get("TransactItems", [])
        ]
    if operation in ("Query", "Scan"):
        table_name = body["TableName"]
        index = next((i for i in _indexes(backend, table_name) if i.name == body.get("IndexName")), None)
        table = _table(backend, table_name)
        key = index.keys[0] if index is not None else (table.hash_key_attr if table is not None else "?")
        size = 0
        for returned in answer.get("Items", []):
            stored = _stored(backend, table_name, returned)
            full = stored if stored is not None else returned
            size += item_size(index.entry(full) if index is not None else full)
        value = _queried_value(body, key) if operation == "Query" else "*"
        units = read_units(size, bool(body.get("ConsistentRead")))
        return [PartitionUnits(table_name, index.name if index is not None else "", key, value, 0.0, units)]
    return []


def _queried_value(body: Mapping[str, Any], key: str) -> str:
    """The partition key value a Query's key condition names (``#k = :v`` or ``key = :v``)."""
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    for name, placeholder in re.findall(r"(#?[\w]+)\s*=\s*(:[\w]+)", body.get("KeyConditionExpression", "")):
        if names.get(name, name) == key and placeholder in values:
            return key_value(values[placeholder])
    return "?"
