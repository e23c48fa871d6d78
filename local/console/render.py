"""The laid-out graph as one self-contained SVG, each state colored by its outcome in an execution.

The SVG carries its own styles, so the same picture shows in the console, in a screenshot, or opened on its own.
Each state is a ``<g data-state="Name">`` the console's script makes clickable.
"""

from __future__ import annotations

import itertools
from html import escape

from local.console.graph import CONTAINER_TYPES, END, START, EdgeKind, ExecutionTrace, StateGraph, StateStatus
from local.console.layout import CONTAINER_HEADER, Box, Layout, Route

MARGIN = 24.0
LABEL_CHARS = 30
LABEL_CHAR_WIDTH = 5.8

STATUS_TEXT = {
    StateStatus.NOT_RUN: "",
    StateStatus.RUNNING: "● running",
    StateStatus.SUCCEEDED: "✓",
    StateStatus.FAILED: "✕ failed",
    StateStatus.CAUGHT: "⚠ caught",
    StateStatus.RETRIED: "↻ retried",
    StateStatus.ABORTED: "■ aborted",
}

STYLE = """
.graph { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.state rect { fill: #f8fafc; stroke: #cbd5e1; stroke-width: 1.2; }
.state .name { font-size: 13px; font-weight: 600; fill: #94a3b8; }
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
.edge-label { font-size: 10px; fill: #94a3b8; paint-order: stroke; stroke: #ffffff; stroke-width: 4px; }
.edge-label.taken { fill: #0f172a; font-weight: 600; }
.edge-label.catch { fill: #f97316; } .edge-label.catch.taken { fill: #c2410c; }
@keyframes pulse { 50% { stroke-opacity: 0.35; } }
"""

ARROWS = {
    "plain": "#cbd5e1",
    "taken": "#334155",
    "catch": "#fdba74",
    "catch-taken": "#ea580c",
    "failure": "#fca5a5",
    "failure-taken": "#dc2626",
}


