"""Which edges an execution took: each hand-over of its history, matched to the one rule or Catch it followed.

Two states may be joined by several edges: a Next and a Catch, or several Choice rules and the Default that share a
Next. The history names the states an execution went through, not the edge, so each ``graph.Transition`` is read
against the source's ASL:

- after a failure, the edge is the Catch to the state entered next, and the Catcher that took the error is the first
  whose ``ErrorEquals`` matches the error the failure named;
- after a Choice, the candidates are its rules and Default whose Next is the state entered next. Where there are
  several, those whose ``Assign`` disagrees with what the exit assigned are dropped, and the rules are evaluated in
  order on the Choice's input and the variables before it, as Step Functions does: the first that holds matched.
  Only a rule whose Next agrees with the history is believed;
- otherwise it is the Next (or the end of the execution).

Where the history cannot tell the candidates apart (a JSONata condition, a variable the history does not show), all
of them are ``possible``: one of them was taken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tools.console.graph import Edge, EdgeKind, ExecutionTrace, StateGraph, Transition

DEFAULT_RULE = -1
"""Where ``matched_rule`` says no rule held, so the Choice went to its Default."""


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
    """Resolve every hand-over of ``trace`` to the edge of ``graph`` it followed.

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
    >>> from tools.console.graph import workflow_graph, trace_execution
    >>> asl = {"StartAt": "Route", "States": {
    ...     "Route": {"Type": "Choice", "Default": "Done", "Choices": [
    ...         {"Variable": "$.vip", "BooleanEquals": True, "Next": "Done"}]},
    ...     "Done": {"Type": "Succeed"}}}
    >>> history = [
    ...     {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": "t0"},
    ...     {"id": 2, "previousEventId": 1, "type": "ChoiceStateEntered", "timestamp": "t1",
    ...      "stateEnteredEventDetails": {"name": "Route", "input": '{"vip": false}'}},
    ...     {"id": 3, "previousEventId": 2, "type": "ChoiceStateExited", "timestamp": "t1",
    ...      "stateExitedEventDetails": {"name": "Route", "output": "{}"}},
    ...     {"id": 4, "previousEventId": 3, "type": "SucceedStateEntered", "timestamp": "t1",
    ...      "stateEnteredEventDetails": {"name": "Done", "input": "{}"}},
    ... ]
    >>> taken = path_taken(workflow_graph(asl), trace_execution(history, "RUNNING")).taken
    >>> sorted(edge.kind.value for edge in taken)
    ['default', 'start']
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
            as_the_choice_names_it = replace(transition, target=graph.nodes[transition.target].display_name)
            edges = _choice_edges(state, as_the_choice_names_it, edges)
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
    """Of a Choice's edges to the state entered next, those the history does not rule out (one, when it tells).

    ``transition.target`` is the state's name as the Choice names it (a child machine's states are keyed apart).
    """
    agreeing = [edge for edge in edges if _assigns_agree(_assign_of(state, edge), transition.assigned)]
    edges = agreeing or edges
    if len(edges) == 1:
        return edges
    rule = matched_rule(state, transition)
    chosen = [
        edge
        for edge in edges
        if (edge.kind is EdgeKind.DEFAULT and rule == DEFAULT_RULE) or (rule is not None and rule in edge.rules)
    ]
    return chosen or edges


def _assign_of(state: Mapping[str, Any], edge: Edge) -> Any:
    if edge.kind is EdgeKind.DEFAULT:
        return state.get("Assign")
    (position,) = edge.rules
    return state["Choices"][position].get("Assign")


def _assigns_agree(assign: Any, assigned: Mapping[str, Any] | None) -> bool:
    """Whether a rule's ``Assign`` could have made ``assigned``: the same names, and its constants the same values.

    Example
    -------
    >>> _assigns_agree({"status": "REJECTED", "error.$": "$.Error"}, {"status": "REJECTED", "error": "X"})
    True
    >>> _assigns_agree({"status": "FAILED", "error.$": "$.Error"}, {"status": "REJECTED", "error": "X"})
    False
    """
    if assigned is None or not isinstance(assign or {}, Mapping):
        return True
    assign = assign or {}
    if {name.removesuffix(".$") for name in assign} != set(assigned):
        return False
    return all(
        assigned[name] == value for name, value in assign.items() if not name.endswith(".$") and _constant(value)
    )


def _constant(value: Any) -> bool:
    """A scalar written as is: not a JSONata expression, nor an object or array that may hold paths."""
    if isinstance(value, str):
        return not (value.startswith("{%") and value.endswith("%}"))
    return value is None or isinstance(value, int | float | bool)


def matched_rule(state: Mapping[str, Any], transition: Transition) -> int | None:
    """The place of the Choice rule that held for this hand-over, ``DEFAULT_RULE`` when none did, None if unknown.

    The rules are evaluated in order, on the state's input after its ``InputPath`` and on the variables before it,
    and the first that holds is the one; a rule this cannot evaluate before that makes the answer unknown. The answer
    is believed only if that rule's Next (or the Default) is the state the history entered next.

    Example
    -------
    >>> state = {"Type": "Choice", "Default": "B", "Choices": [
    ...     {"Variable": "$.n", "NumericGreaterThan": 9, "Next": "A"},
    ...     {"Variable": "$.n", "IsPresent": True, "Next": "A"}]}
    >>> matched_rule(state, Transition("Route", "A", input='{"n": 3}'))
    1
    >>> matched_rule(state, Transition("Route", "B", input='{"n": 3}')) is None
    True
    """
    data = _parsed(transition.input)
    if data is _UNKNOWN:
        return None
    if "InputPath" in state:
        data = {} if state["InputPath"] is None else _lookup(str(state["InputPath"]), data, None)
        if data is _UNKNOWN or data is _ABSENT:
            return None
    rules = state.get("Choices", [])
    found = DEFAULT_RULE
    for position, rule in enumerate(rules):
        holds = rule_holds(rule, data, transition.variables)
        if holds is None:
            return None
        if holds:
            found = position
            break
    following = state.get("Default") if found == DEFAULT_RULE else rules[found].get("Next")
    return found if following == transition.target else None


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


_UNKNOWN = _Marker("unknown")
"""What the history does not show: a JSONata expression, the context object, a variable not seen assigned."""
_ABSENT = _Marker("absent")
"""A path that leads nowhere in the data."""


def _parsed(text: str | None) -> Any:
    if text is None:
        return _UNKNOWN
    try:
        return json.loads(text)
    except ValueError:
        return _UNKNOWN


_SEGMENT = re.compile(r"""\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _lookup(path: str, data: Any, variables: Mapping[str, Any] | None) -> Any:
    """The value at a JSONPath of the input (``$.a.b[0]``) or of a variable (``$name.a``): simple paths only."""
    if path.startswith("$$"):
        return _UNKNOWN
    rest = path[1:] if path.startswith("$") else None
    if rest is None:
        return _UNKNOWN
    variable = _VARIABLE.match(path)
    if variable:
        if variables is None or variable[1] not in variables:
            return _UNKNOWN
        value, rest = variables[variable[1]], path[variable.end() :]
    else:
        value = data
    position = 0
    while position < len(rest):
        segment = _SEGMENT.match(rest, position)
        if segment is None:
            return _UNKNOWN
        position = segment.end()
        name, index = segment[1] or segment[3] or segment[4], segment[2]
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return _ABSENT
            value = value[int(index)]
        elif isinstance(value, Mapping) and name in value:
            value = value[name]
        else:
            return _ABSENT
    return value


def rule_holds(rule: Mapping[str, Any], data: Any, variables: Mapping[str, Any] | None) -> bool | None:
    """Whether a JSONPath Choice rule holds on ``data`` and ``variables``; None when it cannot be told.

    A comparison of a path that leads nowhere does not hold. (AWS documents a run-time error there, which the
    execution would have failed with; the local engine finds it false. Either way, a Choice the history shows
    leaving had no such error.)

    Example
    -------
    >>> rule = {"And": [{"Variable": "$f.Error", "IsPresent": True}, {"Variable": "$f.Error", "StringEquals": "X"}]}
    >>> rule_holds(rule, {}, {"f": {"Error": "X"}}), rule_holds(rule, {}, {}), rule_holds(rule, {}, None)
    (True, None, None)
    """
    if "And" in rule or "Or" in rule:
        results = [rule_holds(each, data, variables) for each in rule.get("And", rule.get("Or", []))]
        deciding = "And" not in rule
        if deciding in results:
            return deciding
        return None if None in results else not deciding
    if "Not" in rule:
        holds = rule_holds(rule["Not"], data, variables)
        return None if holds is None else not holds
    if "Variable" not in rule:
        return None
    value = _lookup(str(rule["Variable"]), data, variables)
    if value is _UNKNOWN:
        return None
    if "IsPresent" in rule:
        return (value is not _ABSENT) is bool(rule["IsPresent"])
    if value is _ABSENT:
        return False
    for operator, operand in rule.items():
        if operator in _TESTS:
            return _TESTS[operator](value) is bool(operand)
        if operator in _COMPARISONS:
            return _COMPARISONS[operator](value, operand)
        if operator.removesuffix("Path") in _COMPARISONS:
            compared = _lookup(str(operand), data, variables)
            if compared is _UNKNOWN:
                return None
            return compared is not _ABSENT and _COMPARISONS[operator.removesuffix("Path")](value, compared)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp, which names its offset; anything else is no timestamp."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _compare(kind: Any, relation: Any) -> Any:
    """A comparison that is false, as in Step Functions, when either side is not of its type."""

    def compare(value: Any, operand: Any) -> bool:
        left, right = kind(value), kind(operand)
        return left is not None and right is not None and relation(left, right)

    return compare


def _as_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> float | None:
    return float(value) if _number(value) else None


def _as_boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _matches(value: Any, pattern: Any) -> bool:
    """StringMatches: ``*`` stands for any characters, ``\\*`` and ``\\\\`` for a star and a backslash.

    Example
    -------
    >>> _matches("log-2026.txt", "log-*.txt"), _matches("a*b", "a\\\\*b"), _matches("axb", "a\\\\*b")
    (True, True, False)
    """
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    pieces = [".*" if token == "*" else re.escape(token[-1]) for token in re.findall(r"\\.|.", pattern, re.S)]
    return re.fullmatch("".join(pieces), value, re.S) is not None


_RELATIONS = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
_COMPARISONS: dict[str, Any] = {
    **{f"String{name}": _compare(_as_string, relation) for name, relation in _RELATIONS.items()},
    **{f"Numeric{name}": _compare(_as_number, relation) for name, relation in _RELATIONS.items()},
    **{f"Timestamp{name}": _compare(_timestamp, relation) for name, relation in _RELATIONS.items()},
    "BooleanEquals": _compare(_as_boolean, lambda a, b: a == b),
    "StringMatches": _matches,
}
_TESTS: dict[str, Any] = {
    "IsPresent": None,
    "IsNull": lambda value: value is None,
    "IsString": lambda value: isinstance(value, str),
    "IsNumeric": _number,
    "IsBoolean": lambda value: isinstance(value, bool),
    "IsTimestamp": lambda value: _timestamp(value) is not None,
}
