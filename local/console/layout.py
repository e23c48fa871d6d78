"""A layered (Sugiyama-style) layout of the state graph, top to bottom, computed on the server.

Each flow (the top level, each branch of a Parallel) is laid out on its own; a Parallel state is a box holding its
branches side by side, placed in its parent flow like any other state. Within a flow: break cycles, rank states by
their longest path from the start, put dummy points on edges that skip ranks, order each rank by barycenters to
cut crossings, then place each rank with a weighted isotonic regression so long edges run straight.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from local.console.graph import CONTAINER_TYPES, END, START, Edge, EdgeKind, StateGraph

NODE_HEIGHT = 42.0
PSEUDO_WIDTH, PSEUDO_HEIGHT = 64.0, 26.0
RANK_GAP = 48.0
NODE_GAP = 26.0
DUMMY_WIDTH = 10.0
CHAR_WIDTH = 7.4
"""About the advance of a 13px sans-serif character; the layout never measures text, so it errs wide."""
SMALL_CHAR_WIDTH = 6.0
BADGE_WIDTH = 92.0
MIN_NODE_WIDTH = 120.0
CONTAINER_HEADER, CONTAINER_PADDING, BRANCH_GAP = 34.0, 16.0, 26.0
MAIN_PATH_WEIGHT = 8.0
"""How much harder the normal flow pulls on its states than Catch and failure edges: it keeps the main path straight."""
MAX_SPREAD_EDGES = 3
SPINE_WEIGHT = 1e6
"""Far above any pull of neighbours: the main path is a column, never pooled aside by crowded ranks."""
ORDERING_SWEEPS = 16
PLACEMENT_SWEEPS = 24


@dataclass
class Box:
    """A state's rectangle: top-left corner and size, in SVG user units."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def moved(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.width, self.height)


@dataclass
class Route:
    edge: Edge
    points: list[tuple[float, float]]


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[str, Box] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    dividers: list[tuple[float, float, float]] = field(default_factory=list)
    """Vertical lines between the branches of a container: (x, top, bottom)."""
    branches: dict[str, Box] = field(default_factory=dict)
    """The area of each branch, by scope id, so a branch that failed can be tinted as a whole."""

    def moved(self, dx: float, dy: float) -> Layout:
        return Layout(
            self.width,
            self.height,
            {name: box.moved(dx, dy) for name, box in self.boxes.items()},
            [Route(route.edge, [(x + dx, y + dy) for x, y in route.points]) for route in self.routes],
            [(x + dx, top + dy, bottom + dy) for x, top, bottom in self.dividers],
            {scope: box.moved(dx, dy) for scope, box in self.branches.items()},
        )


def layout_graph(graph: StateGraph) -> Layout:
    """Place every state and route every edge of ``graph``.

    Parameters
    ----------
    graph:
        From ``workflow_graph``.

    Returns
    -------
    Layout
        Boxes by state name (containers hold their branches' boxes), one route per edge as a polyline whose
        consecutive points a renderer joins with vertical-tangent curves, and the dividers between branches.

    Example
    -------
    >>> from local.console.graph import workflow_graph
    >>> asl = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
    >>> layout = layout_graph(workflow_graph(asl))
    >>> layout.boxes["A"].y < layout.boxes["B"].y
    True
    """
    return _layout_scope(graph, "")


def node_width(name: str, kind_text: str = "") -> float:
    """Wide enough for the name, and for the kind line beside the status badge."""
    return max(MIN_NODE_WIDTH, len(name) * CHAR_WIDTH + 28, len(kind_text) * SMALL_CHAR_WIDTH + BADGE_WIDTH)


def _layout_scope(graph: StateGraph, scope_id: str) -> Layout:
    scope = graph.scopes[scope_id]
    names = list(scope.states) + ([START, END] if scope_id == "" else [])
    inner = {name: _layout_container(graph, name) for name in scope.states if graph.nodes[name].type in CONTAINER_TYPES}
    sizes = {name: _size(graph, name, inner) for name in names}
    edges = [edge for edge in graph.edges if edge.source in sizes and edge.target in sizes]
    ranked = _Layering(names, edges, [START] if scope_id == "" else [scope.start], sizes)
    layout = ranked.place()
    for name, container in inner.items():
        box = layout.boxes[name]
        placed = container.moved(box.x, box.y)
        layout.boxes.update(placed.boxes)
        layout.routes += placed.routes
        layout.dividers += placed.dividers
        layout.branches.update(placed.branches)
    return layout


