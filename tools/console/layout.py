"""The state graph laid out top to bottom by ELK's layered algorithm (elkjs), run by node on the server.

Python measures every box and label (``tools.console.text_metrics``) and builds ELK's JSON graph: each flow is a
graph of its own, and a Parallel or Map state is a node holding one child graph per branch (a task that runs a child
state machine holds that machine's flow the same way). Ports pin where edges
meet a state, so the normal flow runs down one straight column. ``elk/layout.mjs`` runs ELK on that graph; ELK
places the states, gives every edge label a place of its own in the layering, and routes the edges orthogonally
around states and labels. docs/decisions.md ("The console's graph is laid out by ELK") says why ELK and not the
hand-written layout this replaced. ``make install`` installs elkjs (``npm ci`` in ``elk/``).
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.console.graph import END, START, Edge, EdgeKind, StateGraph
from tools.console.text_metrics import text_width, wrap

ELK_DIR = Path(__file__).resolve().parent / "elk"
ELK_TIMEOUT_SECONDS = 30

NAME_SIZE, KIND_SIZE, BADGE_SIZE, LABEL_SIZE = 13.0, 10.5, 10.5, 10.0
"""Font sizes in px: a state's name (bold), its kind line, its status badge (bold), and edge labels."""
TEXT_INSET = 12.0
"""Between a state's border and its text, on both sides."""
BADGE_GAP = 10.0
WIDEST_BADGE = "● running ↻99"
"""The widest status badge render.py writes: every box leaves it room, so one layout holds for every execution."""
NODE_HEIGHT = 42.0
PSEUDO_WIDTH, PSEUDO_HEIGHT = 64.0, 26.0
CONTAINER_HEADER, CONTAINER_PADDING, BRANCH_PADDING = 34.0, 14.0, 8.0
CATCH_OFFSET = 24.0
"""How far right of a state's middle its Catch edges leave (and, beside a Next, arrive)."""
CONTAINER_PORT_BOX = (400.0, 100.0)
"""The box a container's ports are placed on before ELK sizes it: wide, so that its Catch edges leave close beside
the middle of a box that ends up hundreds of px wide, as they do from a state."""
LABEL_MAX_WIDTH = 110.0
"""Longer labels wrap between words, so a Choice rule's condition takes two short lines, not one wide one: with the
child machine drawn inside its task, the picture stays under 1,400 px wide."""
CATCHER_LINE_MAX_WIDTH = 140.0
"""A label of several Catchers (one edge, one line each) wraps a Catcher only past this, so that each reads as one
line of a list: ``Timeout, HeartbeatTimeout`` stays whole."""
LABEL_LINE_HEIGHT = 12.0
LABEL_PADDING = 3.0
"""Between a label's text and the edge of its white background, the box ELK keeps every edge out of."""

FLOW_OPTIONS = {
    "elk.algorithm": "layered",
    "elk.direction": "DOWN",
    "elk.edgeRouting": "ORTHOGONAL",
    "elk.edgeLabels.placement": "CENTER",
    "elk.layered.layering.strategy": "LONGEST_PATH_SOURCE",
    "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
    "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
    "elk.separateConnectedComponents": "false",
    "elk.spacing.nodeNode": 22,
    "elk.layered.spacing.nodeNodeBetweenLayers": 28,
    "elk.spacing.edgeNode": 14,
    "elk.layered.spacing.edgeNodeBetweenLayers": 10,
    "elk.spacing.edgeEdge": 9,
    "elk.layered.spacing.edgeEdgeBetweenLayers": 8,
    "elk.spacing.edgeLabel": 4,
}
"""Every flow: top to bottom, each state one rank below the longest path to it (as a reader follows the flow), ties
broken by definition order, network simplex placement (it weighs how straight each edge runs), and one component
(a container's branches, which no edge joins, stay side by side instead of being packed apart)."""
ROOT_OPTIONS = {**FLOW_OPTIONS, "elk.json.shapeCoords": "ROOT", "elk.json.edgeCoords": "ROOT", "elk.padding": "[0]"}
"""ELK answers every position relative to the whole picture, so nothing needs shifting afterwards."""
MAIN_PATH_OPTIONS = {"elk.layered.priority.straightness": 100, "elk.layered.priority.direction": 10}
"""The normal flow of a successful order is kept straight over anything else (at 10 it bends for the Catch edges),
and in a loop ELK turns another edge around, never one of these."""
FAILURE_PATH_OPTIONS = {"elk.layered.priority.straightness": 4}
"""The compensation chain's Next edges come second: the chain is a column of its own too."""


