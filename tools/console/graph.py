"""The state machine as a graph, and an execution history as the outcome of each of its states.

The definition comes from Step Functions itself (DescribeStateMachine), never from the ASL file, so the console draws
whatever is deployed. Nothing here talks to AWS: it turns JSON into plain data the layout and the browser use.

A task that runs another state machine (``states:startExecution``) holds that machine's states as a nested group,
drawn like a Parallel state's branch: ``workflow_graph(parent, children={"PrepareOrder": child})``. Those states
are keyed ``"PrepareOrder/ValidateOrder"`` (``child_state_id``), since two machines may name states alike, and
``nested_trace`` colors them from the child execution's own history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

START = "__start__"
END = "__end__"
"""Pseudo nodes of the top-level flow: where an execution begins and where it ends successfully."""

CONTAINER_TYPES = frozenset({"Parallel", "Map"})
START_EXECUTION_RESOURCE = re.compile(r"arn:[\w-]+:states:::states:startExecution(\.sync(:2)?)?")
"""A Task with this resource (in any partition, ``.sync``, ``.sync:2`` or not) starts an execution of another state
machine."""


class EdgeKind(StrEnum):
    NEXT = "next"
    CHOICE = "choice"
    DEFAULT = "default"
    CATCH = "catch"
    START = "start"
    END = "end"


class StateStatus(StrEnum):
    NOT_RUN = "not-run"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CAUGHT = "caught"
    RETRIED = "retried"
    ABORTED = "aborted"


@dataclass(frozen=True)
class Node:
    """One state (or the START/END pseudo state). ``scope`` is "" at the top level, or the branch it belongs to.

    ``name`` is the key (``child_state_id`` for a child machine's states); ``label`` is the state's own name.
    """

    name: str
    type: str
    scope: str = ""
    comment: str = ""
    callback: bool = False
    """A ``.waitForTaskToken`` task: it waits for someone outside (here, the warehouse) to answer."""
    failure_path: bool = False
    """Every path from here ends in a Fail state: the order is already lost, the rest undoes or records it."""
    label: str = ""
    """The name drawn, when it is not ``name``: a child machine's state shows its own name."""
    runs: str = ""
    """A task that runs a child state machine: that machine's name; its states are drawn inside the task."""
    execution_of: str = ""
    """A child machine's state: the task whose child execution it belongs to."""

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def compensation(self) -> bool:
        """A task on the failure path does work to undo or record the failure: the compensation chain."""
        return self.failure_path and self.type == "Task"

    @property
    def kind_text(self) -> str:
        """The second line of a drawn state: its type, and what makes it special in this workflow.

        Example
        -------
        >>> Node("RequestShipment", "Task", callback=True).kind_text
        'Task · waits for callback'
        """
        extras = ["waits for callback"] * self.callback + ["compensation"] * self.compensation
        return " · ".join([self.type, *extras])


@dataclass(frozen=True)
class Edge:
    """A way from one state to another. A Choice rule is an edge of its own; the Catchers of one state that go to the
    same state are one edge, labelled one line per Catcher (``catch_label``), since they reach the same place.
    """

    source: str
    target: str
    kind: EdgeKind
    label: str = ""
    failure_path: bool = False
    rules: tuple[int, ...] = ()
    """The places, in the source's ``Choices`` or ``Catch``, of the rule or the Catchers this edge draws."""


@dataclass(frozen=True)
class Scope:
    """A flow of states with one start: the whole machine ("") or one branch of a Parallel or Map state."""

    id: str
    start: str
    states: tuple[str, ...]
    container: str | None = None


@dataclass
class StateGraph:
    nodes: dict[str, Node]
    edges: list[Edge]
    scopes: dict[str, Scope]
    states: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each state's ASL as the definition has it, by node key: which rule or Catcher an execution took is read
    against it (``tools.console.paths``)."""

    def edge_set(self) -> set[tuple[str, str, str]]:
        """(source, target, kind) of every edge: what tests and callers usually ask about."""
        return {(edge.source, edge.target, edge.kind.value) for edge in self.edges}

    def branches_of(self, container: str) -> list[Scope]:
        return [scope for scope in self.scopes.values() if scope.container == container]

    def is_container(self, name: str) -> bool:
        """A Parallel or Map state, or a task holding its child machine's states: a box with flows inside."""
        node = self.nodes[name]
        return node.type in CONTAINER_TYPES or bool(node.runs)


def child_state_id(task: str, state: str) -> str:
    """The key of a child machine's state inside the parent's graph.

    Example
    -------
    >>> child_state_id("PrepareOrder", "ValidateOrder")
    'PrepareOrder/ValidateOrder'
    """
    return f"{task}/{state}"


def child_scope_id(task: str) -> str:
    """The scope of a child machine's top-level flow; no state's key ends in "/", so it is no state's key."""
    return f"{task}/"


def nested_state_machines(definition: str | Mapping[str, Any]) -> dict[str, str]:
    """The tasks that start an execution of a state machine named in the definition, and that machine's ARN.

    A task whose ``StateMachineArn`` is only known at run time (``StateMachineArn.$``) is left out: there is no
    one machine to draw inside it.

    Example
    -------
    >>> task = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
    ...         "Parameters": {"StateMachineArn": "arn:aws:states:eu-west-1:1:stateMachine:prep"}}
    >>> nested_state_machines({"StartAt": "Prepare", "States": {"Prepare": task}})
    {'Prepare': 'arn:aws:states:eu-west-1:1:stateMachine:prep'}
    """
    asl = json.loads(definition) if isinstance(definition, str) else definition
    found: dict[str, str] = {}
    flows = [asl]
    while flows:
        for name, state in flows.pop()["States"].items():
            arn = (state.get("Parameters") or {}).get("StateMachineArn")
            if START_EXECUTION_RESOURCE.fullmatch(str(state.get("Resource", ""))) and isinstance(arn, str):
                found[name] = arn
            flows += _branches(state)
    return found


def workflow_graph(
    definition: str | Mapping[str, Any], children: Mapping[str, str | Mapping[str, Any]] | None = None
) -> StateGraph:
    """Turn an ASL definition into nodes, edges and scopes (the top level and each Parallel or Map branch).

    Parameters
    ----------
    definition:
        The ASL, as DescribeStateMachine returns it (JSON text) or already parsed.
    children:
        For a task that runs another state machine (``nested_state_machines``), that machine's ASL: its states
        become a scope inside the task, keyed by ``child_state_id``.

    Returns
    -------
    StateGraph
        Nodes keyed by state name (a child machine's by ``child_state_id``), plus START and END for the top level;
        edges for Next, Choice rules and Default, Catch, and the pseudo start and end transitions.

    Raises
    ------
    ValueError
        When ``children`` names a state that is not a task starting a state machine of the definition.

    Example
    -------
    >>> asl = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x", "End": True}}}
    >>> sorted(workflow_graph(asl).edge_set())
    [('A', '__end__', 'end'), ('__start__', 'A', 'start')]
    """
    asl = json.loads(definition) if isinstance(definition, str) else definition
    machines = nested_state_machines(asl)
    unknown = set(children or {}) - set(machines)
    if unknown:
        raise ValueError(f"no task of the definition starts a state machine as {sorted(unknown)[0]!r}")
    nodes: dict[str, Node] = {START: Node(START, "Start"), END: Node(END, "End")}
    edges: list[Edge] = [Edge(START, asl["StartAt"], EdgeKind.START)]
    scopes: dict[str, Scope] = {}
    states: dict[str, Mapping[str, Any]] = {}
    _add_scope(asl, "", None, nodes, edges, scopes, states)
    for task, child in (children or {}).items():
        nodes[task] = replace(nodes[task], runs=machines[task].rsplit(":", 1)[-1])
        child_asl = json.loads(child) if isinstance(child, str) else child
        _add_scope(child_asl, child_scope_id(task), task, nodes, edges, scopes, states, execution_of=task)
    failure_path = _failure_path_states(nodes, edges)
    nodes = {name: replace(node, failure_path=name in failure_path) for name, node in nodes.items()}
    edges = [replace(e, failure_path=e.source in failure_path and e.target in failure_path) for e in edges]
    return StateGraph(nodes, edges, scopes, states)


def _add_scope(
    flow: Mapping[str, Any],
    scope_id: str,
    container: str | None,
    nodes: dict[str, Node],
    edges: list[Edge],
    scopes: dict[str, Scope],
    states: dict[str, Mapping[str, Any]],
    execution_of: str = "",
) -> None:
    """Add one flow's states; a child machine's (``execution_of`` its task) are keyed by ``child_state_id``."""
    prefix = child_state_id(execution_of, "") if execution_of else ""
    scopes[scope_id] = Scope(scope_id, prefix + flow["StartAt"], tuple(prefix + n for n in flow["States"]), container)
    for name, state in flow["States"].items():
        key = prefix + name
        states[key] = state
        nodes[key] = Node(
            name=key,
            type=state["Type"],
            scope=scope_id,
            comment=state.get("Comment", ""),
            callback=str(state.get("Resource", "")).endswith(".waitForTaskToken"),
            label=name if prefix else "",
            execution_of=execution_of,
        )
        edges.extend(
            replace(edge, source=prefix + edge.source, target=prefix + edge.target)
            for edge in _edges_of(name, state, top_level=container is None)
        )
        for index, branch in enumerate(_branches(state)):
            _add_scope(branch, f"{key}/{index}", key, nodes, edges, scopes, states, execution_of)


def _branches(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if state["Type"] == "Parallel":
        return list(state["Branches"])
    if state["Type"] == "Map":
        return [state.get("ItemProcessor") or state["Iterator"]]
    return []


def _edges_of(name: str, state: Mapping[str, Any], top_level: bool) -> Iterable[Edge]:
    if "Next" in state:
        yield Edge(name, state["Next"], EdgeKind.NEXT)
    for position, rule in enumerate(state.get("Choices", [])):
        yield Edge(name, rule["Next"], EdgeKind.CHOICE, choice_label(rule), rules=(position,))
    if "Default" in state:
        yield Edge(name, state["Default"], EdgeKind.DEFAULT, "default")
    catchers: dict[str, list[int]] = {}
    for position, catcher in enumerate(state.get("Catch", [])):
        catchers.setdefault(catcher["Next"], []).append(position)
    for target, positions in catchers.items():
        label = "\n".join(catch_label(state["Catch"][position]["ErrorEquals"]) for position in positions)
        yield Edge(name, target, EdgeKind.CATCH, label, rules=tuple(positions))
    ends = state.get("End") or state["Type"] == "Succeed"
    if top_level and ends:
        yield Edge(name, END, EdgeKind.END)


def catch_label(errors: list[str]) -> str:
    """The errors a Catch takes, short enough to sit on an edge.

    Example
    -------
    >>> catch_label(["States.Timeout", "States.HeartbeatTimeout"])
    'Timeout, HeartbeatTimeout'
    >>> catch_label(["States.ALL"])
    'any error'
    """
    return ", ".join("any error" if error == "States.ALL" else error.removeprefix("States.") for error in errors)


def choice_label(rule: Mapping[str, Any]) -> str:
    """A Choice rule in a few words: the last two steps of its path or variable, the comparison, the value.

    In an ``And``, a presence check of a variable that another condition compares only guards that comparison (a
    missing variable would fail it), so it is left out.

    Example
    -------
    >>> choice_label({"Variable": "$.preparation.payment.error", "StringEquals": "PaymentDeclinedError"})
    'payment.error = PaymentDeclinedError'
    >>> choice_label({"Variable": "$.preparation.payment.failed", "IsPresent": True})
    'payment.failed is present'
    >>> choice_label({"And": [{"Variable": "$failure.Error", "IsPresent": True},
    ...     {"Variable": "$failure.Error", "StringEquals": "OutOfStockError"}], "Assign": {"s": "x"}, "Next": "N"})
    'failure.Error = OutOfStockError'
    """
    if "Condition" in rule:
        return str(rule["Condition"])
    for combinator in ("And", "Or"):
        if combinator in rule:
            conditions = rule[combinator]
            if combinator == "And":
                compared = {each.get("Variable") for each in conditions if "IsPresent" not in each}
                conditions = [
                    each for each in conditions if not (each.get("IsPresent") is True and each["Variable"] in compared)
                ]
            return f" {combinator.lower()} ".join(choice_label(each) for each in conditions)
    if "Not" in rule:
        return "not " + choice_label(rule["Not"])
    variable = ".".join(str(rule.get("Variable", "$")).removeprefix("$").removeprefix(".").split(".")[-2:])
    for operator, value in rule.items():
        if operator in _NOT_COMPARISONS:
            continue
        if operator == "IsPresent":
            return f"{variable} is {'present' if value else 'absent'}"
        symbol = _COMPARISONS.get(operator.removesuffix("Path"), operator)
        return f"{variable} {symbol} {value}"
    return variable


_NOT_COMPARISONS = frozenset({"Variable", "Next", "Assign", "Output", "Comment"})
"""Fields of a Choice rule that say where to go or what to set, not what is compared."""
_COMPARISONS = {
    "StringEquals": "=",
    "NumericEquals": "=",
    "BooleanEquals": "=",
    "TimestampEquals": "=",
    "NumericLessThan": "<",
    "NumericGreaterThan": ">",
    "NumericLessThanEquals": "≤",
    "NumericGreaterThanEquals": "≥",
    "StringMatches": "matches",
}


def _failure_path_states(nodes: Mapping[str, Node], edges: list[Edge]) -> set[str]:
    """States from which every path ends in a Fail state (a least fixed point, so loops never qualify)."""
    successors: dict[str, set[str]] = {name: set() for name in nodes}
    for edge in edges:
        successors[edge.source].add(edge.target)
    doomed = {name for name, node in nodes.items() if node.type == "Fail"}
    changed = True
    while changed:
        changed = False
        for name, following in successors.items():
            if name not in doomed and following and following <= doomed:
                doomed.add(name)
                changed = True
    return doomed


@dataclass
class StateRun:
    """What one state did in one execution: its outcome, attempts, and the last input, output and error."""

    name: str
    status: StateStatus = StateStatus.NOT_RUN
    entries: int = 0
    attempts: int = 0
    retries: int = 0
    failures: int = 0
    entered_at: str | None = None
    exited_at: str | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    events: list[int] = field(default_factory=list)
    exited: bool = False
    failure_pending: bool = False
    error_name: str | None = None
    """The error the last failure's event named, or None when it named none: what a Catch matched."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "entries": self.entries,
            "attempts": self.attempts,
            "retries": self.retries,
            "enteredAt": self.entered_at,
            "exitedAt": self.exited_at,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
            "events": self.events,
        }


@dataclass
class Transition:
    """One hand-over the history shows: ``source`` exited and ``target`` was entered next.

    What it holds is what the engine recorded that tells apart two edges between the same states: whether the source
    failed and the error it named (``caught``, ``error``: which Catch), and what its exit assigned (``assigned``: which
    Choice rule, by its ``Assign``), read by ``tools.console.paths``. ``None`` means the history does not say.
    """

    source: str
    target: str
    caught: bool = False
    error: str | None = None
    assigned: dict[str, Any] | None = None


@dataclass
class ExecutionTrace:
    """An execution read from its history: each state's run, the hand-overs between states (``transitions``, and
    ``taken``, the pairs of states they joined), and which event belongs where."""

    runs: dict[str, StateRun]
    taken: set[tuple[str, str]]
    state_of_event: dict[int, str]
    transitions: list[Transition] = field(default_factory=list)

    def status_of(self, name: str) -> StateStatus:
        run = self.runs.get(name)
        return run.status if run else StateStatus.NOT_RUN


ATTEMPT_EVENTS = frozenset({"TaskScheduled", "ActivityScheduled", "LambdaFunctionScheduled"})
FAILURE_SUFFIXES = ("Failed", "TimedOut")


def trace_execution(history: list[Mapping[str, Any]], execution_status: str) -> ExecutionTrace:
    """Read a GetExecutionHistory event list into the outcome of every state that ran.

    Events of parallel branches interleave, so each event is given to the state its ``previousEventId`` chain leads
    to. A task that failed and was scheduled again was retried; a state that failed and still exited was caught.

    Parameters
    ----------
    history:
        The events, oldest first, as GetExecutionHistory returns them (all pages).
    execution_status:
        DescribeExecution's status: a state still open in a RUNNING execution is running, otherwise it failed
        (or was aborted, when the execution was stopped).

    Returns
    -------
    ExecutionTrace

    Example
    -------
    >>> history = [
    ...     {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": "t0"},
    ...     {"id": 2, "previousEventId": 0, "type": "TaskStateEntered", "timestamp": "t1",
    ...      "stateEnteredEventDetails": {"name": "Charge", "input": "{}"}},
    ...     {"id": 3, "previousEventId": 2, "type": "TaskScheduled", "timestamp": "t1"},
    ...     {"id": 4, "previousEventId": 3, "type": "TaskFailed", "timestamp": "t2",
    ...      "taskFailedEventDetails": {"error": "Busy", "cause": "try later"}},
    ...     {"id": 5, "previousEventId": 4, "type": "TaskScheduled", "timestamp": "t3"},
    ... ]
    >>> run = trace_execution(history, "RUNNING").runs["Charge"]
    >>> (run.status.value, run.retries)
    ('running', 1)
    """
    runs: dict[str, StateRun] = {}
    state_of_event: dict[int, str] = {}
    open_containers: list[str] = []
    exited_events: dict[int, str] = {}
    exits: dict[int, Transition] = {}
    transitions: list[Transition] = []
    last_entered: str | None = None
    execution_started = {event["id"] for event in history if event["type"] == "ExecutionStarted"} | {0}
    for event in sorted(history, key=lambda e: e["id"]):
        event_id, event_type, previous = event["id"], event["type"], event.get("previousEventId") or 0
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            name = entered["name"]
            run = runs.setdefault(name, StateRun(name))
            run.entries += 1
            run.exited = False
            run.failure_pending = False
            run.entered_at = str(event["timestamp"])
            run.input = entered.get("input")
            source = _source_of_entry(previous, execution_started, exited_events, state_of_event, open_containers)
            if source:
                exit_ = exits.get(previous)
                transitions.append(replace(exit_, target=name) if exit_ else Transition(source, name))
            if event_type.removesuffix("StateEntered") in CONTAINER_TYPES:
                open_containers.append(name)
            last_entered = name
        elif exited:
            name = exited["name"]
            run = runs.setdefault(name, StateRun(name))
            run.exited = True
            run.exited_at = str(event["timestamp"])
            run.output = exited.get("output")
            exited_events[event_id] = name
            exits[event_id] = Transition(
                name,
                "",
                caught=run.failure_pending,
                error=run.error_name if run.failure_pending else None,
                assigned=_assigned_variables(exited),
            )
            if name in open_containers:
                open_containers.remove(name)
        elif event_type.startswith("Execution"):
            if event_type == "ExecutionSucceeded" and previous in exits:
                transitions.append(replace(exits[previous], target=END))
            continue
        else:
            name = _owner(event_type, previous, state_of_event, open_containers, last_entered)
            if name is None:
                continue
            run = runs.setdefault(name, StateRun(name))
            _count_attempt(run, event_type, event)
        state_of_event[event_id] = name
        run.events.append(event_id)
    for run in runs.values():
        run.status = _status(run, execution_status)
    taken = {(transition.source, transition.target) for transition in transitions}
    return ExecutionTrace(runs, taken, state_of_event, transitions)


def _assigned_variables(exited: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a state's exit recorded as assigned, each value parsed from its JSON; None when it recorded nothing, or
    says it cut the record short.

    An exit without ``assignedVariables`` is not read as "assigned nothing": a log written without execution data
    leaves the field out, moto writes it only when something was assigned, and moto drops the ``Assign`` of a
    JSONPath Choice rule that is a single comparison (not And, Or or Not).
    """
    if "assignedVariables" not in exited or (exited.get("assignedVariablesDetails") or {}).get("truncated"):
        return None
    assigned = {}
    for name, value in exited["assignedVariables"].items():
        try:
            assigned[name] = json.loads(value)
        except (TypeError, ValueError):
            assigned[name] = value
    return assigned


def nested_trace(trace: ExecutionTrace, children: Mapping[str, ExecutionTrace]) -> ExecutionTrace:
    """The parent's trace with each child execution's states added under ``child_state_id``, for one picture.

    Parameters
    ----------
    trace:
        The parent execution's, from ``trace_execution``.
    children:
        For a task that ran a child execution, that execution's trace (its own history, its own status).

    Returns
    -------
    ExecutionTrace
        Runs and taken edges of both; ``state_of_event`` stays the parent's (the child numbers its events anew).

    Example
    -------
    >>> validate = StateRun("Validate", StateStatus.SUCCEEDED)
    >>> child = ExecutionTrace({"Validate": validate}, {(START, "Validate")}, {}, [Transition(START, "Validate")])
    >>> merged = nested_trace(ExecutionTrace({}, set(), {}), {"Prepare": child})
    >>> merged.status_of("Prepare/Validate").value, sorted(merged.taken), merged.transitions[0].source
    ('succeeded', [('Prepare', 'Prepare/Validate')], 'Prepare')
    """
    runs = dict(trace.runs)
    taken = set(trace.taken)
    transitions = list(trace.transitions)
    for task, child in children.items():

        def key(state: str, task: str = task) -> str:
            return task if state == START else child_state_id(task, state)

        for name, run in child.runs.items():
            runs[child_state_id(task, name)] = replace(run, name=child_state_id(task, name))
        taken |= {(key(source), key(target)) for source, target in child.taken if target != END}
        transitions += [
            replace(transition, source=key(transition.source), target=key(transition.target))
            for transition in child.transitions
            if transition.target != END
        ]
    return ExecutionTrace(runs, taken, dict(trace.state_of_event), transitions)


def _source_of_entry(
    previous: int,
    execution_started: set[int],
    exited_events: Mapping[int, str],
    state_of_event: Mapping[int, str],
    open_containers: list[str],
) -> str | None:
    """Which state handed over to the one being entered: START, the state that exited, or the enclosing container."""
    if previous in exited_events:
        return exited_events[previous]
    if previous in execution_started:
        return START
    return state_of_event.get(previous) if state_of_event.get(previous) in open_containers else None


def _owner(
    event_type: str,
    previous: int,
    state_of_event: Mapping[int, str],
    open_containers: list[str],
    last_entered: str | None,
) -> str | None:
    """The state an event belongs to; a container's own events go to the innermost open container of that type."""
    for container_type in CONTAINER_TYPES:
        if event_type.startswith(container_type) and open_containers:
            return open_containers[-1]
    return state_of_event.get(previous, last_entered)


def _count_attempt(run: StateRun, event_type: str, event: Mapping[str, Any]) -> None:
    if event_type in ATTEMPT_EVENTS:
        run.attempts += 1
        if run.failure_pending:
            run.retries += 1
        run.failure_pending = False
    elif event_type.endswith(FAILURE_SUFFIXES):
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
        run.failures += 1
        run.failure_pending = True
        run.error = details.get("error", event_type)
        run.error_name = details.get("error")
        run.cause = details.get("cause")
    elif event_type.endswith("Succeeded"):
        run.failure_pending = False


def _status(run: StateRun, execution_status: str) -> StateStatus:
    if run.entries == 0:
        return StateStatus.NOT_RUN
    if run.exited:
        if run.failure_pending:
            return StateStatus.CAUGHT
        return StateStatus.RETRIED if run.retries else StateStatus.SUCCEEDED
    if execution_status == "RUNNING":
        return StateStatus.RUNNING
    return StateStatus.ABORTED if execution_status == "ABORTED" and not run.failure_pending else StateStatus.FAILED
