"""Fault injection: make chosen tasks of the order workflow fail, or slow down, before their real handler runs.

Rules are keyed by the name of a Task state in ``workflows/order_workflow.asl.json`` and come from ``ORDERS_FAULTS``
(JSON, for ``orders up``) or from the ``faults`` pytest fixture (the same rules as a dict)::

    {"ReserveInventory": {"kind": "transient", "times": 2},
     "CapturePayment": {"kind": "fatal", "rate": 0.1, "seed": 7}}

A rule's keys:

- ``kind``: ``"transient"`` raises the error the state's ``Retry`` retries (the first ``...TransientError`` of
  ``tasks.errors`` in its ``ErrorEquals``; :class:`InjectedTransientError` where the state retries ``States.ALL``);
  ``"fatal"`` raises :class:`InjectedFatalError`, which no ``Retry`` names, so the state's ``Catch`` takes it at once.
  A state that retries ``States.ALL`` (the compensations) retries even a fatal fault; once its
  attempts are exhausted its ``Catch`` takes over, and a compensation that finally failed is recorded on the order
  under ``compensationFailures``. Without ``kind`` a rule only adds latency.
- ``times``: only the first ``times`` invocations of the task fail (counted from when the rules were installed).
- ``rate`` with ``seed``: each invocation fails with probability ``rate``, drawn from ``random.Random(seed)``, so a
  seed always gives the same pass/fail sequence for that task.
- Neither ``times`` nor ``rate``: every invocation fails.
- ``latency_ms``: real milliseconds slept before every invocation of the task, failing or not; it counts against the
  function's Lambda timeout, as a slow dependency would.

The rules are checked against the ASL when they are read: an unknown task or a malformed rule raises
:class:`FaultRuleError` (a ``ValueError``) naming the rule. Faults are raised by a ``before_invoke`` hook of the
in-process Lambda runner, so the runner reports them with Lambda's error contract and nothing in ``tasks/`` knows.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tasks import errors
from workflows.resources import (
    PLACEHOLDER_PATTERN,
    STATE_MACHINES,
    FunctionSpec,
    StateMachineSpec,
    SubstitutionKind,
)

FAULTS_ENV = "ORDERS_FAULTS"
RULE_KEYS = ("kind", "times", "rate", "seed", "latency_ms")
RETRY_ANY = ("States.ALL", "States.TaskFailed")
"""Error names in a Retry that match any error a Lambda function raises."""


class FaultRuleError(ValueError):
    """A fault rule that cannot be applied; the message names the rule and what is wrong with it."""


class InjectedTransientError(Exception):
    """Raised by a transient fault on a task whose Retry matches every error (``States.ALL``)."""


class InjectedFatalError(Exception):
    """Raised by a fatal fault; no Retry of the ASL names it."""


class FaultKind(StrEnum):
    TRANSIENT = "transient"
    FATAL = "fatal"


@dataclass(frozen=True)
class FaultRule:
    """One task's fault, as read from the rules; see the module docstring for the meaning of each field."""

    task: str
    kind: FaultKind | None = None
    times: int | None = None
    rate: float | None = None
    seed: int | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True)
class TaskState:
    """A Task state of the ASL that invokes one of our Lambda functions, with the errors its Retry names."""

    name: str
    function: str
    retried_errors: tuple[str, ...]

    def retries(self, error_name: str) -> bool:
        return any(name in (error_name, *RETRY_ANY) for name in self.retried_errors)


