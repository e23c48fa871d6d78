"""The console in headless Chromium, against a local stack: find a failed order, read its graph, ship an order.

The graph holds the Express child order-preparation inside PrepareOrder, the task that runs it; its states are
``data-state="PrepareOrder/<state>"`` and are colored by the child execution's own history.

They also take the README's screenshots: into a temporary folder by default, and into docs/ when
UPDATE_SCREENSHOTS is set (`make screenshots`), so a test run never dirties the work tree.

Every ``wait_for_function`` takes a function (``() => …``), not an expression: Playwright evaluates an expression
with ``eval``, which the console's Content-Security-Policy refuses, as it should.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from local.aws.cognitoidp.identity import SHOPPER_ADA
from tests.console.support import FakeService, console_on_a_port
from tools.console.text_metrics import text_width

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where screenshots go: docs/ when refreshing the README's pictures, else a temporary folder."""
    return DOCS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path


DECLINED, OUT_OF_STOCK = "PAYMENT_DECLINED", "OUT_OF_STOCK"
EVENTS_DEADLINE_SECONDS = 20


@pytest.fixture(scope="module")
def orders(console_stack):
    """A mix of outcomes, as an ops person would find them: completed, declined, out of stock, waiting."""
    service = console_stack.service
    submitted = {
        "completed": console_stack.submit(),
        "declined": console_stack.submit(paymentToken="tok_declined"),
        "out_of_stock": console_stack.submit(items=[{"sku": "HDST-ANC-BT", "quantity": 5}]),
        "flaky": console_stack.submit(paymentToken="tok_flaky"),
        "waiting": console_stack.submit(),
    }
    service.wait_for_status(submitted["completed"], "AWAITING_SHIPMENT")
    service.request(
        "POST", f"/orders/{submitted['completed']}/shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z999AA1"}
    )
    service.wait_for_status(submitted["completed"], "COMPLETED")
    service.wait_for_status(submitted["declined"], DECLINED)
    service.wait_for_status(submitted["out_of_stock"], OUT_OF_STOCK)
    service.wait_for_status(submitted["flaky"], "AWAITING_SHIPMENT")
    service.wait_for_status(submitted["waiting"], "AWAITING_SHIPMENT")
    return submitted


PREPARATION = "PrepareOrder"
FILLS = {
    "succeeded": "rgb(220, 252, 231)",
    "caught": "rgb(255, 237, 213)",
    "failed": "rgb(254, 226, 226)",
    "not-run": "rgb(248, 250, 252)",
}
"""The fill each outcome gives a state's box (render.STYLE), as Chromium computes it."""
CHILD_OUTCOMES = {
    "completed": {
        "ValidateOrder": "succeeded",
        "AuthorizeAndReserve": "succeeded",
        "AuthorizePayment": "succeeded",
        "PaymentAuthorizationFailed": "not-run",
        "ReserveInventory": "succeeded",
        "InventoryReservationFailed": "not-run",
        "CheckAuthorizedAndReserved": "succeeded",
        "PaymentNotAuthorized": "not-run",
        "StockNotReserved": "not-run",
        "Prepared": "succeeded",
    },
    "declined": {
        "ValidateOrder": "succeeded",
        "AuthorizeAndReserve": "succeeded",
        "AuthorizePayment": "caught",
        "PaymentAuthorizationFailed": "succeeded",
        "ReserveInventory": "succeeded",
        "InventoryReservationFailed": "not-run",
        "CheckAuthorizedAndReserved": "succeeded",
        "PaymentNotAuthorized": "failed",
        "StockNotReserved": "not-run",
        "Prepared": "not-run",
    },
}
"""Each state of the child, by its own name, and what it did in that order's preparation."""


def status_of(page, state: str) -> str:
    return page.get_attribute(f'#graph [data-state="{state}"]', "data-status")


def child(state: str) -> str:
    return f"{PREPARATION}/{state}"


