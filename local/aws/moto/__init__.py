"""The adapters of moto's internals that make moto the local runtime, by kind, and the installer that applies them once.

Everything here touches moto internals, so it is pinned to the moto versions in ``local/aws/moto/versions.py`` and
checked by ``tests/unit/test_engine_adapter.py``: if a moto upgrade moves a wait point, that test fails loudly instead
of time acceleration silently stopping. Each module that imports moto's internals calls ``require_supported_moto()``
first, before any of them (which is why ruff's E402 is ignored for those modules): a machine with another moto stops
with one ``UnsupportedMotoError`` line instead of an ImportError deep inside the engine.

- ``clock``: time acceleration: ``VirtualClock``, ``CLOCK``, ``ScaledEvent`` and the engine's ``WAIT_POINTS``.
- ``fidelity``: the fixes that make moto behave as AWS documents: SendTaskFailure's cause, HeartbeatTimeout, atomic
  DynamoDB conditional writes, a stop that interrupts callbacks, callbacks that skip starting executions, nested
  executions' casing, JSONPath variables and Choice assignments, Express limits, the races around heartbeats and
  stops, a user pool signing key of this process, SRP sign-in that checks the password, and EventBridge rules that
  deliver to Lambda targets.
- ``endpoint``: the AWS endpoint's answers to outside clients: StartExecution's names, ListExecutions' status filter,
  GetExecutionHistory's order, data and pages, ResultPath failures in plain words, a 400 for calls moto lacks, and
  the interceptors every in-process request passes before moto answers it (``IN_PROCESS_INTERCEPTORS``).
- ``caches``: performance adapters that change no behaviour: item backups, items sorted once per change, queries of
  one partition, engine clients, parsed definitions, moto's module list, serializer aliases, AttributeValues passed
  through, EventBridge input paths parsed once, and finished threads forgotten.
- ``signals``: an execution's end and a stream record announced to their listeners, ``forget_executions`` and the
  ``.sync`` wake-up.

The Step Functions calls moto lacks, StartSyncExecution and TestState, are built on the engine in
``local.aws.stepfunctions``, which installs them on top of these adapters (``serve_sync_executions_and_test_state``):
this package imports nothing of ``local.aws.stepfunctions``, so the two do not depend on each other.

Callers import from here (``from local.aws.moto import install_time_scale, CLOCK``). This package imports none of
moto's internals until one of those names is first used: the entry points import ``local.aws.moto.versions`` to stop
on an untested moto with one line of their own, and a command that never runs the engine does not pay for loading it.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.aws.moto.clock import CLOCK, TIME_SCALE_ENV, WAIT_POINTS, ScaledEvent, VirtualClock
    from local.aws.moto.endpoint import IN_PROCESS_INTERCEPTORS, name_executions_as_aws
    from local.aws.moto.fidelity import (
        LAMBDA_TARGET_LISTENERS,
        case_nested_executions_as_aws,
        make_dynamodb_writes_atomic,
        read_variables_in_json_path,
        skip_starting_executions_in_callbacks,
    )
    from local.aws.moto.signals import EXECUTION_END_LISTENERS, STREAM_RECORD_LISTENERS, forget_executions

__all__ = [
    "CLOCK",
    "EXECUTION_END_LISTENERS",
    "IN_PROCESS_INTERCEPTORS",
    "LAMBDA_TARGET_LISTENERS",
    "STREAM_RECORD_LISTENERS",
    "TIME_SCALE_ENV",
    "WAIT_POINTS",
    "ScaledEvent",
    "VirtualClock",
    "case_nested_executions_as_aws",
    "forget_executions",
    "install_adapters",
    "install_time_scale",
    "make_dynamodb_writes_atomic",
    "name_executions_as_aws",
    "quiet_engine_logs",
    "read_variables_in_json_path",
    "skip_starting_executions_in_callbacks",
]

ADAPTER_MODULES = ("clock", "fidelity", "endpoint", "caches", "signals")
"""The modules of adapters, imported together (each checking the installed moto first) when one is first needed, so
that every adapter keeps moto's own method from before any of them was installed."""

ENGINE_LOG_LEVEL_ENV = "ORDERS_ENGINE_LOG_LEVEL"

ENGINE_LOGGERS = ("moto.stepfunctions", "moto.stepfunctions.parser", "werkzeug")


def _adapter_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{module_name}") for module_name in ADAPTER_MODULES]


def __getattr__(name: str) -> Any:
    """An exported name of an adapter module, read from the module that owns it (importing them all on first use)."""
    if name in __all__:
        for module in _adapter_modules():
            if name in vars(module):
                return vars(module)[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def quiet_engine_logs() -> None:
    """moto logs a full stack trace for every Fail state; keep that out of sight unless asked for."""
    level = os.environ.get(ENGINE_LOG_LEVEL_ENV, "CRITICAL").upper()
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).setLevel(level)


_installed = False
_install_lock = threading.Lock()


def install_time_scale(factor: float | None = None) -> None:
    """Adapt the engine (once, ``install_adapters``) and set the time factor (default: ``ORDERS_TIME_SCALE`` or 1).

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
    clock = install_adapters()
    clock.CLOCK.set_factor(factor if factor is not None else float(os.environ.get(clock.TIME_SCALE_ENV, "1")))


def install_adapters() -> ModuleType:
    """Apply every adapter of moto's internals, once per process; the clock module, whose factor callers set."""
    clock, fidelity, endpoint, caches, signals = _adapter_modules()
    global _installed
    with _install_lock:
        if not _installed:
            for module, attribute, replacement in clock.WAIT_POINTS:
                if not hasattr(module, attribute):
                    raise RuntimeError(f"moto moved a wait point: {module.__name__}.{attribute} is gone")
                setattr(module, attribute, replacement)
            fidelity.keep_send_task_failure_cause()
            fidelity.name_heartbeat_timeouts()
            fidelity.make_dynamodb_writes_atomic()
            fidelity.interrupt_callbacks_on_stop()
            fidelity.carry_early_callbacks_into_heartbeat_waits()
            fidelity.evaluate_declared_timeouts_after_a_stop()
            fidelity.skip_starting_executions_in_callbacks()
            endpoint.name_executions_as_aws()
            endpoint.refuse_unknown_status_filters()
            endpoint.page_execution_histories_as_aws()
            endpoint.fail_result_paths_in_plain_words()
            endpoint.refuse_unsupported_calls()
            endpoint.let_interceptors_answer_in_process()
            fidelity.case_nested_executions_as_aws()
            fidelity.read_variables_in_json_path()
            fidelity.assign_in_jsonpath_choice_rules()
            fidelity.keep_express_limits()
            fidelity.sign_pool_tokens_with_a_key_of_this_process()
            fidelity.check_srp_password_proofs()
            fidelity.deliver_rule_events_to_lambda_targets()
            signals.announce_execution_ends_and_stream_records()
            signals.wake_sync_tasks_when_an_execution_ends()
            caches.cache_engine_clients()
            caches.cache_parsed_definitions()
            caches.cache_moto_module_list()
            caches.remember_serializer_aliases()
            caches.pass_attribute_values_through()
            caches.parse_event_input_paths_once()
            caches.forget_finished_engine_threads()
            caches.back_up_items_not_tables()
            caches.sort_items_once_per_change()
            caches.query_partitions_not_tables()
            _installed = True
    return clock
