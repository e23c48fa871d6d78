"""The one adapter around moto's Step Functions engine: quiet logs and time acceleration.

Everything here touches moto internals, so it is pinned to the moto versions it was written against and checked by
``tests/unit/test_engine_adapter.py``: if a moto upgrade moves a wait point, that test fails loudly instead of time
acceleration silently stopping.

Time acceleration (``ORDERS_TIME_SCALE=N``) divides every wait the engine makes by N: Wait states, Retry intervals
(after backoff, jitter and MaxDelaySeconds), task ``TimeoutSeconds``, ``HeartbeatSeconds`` and callback timeouts.
It patches the clocks those waits use, not the durations the ASL declares, so the execution history records the
declared values and its events come in the same order.

Fixes make moto behave as AWS does: its ``SendTaskFailure`` handler drops the ``cause``; it reports an expired
``HeartbeatSeconds`` as ``States.Timeout`` instead of ``States.HeartbeatTimeout``; StopExecution does not interrupt
a task waiting for its token; a callback fails while any other execution is starting; a callback that comes before
a task's heartbeat wait begins is missed; a stop at the wrong moment hands a wait the state's input as its timeout,
or kills a Parallel branch that has not begun; and its DynamoDB checks a condition and then writes without a lock,
so two threads (two Parallel branches, two concurrent API requests) could both pass one conditional write.
DynamoDB requests are therefore handled one at a time.

The AWS endpoint answers outside clients (the AWS CLI, boto3) as AWS documents: a nameless StartExecution gets a
UUID name, an invalid name ``InvalidName``, and the engine's errors (``InvalidExecutionInput``, ...) their error
codes; GetExecutionHistory honours ``reverseOrder``, ``includeExecutionData`` and its pages; ListExecutions refuses
an unknown ``statusFilter``; and a ``ResultPath`` that cannot be applied fails with ``States.ResultPathMatchFailure``
in plain words instead of a Python ``TypeError``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import functools
import inspect
import json
import logging
import os
import sys
import threading
import time as real_time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

from local.moto_support import require_supported_moto

require_supported_moto()

import boto3
import botocore.session
import jsonpath_ng.ext
from botocore import xform_name
from jsonpath_ng.ext import parse as parse_json_path
from moto import backends
from moto.core import serialize as moto_serialize
from moto.core.models import botocore_stubber
from moto.core.responses import ActionResult, EmptyResult
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.settings import moto_server_port
from moto.stepfunctions.exceptions import InvalidToken, ValidationException
from moto.stepfunctions.parser import utils as engine_utils
from moto.stepfunctions.parser.api import (
    ExecutionStatus,
    HistoryEventType,
    InvalidDefinition,
    StateMachineType,
    TaskFailedEventDetails,
    TaskTimedOutEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.path import result_path as result_path_module
from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath
from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringVariableSample
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import HeartbeatSeconds
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval import environment
from moto.stepfunctions.parser.asl.eval.callback import callback
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends
from moto.stepfunctions.responses import StepFunctionResponse

TIME_SCALE_ENV = "ORDERS_TIME_SCALE"
ENGINE_LOG_LEVEL_ENV = "ORDERS_ENGINE_LOG_LEVEL"

ENGINE_LOGGERS = ("moto.stepfunctions", "moto.stepfunctions.parser", "werkzeug")


def quiet_engine_logs() -> None:
    """moto logs a full stack trace for every Fail state; keep that out of sight unless asked for."""
    level = os.environ.get(ENGINE_LOG_LEVEL_ENV, "CRITICAL").upper()
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).setLevel(level)


class VirtualClock:
    """A clock that runs ``factor`` times faster than the real one, from the moment the factor was set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._factor = 1.0
        self._real_anchor = real_time.time()
        self._virtual_anchor = self._real_anchor

    @property
    def factor(self) -> float:
        return self._factor

    def set_factor(self, factor: float) -> None:
        if factor <= 0:
            raise ValueError(f"{TIME_SCALE_ENV} must be positive, got {factor}")
        with self._lock:
            self._virtual_anchor = self.time()
            self._real_anchor = real_time.time()
            self._factor = float(factor)

    def time(self) -> float:
        return self._virtual_anchor + (real_time.time() - self._real_anchor) * self._factor

    def real_seconds(self, virtual_seconds: float | None) -> float | None:
        return None if virtual_seconds is None else virtual_seconds / self._factor