NESTED_STATES = """(task) => {
  const svg = document.querySelector("#graph svg");
  const box = (element) => {
    const b = element.getBBox();
    return { x: b.x, y: b.y, right: b.x + b.width, bottom: b.y + b.height };
  };
  const holder = svg.querySelector(`[data-state="${task}"]`);
  const outer = box(holder.querySelector(":scope > rect"));
  const states = [...svg.querySelectorAll(`[data-execution="${task}"]`)].map((group) => {
    const rect = group.querySelector(":scope > rect"), inner = box(rect);
    return {
      state: group.dataset.state,
      status: group.dataset.status,
      name: group.querySelector(":scope > text.name").textContent,
      inside: inner.x > outer.x && inner.right < outer.right && inner.y > outer.y && inner.bottom < outer.bottom,
      fill: getComputedStyle(rect).fill,
    };
  });
  return { holder: holder.dataset.status, header: holder.textContent, states };
}"""
"""The child's states drawn in the graph: their outcome, the name they show, whether they sit inside the task that
ran them, and the fill Chromium paints them with."""


GRAPH_GEOMETRY = """() => {
  const svg = document.querySelector("#graph svg");
  const box = (element) => {
    const b = element.getBBox();
    return { x: b.x, y: b.y, right: b.x + b.width, bottom: b.y + b.height };
  };
  const within = (inner, outer, margin) => inner.x >= outer.x + margin && inner.right <= outer.right - margin
    && inner.y >= outer.y && inner.bottom <= outer.bottom;
  const inside = ([x, y], b) => x > b.x + 0.5 && x < b.right - 0.5 && y > b.y + 0.5 && y < b.bottom - 0.5;
  const lines = (text) => [...text.querySelectorAll("tspan")].map((line) => line.textContent).join(" ");
  const problems = [];
  const texts = [];
  for (const group of svg.querySelectorAll("[data-state], [data-pseudo], .compensation-region")) {
    const frames = [...group.querySelectorAll(":scope > rect")].map(box);
    for (const text of group.querySelectorAll(":scope > text")) {
      if (!text.textContent) continue;
      const bounds = box(text);
      if (!frames.some((frame) => within(bounds, frame, 4))) problems.push(`"${text.textContent}" leaves its box`);
      texts.push({ text: text.textContent, length: text.getComputedTextLength(), style: getComputedStyle(text) });
    }
  }
  const labels = [];
  for (const group of svg.querySelectorAll(".edge-label")) {
    const text = group.querySelector("text"), background = box(group.querySelector("rect"));
    const whole = group.querySelector("title").textContent.split(/\\s+/).join(" ");
    if (lines(text) !== whole) problems.push(`label "${lines(text)}" is cut`);
    if (!within(box(text), background, 1)) problems.push(`label "${lines(text)}" leaves its background`);
    for (const line of text.querySelectorAll("tspan")) {
      texts.push({ text: line.textContent, length: line.getComputedTextLength(), style: getComputedStyle(line) });
    }
    labels.push({ text: lines(text), bounds: background });
  }
  for (const title of svg.querySelectorAll(".compensation-region text")) {
    labels.push({ text: title.textContent, bounds: box(title) });
  }
  const edges = [...svg.querySelectorAll("path.edge")];
  for (const path of edges) {
    const length = path.getTotalLength();
    const points = [];
    for (let at = 0; at <= length; at += 1) {
      const point = path.getPointAtLength(at);
      points.push([point.x, point.y]);
    }
    for (const label of labels) {
      if (points.some((point) => inside(point, label.bounds))) {
        const edge = `${path.getAttribute("class")} ${path.querySelector("title").textContent}`;
        problems.push(`${edge} crosses "${label.text}"`);
      }
    }
  }
  return {
    problems,
    ellipses: svg.textContent.includes("…"),
    taken: edges.filter((path) => path.classList.contains("taken")).length,
    catches: edges.filter((path) => path.classList.contains("catch")).length,
    labels: labels.length,
    texts: texts.map(({ text, length, style }) => ({
      text, length, size: parseFloat(style.fontSize), bold: Number(style.fontWeight) >= 600,
      spacing: parseFloat(style.letterSpacing) || 0,
    })),
  };
}"""
"""The rendered graph's text boxes: each text inside its box or label background, each label whole, no edge
through a label, and every line as wide as ``text_metrics`` said (the font the boxes were sized for is used)."""