@dataclass
class Box:
    """A rectangle: top-left corner and size, in SVG user units."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass
class Label:
    """An edge's label: its lines, whole, and the background box the edges were routed around.

    ``parts`` says which part of the label each line belongs to: a Catch edge that draws several Catchers has one part
    per Catcher (its place among ``Edge.rules``), each on lines of its own.
    """

    lines: list[str]
    box: Box
    parts: list[int] = field(default_factory=list)


@dataclass
class Route:
    """An edge as a polyline of horizontal and vertical segments, from its source's border to its target's."""

    edge: Edge
    points: list[tuple[float, float]]
    label: Label | None = None


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[str, Box] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    """One per edge of the graph, in the graph's order."""
    dividers: list[tuple[float, float, float]] = field(default_factory=list)
    """Vertical lines between the branches of a container: (x, top, bottom)."""
    branches: dict[str, Box] = field(default_factory=dict)
    """The area of each branch, by scope id, so a branch that failed can be tinted as a whole."""


def layout_graph(graph: StateGraph) -> Layout:
    """Place every state and label and route every edge of ``graph``, with ELK.

    Parameters
    ----------
    graph:
        From ``workflow_graph``.

    Returns
    -------
    Layout
        Boxes by state name (containers hold their branches' boxes), one route per edge with its label's box,
        the branches' areas and the dividers between them.

    Raises
    ------
    RuntimeError
        When node or elkjs is missing (``make install`` installs elkjs), or ELK fails.

    Example
    -------
    >>> from tools.console.graph import workflow_graph
    >>> asl = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
    >>> layout = layout_graph(workflow_graph(asl))
    >>> layout.boxes["A"].y < layout.boxes["B"].y
    True
    """
    return read_layout(graph, run_elk(elk_graph(graph)))


def node_size(graph: StateGraph, name: str) -> tuple[float, float]:
    """Room for the name on one line, and for the kind line beside the widest badge; Start and End are pills.

    Example
    -------
    >>> from tools.console.graph import workflow_graph
    >>> graph = workflow_graph({"StartAt": "CheckAuthorizedAndReserved", "States": {
    ...     "CheckAuthorizedAndReserved": {"Type": "Succeed"}}})
    >>> node_size(graph, "CheckAuthorizedAndReserved")
    (215.0, 42.0)
    """
    if name in (START, END):
        return PSEUDO_WIDTH, PSEUDO_HEIGHT
    name_width = text_width(graph.nodes[name].display_name, NAME_SIZE, bold=True)
    kind_width = text_width(graph.nodes[name].kind_text, KIND_SIZE) + BADGE_GAP + _badge_room()
    return float(math.ceil(max(name_width, kind_width) + 2 * TEXT_INSET)), NODE_HEIGHT


def container_kind_text(graph: StateGraph, name: str) -> str:
    """The right side of a container's header, before its badge: its branches, or the machine a task runs.

    Example
    -------
    >>> from tools.console.graph import workflow_graph
    >>> branch = {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}
    >>> parallel = {"Type": "Parallel", "Branches": [branch], "End": True}
    >>> graph = workflow_graph({"StartAt": "P", "States": {"P": parallel}})
    >>> container_kind_text(graph, "P")
    'Parallel · 1 branch'
    """
    node = graph.nodes[name]
    if node.runs:
        return f"{node.type} · runs {node.runs}"
    branches = len(graph.branches_of(name))
    return f"{node.type} · {branches} branch{'es' if branches != 1 else ''}"


def label_lines(label: str) -> list[str]:
    """An edge label as the lines drawn: each part (``Edge.label`` puts one Catcher on each line) wrapped between
    words, measured bold (a taken edge's label is bold).

    Example
    -------
    >>> label_lines("OrderCancelledError\\nTimeout, HeartbeatTimeout")
    ['OrderCancelledError', 'Timeout, HeartbeatTimeout']
    >>> label_lines("preparationFailure.Error = OutOfStockError")
    ['preparationFailure.Error', '= OutOfStockError']
    """
    return [line for part in label_part_lines(label) for line in part]


def label_part_lines(label: str) -> list[list[str]]:
    """The lines of each part of an edge label, in order."""
    parts = label.split("\n")
    width = LABEL_MAX_WIDTH if len(parts) == 1 else CATCHER_LINE_MAX_WIDTH
    return [wrap(part, LABEL_SIZE, width, bold=True) for part in parts]


def _badge_room() -> float:
    return text_width(WIDEST_BADGE, BADGE_SIZE, bold=True)


def _label_size(lines: list[str]) -> tuple[float, float]:
    width = max(text_width(line, LABEL_SIZE, bold=True) for line in lines)
    return float(math.ceil(width + 2 * LABEL_PADDING)), len(lines) * LABEL_LINE_HEIGHT + 2 * LABEL_PADDING


def _header_width(graph: StateGraph, name: str) -> float:
    """A container's header: its name on the left, its kind line with the badge on the right."""
    name_width = text_width(graph.nodes[name].display_name, NAME_SIZE, bold=True)
    kind_width = text_width(container_kind_text(graph, name) + "  ", KIND_SIZE) + _badge_room()
    return name_width + BADGE_GAP + kind_width + 2 * TEXT_INSET