def render_svg(graph: StateGraph, layout: Layout, trace: ExecutionTrace | None = None) -> str:
    """Draw ``layout`` as SVG; with a ``trace``, color each state and darken each edge the execution took.

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
    >>> from local.console.graph import workflow_graph
    >>> from local.console.layout import layout_graph
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
        (name for name, node in graph.nodes.items() if node.type in CONTAINER_TYPES),
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
    taken = trace.taken if trace else set()
    on_top_if_taken = sorted(layout.routes, key=lambda route: (route.edge.source, route.edge.target) in taken)
    parts += [_edge(route, (route.edge.source, route.edge.target) in taken) for route in on_top_if_taken]
    parts += _edge_labels(layout.routes, taken, layout.width)
    for name, node in graph.nodes.items():
        if node.type not in CONTAINER_TYPES:
            parts.append(_state(graph, name, layout.boxes[name], trace))
    parts.append("</g></svg>")
    return "\n".join(parts)


def _arrow(name: str, color: str) -> str:
    return (
        f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
    )


def _edge_classes(route: Route, taken: bool) -> list[str]:
    classes = ["edge", route.edge.kind.value]
    if route.edge.failure_path:
        classes.append("failure-path")
    if taken:
        classes.append("taken")
    return classes


def _marker(route: Route, taken: bool) -> str:
    if route.edge.kind is EdgeKind.CATCH:
        base = "catch"
    elif route.edge.failure_path:
        base = "failure"
    else:
        return "taken" if taken else "plain"
    return f"{base}-taken" if taken else base


def _edge(route: Route, taken: bool) -> str:
    points = route.points
    path = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        bend = max((y2 - y1) / 2, 12.0)
        path.append(f"C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}")
    title = f"{route.edge.source} → {route.edge.target}" + (f" ({route.edge.label})" if route.edge.label else "")
    return (
        f'<path class="{" ".join(_edge_classes(route, taken))}" d="{" ".join(path)}" '
        f'marker-end="url(#arrow-{_marker(route, taken)})"><title>{escape(title)}</title></path>'
    )


def _edge_labels(routes: list[Route], taken: set[tuple[str, str]], width: float) -> list[str]:
    """Labels sit just above the state an edge enters, where edges have fanned out; equal labels there merge."""
    by_target: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        if route.edge.label:
            by_target.setdefault((route.edge.target, route.edge.label), []).append(route)
    labels = []
    for (_, label), group in by_target.items():
        x = sum(route.points[-1][0] for route in group) / len(group)
        half_width = min(len(label), LABEL_CHARS) * LABEL_CHAR_WIDTH / 2
        x = min(max(x, half_width - MARGIN / 2), width - half_width + MARGIN / 2)
        y = min(route.points[-1][1] for route in group) - 12
        was_taken = any((route.edge.source, route.edge.target) in taken for route in group)
        text = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        classes = ["edge-label", group[0].edge.kind.value] + (["taken"] if was_taken else [])
        labels.append(
            f'<text class="{" ".join(classes)}" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(text)}'
            f"<title>{escape(label)}</title></text>"
        )
    return labels


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
    title = f"{name} ({status.value})" + (f"\n{node.comment}" if node.comment else "")
    shape = _shape(node.type, box)
    return (
        f'<g class="{" ".join(classes)}" data-state="{escape(name)}" data-status="{status.value}">'
        f"<title>{escape(title)}</title>{shape}"
        f'<text class="name" x="{box.x + 12:.1f}" y="{box.y + 18:.1f}">{escape(name)}</text>'
        f'<text class="kind" x="{box.x + 12:.1f}" y="{box.y + 33:.1f}">{escape(node.kind_text)}</text>'
        f'<text class="badge" x="{box.x + box.width - 10:.1f}" y="{box.y + 33:.1f}" text-anchor="end">'
        f"{escape(_badge(name, status, trace))}</text></g>"
    )


def _shape(state_type: str, box: Box) -> str:
    """Tasks are rounded boxes; decisions, passes and ends get corners that tell them apart at a glance."""
    radius = {"Task": 8, "Choice": 2, "Fail": 18, "Succeed": 18, "Pass": 14}.get(state_type, 8)
    return f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="{radius}"/>'


def _branch_failed(graph: StateGraph, scope: str, trace: ExecutionTrace | None) -> bool:
    """A branch whose task failed, caught or not, is where this execution went wrong."""
    if trace is None:
        return False
    failures = {StateStatus.FAILED, StateStatus.CAUGHT}
    return any(node.scope == scope and trace.status_of(name) in failures for name, node in graph.nodes.items())


def _failed_branch(scope: str, box: Box) -> str:
    return (
        f'<g class="failed-branch" data-branch="{escape(scope)}"><rect x="{box.x:.1f}" y="{box.y:.1f}" '
        f'width="{box.width:.1f}" height="{box.height:.1f}" rx="8"><title>this branch failed</title></rect></g>'
    )


def _compensation_region(graph: StateGraph, layout: Layout) -> str:
    """One labelled area behind the compensation chain, drawn only where it would cover no other state.

    The label sits in the bottom-left corner: the chain steps down to the right, and edges arrive from the top.
    """
    chain = [name for name, node in graph.nodes.items() if node.compensation and not node.scope]
    if not chain:
        return ""
    boxes = [layout.boxes[name] for name in chain]
    left, top = min(b.x for b in boxes) - 14, min(b.y for b in boxes) - 26
    area = Box(left, top, max(b.x + b.width for b in boxes) + 14 - left, max(b.bottom for b in boxes) + 12 - top)
    for name, box in layout.boxes.items():
        overlaps = box.x < area.x + area.width and area.x < box.x + box.width
        if name not in chain and overlaps and box.y < area.bottom and area.y < box.bottom:
            return ""
    return (
        f'<g class="compensation-region"><rect x="{area.x:.1f}" y="{area.y:.1f}" width="{area.width:.1f}" '
        f'height="{area.height:.1f}" rx="12"/><text x="{area.x + 10:.1f}" y="{area.bottom - 9:.1f}">'
        f"COMPENSATION</text></g>"
    )


def _container(graph: StateGraph, name: str, box: Box, trace: ExecutionTrace | None) -> str:
    status, classes = _status_classes(graph, name, trace)
    branches = len(graph.branches_of(name))
    kind = f"{graph.nodes[name].type} · {branches} branch{'es' if branches != 1 else ''}"
    return (
        f'<g class="{" ".join([*classes, "container"])}" data-state="{escape(name)}" data-status="{status.value}">'
        f"<title>{escape(name)} ({status.value})</title>"
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="12"/>'
        f'<text class="name" x="{box.x + 14:.1f}" y="{box.y + 21:.1f}">{escape(name)}</text>'
        f'<text class="kind" x="{box.x + box.width - 14:.1f}" y="{box.y + 21:.1f}" text-anchor="end">'
        f"{escape(kind)}  {escape(_badge(name, status, trace))}</text>"
        f'<line class="divider" x1="{box.x:.1f}" y1="{box.y + CONTAINER_HEADER - 6:.1f}" '
        f'x2="{box.x + box.width:.1f}" y2="{box.y + CONTAINER_HEADER - 6:.1f}"/></g>'
    )
