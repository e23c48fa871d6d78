"""The laid-out graph as one self-contained SVG, each state colored by its outcome in an execution.

The SVG carries its own styles, so the same picture shows in the console, in a screenshot, or opened on its own.
Each state is a ``<g data-state="Name">`` the console's script makes clickable; a child machine's states, drawn inside
the task that runs them, are ``<g data-state="Task/Name" data-execution="Task">``, colored by the child execution.
Each edge is a ``<path class="edge choice taken" data-source="A" data-target="B" data-rules="1">``: ``data-rules`` are
the places of the Choice rule or the Catchers it draws in the source's ASL.
"""

from __future__ import annotations

import itertools
from html import escape

from tools.console.graph import (
    CONTAINER_TYPES,
    END,
    START,
    Edge,
    EdgeKind,
    ExecutionTrace,
    Node,
    StateGraph,
    StateStatus,
)
from tools.console.layout import (
    CONTAINER_HEADER,
    LABEL_LINE_HEIGHT,
    LABEL_PADDING,
    LABEL_SIZE,
    TEXT_INSET,
    Box,
    Label,
    Layout,
    Route,
    container_kind_text,
)
from tools.console.paths import PathTaken, path_taken
from tools.console.text_metrics import FONT_FAMILY, text_width

MARGIN = 24.0
REGION_PADDING = 12.0
REGION_TITLE, REGION_TITLE_SIZE, REGION_TITLE_SPACING = "COMPENSATION", 10.5, 0.84
"""The compensation areas' title: its size and letter spacing (0.08 em) in px, as the style sets them."""
CORNER_RADIUS = 6.0
"""Edges turn with a small round corner: an orthogonal route reads as one line, not as a staircase."""
LABEL_BASELINE = LABEL_PADDING + (LABEL_LINE_HEIGHT + 0.905 * LABEL_SIZE - 0.212 * LABEL_SIZE) / 2
"""The first line's baseline below a label box's top: each line centred in its height (the fonts' ascent is 0.905
em, their descent 0.212 em)."""

STATUS_TEXT = {
    StateStatus.NOT_RUN: "",
    StateStatus.RUNNING: "● running",
    StateStatus.SUCCEEDED: "✓",
    StateStatus.FAILED: "✕ failed",
    StateStatus.CAUGHT: "⚠ caught",
    StateStatus.RETRIED: "↻ retried",
    StateStatus.ABORTED: "■ aborted",
}

STYLE = (
    f"\n.graph {{ font-family: {FONT_FAMILY}; font-kerning: none; }}"
    + """
.state rect { fill: #f8fafc; stroke: #cbd5e1; stroke-width: 1.2; }
.state .name { font-size: 13px; font-weight: 700; fill: #94a3b8; }
.state .kind { font-size: 10.5px; fill: #94a3b8; }
.state .badge { font-size: 10.5px; font-weight: 700; }
.state { cursor: pointer; }
.state:hover rect { stroke-width: 2.4; }
.state.selected rect { stroke: #0f172a; stroke-width: 3; }
.state.compensation rect { stroke-dasharray: 5 3; }
.state.succeeded rect { fill: #dcfce7; stroke: #16a34a; }
.state.succeeded .name { fill: #14532d; } .state.succeeded .kind { fill: #166534; }
.state.succeeded .badge { fill: #16a34a; }
.state.running rect { fill: #dbeafe; stroke: #2563eb; stroke-width: 2.4; animation: pulse 1.2s ease-in-out infinite; }
.state.running .name { fill: #1e3a8a; } .state.running .kind, .state.running .badge { fill: #1d4ed8; }
.state.failed rect { fill: #fee2e2; stroke: #dc2626; stroke-width: 3; }
.state.failed .name { fill: #7f1d1d; } .state.failed .kind, .state.failed .badge { fill: #b91c1c; }
.state.caught rect { fill: #ffedd5; stroke: #ea580c; stroke-width: 2.6; }
.state.caught .name { fill: #7c2d12; } .state.caught .kind, .state.caught .badge { fill: #c2410c; }
.state.retried rect { fill: #fef9c3; stroke: #ca8a04; stroke-width: 2.4; }
.state.retried .name { fill: #713f12; } .state.retried .kind, .state.retried .badge { fill: #a16207; }
.state.aborted rect { fill: #e5e7eb; stroke: #4b5563; stroke-width: 2.4; }
.state.aborted .name { fill: #1f2937; } .state.aborted .kind, .state.aborted .badge { fill: #374151; }
.container > rect { fill: #ffffff; fill-opacity: 0.6; }
.container.not-run > rect { fill: #f8fafc; }
.child-execution > rect { stroke-width: 2.4; }
.pseudo rect { fill: #e2e8f0; stroke: #94a3b8; }
.pseudo text { font-size: 11px; font-weight: 700; fill: #475569; }
.pseudo.succeeded rect { fill: #16a34a; stroke: #15803d; } .pseudo.succeeded text { fill: #fff; }
.divider { stroke: #cbd5e1; stroke-dasharray: 4 4; }
.failed-branch rect { fill: #fff7ed; stroke: #fb923c; stroke-width: 1.5; stroke-dasharray: 6 3; }
.compensation-region rect { fill: #fef2f2; fill-opacity: 0.7; stroke: #fecaca; }
.compensation-region text { font-size: 10.5px; font-weight: 700; fill: #ef4444; letter-spacing: .08em; }
.edge { fill: none; stroke: #cbd5e1; stroke-width: 1.3; }
.edge.catch { stroke: #fdba74; stroke-dasharray: 6 4; }
.edge.failure-path { stroke: #fca5a5; }
.edge.taken { stroke: #334155; stroke-width: 2.4; }
.edge.catch.taken { stroke: #ea580c; }
.edge.failure-path.taken { stroke: #dc2626; }
.edge.possible { stroke: #334155; stroke-width: 1.6; stroke-dasharray: 2 3; }
.edge.failure-path.possible { stroke: #dc2626; }
.edge-label rect { fill: #ffffff; fill-opacity: 0.9; }
.edge-label text { font-size: 10px; fill: #94a3b8; }
.edge-label.taken text { fill: #0f172a; font-weight: 700; }
.edge-label.possible text { fill: #475569; }
.edge-label.catch text { fill: #f97316; } .edge-label.catch.taken text { fill: #c2410c; }
.edge-label.catch.taken tspan.unmatched { fill: #fdba74; font-weight: 400; }
@keyframes pulse { 50% { stroke-opacity: 0.35; } }
"""
)
"""Kerning off: text is then exactly as wide as ``text_metrics`` says, which is what every box was sized by."""

