"""Performance adapters: the same answers from moto with less work, and no growth over a long run.

None of them changes behaviour: DynamoDB transactions back up the items they touch instead of whole tables, a
table's items are sorted once per change and a query by partition key reads that partition; the engine's boto3
clients, parsed definitions and JSONPaths, moto's module list, its serializer's field aliases and EventBridge's input
paths are kept instead of built again; AttributeValues already in their wire format pass through the serializer;
and the engine's finished threads are let go. Each section below says what moto repeats and why keeping it is safe.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import threading
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

import boto3
import jsonpath_ng.ext
from jsonpath_ng.ext import parse as parse_json_path
from moto import backends
from moto.core import serialize as moto_serialize
from moto.core.models import botocore_stubber
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.settings import moto_server_port
from moto.stepfunctions.parser import utils as engine_utils
from moto.stepfunctions.parser.asl.component.common.path import result_path as result_path_module
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

# --- performance: transactions back up the items they touch, not whole tables -------------------------------------
# moto's TransactWriteItems deep-copies every table a transaction names, to roll back on failure. A reservation
# names the orders table, so every order copied every order before it: the stack slowed down as its history grew.
# Here ``copy.deepcopy`` of a Table inside moto's DynamoDB backend returns the table itself (its rollback then
# restores the live table, a no-op), and the wrapper backs up and restores the items the transaction names instead.
# Every DynamoDB request runs under ``_dynamodb_lock`` (``local.aws.moto.fidelity``), so nothing sees the items
# between the write and the restore.


class _TablesKeptByReference:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_transact_write_items = DynamoDBBackend.transact_write_items


def _item_key(table: Table, operation: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    attributes = operation.get("Key") or operation.get("Item") or {}
    hash_value = attributes.get(table.hash_key_attr)
    range_value = attributes.get(table.range_key_attr) if table.has_range_key else None
    if hash_value is None or (table.has_range_key and range_value is None):
        return None
    return DynamoType(hash_value), None if range_value is None else DynamoType(range_value)


def _transact_write_items_with_item_backups(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    backups = []
    for entry in transact_items:
        for operation in entry.values() if isinstance(entry, dict) else ():
            table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
            key = None if table is None else _item_key(table, operation)
            if key is not None:
                backups.append((table, *key, copy.deepcopy(table.get_item(*key))))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(backups):
            _restore_item(table, hash_value, range_value, item)
        raise


def _restore_item(table: Table, hash_value: DynamoType, range_value: DynamoType | None, item: Any) -> None:
    _note_item_written(table)
    if range_value is None:
        table.items.pop(hash_value, None)
        if item is not None:
            table.items[hash_value] = item
    else:
        table.items[hash_value].pop(range_value, None)
        if item is not None:
            table.items[hash_value][range_value] = item


# --- performance: a table's items are sorted once per change, not once per query ----------------------------------
# moto's Query and Scan start from ``Table.all_items()``, which sorts every item of the table on each call, so a
# query of a few items (the warehouse's by-status poll, CapturePayment's ledger query) cost O(n log n) in the whole
# table and grew with the stack's history. The sorted list only changes when an item is put, replaced or deleted
# (updates change items in place and never their keys), so it is kept per table and rebuilt after such a write.

_all_items = Table.all_items
_put_item = Table.put_item
_delete_item = Table.delete_item


def _note_item_written(table: Table) -> None:
    table._orders_item_writes = getattr(table, "_orders_item_writes", 0) + 1


def _sorted_items_cached(self: Table) -> list[Any]:
    version = (id(self.items), getattr(self, "_orders_item_writes", 0))
    cached = getattr(self, "_orders_sorted_items", None)
    if cached is None or cached[0] != version:
        cached = (version, _all_items(self))
        self._orders_sorted_items = cached
    return list(cached[1])


def _put_item_noted(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _put_item(self, *args, **kwargs)
    finally:
        _note_item_written(self)


def _delete_item_noted(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _delete_item(self, *args, **kwargs)
    finally:
        _note_item_written(self)


def sort_items_once_per_change() -> None:
    """Make a query's cost independent of sorting the whole table."""
    Table.all_items = _sorted_items_cached
    Table.put_item = _put_item_noted
    Table.delete_item = _delete_item_noted


# --- performance: a query by partition key reads that partition, not the whole table ------------------------------
# Without an index, moto's Query takes ``all_items()`` and keeps the items whose hash key matches, so each of
# CapturePayment's ledger queries visited every ledger entry ever written; the ledger changes with every order, so
# the sort cache above did not help either. ``table.items`` is already keyed by hash key: during such a query,
# ``all_items`` answers with that partition, which is exactly the set moto's filter keeps (its sort by range key
# then puts it in the same order).