CLOCK = VirtualClock()


class ScaledEvent(threading.Event):
    """``threading.Event`` whose ``wait(timeout)`` lasts ``timeout / factor`` real seconds."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(CLOCK.real_seconds(timeout))


class _ScaledTime:
    """Stands in for the ``time`` module inside the engine modules that wait."""

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        real_time.sleep(CLOCK.real_seconds(seconds))

    @staticmethod
    def time() -> float:
        return CLOCK.time()


class _ScaledThreading:
    """Stands in for the ``threading`` module inside the engine modules that wait on events."""

    Event = ScaledEvent

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


WAIT_POINTS: tuple[tuple[ModuleType, str, Any], ...] = (
    (retrier_decl, "time", _ScaledTime()),  # Retry: time.sleep(interval) after backoff, jitter and MaxDelaySeconds
    (wait_function, "time", _ScaledTime()),  # Wait state: measures what it waited with time.time()
    (environment, "threading", _ScaledThreading()),  # Wait state: env.program_state_event.wait(seconds)
    (execute_state, "threading", _ScaledThreading()),  # TimeoutSeconds: terminated_event.wait(timeout)
    (callback, "Event", ScaledEvent),  # callback timeout and HeartbeatSeconds: Event.wait(timeout)
)


def _send_task_failure_with_cause(self: StepFunctionResponse) -> EmptyResult:
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def keep_send_task_failure_cause() -> None:
    """moto passes only the error of SendTaskFailure to the engine; AWS passes the cause too, and so do we."""
    StepFunctionResponse.send_task_failure = _send_task_failure_with_cause


_timeout_failure_event = StateTask._from_error


def _heartbeat_aware_failure_event(self: StateTask, env: Any, ex: Exception) -> FailureEvent:
    if not isinstance(ex, callback.HeartbeatTimeoutError):
        return _timeout_failure_event(self, env, ex)
    heartbeat_timeout = StatesErrorNameType.StatesHeartbeatTimeout
    return FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=heartbeat_timeout),
        event_type=HistoryEventType.TaskTimedOut,
        event_details=EventDetails(
            taskTimedOutEventDetails=TaskTimedOutEventDetails(error=heartbeat_timeout.to_name())
        ),
    )


def name_heartbeat_timeouts() -> None:
    """An expired HeartbeatSeconds is ``States.HeartbeatTimeout`` in AWS; moto calls every timeout States.Timeout."""
    StateTask._from_error = _heartbeat_aware_failure_event


_dynamodb_lock = threading.RLock()
_handle_dynamodb_request = DynamoHandler.call_action


def _one_dynamodb_request_at_a_time(self: DynamoHandler) -> Any:
    with _dynamodb_lock:
        return _handle_dynamodb_request(self)


def make_dynamodb_writes_atomic() -> None:
    """A conditional write is atomic in DynamoDB; moto's in-memory tables need a lock to be so across threads."""
    DynamoHandler.call_action = _one_dynamodb_request_at_a_time


# --- performance: transactions back up the items they touch, not whole tables -------------------------------------
# moto's TransactWriteItems deep-copies every table a transaction names, to roll back on failure. A reservation
# names the orders table, so every order copied every order before it: the stack slowed down as its history grew.
# Here ``copy.deepcopy`` of a Table inside moto's DynamoDB backend returns the table itself (its rollback then
# restores the live table, a no-op), and the wrapper backs up and restores the items the transaction names instead.
# Every DynamoDB request runs under ``_dynamodb_lock``, so nothing sees the items between the write and the restore.


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


_stop_program = environment.Environment.set_stop