ARROWS = {
    "plain": "#cbd5e1",
    "taken": "#334155",
    "possible": "#334155",
    "failure-possible": "#dc2626",
    "catch-possible": "#ea580c",
    "catch": "#fdba74",
    "catch-taken": "#ea580c",
    "failure": "#fca5a5",
    "failure-taken": "#dc2626",
}


def render_svg(graph: StateGraph, layout: Layout, trace: ExecutionTrace | None = None) -> str:
    """Draw ``layout`` as SVG; with a ``trace``, color each state and darken each edge the execution took.

    Only the edge a hand-over followed is drawn taken (``tools.console.paths``): the Choice rule the history names
    (by the state entered next and the variables assigned), the Catch that took the error. Where the history cannot
    tell a Choice's candidate edges apart, each is drawn dotted as ``possible``. On a taken Catch edge that draws
    several Catchers, the Catcher that took the error is bold.

    Parameters
    ----------
    graph, layout:
        From ``workflow_graph`` and ``layout_graph``.
    trace:
        From ``trace_execution``; without it every state is drawn as not run.

    Returns
    -------
    str
        An ``<svg>`` element with its own ``<style>``.

    Example
    -------
    >>> from tools.console.graph import workflow_graph
    >>> from tools.console.layout import layout_graph
    >>> graph = workflow_graph({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    >>> 'data-state="A"' in render_svg(graph, layout_graph(graph))
    True
    """
    width, height = layout.width + 2 * MARGIN, layout.height + 2 * MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="state machine">',
        f"<style>{STYLE}</style>",
        "<defs>" + "".join(_arrow(name, color) for name, color in ARROWS.items()) + "</defs>",
        f'<g transform="translate({MARGIN},{MARGIN})">',
    ]
    containers = sorted(
        filter(graph.is_container, graph.nodes),
        key=lambda name: layout.boxes[name].width * layout.boxes[name].height,
        reverse=True,
    )
    parts += [_container(graph, name, layout.boxes[name], trace) for name in containers]
    parts += [
        _failed_branch(scope, box) for scope, box in layout.branches.items() if _branch_failed(graph, scope, trace)
    ]
    parts.append(_compensation_region(graph, layout))
    parts += [
        f'<line class="divider" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}"/>'
        for x, top, bottom in layout.dividers
    ]
    path = path_taken(graph, trace)
    on_top_if_taken = sorted(layout.routes, key=lambda route: _use(route.edge, path) != "")
    parts += [_edge(route, _use(route.edge, path)) for route in on_top_if_taken]
    parts += [_edge_label(route.edge, route.label, path) for route in layout.routes if route.label]
    for name in graph.nodes:
        if not graph.is_container(name):
            parts.append(_state(graph, name, layout.boxes[name], trace))
    parts.append("</g></svg>")
    return "\n".join(parts)