_query = Table.query
_QUERY_PARAMETERS = inspect.signature(_query)
_partition_being_queried = threading.local()


def _query_one_partition(self: Table, *args: Any, **kwargs: Any) -> Any:
    arguments = _QUERY_PARAMETERS.bind(self, *args, **kwargs).arguments
    hash_key = arguments.get("hash_key")
    if arguments.get("index_name") or hash_key is None:
        return _query(self, *args, **kwargs)
    _partition_being_queried.table, _partition_being_queried.hash_key = self, hash_key
    try:
        return _query(self, *args, **kwargs)
    finally:
        _partition_being_queried.table = None


def _items_of_the_partition_or_all_sorted(self: Table) -> list[Any]:
    if getattr(_partition_being_queried, "table", None) is not self:
        return _sorted_items_cached(self)
    partition = self.items.get(_partition_being_queried.hash_key)
    if partition is None:
        return []
    return list(partition.values()) if self.range_key_attr else [partition]


def query_partitions_not_tables() -> None:
    """Make a query by partition key cost what the partition holds, not what the table holds."""
    Table.query = _query_one_partition
    Table.all_items = _items_of_the_partition_or_all_sorted


def back_up_items_not_tables() -> None:
    """Make a transaction's cost independent of the size of the tables it names."""
    dynamodb_models.copy = _TablesKeptByReference()
    DynamoDBBackend.transact_write_items = _transact_write_items_with_item_backups


# --- performance: cached engine clients, parsed definitions and JSONPaths, moto's module list -------------------------
# Not a behaviour change: moto builds a new boto3 client for every task it runs (boto_client_for), re-parses the ASL
# for every execution (AmazonStateLanguageParser.parse) and every JSONPath for every use, and its server lists its own
# package directory for every request. Under load these dominate the engine's CPU time, so all are cached. boto3
# clients are thread-safe once created. A client copies the session's event handlers when it is built, so the cache
# key includes the handlers registered by unique id (the Lambda runner's hook): a new runner gets a new client
# instead of one that still answers Invoke with the old runner.

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()
_uncached_boto_client_for = boto_client.boto_client_for
_list_moto_modules = backends.list_of_moto_modules


def _registered_hook_ids() -> frozenset[str]:
    session = boto3.DEFAULT_SESSION
    if session is None:
        return frozenset()
    emitter = session._session.get_component("event_emitter")
    return frozenset(getattr(emitter, "_emitter", emitter)._unique_id_handlers)


def cached_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """The engine's client for ``service`` in ``region``, built once per endpoint, session and registered hooks."""
    key = (
        service,
        region,
        botocore_stubber.enabled,
        moto_server_port(),
        id(boto3.DEFAULT_SESSION),
        _registered_hook_ids(),
    )
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _uncached_boto_client_for(region, service, state_credentials)
                _clients[key] = client
    return client


def cache_engine_clients() -> None:
    """Replace ``boto_client_for`` where it is defined and in every engine module that imported it by name."""
    boto_client.boto_client_for = cached_boto_client_for
    for name, module in list(sys.modules.items()):
        imported_by_name = getattr(module, "boto_client_for", None) is _uncached_boto_client_for
        if name.startswith("moto.stepfunctions.parser") and imported_by_name:
            module.boto_client_for = cached_boto_client_for


@functools.lru_cache(maxsize=64)
def _parsed_program(definition: str) -> Any:
    """The evaluation tree of a definition; its components keep no per-execution state, so executions share it."""
    return AmazonStateLanguageParser.parse(definition)[0]


def _cached_evaluation_entrypoint(self: ExecutionWorker) -> Any:
    return _parsed_program(self._evaluation_details.state_machine_details.definition)


def cache_parsed_definitions() -> None:
    """Parse each state machine definition once, not once per execution, and each JSONPath once, not per use."""
    ExecutionWorker._get_evaluation_entrypoint = _cached_evaluation_entrypoint
    json_path.parse = functools.lru_cache(maxsize=1024)(parse_json_path)
    result_path_module.parse = functools.lru_cache(maxsize=1024)(result_path_module.parse)


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_list_moto_modules())


def cache_moto_module_list() -> None:
    """moto's server lists its package directory for every request, under its dispatcher lock; list it once."""
    backends.list_of_moto_modules = _moto_modules


