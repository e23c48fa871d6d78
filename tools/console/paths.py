"""Which edges an execution took: each hand-over of its history, matched to the rule or Catch it followed.

The console evaluates no ASL: the engine (moto's locally, Step Functions' in AWS) evaluated the Choice rules and
matched the errors, and its history records what came of it. Two states may be joined by several edges: a Next and a
Catch, or several Choice rules and the Default that share a Next. The history names the states an execution went
through, not the edge, so each ``graph.Transition`` is read against the edges the source's ASL declares:

- after a failure, the edge is the Catch to the state entered next, and the Catcher that took the error is the first
  whose ``ErrorEquals`` names the error the failure recorded (or takes any, ``States.ALL``);
- after a Choice, the candidates are its rules and Default whose Next is the state entered next; where the exit
  recorded the variables it assigned, a candidate whose ``Assign`` could not have made them is dropped. No condition
  is evaluated;
- otherwise it is the Next (or the end of the execution).

One candidate left was taken. Where several are left (rules with one Next and no telling ``Assign``, a log without
execution data), all of them are ``possible``: one of them was taken, the history does not say which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.console.graph import Edge, EdgeKind, ExecutionTrace, StateGraph, Transition


@dataclass
class PathTaken:
    """The edges of ``graph`` an execution took.

    ``taken`` were taken for sure; of ``possible``, one edge per hand-over was taken, the history does not say which.
    ``catchers`` says, for a Catch edge that draws several Catchers, the places in ``Catch`` of those that took an
    error.
    """

    taken: set[Edge] = field(default_factory=set)
    possible: set[Edge] = field(default_factory=set)
    catchers: dict[Edge, set[int]] = field(default_factory=dict)


def path_taken(graph: StateGraph, trace: ExecutionTrace | None) -> PathTaken:
    """Resolve every hand-over of ``trace`` to the edge of ``graph`` it followed, or to the edges it may have.

    Parameters
    ----------
    graph:
        From ``workflow_graph``, with each state's ASL.
    trace:
        From ``trace_execution`` (or ``nested_trace``); None gives an empty path.

    Returns
    -------
    PathTaken

    Example
    -------
    A rule and the Default both lead to ``Done``; the exit recorded ``tier`` assigned ``"vip"``, which only the rule
    assigns:

    >>> from tools.console.graph import workflow_graph, trace_execution
    >>> asl = {"StartAt": "Route", "States": {
    ...     "Route": {"Type": "Choice", "Default": "Done", "Choices": [
    ...         {"Variable": "$.vip", "BooleanEquals": True, "Assign": {"tier": "vip"}, "Next": "Done"}]},
    ...     "Done": {"Type": "Succeed"}}}
    >>> history = [
    ...     {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": "t0"},
    ...     {"id": 2, "previousEventId": 1, "type": "ChoiceStateEntered", "timestamp": "t1",
    ...      "stateEnteredEventDetails": {"name": "Route", "input": '{"vip": true}'}},
    ...     {"id": 3, "previousEventId": 2, "type": "ChoiceStateExited", "timestamp": "t1",
    ...      "stateExitedEventDetails": {"name": "Route", "output": "{}", "assignedVariables": {"tier": '"vip"'}}},
    ...     {"id": 4, "previousEventId": 3, "type": "SucceedStateEntered", "timestamp": "t1",
    ...      "stateEnteredEventDetails": {"name": "Done", "input": "{}"}},
    ... ]
    >>> taken = path_taken(workflow_graph(asl), trace_execution(history, "RUNNING")).taken
    >>> sorted(edge.kind.value for edge in taken)
    ['choice', 'start']
    """
    path = PathTaken()
    if trace is None:
        return path
    between: dict[tuple[str, str], list[Edge]] = {}
    for edge in graph.edges:
        between.setdefault((edge.source, edge.target), []).append(edge)
    for transition in trace.transitions:
        edges = between.get((transition.source, transition.target), [])
        if not edges:
            continue
        state = graph.states.get(transition.source, {})
        if transition.caught:
            _add_catch(path, state, transition, [edge for edge in edges if edge.kind is EdgeKind.CATCH] or edges)
            continue
        edges = [edge for edge in edges if edge.kind is not EdgeKind.CATCH] or edges
        if len(edges) > 1 and state.get("Type") == "Choice":
            edges = _choice_edges(state, transition, edges)
        (path.taken if len(edges) == 1 else path.possible).update(edges)
    path.possible -= path.taken
    return path


def _add_catch(path: PathTaken, state: Mapping[str, Any], transition: Transition, edges: list[Edge]) -> None:
    """The Catch edge to the state entered next; the Catcher that took the error, when its Next agrees."""
    (path.taken if len(edges) == 1 else path.possible).update(edges)
    catcher = matched_catcher(state.get("Catch", []), transition.error)
    for edge in edges:
        if catcher is not None and catcher in edge.rules:
            path.catchers.setdefault(edge, set()).add(catcher)


def matched_catcher(catchers: list[Mapping[str, Any]], error: str | None) -> int | None:
    """The place of the first Catcher whose ``ErrorEquals`` takes ``error``; None when unknown.

    ``States.ALL`` takes any error that can be caught. ``States.TaskFailed`` takes every error a task names itself
    (one without the ``States.`` prefix); which of the other ``States.`` errors it takes, the documentation and the
    local engine do not agree on, so such a case is unknown.

    Example
    -------
    >>> catchers = [{"ErrorEquals": ["Busy"]}, {"ErrorEquals": ["States.TaskFailed"]}, {"ErrorEquals": ["States.ALL"]}]
    >>> [matched_catcher(catchers, error) for error in ("Busy", "Declined", "States.Timeout")]
    [0, 1, None]
    """
    if error is None:
        return None
    for position, catcher in enumerate(catchers):
        names = catcher.get("ErrorEquals", [])
        if error in names or "States.ALL" in names:
            return position
        if "States.TaskFailed" in names:
            if not error.startswith("States."):
                return position
            return None
    return None


def _choice_edges(state: Mapping[str, Any], transition: Transition, edges: list[Edge]) -> list[Edge]:
    """Of a Choice's edges to the state entered next, those whose ``Assign`` could have made what the exit assigned.

    When none could (the history and the ASL disagree), all are left: the history does not tell which was taken.
    """
    shared = state.get("Assign")
    agreeing = [
        edge
        for edge in edges
        if (
            _assigns_agree(shared, None, transition.assigned)
            if edge.kind is EdgeKind.DEFAULT
            else _assigns_agree(state["Choices"][edge.rules[0]].get("Assign"), shared, transition.assigned)
        )
    ]
    return agreeing or edges


_COMPUTED = object()
"""A value the engine computes (a ``.$`` path, a JSONata expression): we do not evaluate it, so never compare it."""


def _assigns_agree(own: Any, shared: Any, assigned: Mapping[str, Any] | None) -> bool:
    """Whether an ``Assign`` (``own``), with the Choice state's ``Assign`` (``shared``), could have made ``assigned``.

    Every name ``own`` assigns must be recorded, and no name that neither assigns; a constant must have the value
    recorded. A rule's and the state's ``Assign`` may both apply (AWS documents the state's as applying whichever
    rule matched; moto applies it only when the Next is the Default's), and which wins a name both assign is not
    relied on, so such a name's value is not compared. ``assigned`` None (the history does not say) agrees with
    anything.

    Example
    -------
    >>> _assigns_agree({"status": "REJECTED", "error.$": "$.Error"}, None, {"status": "REJECTED", "error": "X"})
    True
    >>> _assigns_agree({"status": "FAILED", "error.$": "$.Error"}, None, {"status": "REJECTED", "error": "X"})
    False
    >>> _assigns_agree({"status": "{% $states.input.s %}"}, None, {"status": "X"}), _assigns_agree(None, None, {})
    (True, True)
    >>> _assigns_agree({"a": 1}, {"a": 2, "b": 3}, {"a": 2}), _assigns_agree({"a": 1}, {"b": 3}, {"a": 1, "b": 4})
    (True, False)
    """
    if assigned is None or not isinstance(own or {}, Mapping) or not isinstance(shared or {}, Mapping):
        return True
    mine, theirs = _values(own or {}), _values(shared or {})
    if not set(mine) <= set(assigned) <= set(mine) | set(theirs):
        return False
    uncontested = {name: value for name, value in {**theirs, **mine}.items() if not (name in mine and name in theirs)}
    return all(
        assigned[name] == value for name, value in uncontested.items() if name in assigned and value is not _COMPUTED
    )


def _values(assign: Mapping[str, Any]) -> dict[str, Any]:
    """Each variable an ``Assign`` names, with its value when that is a constant, else ``_COMPUTED``."""
    return {
        name.removesuffix(".$"): value if not name.endswith(".$") and _constant(value) else _COMPUTED
        for name, value in assign.items()
    }


def _constant(value: Any) -> bool:
    """Written as is: no JSONata expression, nor a ``.$`` path anywhere inside an object or array."""
    if isinstance(value, str):
        return not (value.startswith("{%") and value.endswith("%}"))
    if isinstance(value, list):
        return all(_constant(each) for each in value)
    if isinstance(value, Mapping):
        return all(not str(name).endswith(".$") and _constant(each) for name, each in value.items())
    return value is None or isinstance(value, int | float | bool)
