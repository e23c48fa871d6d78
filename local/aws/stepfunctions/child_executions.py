"""The Express child executions a parent started, read from the parent's own history.

A ``startExecution`` task records the child's ARN in its ``TaskSubmitted`` event (the StartExecution response), so
the console, ``orders watch``, the tests and the cost model all find a parent's children the same way, whatever
started the parent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NESTED_EXECUTION_RESOURCE_TYPE = "states"
"""The ``resourceType`` of a Step Functions integration task's events."""


def child_execution_arns(history: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ARN of every child execution the history's tasks started, in the order they were started.

    A retried ``startExecution`` task starts one child per attempt, so there can be more than one.

    Example
    -------
    >>> submitted = {"type": "TaskSubmitted", "taskSubmittedEventDetails": {
    ...     "resourceType": "states", "output": '{"ExecutionArn": "arn:child:1", "StartDate": "..."}'}}
    >>> child_execution_arns([{"type": "ExecutionStarted"}, submitted])
    ['arn:child:1']
    """
    arns = []
    for event in history:
        details = event.get("taskSubmittedEventDetails") or {}
        if event.get("type") != "TaskSubmitted" or details.get("resourceType") != NESTED_EXECUTION_RESOURCE_TYPE:
            continue
        try:
            arn = json.loads(details.get("output") or "{}").get("ExecutionArn")
        except (ValueError, AttributeError):
            continue
        if isinstance(arn, str):
            arns.append(arn)
    return arns


FINISHED = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
"""The last event of an execution's history: after it, the history does not change."""


@dataclass(frozen=True)
class EnteredState:
    """A state an execution entered: when, how deep (0 the parent, 1 its child), and which."""

    at: datetime
    depth: int
    name: str


class ExecutionTrail:
    """The states an execution and its children enter, in the order they happened; each call returns what is new.

    ``orders watch --states`` prints these as an order moves. A child's states come after the parent's event that
    started it and before what the parent did after, and everything is in the order of the events' timestamps.

    Example
    -------
    >>> trail = ExecutionTrail(stepfunctions, execution_arn)  # doctest: +SKIP
    >>> [(state.depth, state.name) for state in trail.new_states()]  # doctest: +SKIP
    [(0, 'PrepareOrder'), (1, 'ValidateOrder'), (1, 'AuthorizeAndReserve')]
    """

    def __init__(self, stepfunctions: Any, execution_arn: str):
        self._stepfunctions = stepfunctions
        self._execution_arn = execution_arn
        self._shown: set[tuple[str, int]] = set()
        self._finished: dict[str, list[dict[str, Any]]] = {}

    def new_states(self) -> list[EnteredState]:
        """Every state entered since the last call, oldest first.

        The parent is read before its children: a child's states that this call misses happened before anything
        the parent does after the child ends, so the next call still gives them in order.
        """
        entered = sorted(self._entered(self._execution_arn, 0), key=lambda pair: pair[1].at)
        fresh = [state for key, state in entered if key not in self._shown]
        self._shown.update(key for key, _ in entered)
        return fresh

    def _entered(self, execution_arn: str, depth: int) -> list[tuple[tuple[str, int], EnteredState]]:
        """(key, state) of every state the execution and its children entered, a child's after the event that
        started it."""
        history = self._history(execution_arn)
        entered: list[tuple[tuple[str, int], EnteredState]] = []
        for event in history or ():
            if "stateEnteredEventDetails" in event:
                state = EnteredState(event["timestamp"], depth, event["stateEnteredEventDetails"]["name"])
                entered.append(((execution_arn, event["id"]), state))
            for child in child_execution_arns([event]):
                entered += self._entered(child, depth + 1)
        return entered

    def _history(self, execution_arn: str) -> list[dict[str, Any]] | None:
        """The whole history, read again until the execution has finished."""
        if execution_arn in self._finished:
            return self._finished[execution_arn]
        try:
            events: list[dict[str, Any]] = []
            request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
            while True:
                page = self._stepfunctions.get_execution_history(**request)
                events += page["events"]
                if not page.get("nextToken"):
                    break
                request["nextToken"] = page["nextToken"]
        except self._stepfunctions.exceptions.ExecutionDoesNotExist:
            return None
        if events and events[-1].get("type") in FINISHED:
            self._finished[execution_arn] = events
        return events