def _stop_and_interrupt_callbacks(self: environment.Environment, stop_date: Any, cause: Any, error: Any) -> None:
    _stop_program(self, stop_date=stop_date, cause=cause, error=error)
    for endpoint in list(self.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()


_fail_program = environment.Environment.set_error


def _fail_unless_stopped(self: environment.Environment, error: Any) -> None:
    with self._state_mutex:
        if isinstance(self._program_state, ProgramStopped):
            return
        _fail_program(self, error=error)


def interrupt_callbacks_on_stop() -> None:
    """StopExecution aborts a task waiting for its token at once in AWS; moto waits until the timeout or heartbeat.

    The interrupted wait then fails its task, and moto would let that failure turn the stopped execution FAILED;
    in AWS it stays ABORTED.
    """
    environment.Environment.set_stop = _stop_and_interrupt_callbacks
    environment.Environment.set_error = _fail_unless_stopped


_set_up_heartbeat_endpoint = callback.CallbackEndpoint.setup_heartbeat_endpoint


def _heartbeat_endpoint_told_of_an_earlier_callback(
    self: callback.CallbackEndpoint, heartbeat_seconds: int
) -> callback.HeartbeatEndpoint:
    heartbeat_endpoint = _set_up_heartbeat_endpoint(self, heartbeat_seconds)
    if self._notify_event.is_set():
        heartbeat_endpoint.notify()
    return heartbeat_endpoint


def carry_early_callbacks_into_heartbeat_waits() -> None:
    """A task with HeartbeatSeconds sets up its heartbeat wait only after its Lambda returned, and a callback that
    arrived in between told no heartbeat wait: the task waited out HeartbeatSeconds, then failed with
    States.HeartbeatTimeout although its outcome was there. The new heartbeat wait now starts notified of it.

    The callback records its outcome before it looks for a heartbeat wait, and the set-up makes the wait before it
    looks for an outcome, so one of the two always sees the other.
    """
    callback.CallbackEndpoint.setup_heartbeat_endpoint = _heartbeat_endpoint_told_of_an_earlier_callback


_evaluate_component = TimeoutSeconds.eval


def _declared_seconds_even_when_stopped(self: TimeoutSeconds | HeartbeatSeconds, env: Any) -> None:
    depth = len(env.stack)
    _evaluate_component(self, env)
    if len(env.stack) == depth:
        self._eval_body(env)


def evaluate_declared_timeouts_after_a_stop() -> None:
    """A task reads its TimeoutSeconds and HeartbeatSeconds by evaluating them, then popping the stack; moto skips
    every evaluation once the execution has stopped, so a stop at that moment made the pop take the state's input,
    and a wait got that dict as its timeout (the ``.sync:2`` callback thread died of the TypeError). A declared
    number does not depend on the execution's state, so it is pushed whatever that state."""
    TimeoutSeconds.eval = _declared_seconds_even_when_stopped
    HeartbeatSeconds.eval = _declared_seconds_even_when_stopped


_executions_of = StepFunctionsParserBackend._get_executions


def _executions_with_a_running_worker(self: StepFunctionsParserBackend, execution_status: Any = None) -> list[Any]:
    return [
        execution
        for execution in _executions_of(self, execution_status)
        if getattr(execution.exec_worker, "env", None) is not None
    ]


def skip_starting_executions_in_callbacks() -> None:
    """A callback (SendTaskSuccess, -Failure, -Heartbeat) looks for its token in every execution's environment;
    moto lists an execution as RUNNING before its worker thread has built that environment, and the callback then
    fails with AttributeError (a 500) whenever some other order is just starting. An execution without an
    environment cannot have issued the token, so the callbacks skip it."""
    StepFunctionsParserBackend._get_executions = _executions_with_a_running_worker


# --- the AWS endpoint as AWS documents it: StartExecution, GetExecutionHistory, ListExecutions, ResultPath ------------


_start_execution = StepFunctionsParserBackend.start_execution


def _start_execution_named_as_aws(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
) -> Any:
    if name is None:
        name = str(uuid.uuid4())
    else:
        self._validate_name(name)
    return _start_execution(self, state_machine_arn, name, execution_input, trace_header)


def name_executions_as_aws() -> None:
    """A nameless StartExecution gets a UUID name in AWS; moto named it ``None``, so the next nameless one failed
    with ExecutionAlreadyExists. moto's engine also accepted names AWS refuses (white space, brackets, ...)."""
    StepFunctionsParserBackend.start_execution = _start_execution_named_as_aws


EXECUTION_STATUSES = tuple(status.value for status in ExecutionStatus)
_list_executions = StepFunctionResponse.list_executions


def _list_executions_of_a_known_status(self: StepFunctionResponse) -> ActionResult:
    status = self._get_param("statusFilter")
    if status is not None and status not in EXECUTION_STATUSES:
        raise ValidationException(
            f"1 validation error detected: Value '{status}' at 'statusFilter' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(EXECUTION_STATUSES)}]"
        )
    if status == ExecutionStatus.PENDING_REDRIVE:
        raise ValidationException("The statusFilter PENDING_REDRIVE lists the executions of a Map Run: give mapRunArn")
    return _list_executions(self)


def refuse_unknown_status_filters() -> None:
    """ListExecutions with a status that does not exist is a ValidationException in AWS; moto listed nothing."""
    StepFunctionResponse.list_executions = _list_executions_of_a_known_status


HISTORY_PAGE_SIZE = 100
"""GetExecutionHistory's page when ``maxResults`` is absent or 0; 1000 is the most AWS returns at once."""
HISTORY_MAX_PAGE_SIZE = 1000
EXECUTION_DATA = frozenset(
    {"input", "inputDetails", "output", "outputDetails", "parameters", "assignedVariables", "assignedVariablesDetails"}
)
"""What ``includeExecutionData: false`` leaves out of each event: the inputs and outputs (a task's input is its
``parameters``) and the variables a state assigned from them, which carry task tokens and addresses."""


def _history_token(execution_arn: str, event_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"executionArn": execution_arn, "eventId": event_id}).encode()).decode()