def _size(graph: StateGraph, name: str, inner: Mapping[str, Layout]) -> tuple[float, float]:
    if name in (START, END):
        return PSEUDO_WIDTH, PSEUDO_HEIGHT
    if name in inner:
        return inner[name].width, inner[name].height
    return node_width(name, graph.nodes[name].kind_text), NODE_HEIGHT


def _layout_container(graph: StateGraph, name: str) -> Layout:
    """Branches side by side under a header, with a divider between each two."""
    scopes = graph.branches_of(name)
    branches = [_layout_scope(graph, scope.id) for scope in scopes]
    inner_height = max(branch.height for branch in branches)
    height = CONTAINER_HEADER + inner_height + CONTAINER_PADDING
    combined = Layout(0, height)
    x = CONTAINER_PADDING
    for index, (scope, branch) in enumerate(zip(scopes, branches, strict=True)):
        if index:
            combined.dividers.append((x - BRANCH_GAP / 2, CONTAINER_HEADER, height - CONTAINER_PADDING / 2))
        placed = branch.moved(x, CONTAINER_HEADER)
        combined.boxes.update(placed.boxes)
        combined.routes += placed.routes
        combined.dividers += placed.dividers
        combined.branches.update(placed.branches)
        pad = BRANCH_GAP / 2 - 3
        combined.branches[scope.id] = Box(x - pad, CONTAINER_HEADER - 4, branch.width + 2 * pad, inner_height + 8)
        x += branch.width + BRANCH_GAP
    combined.width = max(x - BRANCH_GAP + CONTAINER_PADDING, node_width(name) + 2 * CONTAINER_PADDING)
    return combined


def _traversal_priority(edge: Edge) -> int:
    """The normal flow first, then Choice rules, then Catch: the main path ends up on the left, failures right."""
    if edge.kind is EdgeKind.CATCH:
        return 2
    return 1 if edge.kind is EdgeKind.CHOICE or edge.failure_path else 0


