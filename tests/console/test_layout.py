"""ELK's layout of the real order workflow: states apart, names in their boxes, labels whole and clear of edges.

The workflow's child machine (order-preparation) is laid out inside PrepareOrder, the task that runs it. These check
the geometry the server computes; ``test_browser.py`` checks the same on the text Chromium draws.
"""

from __future__ import annotations

import itertools

import pytest

from tools.console import layout as layout_module
from tools.console.graph import END, START, EdgeKind, workflow_graph
from tools.console.layout import (
    LABEL_PADDING,
    LABEL_SIZE,
    NAME_SIZE,
    TEXT_INSET,
    Box,
    elk_graph,
    layout_graph,
    node_size,
)
from tools.console.text_metrics import text_width

MAIN_PATH = [START, "PrepareOrder", "RequestShipment", "CapturePayment", END]
CHILD_MAIN_PATH = [
    "PrepareOrder/ValidateOrder",
    "PrepareOrder/AuthorizeAndReserve",
    "PrepareOrder/CheckAuthorizedAndReserved",
    "PrepareOrder/Prepared",
]
COMPENSATION_COLUMN = ["VoidOrRefundPayment", "ReleaseInventory", "RecordFailure"]


def overlap(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def crosses(points: list[tuple[float, float]], box: Box) -> bool:
    """Whether an orthogonal polyline enters ``box``: each segment is its own bounding box."""
    return any(
        min(x1, x2) < box.right and box.x < max(x1, x2) and min(y1, y2) < box.bottom and box.y < max(y1, y2)
        for (x1, y1), (x2, y2) in itertools.pairwise(points)
    )


def shrunk(box: Box, by: float) -> Box:
    return Box(box.x + by, box.y + by, box.width - 2 * by, box.height - 2 * by)


def test_no_two_states_of_a_flow_overlap(graph, layout):
    by_scope: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        by_scope.setdefault(node.scope, []).append(name)
    for names in by_scope.values():
        for a, b in itertools.combinations(names, 2):
            assert not overlap(layout.boxes[a], layout.boxes[b]), f"{a} overlaps {b}"


def containers_of(graph, name: str) -> list[str]:
    """Every container around a state, innermost first."""
    found = []
    while graph.nodes[name].scope:
        name = graph.scopes[graph.nodes[name].scope].container
        found.append(name)
    return found


def test_the_childs_states_sit_inside_the_task_that_runs_it_under_its_header(graph, layout):
    task = layout.boxes["PrepareOrder"]
    (flow,) = graph.branches_of("PrepareOrder")
    area = layout.branches[flow.id]
    assert task.x < area.x and area.right < task.right
    assert task.y + layout_module.CONTAINER_HEADER <= area.y and area.bottom < task.bottom
    inside = [name for name, node in graph.nodes.items() if node.execution_of == "PrepareOrder"]
    assert len(inside) == 10
    for name in inside:
        box = layout.boxes[name]
        assert area.x < box.x and box.right < area.right, name
        assert area.y < box.y and box.bottom < area.bottom, name
    for name, box in layout.boxes.items():
        if name != "PrepareOrder" and not graph.nodes[name].execution_of:
            assert not overlap(box, task), f"{name} is the parent's and sits outside the child's group"


def test_branch_states_sit_inside_their_parallel_state_under_its_header(graph, layout):
    container = layout.boxes["PrepareOrder/AuthorizeAndReserve"]
    for branch in graph.branches_of("PrepareOrder/AuthorizeAndReserve"):
        area = layout.branches[branch.id]
        assert container.x < area.x and area.right < container.right
        assert container.y + layout_module.CONTAINER_HEADER <= area.y and area.bottom < container.bottom
        for name in branch.states:
            box = layout.boxes[name]
            assert area.x < box.x and box.right < area.right, name
            assert area.y < box.y and box.bottom < area.bottom, name
    (divider,) = layout.dividers
    assert container.x < divider[0] < container.right


@pytest.mark.parametrize("path", [MAIN_PATH, CHILD_MAIN_PATH], ids=["parent", "child"])
def test_the_main_path_runs_straight_down_one_column(layout, path):
    centers = [layout.boxes[name].center_x for name in path]
    tops = [layout.boxes[name].y for name in path]
    assert max(centers) - min(centers) < 1.0, centers
    assert tops == sorted(tops)


def test_the_compensation_chain_is_a_column_of_its_own(layout):
    centers = [layout.boxes[name].center_x for name in COMPENSATION_COLUMN]
    assert max(centers) - min(centers) < 1.0, centers
    assert min(centers) > layout.boxes["RequestShipment"].right, "failures are handled right of the main path"


def test_every_edge_leaves_its_source_and_enters_its_target(layout):
    for route in layout.routes:
        source, target = layout.boxes[route.edge.source], layout.boxes[route.edge.target]
        (start_x, start_y), (end_x, end_y) = route.points[0], route.points[-1]
        assert start_y == pytest.approx(source.bottom) and source.x <= start_x <= source.right, route.edge
        assert end_y == pytest.approx(target.y) and target.x <= end_x <= target.right, route.edge


def test_edges_run_horizontally_and_vertically(layout):
    for route in layout.routes:
        for (x1, y1), (x2, y2) in itertools.pairwise(route.points):
            assert x1 == pytest.approx(x2) or y1 == pytest.approx(y2), route.edge


def test_every_label_is_whole_and_its_box_holds_every_line(graph, layout):
    labelled = [route for route in layout.routes if route.edge.label]
    assert {route.edge.label for route in labelled} >= {
        "payment.error = PaymentDeclinedError",
        "inventory.error = OutOfStockError",
        "OrderCancelledError\nShipmentFailedError\nTimeout, HeartbeatTimeout\nany error",
    }
    for route in labelled:
        assert route.label is not None, route.edge
        assert " ".join(route.label.lines) == " ".join(route.edge.label.split())
        assert len(route.label.parts) == len(route.label.lines)
        assert all(len(line) > 1 for line in route.label.lines), f"a comparison alone on a line: {route.label.lines}"
        for line in route.label.lines:
            assert text_width(line, LABEL_SIZE, bold=True) + 2 * LABEL_PADDING <= route.label.box.width, line


def test_each_catcher_of_a_merged_catch_edge_starts_a_line_of_its_own(layout):
    (route,) = [r for r in layout.routes if r.edge.source == "RequestShipment" and r.edge.kind is EdgeKind.CATCH]
    assert route.label.lines == ["OrderCancelledError", "ShipmentFailedError", "Timeout, HeartbeatTimeout", "any error"]
    assert route.label.parts == [0, 1, 2, 3]


def test_no_edge_crosses_a_label(layout):
    for route in layout.routes:
        for other in layout.routes:
            if other.label is not None:
                assert not crosses(route.points, shrunk(other.label.box, 0.5)), (route.edge, other.edge.label)


def test_no_edge_crosses_a_state_it_does_not_join(graph, layout):
    states = {name: box for name, box in layout.boxes.items() if not graph.is_container(name)}
    for route in layout.routes:
        for name, box in states.items():
            if name not in (route.edge.source, route.edge.target):
                assert not crosses(route.points, shrunk(box, 0.5)), (route.edge, name)


def test_no_label_covers_a_state_or_another_label(graph, layout):
    labelled = [route for route in layout.routes if route.label]
    for a, b in itertools.combinations(labelled, 2):
        assert not overlap(a.label.box, b.label.box), (a.edge, b.edge)
    for route in labelled:
        holding = containers_of(graph, route.edge.source)
        for name, box in layout.boxes.items():
            assert name in holding or not overlap(route.label.box, box), (route.edge, name)


def test_every_name_fits_its_box_with_room_on_both_sides(graph, layout):
    for name, node in graph.nodes.items():
        if name in (START, END) or graph.is_container(name):
            continue
        box = layout.boxes[name]
        assert text_width(node.display_name, NAME_SIZE, bold=True) + 2 * TEXT_INSET <= box.width, name
        assert (box.width, box.height) == node_size(graph, name)


def test_the_picture_stays_legible_at_our_size(layout):
    """About 25 states of two machines: it must fit a laptop screen's width without shrinking text below readable."""
    assert layout.width < 1400 and layout.height < 1600


def test_catch_and_next_between_the_same_states_run_apart(graph):
    """Each reaches its own port, so the two read as two lines, not one line that forks at the arrow."""
    elk = elk_graph(graph)
    pair = [edge for edge in elk["edges"] if edge["sources"][0].startswith("VoidOrRefundPayment.")]
    assert sorted(edge["targets"][0] for edge in pair) == ["ReleaseInventory.catch-in", "ReleaseInventory.in"]


def test_loops_and_maps_are_laid_out_too():
    asl = {
        "StartAt": "Poll",
        "States": {
            "Poll": {"Type": "Task", "Resource": "x", "Next": "Done?"},
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": False, "Next": "Poll"}],
                "Default": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                "End": True,
            },
            "Failed": {"Type": "Fail"},
        },
    }
    graph = workflow_graph(asl)
    layout = layout_graph(graph)
    loop = next(route for route in layout.routes if route.edge.kind is EdgeKind.CHOICE)
    assert loop.label is not None and loop.label.lines == ["done = False"]
    assert layout.boxes["Each"].x < layout.boxes["Item"].x < layout.boxes["Each"].right


def test_without_elkjs_the_layout_says_how_to_install_it(graph, monkeypatch, tmp_path):
    monkeypatch.setattr(layout_module, "ELK_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="make install"):
        layout_graph(graph)