def lambda_task_states(machines: Iterable[StateMachineSpec] = STATE_MACHINES) -> dict[str, TaskState]:
    """Every Task state that invokes a workflow function, by state name, in the parent and in its child, including
    those inside Parallel branches.

    Example
    -------
    >>> lambda_task_states()["ReserveInventory"].function
    'ReserveInventory'
    >>> lambda_task_states()["VoidOrRefundPayment"].retries("AnythingAtAll")
    True
    >>> lambda_task_states()["RecordFailure"].retries("AnythingAtAll")
    False
    """
    states: dict[str, TaskState] = {}
    for machine in machines:
        for name, state in _all_states(json.loads(machine.definition_file.read_text())):
            function = _function_of(state, machine)
            if function is not None:
                retried = tuple(error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"])
                states[name] = TaskState(name=name, function=function, retried_errors=retried)
    return states


def _all_states(machine: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _all_states(branch)
        for nested in (state.get("Iterator"), state.get("ItemProcessor")):
            if nested is not None:
                yield from _all_states(nested)


def _function_of(state: Mapping[str, Any], machine: StateMachineSpec) -> str | None:
    """The logical function a Task state invokes through a ``${<Logical>FunctionArn}`` placeholder, if any."""
    if state.get("Type") != "Task":
        return None
    match = PLACEHOLDER_PATTERN.fullmatch(str(state.get("Parameters", {}).get("FunctionName", "")))
    substitution = machine.substitutions.get(match.group(1)) if match else None
    if substitution is None or substitution.kind is not SubstitutionKind.FUNCTION_ARN:
        return None
    return substitution.target


def parse_fault_rules(rules: str | Mapping[str, Any] | None, source: str = FAULTS_ENV) -> tuple[FaultRule, ...]:
    """Read and check fault rules: JSON text (an empty string means none) or the same structure as a dict.

    Parameters
    ----------
    rules:
        ``{"<Task state name>": {"kind": ..., "times": ..., "rate": ..., "seed": ..., "latency_ms": ...}}``.
    source:
        Where the rules came from, for the error messages.

    Returns
    -------
    tuple[FaultRule, ...]
        One rule per task, in the order given.

    Raises
    ------
    FaultRuleError
        Bad JSON, an unknown task, an unknown key or kind, a negative ``times``, ``rate`` outside [0, 1] or without
        ``seed``; the message names the rule.

    Example
    -------
    >>> parse_fault_rules('{"ReserveInventory": {"kind": "transient", "times": 2}}')[0].times
    2
    >>> parse_fault_rules('{"Reserve": {"kind": "fatal"}}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    local.testkit.faults.FaultRuleError: ORDERS_FAULTS rule 'Reserve': no Lambda Task state of that name in ...
    """
    if rules is None or (isinstance(rules, str) and not rules.strip()):
        return ()
    if isinstance(rules, str):
        try:
            rules = json.loads(rules)
        except json.JSONDecodeError as error:
            raise FaultRuleError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(rules, Mapping):
        raise FaultRuleError(f"{source} must be an object of task name to rule, got {type(rules).__name__}")
    tasks = lambda_task_states()
    parsed = []
    for task, rule in rules.items():
        if task not in tasks:
            known = ", ".join(sorted(tasks))
            raise FaultRuleError(
                f"{source} rule {task!r}: no Lambda Task state of that name in "
                f"{' or '.join(machine.definition_file.name for machine in STATE_MACHINES)}; the tasks are {known}"
            )
        parsed.append(_parse_rule(task, rule, f"{source} rule {task!r}"))
    return tuple(parsed)


def _parse_rule(task: str, rule: Any, where: str) -> FaultRule:
    if not isinstance(rule, Mapping):
        raise FaultRuleError(f'{where}: must be an object like {{"kind": "transient"}}, got {rule!r}')
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        raise FaultRuleError(f"{where}: unknown keys {', '.join(unknown)}; allowed: {', '.join(RULE_KEYS)}")
    kind = rule.get("kind")
    if kind is not None and kind not in set(FaultKind):
        raise FaultRuleError(f"{where}: kind must be one of {', '.join(FaultKind)}, got {kind!r}")
    times = rule.get("times")
    if times is not None and (not _is_int(times) or times < 0):
        raise FaultRuleError(f"{where}: times must be a whole number >= 0, got {times!r}")
    rate = rule.get("rate")
    if rate is not None and (not _is_number(rate) or not 0 <= rate <= 1):
        raise FaultRuleError(f"{where}: rate must be a number between 0 and 1, got {rate!r}")
    seed = rule.get("seed")
    if seed is not None and not _is_int(seed):
        raise FaultRuleError(f"{where}: seed must be a whole number, got {seed!r}")
    if (rate is None) != (seed is None):
        raise FaultRuleError(f"{where}: rate and seed go together, so that failures are reproducible")
    if times is not None and rate is not None:
        raise FaultRuleError(f"{where}: give times or rate, not both")
    latency_ms = rule.get("latency_ms", 0)
    if not _is_number(latency_ms) or latency_ms < 0:
        raise FaultRuleError(f"{where}: latency_ms must be a number >= 0, got {latency_ms!r}")
    if kind is None and (times is not None or rate is not None):
        raise FaultRuleError(f"{where}: times and rate need a kind (transient or fatal)")
    if kind is None and not latency_ms:
        raise FaultRuleError(f"{where}: needs a kind (transient or fatal) or a latency_ms")
    return FaultRule(
        task=task,
        kind=None if kind is None else FaultKind(kind),
        times=times,
        rate=None if rate is None else float(rate),
        seed=seed,
        latency_ms=float(latency_ms),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def transient_error_name(state: TaskState, where: str) -> str:
    """The error a transient fault raises on ``state``: one its Retry retries, as a real transient failure would."""
    for name in state.retried_errors:
        if name.endswith("TransientError") and isinstance(getattr(errors, name, None), type):
            return name
    if any(name in RETRY_ANY for name in state.retried_errors):
        return InjectedTransientError.__name__
    raise FaultRuleError(f"{where}: kind transient, but {state.name} retries no error a handler raises")


def fatal_error_name(state: TaskState, where: str) -> str:
    """The error a fatal fault raises: never named by a Retry, though ``States.ALL`` still retries it."""
    if InjectedFatalError.__name__ in state.retried_errors:
        raise FaultRuleError(f"{where}: the Retry of {state.name} names {InjectedFatalError.__name__}")
    return InjectedFatalError.__name__


ERROR_CLASSES: dict[str, type[Exception]] = {
    InjectedTransientError.__name__: InjectedTransientError,
    InjectedFatalError.__name__: InjectedFatalError,
}


def error_class(name: str) -> type[Exception]:
    """The exception class Lambda will report as ``errorType`` ``name``: ours, or the product's in tasks.errors."""
    return ERROR_CLASSES.get(name) or getattr(errors, name)


@dataclass
class _ArmedRule:
    """A rule with its task, the error it raises, and its own invocation count and random stream."""

    rule: FaultRule
    state: TaskState
    error_name: str | None
    random: random.Random | None
    invocations: int = 0
    outcomes: list[bool] = field(default_factory=list)

    def fails_next(self) -> bool:
        self.invocations += 1
        if self.rule.kind is None:
            failed = False
        elif self.rule.times is not None:
            failed = self.invocations <= self.rule.times
        elif self.random is not None:
            failed = self.random.random() < self.rule.rate
        else:
            failed = True
        self.outcomes.append(failed)
        return failed


class FaultInjector:
    """A ``LambdaRunner.before_invoke`` hook that applies fault rules to the functions the ASL's tasks invoke.

    Parameters
    ----------
    rules:
        Rules from :func:`parse_fault_rules`, or anything it accepts (JSON text, a dict).
    source:
        Where the rules came from, named in error messages and in the message of each injected error.

    Example
    -------
    >>> injector = FaultInjector({"CapturePayment": {"kind": "fatal", "times": 1}})
    >>> injector.error_names
    {'CapturePayment': 'InjectedFatalError'}
    >>> runner.before_invoke.append(injector)  # doctest: +SKIP
    """

    def __init__(self, rules: str | Mapping[str, Any] | tuple[FaultRule, ...] | None, source: str = FAULTS_ENV):
        parsed = rules if isinstance(rules, tuple) else parse_fault_rules(rules, source)
        states = lambda_task_states()
        self._source = source
        self._lock = threading.Lock()
        self._by_function: dict[str, _ArmedRule] = {}
        for rule in parsed:
            where = f"{source} rule {rule.task!r}"
            state = states[rule.task]
            if state.function in self._by_function:
                other = self._by_function[state.function].state.name
                raise FaultRuleError(f"{where}: {other!r} invokes the same function, {state.function}")
            self._by_function[state.function] = _ArmedRule(
                rule=rule,
                state=state,
                error_name=_error_name(rule, state, where),
                random=None if rule.seed is None else random.Random(rule.seed),
            )
        self._by_task = {armed.state.name: armed for armed in self._by_function.values()}

    @property
    def error_names(self) -> dict[str, str]:
        """The error each failing rule raises, by task."""
        return {task: armed.error_name for task, armed in self._by_task.items() if armed.error_name}

    def outcomes(self, task: str) -> list[bool]:
        """Whether each invocation of ``task`` so far was made to fail, in order."""
        with self._lock:
            return list(self._by_task[task].outcomes) if task in self._by_task else []

    def __call__(self, spec: FunctionSpec, event: Any) -> None:
        armed = self._by_function.get(spec.logical_name)
        if armed is None:
            return
        with self._lock:
            failed = armed.fails_next()
            invocation = armed.invocations
        if armed.rule.latency_ms:
            time.sleep(armed.rule.latency_ms / 1000)
        if failed:
            raise error_class(armed.error_name)(
                f"injected {armed.rule.kind} fault on {armed.state.name}, invocation {invocation} ({self._source})"
            )


def _error_name(rule: FaultRule, state: TaskState, where: str) -> str | None:
    if rule.kind is FaultKind.TRANSIENT:
        return transient_error_name(state, where)
    if rule.kind is FaultKind.FATAL:
        return fatal_error_name(state, where)
    return None