class _Layering:
    """One flow's layered layout; dummy nodes are ``("dummy", edge index, step)`` tuples."""

    def __init__(
        self,
        names: list[str],
        edges: list[Edge],
        roots: list[str],
        sizes: Mapping[str, tuple[float, float]],
    ):
        self.names, self.edges, self.roots = names, edges, roots
        self.sizes: dict[object, tuple[float, float]] = dict(sizes)
        self.forward = self._acyclic_edges()
        self.segment_weight: dict[tuple[object, object], float] = {}
        self.rank = self._ranks()
        self.chains = self._chains()
        self.spine = self._main_path()
        self.layers = self._initial_order()

    def _acyclic_edges(self) -> list[tuple[str, str]]:
        """Each edge as (upper, lower): edges closing a loop are turned around so the ranks are well defined."""
        successors: dict[str, list[str]] = {name: [] for name in self.names}
        for edge in self.edges:
            successors[edge.source].append(edge.target)
        state: dict[str, str] = {}
        back: set[tuple[str, str]] = set()

        def visit(name: str) -> None:
            state[name] = "open"
            for following in successors[name]:
                if state.get(following) == "open":
                    back.add((name, following))
                elif following not in state:
                    visit(following)
            state[name] = "done"

        for name in self.roots + self.names:
            if name not in state:
                visit(name)
        return [
            (edge.target, edge.source) if (edge.source, edge.target) in back else (edge.source, edge.target)
            for edge in self.edges
        ]

    def _ranks(self) -> dict[str, int]:
        rank = dict.fromkeys(self.names, 0)
        for _ in self.names:
            changed = False
            for upper, lower in self.forward:
                if upper != lower and rank[lower] < rank[upper] + 1:
                    rank[lower] = rank[upper] + 1
                    changed = True
            if not changed:
                break
        return rank

    def _chains(self) -> list[list[object]]:
        """Per edge, the nodes it passes through from upper to lower, one per rank."""
        chains = []
        for index, (edge, (upper, lower)) in enumerate(zip(self.edges, self.forward, strict=True)):
            dummies = [("dummy", index, step) for step in range(self.rank[upper] + 1, self.rank[lower])]
            for dummy in dummies:
                self.sizes[dummy] = (DUMMY_WIDTH, 0.0)
                self.rank[dummy] = dummy[2]
            chain = [upper, *dummies, lower] if upper != lower else [upper]
            importance = 1.0 if edge.kind is EdgeKind.CATCH or edge.failure_path else MAIN_PATH_WEIGHT
            for a, b in itertools.pairwise(chain):
                straightness = (1.0, 2.0, 4.0)[isinstance(a, tuple) + isinstance(b, tuple)]
                self.segment_weight[(a, b)] = self.segment_weight[(b, a)] = importance * straightness
            chains.append(chain)
        return chains

    def _main_path(self) -> set[object]:
        """The normal flow from the first root: drawn as one straight column on the left, everything else right."""
        path: list[str] = []
        current = self.roots[0] if self.roots else None
        while current is not None and current not in path:
            path.append(current)
            following = [
                edge.target
                for edge in sorted(self.edges, key=_traversal_priority)
                if edge.source == current and _traversal_priority(edge) == 0 and edge.target not in path
            ]
            current = following[0] if following else None
        return set(path)

    def _initial_order(self) -> list[list[object]]:
        """Breadth-first from the roots, following edges in definition order: the main path tends to the left."""
        below: dict[object, list[object]] = {}
        by_priority = sorted(zip(self.edges, self.chains, strict=True), key=lambda pair: _traversal_priority(pair[0]))
        for _, chain in by_priority:
            for upper, lower in itertools.pairwise(chain):
                below.setdefault(upper, []).append(lower)
        seen: list[object] = []
        queue = [root for root in self.roots if root in self.rank]
        queue += [name for name in self.names if name not in queue]
        while queue:
            node = queue.pop(0)
            if node in seen:
                continue
            seen.append(node)
            queue[0:0] = [child for child in below.get(node, []) if child not in seen]
        layers: list[list[object]] = [[] for _ in range(max(self.rank.values()) + 1)]
        for node in sorted(seen, key=lambda node: node not in self.spine):
            layers[self.rank[node]].append(node)
        return layers

    def _neighbours(self) -> tuple[dict[object, list[object]], dict[object, list[object]]]:
        above: dict[object, list[object]] = {}
        below: dict[object, list[object]] = {}
        for chain in self.chains:
            for upper, lower in itertools.pairwise(chain):
                below.setdefault(upper, []).append(lower)
                above.setdefault(lower, []).append(upper)
        return above, below

    def _reduce_crossings(self) -> None:
        above, below = self._neighbours()
        best, best_crossings = [list(layer) for layer in self.layers], self._crossings(below)
        for sweep in range(ORDERING_SWEEPS):
            downward = sweep % 2 == 0
            indices = range(1, len(self.layers)) if downward else range(len(self.layers) - 2, -1, -1)
            for index in indices:
                reference = self.layers[index - 1] if downward else self.layers[index + 1]
                position = {node: i for i, node in enumerate(reference)}
                neighbours = above if downward else below
                layer = self.layers[index]
                keys = {}
                for current, node in enumerate(layer):
                    linked = [position[n] for n in neighbours.get(node, []) if n in position]
                    keys[node] = sum(linked) / len(linked) if linked else float(current)
                layer.sort(key=lambda node, keys=keys: (node not in self.spine, keys[node]))
            crossings = self._crossings(below)
            if crossings < best_crossings:
                best, best_crossings = [list(layer) for layer in self.layers], crossings
        self.layers = best

    def _crossings(self, below: Mapping[object, list[object]]) -> int:
        total = 0
        for upper_layer, lower_layer in zip(self.layers, self.layers[1:], strict=False):
            position = {node: i for i, node in enumerate(lower_layer)}
            pairs = [
                (i, position[child])
                for i, node in enumerate(upper_layer)
                for child in below.get(node, [])
                if child in position
            ]
            total += sum(1 for a in pairs for b in pairs if a[0] < b[0] and a[1] > b[1])
        return total

    def _weight(self, a: object, b: object) -> float:
        return self.segment_weight.get((a, b), 1.0)

    def _assign_x(self) -> dict[object, float]:
        """Centers per node: each sweep pulls a rank toward its neighbours, then enforces the gaps exactly."""
        above, below = self._neighbours()
        center: dict[object, float] = {}
        for layer in self.layers:
            x = 0.0
            for node in layer:
                width = self.sizes[node][0]
                center[node] = x + width / 2
                x += width + self._gap(node)
        for sweep in range(PLACEMENT_SWEEPS):
            neighbours = (above, below, None)[sweep % 3]
            for layer in self.layers if sweep % 3 != 1 else reversed(self.layers):
                targets, weights = [], []
                for node in layer:
                    linked = (
                        neighbours.get(node, [])
                        if neighbours is not None
                        else above.get(node, []) + below.get(node, [])
                    )
                    if linked:
                        pulls = [(center[n], self._weight(node, n)) for n in linked]
                        weight = sum(w for _, w in pulls)
                        targets.append(sum(c * w for c, w in pulls) / weight)
                        weights.append(weight)
                    else:
                        targets.append(center[node])
                        weights.append(0.5)
                    if node in self.spine:
                        targets[-1], weights[-1] = 0.0, weights[-1] + SPINE_WEIGHT
                for node, x in zip(layer, self._separate(layer, targets, weights), strict=True):
                    center[node] = x
        return center

    def _gap(self, node: object) -> float:
        return NODE_GAP / 2 if isinstance(node, tuple) else NODE_GAP

    def _separate(self, layer: list[object], targets: list[float], weights: list[float]) -> list[float]:
        """Closest centers to ``targets`` (weighted least squares) that keep the order and the gaps: PAV."""
        offsets, offset = [], 0.0
        for index, node in enumerate(layer):
            if index:
                previous = layer[index - 1]
                gap = max(self._gap(previous), self._gap(node))
                offset += self.sizes[previous][0] / 2 + gap + self.sizes[node][0] / 2
            offsets.append(offset)
        blocks: list[list[float]] = []
        for target, weight, offset in zip(targets, weights, offsets, strict=True):
            blocks.append([(target - offset) * weight, weight, 1])
            while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
                total, weight_sum, count = blocks.pop()
                blocks[-1][0] += total
                blocks[-1][1] += weight_sum
                blocks[-1][2] += count
        shifted = [block[0] / block[1] for block in blocks for _ in range(int(block[2]))]
        return [value + offset for value, offset in zip(shifted, offsets, strict=True)]

    def place(self) -> Layout:
        self._reduce_crossings()
        center = self._assign_x()
        left = min(center[node] - self.sizes[node][0] / 2 for layer in self.layers for node in layer)
        right = max(center[node] + self.sizes[node][0] / 2 for layer in self.layers for node in layer)
        tops, y = [], 0.0
        for layer in self.layers:
            tops.append(y)
            y += max((self.sizes[node][1] for node in layer), default=0.0) + RANK_GAP
        row_height = [max((self.sizes[node][1] for node in layer), default=0.0) for layer in self.layers]
        layout = Layout(right - left, y - RANK_GAP)
        for layer, top, height in zip(self.layers, tops, row_height, strict=True):
            for node in layer:
                if isinstance(node, str):
                    width, node_height = self.sizes[node]
                    box_top = top + (height - node_height) / 2
                    layout.boxes[node] = Box(center[node] - width / 2 - left, box_top, width, node_height)
        for edge, chain, (upper, _) in zip(self.edges, self.chains, self.forward, strict=True):
            if len(chain) == 1:
                continue
            points = self._route(chain, layout, center, left, tops, row_height)
            layout.routes.append(Route(edge, points if upper == edge.source else points[::-1]))
        self._spread_ports(layout)
        return layout

    def _route(
        self,
        chain: list[object],
        layout: Layout,
        center: Mapping[object, float],
        left: float,
        tops: list[float],
        row_height: list[float],
    ) -> list[tuple[float, float]]:
        upper, lower = layout.boxes[chain[0]], layout.boxes[chain[-1]]
        points = [(upper.center_x, upper.bottom)]
        for dummy in chain[1:-1]:
            rank = self.rank[dummy]
            points += [(center[dummy] - left, tops[rank]), (center[dummy] - left, tops[rank] + row_height[rank])]
        points.append((lower.center_x, lower.y))
        return points

    def _spread_ports(self, layout: Layout) -> None:
        """Edges leaving (or entering) the same side of a box start (or end) apart, ordered by where they head.

        Past ``MAX_SPREAD_EDGES`` entering edges merge into one arrow instead: a funnel reads as "all of these lead
        here", where a comb of arrowheads reads as noise.
        """
        leaving: dict[tuple[float, float], list[Route]] = {}
        entering: dict[tuple[float, float], list[Route]] = {}
        for route in layout.routes:
            leaving.setdefault(route.points[0], []).append(route)
            entering.setdefault(route.points[-1], []).append(route)
        for ends, index, neighbour in ((leaving, 0, 1), (entering, -1, -2)):
            for (x, y), routes in ends.items():
                if len(routes) < 2 or (index == -1 and len(routes) > MAX_SPREAD_EDGES):
                    continue
                box = next(b for b in layout.boxes.values() if abs(b.center_x - x) < 0.01 and y in (b.y, b.bottom))
                span = min(box.width * 0.6, 18.0 * (len(routes) - 1))
                routes.sort(key=lambda r, n=neighbour: r.points[n][0])
                for position, route in enumerate(routes):
                    shift = -span / 2 + span * position / (len(routes) - 1)
                    route.points[index] = (x + shift, y)