def _arrow(name: str, color: str) -> str:
    return (
        f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
    )


def _use(edge: Edge, path: PathTaken) -> str:
    """``taken``, ``possible`` (one of several edges the history cannot tell apart was taken) or ``""``."""
    if edge in path.taken:
        return "taken"
    return "possible" if edge in path.possible else ""


def _edge_classes(route: Route, use: str) -> list[str]:
    classes = ["edge", route.edge.kind.value]
    if route.edge.failure_path:
        classes.append("failure-path")
    if use:
        classes.append(use)
    return classes


def _marker(route: Route, use: str) -> str:
    if route.edge.kind is EdgeKind.CATCH:
        base = "catch"
    elif route.edge.failure_path:
        base = "failure"
    else:
        return use or "plain"
    return f"{base}-{use}" if use else base


def _edge(route: Route, use: str) -> str:
    edge = route.edge
    title = f"{edge.source} → {edge.target}" + (f" ({edge.label.replace(chr(10), '; ')})" if edge.label else "")
    if use == "possible":
        title += ": this or another rule to the same state matched; the history does not say which"
    rules = " ".join(map(str, edge.rules))
    return (
        f'<path class="{" ".join(_edge_classes(route, use))}" data-source="{escape(edge.source)}" '
        f'data-target="{escape(edge.target)}" data-rules="{rules}" d="{_path(route.points)}" '
        f'marker-end="url(#arrow-{_marker(route, use)})"><title>{escape(title)}</title></path>'
    )


def _path(points: list[tuple[float, float]]) -> str:
    """The polyline with each corner rounded off, never by more than half of either segment it joins.

    Example
    -------
    >>> _path([(0, 0), (0, 20), (30, 20)])
    'M0.0,0.0 L0.0,14.0 Q0.0,20.0 6.0,20.0 L30.0,20.0'
    """
    path = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for (x0, y0), (x1, y1), (x2, y2) in zip(points, points[1:], points[2:], strict=False):
        before, after = abs(x1 - x0) + abs(y1 - y0), abs(x2 - x1) + abs(y2 - y1)
        radius = min(CORNER_RADIUS, before / 2, after / 2)
        if radius < 0.5:
            path.append(f"L{x1:.1f},{y1:.1f}")
            continue
        ax, ay = x1 - (x1 - x0) / before * radius, y1 - (y1 - y0) / before * radius
        bx, by = x1 + (x2 - x1) / after * radius, y1 + (y2 - y1) / after * radius
        path.append(f"L{ax:.1f},{ay:.1f} Q{x1:.1f},{y1:.1f} {bx:.1f},{by:.1f}")
    path.append(f"L{points[-1][0]:.1f},{points[-1][1]:.1f}")
    return " ".join(path)


def _edge_label(edge: Edge, label: Label, path: PathTaken) -> str:
    """The label whole, on a white box of the size ELK reserved for it, which no edge crosses; on a taken Catch edge
    that draws several Catchers, the lines of those that took no error are ``unmatched``."""
    box = label.box
    use = _use(edge, path)
    matched = path.catchers.get(edge)
    lines = "".join(
        f'<tspan x="{box.center_x:.1f}" y="{box.y + LABEL_BASELINE + index * LABEL_LINE_HEIGHT:.1f}"'
        f"{_line_class(edge, part, matched)}>{escape(line)}</tspan>"
        for index, (line, part) in enumerate(zip(label.lines, label.parts, strict=True))
    )
    classes = ["edge-label", edge.kind.value] + ([use] if use else [])
    return (
        f'<g class="{" ".join(classes)}" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}">'
        f"<title>{escape(edge.label)}</title>"
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="3"/>'
        f'<text text-anchor="middle">{lines}</text></g>'
    )


def _line_class(edge: Edge, part: int, matched: set[int] | None) -> str:
    if matched is None or len(edge.rules) < 2:
        return ""
    return ' class="matched"' if edge.rules[part] in matched else ' class="unmatched"'


def _status_classes(graph: StateGraph, name: str, trace: ExecutionTrace | None) -> tuple[StateStatus, list[str]]:
    node = graph.nodes[name]
    status = _status(name, trace)
    classes = ["state", status.value, f"type-{node.type.lower()}"]
    if node.compensation:
        classes.append("compensation")
    if node.callback:
        classes.append("callback")
    return status, classes