def test_the_list_shows_the_orders_just_submitted_and_finds_the_failed_one(console_stack, orders, page, screenshots):
    page.goto(console_stack.url)
    for order_id in orders.values():
        page.wait_for_selector(f'tr[data-order-id="{order_id}"]')
    declined_row = page.locator(f'tr[data-order-id="{orders["declined"]}"]')
    assert "FAILED" in declined_row.inner_text() and DECLINED in declined_row.inner_text()
    customer = console_stack.detail(orders["declined"])["order"]["customerId"]
    assert declined_row.locator("td.customer .email").inner_text() == SHOPPER_ADA.email, "the pool's e-mail"
    assert declined_row.locator("td.customer .sub").inner_text() == customer, "beside the sub the order records"
    failed = console_stack.failed_executions()
    page.wait_for_function(
        "(failed) => document.querySelector('[data-status=\"FAILED\"] .count').textContent === String(failed)",
        arg=failed,
    )
    page.set_viewport_size({"width": 1400, "height": 360})
    page.screenshot(path=str(screenshots / "console-list.png"), full_page=True)

    page.click('.chip[data-status="FAILED"]')
    page.wait_for_function(
        "() => [...document.querySelectorAll('#execution-rows tr')].every(row => row.dataset.status === 'FAILED')"
    )
    assert page.locator("#execution-rows tr").count() == failed

    page.select_option("#order-status", DECLINED)
    page.wait_for_function("() => document.querySelectorAll('#execution-rows tr').length === 1")
    page.click(f'a[href="/executions/{orders["declined"]}"]')
    page.wait_for_url(f"**/executions/{orders['declined']}")
    page.wait_for_selector('#graph [data-state="OrderFailed"]')


class ServiceWithAnEmailOfMarkup(FakeService):
    """One execution whose customer's e-mail, as the pool holds it, is markup: the page must show it as text."""

    EMAIL = '<img src=x id=injected onerror="document.title=1">@example.com'

    def executions(self, **filters: Any) -> dict[str, Any]:
        row = {"name": "ord-1", "executionArn": "arn:x:ord-1", "status": "RUNNING", "startDate": None, "stopDate": None}
        return {"executions": [{**row, "customerId": "0f1e-sub", "customerEmail": self.EMAIL}], "next": None}


def test_a_customers_email_is_shown_as_text_never_as_markup(page):
    with console_on_a_port(ServiceWithAnEmailOfMarkup()) as listener:
        page.goto(listener.url)
        page.wait_for_selector('tr[data-order-id="ord-1"]')
        cell = page.locator('tr[data-order-id="ord-1"] td.customer')
        assert cell.locator(".email").inner_text() == ServiceWithAnEmailOfMarkup.EMAIL
        assert cell.locator(".sub").inner_text() == "0f1e-sub"
        assert page.locator("#injected").count() == 0


