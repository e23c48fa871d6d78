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
a task waiting for its token; a callback fails while any other execution is starting; and its DynamoDB checks a
condition and then writes without a lock, so two threads (two Parallel branches, two concurrent API requests) could
both pass one conditional write. DynamoDB requests are therefore handled one at a time.

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
from types import ModuleType
from typing import Any

from local.moto_support import require_supported_moto

require_supported_moto()

import boto3
import botocore.session
from botocore import xform_name
from jsonpath_ng.ext import parse as parse_json_path
from moto import backends
from moto.core.models import botocore_stubber
from moto.core.responses import ActionResult, EmptyResult
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.settings import moto_server_port
from moto.stepfunctions.exceptions import InvalidToken, ValidationException
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


def _program_within_express_limit(self: Program, env: Any) -> None:
    if not _runs_express(env):
        _evaluate_program(self, env)
        return
    evaluation = threading.Thread(target=_evaluate_program, args=(self, env), daemon=True)
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
            skip_starting_executions_in_callbacks()
            name_executions_as_aws()
            refuse_unknown_status_filters()
            page_execution_histories_as_aws()
            fail_result_paths_in_plain_words()
            case_nested_executions_as_aws()
            read_variables_in_json_path()
            keep_express_limits()
            cache_engine_clients()
            cache_parsed_definitions()
            cache_moto_module_list()
            back_up_items_not_tables()
            sort_items_once_per_change()
            query_partitions_not_tables()
            _installed = True
    CLOCK.set_factor(factor if factor is not None else float(os.environ.get(TIME_SCALE_ENV, "1")))