def _status(name: str, trace: ExecutionTrace | None) -> StateStatus:
    if trace is None:
        return StateStatus.NOT_RUN
    if name == START:
        return StateStatus.SUCCEEDED if trace.runs else StateStatus.NOT_RUN
    if name == END:
        return StateStatus.SUCCEEDED if any(target == END for _, target in trace.taken) else StateStatus.NOT_RUN
    return trace.status_of(name)


def _badge(name: str, status: StateStatus, trace: ExecutionTrace | None) -> str:
    run = trace.runs.get(name) if trace else None
    text = STATUS_TEXT[status]
    if run is not None and run.retries:
        if status is StateStatus.RETRIED:
            return f"↻ {run.retries} {'retry' if run.retries == 1 else 'retries'}"
        return f"{text} ↻{run.retries}"
    return text


def _state(graph: StateGraph, name: str, box: Box, trace: ExecutionTrace | None) -> str:
    status, classes = _status_classes(graph, name, trace)
    if name in (START, END):
        classes = ["pseudo", status.value]
        label = "Start" if name == START else "End"
        return (
            f'<g class="{" ".join(classes)}" data-pseudo="{label.lower()}">'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" '
            f'rx="{box.height / 2:.1f}"/><text x="{box.center_x:.1f}" y="{box.y + box.height / 2 + 4:.1f}" '
            f'text-anchor="middle">{label}</text></g>'
        )
    node = graph.nodes[name]
    title = _title(graph, name, status)
    shape = _shape(node.type, box)
    return (
        f'<g class="{" ".join(classes)}" data-state="{escape(name)}" data-status="{status.value}"{_execution(node)}>'
        f"<title>{escape(title)}</title>{shape}"
        f'<text class="name" x="{box.x + TEXT_INSET:.1f}" y="{box.y + 18:.1f}">{escape(node.display_name)}</text>'
        f'<text class="kind" x="{box.x + TEXT_INSET:.1f}" y="{box.y + 33:.1f}">{escape(node.kind_text)}</text>'
        f'<text class="badge" x="{box.right - TEXT_INSET:.1f}" y="{box.y + 33:.1f}" text-anchor="end">'
        f"{escape(_badge(name, status, trace))}</text></g>"
    )


def _title(graph: StateGraph, name: str, status: StateStatus) -> str:
    """The tooltip: the state, its outcome, whose execution it belongs to, and its comment."""
    node = graph.nodes[name]
    title = f"{node.display_name} ({status.value})"
    if node.execution_of:
        title += f"\nin the child execution {node.execution_of} started ({graph.nodes[node.execution_of].runs})"
    if node.runs:
        title += f"\nruns {node.runs}: its states are drawn inside, colored by that execution"
    return title + (f"\n{node.comment}" if node.comment else "")


def _execution(node: Node) -> str:
    """A child machine's state names the task whose execution it is part of."""
    return f' data-execution="{escape(node.execution_of)}"' if node.execution_of else ""


def _shape(state_type: str, box: Box) -> str:
    """Tasks are rounded boxes; decisions, passes and ends get corners that tell them apart at a glance."""
    radius = {"Task": 8, "Choice": 2, "Fail": 18, "Succeed": 18, "Pass": 14}.get(state_type, 8)
    return f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="{radius}"/>'


def _branch_failed(graph: StateGraph, scope: str, trace: ExecutionTrace | None) -> bool:
    """A branch whose task failed, caught or not, is where this execution went wrong; a child machine's flow is
    colored by its task instead, which holds it whole."""
    container = graph.scopes[scope].container
    if trace is None or container is None or graph.nodes[container].type not in CONTAINER_TYPES:
        return False
    failures = {StateStatus.FAILED, StateStatus.CAUGHT}
    return any(node.scope == scope and trace.status_of(name) in failures for name, node in graph.nodes.items())


def _failed_branch(scope: str, box: Box) -> str:
    return (
        f'<g class="failed-branch" data-branch="{escape(scope)}"><rect x="{box.x:.1f}" y="{box.y:.1f}" '
        f'width="{box.width:.1f}" height="{box.height:.1f}" rx="8"><title>this branch failed</title></rect></g>'
    )