def test_search_by_order_id(console_stack, orders, page):
    page.goto(console_stack.url)
    page.fill("#search", orders["waiting"])
    page.press("#search", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#execution-rows tr').length === 1")
    assert page.locator("#execution-rows tr").get_attribute("data-order-id") == orders["waiting"]


def test_a_list_refresh_answered_after_a_search_does_not_overwrite_the_search(console_stack, orders, page):
    held = []

    def hold_the_unfiltered_list(route):
        if "q=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/executions?*", hold_the_unfiltered_list)
    page.goto(console_stack.url)
    page.fill("#search", orders["waiting"])
    page.press("#search", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#execution-rows tr').length === 1")
    assert len(held) == 1, "the list refresh that started before the search should still be unanswered"
    stale_refresh = held.pop()
    with page.expect_response(lambda response: response.request == stale_refresh.request):
        stale_refresh.continue_()
    page.unroute("**/api/executions?*")
    page.wait_for_load_state("networkidle")
    rows = page.locator("#execution-rows tr")
    assert rows.count() == 1 and rows.get_attribute("data-order-id") == orders["waiting"]


def test_a_declined_order_shows_its_failed_branch_and_its_compensation(console_stack, orders, page, screenshots):
    page.set_viewport_size({"width": 1680, "height": 1620})
    page.goto(f"{console_stack.url}/executions/{orders['declined']}")
    page.wait_for_selector('#graph [data-state="OrderFailed"]')
    assert status_of(page, "OrderFailed") == "failed"
    failed_fill = "getComputedStyle(document.querySelector('#graph [data-state=\"OrderFailed\"] rect')).fill"
    assert page.evaluate(failed_fill) == FILLS["failed"], "the graph's own stylesheet applies under the policy"
    assert status_of(page, PREPARATION) == "caught"
    assert status_of(page, child("AuthorizePayment")) == "caught"
    assert status_of(page, child("ReserveInventory")) == "succeeded"
    assert [status_of(page, name) for name in ("VoidOrRefundPayment", "ReleaseInventory", "RecordFailure")] == [
        "succeeded"
    ] * 3
    assert status_of(page, "RequestShipment") == "not-run"
    assert f"FAILED: {DECLINED}" in page.inner_text("#execution-error")
    assert DECLINED in page.inner_text("#order-details")

    page.click(f'#graph [data-state="{child("AuthorizePayment")}"]')
    page.wait_for_function(
        "(state) => document.getElementById('state-hint').textContent === state", arg=child("AuthorizePayment")
    )
    details = page.inner_text("#state-details")
    assert "PaymentDeclinedError" in details and "caught" in details and "card declined" in details
    assert "child execution" in details.lower() and ":execution:order-preparation:" in details and "FAILED" in details
    page.screenshot(path=str(screenshots / "console-detail.png"))

    events = page.inner_text("#event-rows")
    assert "TaskFailed" in events and "ExecutionFailed" in events


OUT_EDGES = """(source) => [...document.querySelectorAll("#graph path.edge")]
  .filter((path) => path.dataset.source === source)
  .map((path) => ({
    target: path.dataset.target,
    rules: path.dataset.rules,
    classes: [...path.classList],
    title: path.querySelector("title").textContent,
    width: parseFloat(getComputedStyle(path).strokeWidth),
    dashes: getComputedStyle(path).strokeDasharray,
  }))"""
"""Every drawn edge out of one state: where it goes, the rule it draws, its classes, its drawn stroke width and
dashes."""
CATCH_LINES = """(source) => [...document.querySelectorAll(`#graph .edge-label.catch[data-source="${source}"] tspan`)]
  .map((line) => ({
    text: line.textContent,
    matched: line.classList.contains("matched"),
    bold: Number(getComputedStyle(line).fontWeight) >= 600,
  }))"""
"""The lines of a state's Catch label as drawn: each Catcher's text, whether it took the error, whether it is bold."""


@pytest.mark.parametrize(
    ("outcome", "rule", "condition", "entered", "candidates"),
    [
        ("declined", "1", "PaymentDeclinedError", "PaymentNotAuthorized", ["0", "2"]),
        ("out_of_stock", "2", "OutOfStockError", "StockNotReserved", ["1", "3"]),
    ],
)
def test_only_the_choice_rule_the_history_names_is_drawn_taken(
    console_stack, orders, page, outcome, rule, condition, entered, candidates
):
    """RoutePreparationFailure's rules to VoidOrRefundPayment each assign their own ``failureStatus``: the one whose
    assignment the history records is taken. CheckAuthorizedAndReserved's two rules to the state it entered assign
    nothing, so neither is taken: both are drawn possible, and nothing to a state not entered is drawn either way."""
    page.goto(f"{console_stack.url}/executions/{orders[outcome]}")
    page.wait_for_selector('#graph [data-state="RoutePreparationFailure"][data-status="succeeded"]')

    edges = page.evaluate(OUT_EDGES, "RoutePreparationFailure")

    assert len(edges) == 5, "four rules and the Default, each drawn"
    taken = [edge for edge in edges if "taken" in edge["classes"]]
    assert len(taken) == 1, edges
    (matched,) = taken
    assert (matched["target"], matched["rules"]) == ("VoidOrRefundPayment", rule)
    assert "choice" in matched["classes"] and f"preparationFailure.Error = {condition}" in matched["title"]
    others = [edge for edge in edges if edge is not matched]
    assert not any({"taken", "possible"} & set(edge["classes"]) for edge in others)
    assert all(edge["width"] < matched["width"] for edge in others), "the one taken is the one drawn thick"

    child_choice = page.evaluate(OUT_EDGES, child("CheckAuthorizedAndReserved"))
    assert len(child_choice) == 5, "four rules and the Default, each drawn"
    assert [edge for edge in child_choice if "taken" in edge["classes"]] == []
    possible = [edge for edge in child_choice if "possible" in edge["classes"]]
    assert sorted((edge["target"], edge["rules"]) for edge in possible) == [
        (child(entered), position) for position in candidates
    ]
    assert all("the history does not say which" in edge["title"] for edge in possible)
    not_entered = [edge for edge in child_choice if edge["target"] != child(entered)]
    assert len(not_entered) == 3 and not any({"taken", "possible"} & set(edge["classes"]) for edge in not_entered)
    assert all(status_of(page, edge["target"]) == "not-run" for edge in not_entered), "they were not entered"
    assert all(edge["width"] < matched["width"] for edge in possible), "only the one taken is drawn thick"
    assert matched["dashes"] == "none" and all(edge["dashes"] != "none" for edge in possible), "possible is dotted"


def test_a_compensation_draws_its_next_taken_and_its_catch_not(console_stack, orders, page):
    page.goto(f"{console_stack.url}/executions/{orders['declined']}")
    page.wait_for_selector('#graph [data-state="VoidOrRefundPayment"][data-status="succeeded"]')

    edges = page.evaluate(OUT_EDGES, "VoidOrRefundPayment")

    assert sorted((edge["target"], "taken" in edge["classes"], "catch" in edge["classes"]) for edge in edges) == [
        ("ReleaseInventory", False, True),
        ("ReleaseInventory", True, False),
    ]


def test_an_orders_events_on_the_bus_show_beside_its_timeline(console_stack, orders, page):
    order_id = orders["declined"]
    timeline = [
        entry["status"] for entry in console_stack.service.request("GET", f"/orders/{order_id}").body["timeline"]
    ]
    give_up = time.monotonic() + EVENTS_DEADLINE_SECONDS
    while len(console_stack.detail(order_id)["orderEvents"]) < len(timeline):
        assert time.monotonic() < give_up, "the console's queue did not receive the order's events in time"
        time.sleep(0.2)

    page.goto(f"{console_stack.url}/executions/{order_id}")
    page.wait_for_selector(".order-events li")

    assert page.inner_text("#order-details").lower().count(f"events on the orders bus ({len(timeline)})") == 1
    rows = page.locator(".order-events li").all_inner_texts()
    assert [row.split("→")[1].split()[0] for row in rows] == timeline
    assert rows[0].startswith("#1")


@pytest.mark.parametrize("outcome", ["declined", "flaky"])
def test_the_graph_has_no_truncated_label_and_no_edge_through_one(console_stack, orders, page, outcome):
    page.goto(f"{console_stack.url}/executions/{orders[outcome]}")
    page.wait_for_selector('#graph [data-state="OrderFailed"]')
    geometry = page.evaluate(GRAPH_GEOMETRY)
    assert geometry["problems"] == []
    assert not geometry["ellipses"]
    assert geometry["taken"] >= 4 and geometry["catches"] >= 10 and geometry["labels"] >= 15, "the checks saw edges"
    measured = [text for text in geometry["texts"] if all(" " <= char <= "~" or char == "·" for char in text["text"])]
    assert len(measured) > 50
    for text in measured:
        expected = text_width(text["text"], text["size"], bold=text["bold"]) + len(text["text"]) * text["spacing"]
        assert text["length"] == pytest.approx(expected, abs=0.5), text


@pytest.mark.parametrize("outcome", ["completed", "declined"])
def test_the_childs_states_are_nested_in_the_task_that_ran_them_in_their_outcomes_colors(
    console_stack, orders, page, outcome
):
    page.goto(f"{console_stack.url}/executions/{orders[outcome]}")
    page.wait_for_selector(f'#graph [data-state="{child("Prepared")}"]')
    page.wait_for_selector("#event-rows tr")
    drawn = page.evaluate(NESTED_STATES, PREPARATION)
    assert drawn["holder"] == ("succeeded" if outcome == "completed" else "caught")
    assert "runs order-preparation" in drawn["header"]
    expected = CHILD_OUTCOMES[outcome]
    assert {state["name"]: state["status"] for state in drawn["states"]} == expected
    for state in drawn["states"]:
        assert state["state"] == child(state["name"]), "keyed apart from the parent's states"
        assert state["inside"], f"{state['name']} is drawn outside {PREPARATION}"
        assert state["fill"] == FILLS[expected[state["name"]]], state

    child_rows = page.locator(f'#event-rows tr[data-execution="{PREPARATION}"]')
    last = "ExecutionSucceeded" if outcome == "completed" else "ExecutionFailed"
    assert child_rows.count() >= 20 and last in child_rows.last.inner_text()
    assert child("CheckAuthorizedAndReserved") in page.inner_text("#event-rows")


def test_a_retried_state_shows_its_count(console_stack, orders, page):
    page.goto(f"{console_stack.url}/executions/{orders['flaky']}")
    page.wait_for_selector(f'#graph [data-state="{child("AuthorizePayment")}"]')
    assert status_of(page, child("AuthorizePayment")) == "retried"
    assert "2 retries" in page.text_content(f'#graph [data-state="{child("AuthorizePayment")}"]')


def test_confirming_a_shipment_completes_the_order_before_your_eyes(console_stack, orders, page):
    page.goto(f"{console_stack.url}/executions/{orders['waiting']}")
    page.wait_for_selector('#graph [data-state="RequestShipment"][data-status="running"]')
    assert page.inner_text("#execution-status") == "RUNNING"
    page.evaluate("window.sameDocument = true")

    page.fill("#tracking-number", "1ZCONSOLE0001")
    page.click("#action-ship")
    page.wait_for_function("() => document.getElementById('execution-status').textContent === 'SUCCEEDED'")
    assert page.evaluate("window.sameDocument") is True, "the page updated in place, without a reload"
    assert status_of(page, "RequestShipment") == "succeeded"
    assert status_of(page, "CapturePayment") == "succeeded"
    assert "COMPLETED" in page.inner_text("#order-details")
    assert page.is_hidden("#action-ship")
    order = console_stack.service.request("GET", f"/orders/{orders['waiting']}").body
    assert order["trackingNumber"] == "1ZCONSOLE0001", "the shipment went through the order API"


def test_actions_need_the_sessions_csrf_token(console_stack, orders):
    """The header a page could once add is not enough: without the token only the console's page can read, no."""
    url = f"{console_stack.url}/api/orders/{orders['flaky']}/cancel"
    headers = {"Content-Type": "application/json", "X-Orders-Console": "1"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", headers=headers, method="POST"), timeout=10)
    assert refused.value.code == 403
    assert console_stack.order_status(orders["flaky"]) == "AWAITING_SHIPMENT"


def test_the_list_refreshes_on_its_own(console_stack, orders, page):
    page.goto(console_stack.url)
    page.wait_for_selector(f'tr[data-order-id="{orders["declined"]}"]')
    page.evaluate("window.sameDocument = true")
    newcomer = console_stack.submit()
    page.wait_for_selector(f'tr[data-order-id="{newcomer}"]', timeout=15_000)
    assert page.evaluate("window.sameDocument") is True


def test_an_unknown_order_says_so(console_stack, page):
    page.goto(f"{console_stack.url}/executions/ord-unknown")
    page.wait_for_selector("#execution-error:has-text('no execution named')")
    assert page.is_hidden("#detail-body")


def test_cancelling_a_waiting_order_compensates_it(console_stack, page):
    order_id = console_stack.submit()
    console_stack.service.wait_for_status(order_id, "AWAITING_SHIPMENT")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{console_stack.url}/executions/{order_id}")
    page.wait_for_selector('#graph [data-state="RequestShipment"][data-status="running"]')
    page.context.clear_cookies()  # as after a console restart: the page's token is stale, and it reads a new one
    cancels = []
    page.on("response", lambda response: response.url.endswith("/cancel") and cancels.append(response.status))
    page.click("#action-cancel")
    page.wait_for_function("() => document.getElementById('execution-status').textContent === 'FAILED'")
    assert cancels == [403, 202], "refused once for the stale token, then sent as the operator with a new one"
    assert status_of(page, "RequestShipment") == "caught"
    assert [status_of(page, name) for name in ("VoidOrRefundPayment", "ReleaseInventory", "RecordFailure")] == [
        "succeeded"
    ] * 3
    assert status_of(page, "OrderFailed") == "failed"
    assert status_of(page, child("Prepared")) == "succeeded", "the child had prepared the order before"
    assert "CANCELLED" in page.inner_text("#order-details")

    catches = [edge for edge in page.evaluate(OUT_EDGES, "RequestShipment") if "catch" in edge["classes"]]
    assert [(edge["target"], edge["rules"], "taken" in edge["classes"]) for edge in catches] == [
        ("VoidOrRefundPayment", "0 1 2 3", True)
    ]
    lines = page.evaluate(CATCH_LINES, "RequestShipment")
    assert lines == [
        {"text": "OrderCancelledError", "matched": True, "bold": True},
        {"text": "ShipmentFailedError", "matched": False, "bold": False},
        {"text": "Timeout, HeartbeatTimeout", "matched": False, "bold": False},
        {"text": "any error", "matched": False, "bold": False},
    ], "one Catch edge, one line per Catcher: the one that took the cancellation in bold"
    assert page.evaluate(GRAPH_GEOMETRY)["problems"] == []
