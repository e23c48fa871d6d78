"""The Express child executions a parent started, read from the parent's own history.

A ``startExecution`` task records the child's ARN in its ``TaskSubmitted`` event (the StartExecution response), so
the console, ``orders watch``, the tests and the cost model all find a parent's children the same way, whatever
started the parent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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


class ExecutionTrail:
    """The states an execution and its children enter, read incrementally: each call returns only what is new.

    ``orders watch --states`` prints these as an order moves; in each call the children's new states follow the
    parent's, one level deeper.

    Example
    -------
    >>> trail = ExecutionTrail(stepfunctions, execution_arn)  # doctest: +SKIP
    >>> trail.new_states()  # doctest: +SKIP
    [(0, 'PrepareOrder'), (1, 'ValidateOrder'), (1, 'AuthorizeAndReserve')]
    """

    def __init__(self, stepfunctions: Any, execution_arn: str):
        self._stepfunctions = stepfunctions
        self._execution_arn = execution_arn
        self._seen: dict[str, int] = {}

    def new_states(self) -> list[tuple[int, str]]:
        """(depth, state name) of every state entered since the last call: 0 for the parent, 1 for a child."""
        return self._new_states(self._execution_arn, 0)

    def _new_states(self, execution_arn: str, depth: int) -> list[tuple[int, str]]:
        history = self._history(execution_arn)
        if history is None:
            return []
        entered: list[tuple[int, str]] = []
        for event in history[self._seen.get(execution_arn, 0) :]:
            if "stateEnteredEventDetails" in event:
                entered.append((depth, event["stateEnteredEventDetails"]["name"]))
        self._seen[execution_arn] = len(history)
        for child in child_execution_arns(history):
            entered += self._new_states(child, depth + 1)
        return entered

    def _history(self, execution_arn: str) -> list[dict[str, Any]] | None:
        try:
            events: list[dict[str, Any]] = []
            request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
            while True:
                page = self._stepfunctions.get_execution_history(**request)
                events += page["events"]
                if not page.get("nextToken"):
                    return events
                request["nextToken"] = page["nextToken"]
        except self._stepfunctions.exceptions.ExecutionDoesNotExist:
            return None
