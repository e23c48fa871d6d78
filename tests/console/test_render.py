"""The SVG of the laid-out graph: each state's outcome (the child execution's states by the child's history), every
label whole, text in the font the boxes were sized for."""

from __future__ import annotations

import itertools
import re
from html import unescape

import pytest

from local.aws.stepfunctions.execution_logs import execution_status
from local.testkit.fixtures import sample_order
from tools.console.graph import (
    ExecutionTrace,
    StateRun,
    StateStatus,
    Transition,
    nested_trace,
    trace_execution,
    workflow_graph,
)
from tools.console.layout import BADGE_SIZE, WIDEST_BADGE, layout_graph
from tools.console.render import REGION_TITLE, REGION_TITLE_SIZE, REGION_TITLE_SPACING, STYLE, _badge, render_svg
from tools.console.text_metrics import FONT_FAMILY, text_width


def drawn(run) -> object:
    """The trace the console draws for a run: the parent's, with its child's states inside PrepareOrder."""
    child = trace_execution(run.preparation.history, execution_status(run.preparation.history))
    return nested_trace(trace_execution(run.history, run.execution["status"]), {"PrepareOrder": child})


def state_group(svg: str, state: str) -> str:
    return re.search(rf'<g class="[^"]*" data-state="{re.escape(state)}".*?</g>', svg, re.S)[0]


def test_svg_colors_each_state_by_its_outcome(order_stack, graph, layout):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    svg = render_svg(graph, layout, drawn(run))
    assert 'data-state="PrepareOrder" data-status="caught"' in svg
    assert 'data-state="PrepareOrder/AuthorizePayment" data-status="caught" data-execution="PrepareOrder"' in svg
    assert 'data-state="PrepareOrder/PaymentNotAuthorized" data-status="failed" data-execution="PrepareOrder"' in svg
    assert 'data-state="PrepareOrder/Prepared" data-status="not-run"' in svg
    assert 'data-state="OrderFailed" data-status="failed"' in svg
    assert 'data-state="RequestShipment" data-status="not-run"' in svg
    assert 'class="compensation-region"' in svg and "waits for callback" in svg
    assert 'data-branch="PrepareOrder/AuthorizeAndReserve/0"' in svg, "the payment branch of the child is tinted"
    assert 'data-branch="PrepareOrder/"' not in svg, "the child's flow is colored by its task, not tinted whole"


def test_a_childs_states_show_their_own_names_inside_the_task_that_runs_them(graph, layout):
    svg = render_svg(graph, layout)
    task = re.search(r'<g class="([^"]*)" data-state="PrepareOrder" data-status="not-run">(.*?)</g>', svg, re.S)
    assert "container" in task[1].split() and "child-execution" in task[1].split()
    assert "Task · runs order-preparation" in task[2]
    validate = state_group(svg, "PrepareOrder/ValidateOrder")
    assert '<text class="name"' in validate and ">ValidateOrder</text>" in validate
    assert ">PrepareOrder/ValidateOrder<" not in validate
    assert "in the child execution PrepareOrder started (order-preparation)" in validate


def test_retries_show_their_count(order_stack, graph, layout):
    run = order_stack.run_order(sample_order(paymentToken="tok_flaky"), shipment="SHIPPED")
    svg = render_svg(graph, layout, drawn(run))
    assert 'data-state="PrepareOrder/AuthorizePayment" data-status="retried"' in svg
    assert "↻ 2 retries" in svg