def _event_id_of_token(token: str, execution_arn: str) -> int:
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        position = None
    if not isinstance(position, dict) or position.get("executionArn") != execution_arn:
        position = {}
    if not isinstance(position.get("eventId"), int):
        raise InvalidToken(f"the nextToken {token!r} is not a page of this execution's history")
    return position["eventId"]


def _without_execution_data(event: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {field: value for field, value in details.items() if field not in EXECUTION_DATA}
        if key.endswith("EventDetails") and isinstance(details, dict)
        else details
        for key, details in event.items()
    }


def _execution_history_as_aws(self: StepFunctionResponse) -> ActionResult:
    execution_arn = self._get_param("executionArn")
    page_size = self._get_int_param("maxResults") or HISTORY_PAGE_SIZE
    if page_size > HISTORY_MAX_PAGE_SIZE:
        raise ValidationException(
            f"1 validation error detected: Value '{page_size}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {HISTORY_MAX_PAGE_SIZE}"
        )
    reverse = self._get_bool_param("reverseOrder", False)
    events = sorted(
        self.stepfunction_backend.get_execution_history(execution_arn)["events"],
        key=lambda event: event["id"],
        reverse=reverse,
    )
    token = self._get_param("nextToken")
    if token:
        first = _event_id_of_token(token, execution_arn)
        events = [event for event in events if (event["id"] <= first if reverse else event["id"] >= first)]
    page, rest = events[:page_size], events[page_size:]
    if not self._get_bool_param("includeExecutionData", True):
        page = [_without_execution_data(event) for event in page]
    answer: dict[str, Any] = {"events": page}
    if rest:
        answer["nextToken"] = _history_token(execution_arn, rest[0]["id"])
    return ActionResult(answer)


def page_execution_histories_as_aws() -> None:
    """GetExecutionHistory in AWS returns pages of ``maxResults`` events, newest first with ``reverseOrder``, and
    without inputs and outputs with ``includeExecutionData: false``; moto ignored all four parameters.

    A page token names the next event by id, so the pages of a running execution neither skip nor repeat events.
    """
    StepFunctionResponse.get_execution_history = _execution_history_as_aws


_apply_result_path = ResultPath._eval_body
SHOWN_INPUT_CHARACTERS = 200


def _result_path_match_failure(env: Any, result_path: str, state_input: Any) -> FailureEventException:
    shown = json.dumps(state_input, ensure_ascii=False)
    if len(shown) > SHOWN_INPUT_CHARACTERS:
        shown = shown[:SHOWN_INPUT_CHARACTERS] + "..."
    error = StatesErrorNameType.StatesResultPathMatchFailure.to_name()
    cause = (
        f"Unable to apply ResultPath {result_path} to the input of state '{env.next_state_name}': "
        f"the path must lead through JSON objects, and the input is {shown}"
    )
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesResultPathMatchFailure),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(error=error, cause=cause)),
        )
    )


