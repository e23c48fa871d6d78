"""The layered layout and its SVG: legible at our workflow's size, main path straight, the outcome on each state."""

from __future__ import annotations

import itertools

import pytest

from local.console.graph import END, START, trace_execution, workflow_graph
from local.console.layout import Box, layout_graph
from local.console.render import render_svg
from local.testing import sample_order
from workflows.resources import ORDER_WORKFLOW

MAIN_PATH = [
    START,
    "ValidateOrder",
    "AuthorizeAndReserve",
    "CheckAuthorizedAndReserved",
    "RequestShipment",
    "CapturePayment",
    END,
]


@pytest.fixture(scope="module")
def graph():
    return workflow_graph(ORDER_WORKFLOW.render(lambda substitution: f"arn:local:{substitution.target}"))


@pytest.fixture(scope="module")
def layout(graph):
    return layout_graph(graph)


def overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def test_no_two_states_of_a_flow_overlap(graph, layout):
    by_scope: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        by_scope.setdefault(node.scope, []).append(name)
    for names in by_scope.values():
        for a, b in itertools.combinations(names, 2):
            assert not overlap(layout.boxes[a], layout.boxes[b]), f"{a} overlaps {b}"


def test_branch_states_sit_inside_their_parallel_state(graph, layout):
    container = layout.boxes["AuthorizeAndReserve"]
    for branch in graph.branches_of("AuthorizeAndReserve"):
        for name in branch.states:
            box = layout.boxes[name]
            assert container.x < box.x and box.x + box.width < container.x + container.width, name
            assert container.y < box.y and box.bottom < container.bottom, name
    assert layout.dividers, "a line separates the two branches"


def test_the_main_path_runs_straight_down(layout):
    centers = [layout.boxes[name].center_x for name in MAIN_PATH]
    tops = [layout.boxes[name].y for name in MAIN_PATH]
    assert max(centers) - min(centers) < 2.0, centers
    assert tops == sorted(tops)


def test_every_edge_leaves_its_source_and_enters_its_target(layout):
    for route in layout.routes:
        source, target = layout.boxes[route.edge.source], layout.boxes[route.edge.target]
        (start_x, start_y), (end_x, end_y) = route.points[0], route.points[-1]
        assert start_y == pytest.approx(source.bottom) and source.x <= start_x <= source.x + source.width
        assert end_y == pytest.approx(target.y) and target.x <= end_x <= target.x + target.width


def test_the_picture_stays_legible_at_our_size(layout):
    """About 25 states: it must fit a laptop screen's width without shrinking text below readable."""
    assert layout.width < 1400 and layout.height < 1500


def test_svg_colors_each_state_by_its_outcome(order_stack, graph, layout):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    svg = render_svg(graph, layout, trace_execution(run.history, run.execution["status"]))
    assert 'data-state="AuthorizePayment" data-status="caught"' in svg
    assert 'data-state="OrderFailed" data-status="failed"' in svg
    assert 'data-state="RequestShipment" data-status="not-run"' in svg
    assert "compensation" in svg and "waits for callback" in svg


def test_retries_show_their_count(order_stack, graph, layout):
    run = order_stack.run_order(sample_order(paymentToken="tok_flaky"), shipment="SHIPPED")
    svg = render_svg(graph, layout, trace_execution(run.history, run.execution["status"]))
    assert 'data-state="AuthorizePayment" data-status="retried"' in svg
    assert "↻ 2 retries" in svg