def elk_graph(graph: StateGraph) -> dict[str, Any]:
    """The ELK JSON graph of ``graph``: sizes measured, ports placed, edges ``e<index>`` in ``graph.edges`` order.

    Example
    -------
    >>> from tools.console.graph import workflow_graph
    >>> elk = elk_graph(workflow_graph({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    >>> [child["id"] for child in elk["children"]], [edge["sources"] + edge["targets"] for edge in elk["edges"]]
    (['__start__', 'A', '__end__'], [['__start__.out', 'A.in'], ['A.out', '__end__.in']])
    """
    ports = _Ports(graph)
    edges_by_scope: dict[str, list[dict[str, Any]]] = {}
    for index, edge in sorted(enumerate(graph.edges), key=lambda pair: not _on_main_path(pair[1])):
        edges_by_scope.setdefault(graph.nodes[edge.source].scope, []).append(_elk_edge(index, edge, ports))

    def flow(scope_id: str) -> list[dict[str, Any]]:
        names = list(graph.scopes[scope_id].states)
        return [elk_node(name) for name in ([START, *names, END] if scope_id == "" else names)]

    def elk_node(name: str) -> dict[str, Any]:
        if not graph.is_container(name):
            width, height = node_size(graph, name)
            options = {"elk.portConstraints": "FIXED_POS"}
            return {
                "id": name,
                "width": width,
                "height": height,
                "ports": ports.of(name, width, height),
                "layoutOptions": options,
            }
        branches = [
            {
                "id": branch.id,
                "layoutOptions": {**FLOW_OPTIONS, "elk.padding": f"[{BRANCH_PADDING}]"},
                "children": flow(branch.id),
                "edges": edges_by_scope.get(branch.id, []),
            }
            for branch in graph.branches_of(name)
        ]
        padding = CONTAINER_PADDING
        options = {
            **FLOW_OPTIONS,
            "elk.padding": f"[top={CONTAINER_HEADER},left={padding},bottom={padding},right={padding}]",
            "elk.nodeSize.constraints": "MINIMUM_SIZE",
            "elk.nodeSize.minimum": f"({_header_width(graph, name):.0f},0)",
            "elk.contentAlignment": "H_CENTER V_TOP",
            "elk.portConstraints": "FIXED_RATIO",
        }
        # Its size comes from its branches; ports placed on a CONTAINER_PORT_BOX keep their ratio as ELK sizes it.
        width, height = CONTAINER_PORT_BOX
        box = {"width": width, "height": height, "ports": ports.of(name, width, height)}
        return {"id": name, "layoutOptions": options, **box, "children": branches}

    return {"id": "root", "layoutOptions": ROOT_OPTIONS, "children": flow(""), "edges": edges_by_scope.get("", [])}


class _Ports:
    """Where edges meet a state, so that the normal flow runs down one straight column.

    The normal flow (Next, Default) leaves from the middle of a state's bottom and enters the middle of the next
    state's top, where every other edge arrives too. Choice rules leave from the bottom's right half; a Catch leaves
    ``CATCH_OFFSET`` right of the middle and, where the target also has normal arrivals, enters as far right of its
    middle, so a Next and a Catch between the same two states run as two parallel lines.
    """

    def __init__(self, graph: StateGraph):
        self.rules: dict[str, list[int]] = {}
        self.leaving: dict[str, set[str]] = {}
        self.arriving: dict[str, set[str]] = {}
        for index, edge in enumerate(graph.edges):
            kind = _port_kind(edge)
            self.arriving.setdefault(edge.target, set()).add("catch" if kind == "catch" else "in")
            if kind == "rule":
                self.rules.setdefault(edge.source, []).append(index)
            else:
                self.leaving.setdefault(edge.source, set()).add(kind)

    def source(self, index: int, edge: Edge) -> str:
        kind = _port_kind(edge)
        return f"{edge.source}.{kind}{index if kind == 'rule' else ''}"

    def target(self, edge: Edge) -> str:
        apart = edge.kind is EdgeKind.CATCH and self.arriving[edge.target] == {"in", "catch"}
        return f"{edge.target}.{'catch-in' if apart else 'in'}"

    def of(self, name: str, width: float, height: float) -> list[dict[str, Any]]:
        """The ports of one state, placed on a box of ``width`` by ``height``."""
        middle, catch = width / 2, min(width / 2 + CATCH_OFFSET, width)
        arriving, leaving = self.arriving.get(name, set()), self.leaving.get(name, set())
        rules = self.rules.get(name, [])
        placed = [
            *[(f"{name}.in", "NORTH", middle, 0.0)] * bool(arriving),
            *[(f"{name}.catch-in", "NORTH", catch, 0.0)] * (arriving == {"in", "catch"}),
            *[(f"{name}.out", "SOUTH", middle, height)] * ("out" in leaving),
            *[(f"{name}.catch", "SOUTH", catch, height)] * ("catch" in leaving),
            *[
                (f"{name}.rule{index}", "SOUTH", middle + (position + 1) * middle / (len(rules) + 1), height)
                for position, index in enumerate(rules)
            ],
        ]
        return [
            {"id": port, "x": x, "y": y, "width": 0, "height": 0, "layoutOptions": {"elk.port.side": side}}
            for port, side, x, y in placed
        ]