def _compensation_region(graph: StateGraph, layout: Layout) -> str:
    """Tinted areas behind the compensation chain, each covering no other state; one of them says what they are.

    ELK may place another state beside the chain, so the chain is cut, top to bottom, into runs whose common area
    covers nothing else. The title goes in a strip below or above the tallest run, on the first side where no edge,
    state or label is in its way; where none is free, the legend alone explains the tint.
    """
    chain = sorted(
        (layout.boxes[name] for name, node in graph.nodes.items() if node.compensation and not node.scope),
        key=lambda box: (box.y, box.x),
    )
    others = [box for box in layout.boxes.values() if all(box is not link for link in chain)]
    runs: list[list[Box]] = []
    for box in chain:
        if runs and not _covers_any(_around([*runs[-1], box]), others):
            runs[-1].append(box)
        else:
            runs.append([box])
    areas = [area for area in map(_around, runs) if not _covers_any(area, others)]
    if not areas:
        return ""
    tallest = max(areas, key=lambda area: area.height)
    titled = _title_place(tallest, others, layout)
    parts = [
        f'<rect x="{area.x:.1f}" y="{area.y:.1f}" width="{area.width:.1f}" height="{area.height:.1f}" rx="12"/>'
        for area in (titled[0] if titled and area is tallest else area for area in areas)
    ]
    if titled:
        parts.append(f'<text x="{titled[1].x:.1f}" y="{titled[1].bottom - 3:.1f}">{REGION_TITLE}</text>')
    return f'<g class="compensation-region">{"".join(parts)}</g>'


def _around(boxes: list[Box]) -> Box:
    left, top = min(b.x for b in boxes) - REGION_PADDING, min(b.y for b in boxes) - REGION_PADDING
    right, bottom = max(b.right for b in boxes) + REGION_PADDING, max(b.bottom for b in boxes) + REGION_PADDING
    return Box(left, top, right - left, bottom - top)


def _covers_any(area: Box, boxes: list[Box]) -> bool:
    return any(area.x < b.right and b.x < area.right and area.y < b.bottom and b.y < area.bottom for b in boxes)


def _title_place(area: Box, others: list[Box], layout: Layout) -> tuple[Box, Box] | None:
    """The area grown by a strip for the title, and the title's box: the first of four places nothing is in."""
    width = text_width(REGION_TITLE, REGION_TITLE_SIZE, bold=True) + len(REGION_TITLE) * REGION_TITLE_SPACING
    strip = REGION_TITLE_SIZE + 6
    above = Box(area.x, area.y - strip, area.width, area.height + strip)
    below = Box(area.x, area.y, area.width, area.height + strip)
    left, right = area.x + 10, area.right - 10 - width
    places = [
        (below, Box(left, area.bottom - 2, width, strip - 2)),
        (below, Box(right, area.bottom - 2, width, strip - 2)),
        (above, Box(left, above.y + 4, width, strip - 2)),
        (above, Box(right, above.y + 4, width, strip - 2)),
    ]
    labels = [route.label.box for route in layout.routes if route.label]
    for grown, title in places:
        clear = Box(title.x - 2, title.y - 2, title.width + 4, title.height + 4)
        if _covers_any(grown, others) or _covers_any(clear, labels):
            continue
        if not any(_crosses(route.points, clear) for route in layout.routes):
            return grown, title
    return None


def _crosses(points: list[tuple[float, float]], box: Box) -> bool:
    """Whether the orthogonal polyline enters ``box``: each segment's own bounding box is the segment."""
    return any(
        min(x1, x2) < box.right and box.x < max(x1, x2) and min(y1, y2) < box.bottom and box.y < max(y1, y2)
        for (x1, y1), (x2, y2) in itertools.pairwise(points)
    )


def _container(graph: StateGraph, name: str, box: Box, trace: ExecutionTrace | None) -> str:
    status, classes = _status_classes(graph, name, trace)
    node = graph.nodes[name]
    kind = container_kind_text(graph, name)
    classes += ["container", *["child-execution"] * bool(node.runs)]
    return (
        f'<g class="{" ".join(classes)}" data-state="{escape(name)}" data-status="{status.value}"{_execution(node)}>'
        f"<title>{escape(_title(graph, name, status))}</title>"
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="12"/>'
        f'<text class="name" x="{box.x + TEXT_INSET:.1f}" y="{box.y + 21:.1f}">{escape(node.display_name)}</text>'
        f'<text class="kind" x="{box.right - TEXT_INSET:.1f}" y="{box.y + 21:.1f}" text-anchor="end">'
        f"{escape(kind)}  {escape(_badge(name, status, trace))}</text>"
        f'<line class="divider" x1="{box.x:.1f}" y1="{box.y + CONTAINER_HEADER - 6:.1f}" '
        f'x2="{box.x + box.width:.1f}" y2="{box.y + CONTAINER_HEADER - 6:.1f}"/></g>'
    )