def test_every_edge_label_is_drawn_whole(graph, layout):
    svg = render_svg(graph, layout)
    assert "…" not in svg
    drawn = [
        " ".join(unescape(line) for line in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", text))
        for text in re.findall(r'<g class="edge-label[^"]*"[^>]*>.*?</g>', svg, re.S)
    ]
    assert sorted(drawn) == sorted(" ".join(edge.label.split()) for edge in graph.edges if edge.label)


@pytest.mark.parametrize("status", list(StateStatus))
@pytest.mark.parametrize("retries", [0, 1, 9, 99])
def test_every_badge_fits_the_room_the_layout_leaves_it(status, retries):
    run = StateRun("Charge", status=status, retries=retries, entries=1)
    trace = trace_execution([], "RUNNING")
    trace.runs["Charge"] = run
    badge = _badge("Charge", status, trace)
    assert text_width(badge, BADGE_SIZE, bold=True) <= text_width(WIDEST_BADGE, BADGE_SIZE, bold=True), badge


def test_the_style_sets_the_font_the_boxes_were_measured_in_without_kerning():
    assert f"font-family: {FONT_FAMILY}; font-kerning: none;" in STYLE
    assert "font-weight: 600" not in STYLE, "Arial and its twins have no semibold: 600 would be drawn bold anyway"


def test_the_compensation_title_sits_clear_of_every_edge(graph, layout):
    svg = render_svg(graph, layout)
    title = re.search(r'<g class="compensation-region">.*?<text x="([\d.]+)" y="([\d.]+)">COMPENSATION</text>', svg)
    assert title, "the title found a free side"
    x, baseline = float(title[1]), float(title[2])
    width = text_width(REGION_TITLE, REGION_TITLE_SIZE, bold=True) + len(REGION_TITLE) * REGION_TITLE_SPACING
    for route in layout.routes:
        for (x1, y1), (x2, y2) in itertools.pairwise(route.points):
            inside_x = min(x1, x2) < x + width and x < max(x1, x2)
            inside_y = min(y1, y2) < baseline + 3 and baseline - 11 < max(y1, y2)
            assert not (inside_x and inside_y), route.edge


def edge_paths(svg: str, source: str) -> list[dict[str, str]]:
    """Every drawn edge out of ``source``: its classes, target and rules."""
    pattern = r'<path class="([^"]*)" data-source="([^"]*)" data-target="([^"]*)" data-rules="([^"]*)"'
    return [
        {"classes": classes, "target": unescape(target), "rules": rules}
        for classes, drawn_source, target, rules in re.findall(pattern, svg)
        if unescape(drawn_source) == source
    ]


def test_the_catchers_to_one_state_are_one_edge_whose_matched_catcher_is_marked(order_stack, graph, layout):
    run = order_stack.run_order(sample_order(), shipment="CANCEL")
    svg = render_svg(graph, layout, drawn(run))

    catches = [edge for edge in edge_paths(svg, "RequestShipment") if "catch" in edge["classes"].split()]
    assert catches == [{"classes": "edge catch taken", "target": "VoidOrRefundPayment", "rules": "0 1 2 3"}]
    (label,) = re.findall(r'<g class="edge-label catch taken" data-source="RequestShipment".*?</g>', svg, re.S)
    assert re.findall(r'<tspan[^>]* class="(\w+)">([^<]*)</tspan>', label) == [
        ("matched", "OrderCancelledError"),
        ("unmatched", "ShipmentFailedError"),
        ("unmatched", "Timeout, HeartbeatTimeout"),
        ("unmatched", "any error"),
    ]
    void = sorted((edge["target"], edge["classes"]) for edge in edge_paths(svg, "VoidOrRefundPayment"))
    assert void == [
        ("ReleaseInventory", "edge catch failure-path"),
        ("ReleaseInventory", "edge next failure-path taken"),
    ], "the compensation succeeded: its Next is taken, its Catch to the same state is not"


def test_a_catch_edge_of_one_catcher_marks_no_line(order_stack, graph, layout):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    svg = render_svg(graph, layout, drawn(run))

    (label,) = re.findall(r'<g class="edge-label catch taken" data-source="PrepareOrder".*?</g>', svg, re.S)
    assert "matched" not in label, "a label of one Catcher has nothing to tell apart"


def test_rules_the_history_cannot_tell_apart_are_drawn_possible():
    asl = {
        "StartAt": "Route",
        "QueryLanguage": "JSONata",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Condition": "{% $states.input.a %}", "Next": "Done"},
                    {"Condition": "{% $states.input.b %}", "Next": "Done"},
                ],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    graph = workflow_graph(asl)
    trace = ExecutionTrace({}, {("Route", "Done")}, {}, [Transition("Route", "Done", assigned={})])

    svg = render_svg(graph, layout_graph(graph), trace)

    assert sorted(edge["classes"] for edge in edge_paths(svg, "Route")) == [
        "edge choice possible",
        "edge choice possible",
        "edge default possible",
    ]
    assert "the history does not say which" in svg