def _port_kind(edge: Edge) -> str:
    if edge.kind is EdgeKind.CATCH:
        return "catch"
    return "rule" if edge.kind is EdgeKind.CHOICE else "out"


def _elk_edge(index: int, edge: Edge, ports: _Ports) -> dict[str, Any]:
    elk: dict[str, Any] = {"id": f"e{index}", "sources": [ports.source(index, edge)], "targets": [ports.target(edge)]}
    if edge.label:
        width, height = _label_size(label_lines(edge.label))
        elk["labels"] = [{"id": f"e{index}-label", "text": edge.label, "width": width, "height": height}]
    if _on_main_path(edge):
        elk["layoutOptions"] = MAIN_PATH_OPTIONS
    elif edge.kind is EdgeKind.NEXT:
        elk["layoutOptions"] = FAILURE_PATH_OPTIONS
    return elk


def _on_main_path(edge: Edge) -> bool:
    """The normal flow, which ELK keeps straightest: not a Catch, not a Choice rule, not on the way to failure."""
    normal = {EdgeKind.START, EdgeKind.NEXT, EdgeKind.DEFAULT, EdgeKind.END}
    return edge.kind in normal and not edge.failure_path


def run_elk(elk: dict[str, Any]) -> dict[str, Any]:
    """ELK's answer for ``elk``, from one node process: nothing is fetched, elkjs comes from ``elk/node_modules``."""
    node = shutil.which("node")
    if node is None or not (ELK_DIR / "node_modules" / "elkjs").is_dir():
        raise RuntimeError(
            "the console's graph layout needs node and elkjs: run `make install` (npm ci in tools/console/elk)"
        )
    try:
        answer = subprocess.run(
            [node, "layout.mjs"],
            input=json.dumps(elk),
            capture_output=True,
            text=True,
            cwd=ELK_DIR,
            timeout=ELK_TIMEOUT_SECONDS,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"ELK failed to lay out the graph: {error.stderr.strip()}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ELK took more than {ELK_TIMEOUT_SECONDS} s to lay out the graph") from None
    return json.loads(answer.stdout)


def read_layout(graph: StateGraph, laid_out: dict[str, Any]) -> Layout:
    """Boxes, routes and labels out of ELK's answer, whose coordinates are all absolute (``ROOT_OPTIONS``)."""
    layout = Layout(float(laid_out["width"]), float(laid_out["height"]))
    nodes, edges = list(laid_out["children"]), list(laid_out["edges"])
    while nodes:
        node = nodes.pop()
        box = Box(float(node["x"]), float(node["y"]), float(node["width"]), float(node["height"]))
        (layout.branches if node["id"] in graph.scopes else layout.boxes)[node["id"]] = box
        nodes += node.get("children", [])
        edges += node.get("edges", [])
    routes = {int(edge["id"].removeprefix("e")): _route(graph.edges, edge) for edge in edges}
    layout.routes = [routes[index] for index in sorted(routes)]
    for container in filter(graph.is_container, graph.nodes):
        _even_branches(layout, [branch.id for branch in graph.branches_of(container)])
    return layout


def _route(edges: list[Edge], elk: dict[str, Any]) -> Route:
    edge = edges[int(elk["id"].removeprefix("e"))]
    (section,) = elk["sections"]
    points = [section["startPoint"], *section.get("bendPoints", []), section["endPoint"]]
    label = None
    if elk.get("labels"):
        (placed,) = elk["labels"]
        box = Box(float(placed["x"]), float(placed["y"]), float(placed["width"]), float(placed["height"]))
        parts = label_part_lines(edge.label)
        label = Label(label_lines(edge.label), box, [index for index, lines in enumerate(parts) for _ in lines])
    return Route(edge, [(float(point["x"]), float(point["y"])) for point in points], label)


def _even_branches(layout: Layout, scopes: list[str]) -> None:
    """Branches of one container get one height, and a divider runs down the middle of each gap between two."""
    areas = [layout.branches[scope] for scope in scopes]
    bottom = max(area.bottom for area in areas)
    for area in areas:
        area.height = bottom - area.y
    for left, right in itertools.pairwise(areas):
        layout.dividers.append(((left.right + right.x) / 2, min(left.y, right.y), bottom))