# --- performance: moto's response serializer and EventBridge's input paths -------------------------------------------
# Not a behaviour change. moto's serializer asks six alias providers, built anew for every field of every response,
# which names a field may have on the Python object; the answer depends only on the picker, the field, its shape and
# parent shape, and the object's class, so it is kept. EventBridge parses every target's JSONPaths again for every
# event it delivers (jsonpath_ng builds a whole parser each time); the parsed paths are immutable, so they are kept.

ALIAS_CACHE_LIMIT = 50_000
"""Shapes come from botocore's cached service models, so the cache stays small; the limit only guards against a
moto release that builds shapes per request."""
_possible_keys: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _alias_key(picker: Any, context: Any) -> tuple[Any, ...]:
    shape, obj = context.shape, context.obj
    return (
        type(picker),
        tuple(picker.alias_providers),
        context.key,
        shape,
        getattr(shape, "parent", None),
        type(obj),
        getattr(obj, "Meta", None),
    )


def _remembering(possible_keys: Any) -> Any:
    """``possible_keys`` (one class's own method: XFormedAttributePicker's calls its parent's) behind a cache."""

    def remembered_possible_keys(self: Any, context: Any) -> tuple[str, ...]:
        key = (possible_keys, *_alias_key(self, context))
        keys = _possible_keys.get(key)
        if keys is None:
            if len(_possible_keys) >= ALIAS_CACHE_LIMIT:
                _possible_keys.clear()
            keys = tuple(possible_keys(self, context))
            _possible_keys[key] = keys
        return keys

    return remembered_possible_keys


SERIALIZER_PICKERS = (moto_serialize.AttributePicker, moto_serialize.XFormedAttributePicker)
UNCACHED_POSSIBLE_KEYS = {picker: picker.__dict__["get_possible_keys"] for picker in SERIALIZER_PICKERS}


def remember_serializer_aliases() -> None:
    """Work out each field's possible names once per shape and class, not once per field of every response."""
    for picker, possible_keys in UNCACHED_POSSIBLE_KEYS.items():
        picker.get_possible_keys = _remembering(possible_keys)


WIRE_SCALARS = {"S": str, "N": str, "NULL": bool, "BOOL": bool}
WIRE_SETS = ("SS", "NS")
_serialize_json_structure = moto_serialize.BaseJSONSerializer._serialize_type_structure


def in_wire_format(value: Any) -> bool:
    """Whether ``value`` is a DynamoDB AttributeValue exactly as the JSON wire carries it (binary types excepted).

    Example
    -------
    >>> in_wire_format({"M": {"n": {"N": "1"}, "l": {"L": [{"S": "a"}, {"NULL": True}]}}})
    True
    >>> in_wire_format({"B": b"bytes"}), in_wire_format({"N": 1})
    (False, False)
    """
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in WIRE_SCALARS:
        return isinstance(inner, WIRE_SCALARS[kind])
    if kind in WIRE_SETS:
        return isinstance(inner, list) and all(isinstance(member, str) for member in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(in_wire_format(member) for member in inner.values())
    if kind == "L":
        return isinstance(inner, list) and all(in_wire_format(member) for member in inner)
    return False


def _attribute_values_as_they_are(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if key and shape.name == "AttributeValue" and in_wire_format(value):
        serialized[self.get_serialized_name(shape, key)] = value
        return
    _serialize_json_structure(self, serialized, value, shape, key)


def pass_attribute_values_through() -> None:
    """moto's DynamoDB answers hold items already in their wire format; the serializer walked every nested
    AttributeValue shape of them field by field only to build the same dicts again."""
    moto_serialize.BaseJSONSerializer._serialize_type_structure = _attribute_values_as_they_are


def parse_event_input_paths_once() -> None:
    """EventBridge's input transformer imports ``jsonpath_ng.ext.parse`` when it runs; it gets the cached one."""
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(parse_json_path)


# --- no growth over time: the engine's finished threads are let go ---------------------------------------------------
# moto appends every thread it starts (an execution, each Parallel branch, each callback wait: about 19 an order) to
# ``TMP_THREADS`` and never removes one, so a long-lived stack keeps every finished execution's environment alive.

_start_execution_worker = ExecutionWorker.start


def _start_forgetting_finished_threads(self: ExecutionWorker) -> None:
    engine_utils.TMP_THREADS[:] = [thread for thread in engine_utils.TMP_THREADS if thread.is_alive()]
    _start_execution_worker(self)


def forget_finished_engine_threads() -> None:
    """Each execution that starts first drops the threads that have ended from moto's list of started threads."""
    ExecutionWorker.start = _start_forgetting_finished_threads