def _result_path_into_objects_only(self: ResultPath, env: Any) -> None:
    path = self.result_path_src
    state_input = env.states.get_input()
    if path not in (None, ResultPath.DEFAULT_PATH) and not isinstance(state_input, dict):
        raise _result_path_match_failure(env, path, state_input)
    try:
        _apply_result_path(self, env)
    except TypeError:
        raise _result_path_match_failure(env, path, state_input) from None


def fail_result_paths_in_plain_words() -> None:
    """A ResultPath such as ``$.error`` on an input that is not a JSON object (an execution started with
    ``"hello"``) is ``States.ResultPathMatchFailure`` in AWS's error names; moto failed the execution with
    ``States.Runtime`` and a Python ``TypeError`` as its cause, or silently dropped the result."""
    ResultPath._eval_body = _result_path_into_objects_only


_installed = False
_install_lock = threading.Lock()


# --- nested executions, variables and Express, as AWS runs them -------------------------------------------------


@functools.cache
def _operation_model(service: str, action: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return next(model.operation_model(name) for name in model.operation_names if xform_name(name) == action)


_normalise_sfn_parameters = StateTaskServiceSfn._normalise_parameters


def _sfn_parameters_as_boto(
    self: StateTaskServiceSfn,
    parameters: dict,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    _normalise_sfn_parameters(self, parameters, boto_service_name, service_action_name)
    operation = _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    self._to_boto_request(parameters, operation.input_shape)


def _sfn_response_as_aws(
    self: StateTaskServiceSfn,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    operation = _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    self._from_boto_response(response, operation.output_shape)
    for key, value in response.items():
        if isinstance(value, datetime.datetime):
            response[key] = value.isoformat()


NESTED_EXECUTION_POLL_SECONDS = 0.05
"""How often a ``.sync`` task asks whether its child has ended. moto asks every 0.5 s of real time, time
acceleration or not, which added up to half a second to every order; AWS learns of the end from an event at once."""


def case_nested_executions_as_aws() -> None:
    """``states:startExecution`` passes the ASL's ``StateMachineArn`` and ``Input`` to boto3 as they are, which knows
    them as ``stateMachineArn`` and ``input``: every nested execution failed with ``States.Runtime``. moto dropped the
    request and response translation of this integration; it is restored from botocore's shapes, so a ``.sync:2``
    result (and a failed child's cause) reads ``Output``, ``Status``, ``Error`` and ``Cause`` as in AWS. Its dates
    are written as moto writes them into a failed child's cause (ISO 8601), so a result is JSON either way. The
    parent asks for its child's end every ``NESTED_EXECUTION_POLL_SECONDS``."""
    StateTaskServiceSfn._normalise_parameters = _sfn_parameters_as_boto
    StateTaskServiceSfn._normalise_response = _sfn_response_as_aws
    state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = NESTED_EXECUTION_POLL_SECONDS


_sample_variable = StringVariableSample._eval_body


def _variable_by_json_path(self: StringVariableSample, env: Any) -> None:
    if self.query_language_mode == QueryLanguageMode.JSONata:
        _sample_variable(self, env)
        return
    reference = self.expression[1:]
    split = min((reference.find(mark) for mark in ".[" if mark in reference), default=len(reference))
    name, path = reference[:split], reference[split:]
    value = env.variable_store.get(name)
    env.stack.append(copy.deepcopy(json_path.extract_json(f"${path}", value) if path else value))


def read_variables_in_json_path() -> None:
    """A JSONPath state reads a variable as ``$name`` or ``$name.field``. moto evaluates every reference with JSONata,
    whose evaluator it does not ship (moto#10105), so any read failed with ``TypeError``. In JSONPath mode the
    reference is the variable, then a path into it: that path goes to the engine's own JSONPath evaluation."""
    StringVariableSample._eval_body = _variable_by_json_path


EXPRESS_MAX_SECONDS = 300.0
"""An Express execution runs at most five minutes; AWS then ends it as TIMED_OUT."""
EXPRESS_REFUSED_PATTERNS = (".sync", ".sync:2", ".waitForTaskToken")
"""Express workflows support Request Response integrations only: a definition using a job or callback pattern is
refused at CreateStateMachine."""

_evaluate_program = Program.eval
_create_state_machine = StepFunctionsParserBackend.create_state_machine


def _runs_express(env: Any) -> bool:
    """moto records every execution's type as STANDARD (``sm_type``); its state machine keeps the type it was made
    with."""
    state_machine_arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
    _, _, _, region, account, _ = state_machine_arn.split(":", 5)
    machine = stepfunctions_parser_backends[account][region].describe_state_machine(state_machine_arn)
    return machine.type == StateMachineType.EXPRESS


def _program_unless_stopped_before_it_began(self: Program, env: Any) -> None:
    """A Parallel branch runs its own program on a frame the Parallel state opened, and a stop reaches that frame
    too. Stopped before its program began, the branch failed to set its first state (moto raises RuntimeError for a
    state set on an environment that is no longer running): its thread died, and a Standard execution's Parallel
    state waited for that branch for ever, so the stopped execution never ended. Such a program has nothing to do."""
    try:
        _evaluate_program(self, env)
    except RuntimeError:
        if env.is_running():
            raise


def _program_within_express_limit(self: Program, env: Any) -> None:
    if not _runs_express(env):
        _program_unless_stopped_before_it_began(self, env)
        return
    evaluation = threading.Thread(target=_program_unless_stopped_before_it_began, args=(self, env), daemon=True)
    evaluation.start()
    evaluation.join(EXPRESS_MAX_SECONDS)
    if evaluation.is_alive():
        env.set_timed_out()


def _express_patterns(definition: str) -> list[str]:
    resources: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            resource = node.get("Resource")
            if node.get("Type") == "Task" and isinstance(resource, str):
                resources.append(resource)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(definition))
    return [resource for resource in resources if resource.endswith(EXPRESS_REFUSED_PATTERNS)]


def _create_state_machine_as_aws(self: StepFunctionsParserBackend, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("sm_type") == StateMachineType.EXPRESS:
        refused = _express_patterns(kwargs.get("definition") or args[1])
        if refused:
            raise InvalidDefinition(
                f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support "
                f"'{refused[0].rsplit(':', 1)[-1]}' service integration'"
            )
    return _create_state_machine(self, *args, **kwargs)


def keep_express_limits() -> None:
    """moto runs an Express state machine as a Standard one. Its executions now end TIMED_OUT after five minutes (of
    real time: moto's engine joins the execution's thread with a real timeout, so time acceleration does not shorten
    it), and a definition using ``.sync`` or ``.waitForTaskToken`` is refused, as AWS refuses it."""
    Program.eval = _program_within_express_limit
    StepFunctionsParserBackend.create_state_machine = _create_state_machine_as_aws


# --- signals: the test harness and the stream poller are told of an execution's end and of a stream record --------
# Without them they asked moto every few milliseconds (DescribeExecution, GetItem, GetRecords), which cost CPU on the
# cores the engine needs and added up to a poll interval of latency at every step. Listeners run on moto's threads,
# inside its DynamoDB lock: they must only take note and wake someone, never call AWS or raise.

ExecutionEndListener = Callable[[str], None]
"""Called with the execution's ARN once moto recorded how it ended (DescribeExecution then shows it)."""
StreamRecordListener = Callable[[str, dict[str, Any]], None]
"""Called with the table's name and the stream record (as GetRecords returns it) moto just appended."""
EXECUTION_END_LISTENERS: list[ExecutionEndListener] = []
STREAM_RECORD_LISTENERS: list[StreamRecordListener] = []
_record_execution_end = BaseExecutionWorkerCommunication.terminated
_append_stream_record = StreamShard.add


def _execution_end_announced(self: BaseExecutionWorkerCommunication) -> None:
    _record_execution_end(self)
    for listener in list(EXECUTION_END_LISTENERS):
        listener(self.execution.exec_arn)


def _stream_record_announced(self: StreamShard, old: Any, new: Any) -> None:
    _append_stream_record(self, old, new)
    if self.items:
        for listener in list(STREAM_RECORD_LISTENERS):
            listener(self.table.name, self.items[-1].record)


def announce_execution_ends_and_stream_records() -> None:
    """Tell ``EXECUTION_END_LISTENERS`` when an execution ends and ``STREAM_RECORD_LISTENERS`` when a table's stream
    gets a record, so that waiting for either is a wait on a condition instead of a poll."""
    BaseExecutionWorkerCommunication.terminated = _execution_end_announced
    StreamShard.add = _stream_record_announced


_an_execution_ended = threading.Condition()


def _wake_sync_tasks(_execution_arn: str) -> None:
    with _an_execution_ended:
        _an_execution_ended.notify_all()


class _SleepUntilAnExecutionEnds:
    """``time`` for moto's ``.sync`` loop: its pause between two looks at the child ends as soon as any execution
    ends, and after ``NESTED_EXECUTION_POLL_SECONDS`` at the latest (a child that ended just before the pause)."""

    @staticmethod
    def sleep(seconds: float) -> None:
        with _an_execution_ended:
            _an_execution_ended.wait(seconds)


def wake_sync_tasks_when_an_execution_ends() -> None:
    """A ``.sync`` parent looked at its child every 50 ms; it now looks again as soon as an execution ends, as AWS's
    parent learns of its child's end from an event."""
    EXECUTION_END_LISTENERS.append(_wake_sync_tasks)
    state_task_service_callback.time = _SleepUntilAnExecutionEnds


def forget_executions(state_machine_arn: str) -> None:
    """Drop a state machine's executions, none of them running, as if it had just been created: a test stack reset
    between tests then lists none of an earlier test's. Deleting and creating the machine does the same through the
    API, but moto parses the definition again for it, which costs more than a whole test."""
    _, _, _, region, account, _ = state_machine_arn.split(":", 5)
    machine = stepfunctions_parser_backends[account][region].describe_state_machine(state_machine_arn)
    running = [execution.exec_arn for execution in machine.executions if execution.exec_status in (None, "RUNNING")]
    if running:
        raise RuntimeError(f"{state_machine_arn} still runs {running}: stop them first")
    machine.executions.clear()


def install_time_scale(factor: float | None = None) -> None:
    """Adapt the engine (once) and set the time factor (default: ``ORDERS_TIME_SCALE`` or 1).

    Parameters
    ----------
    factor:
        How many times faster than real time the engine's waits run.

    Example
    -------
    >>> install_time_scale(1000)  # a two-day callback timeout now fires after about 173 seconds / 1000
    >>> CLOCK.factor
    1000.0
    >>> install_time_scale(1)
    """
    global _installed
    with _install_lock:
        if not _installed:
            for module, attribute, replacement in WAIT_POINTS:
                if not hasattr(module, attribute):
                    raise RuntimeError(f"moto moved a wait point: {module.__name__}.{attribute} is gone")
                setattr(module, attribute, replacement)
            keep_send_task_failure_cause()
            name_heartbeat_timeouts()
            make_dynamodb_writes_atomic()
            interrupt_callbacks_on_stop()
            carry_early_callbacks_into_heartbeat_waits()
            evaluate_declared_timeouts_after_a_stop()
            skip_starting_executions_in_callbacks()
            name_executions_as_aws()
            refuse_unknown_status_filters()
            page_execution_histories_as_aws()
            fail_result_paths_in_plain_words()
            case_nested_executions_as_aws()
            read_variables_in_json_path()
            keep_express_limits()
            announce_execution_ends_and_stream_records()
            wake_sync_tasks_when_an_execution_ends()
            cache_engine_clients()
            cache_parsed_definitions()
            cache_moto_module_list()
            remember_serializer_aliases()
            pass_attribute_values_through()
            parse_event_input_paths_once()
            forget_finished_engine_threads()
            back_up_items_not_tables()
            sort_items_once_per_change()
            query_partitions_not_tables()
            _installed = True
    CLOCK.set_factor(factor if factor is not None else float(os.environ.get(TIME_SCALE_ENV, "1")))
