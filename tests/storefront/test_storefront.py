"""The sample storefront in headless Chromium against ``orders up --storefront``: a shopper signs in, orders, watches
the order complete over the WebSocket API, cancels another awaiting shipment and signs out; a second shopper's page
never shows the first one's events; a page of another origin can neither sign in nor call the API.

What came over the socket is what the page's live log shows (``#events``, one entry per socket message): nothing
else writes there, so an order's COMPLETED in that log was pushed, not polled.

Every wait is Playwright's, with a deadline (``PAGE_TIMEOUT_MS``, or ``LIVE_STATUS_TIMEOUT_MS`` for a whole order).
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, SHOPPER_ADA, SHOPPER_GRACE
from local.simulators.catalog import SEED_CATALOG
from tests.storefront.conftest import LIVE_STATUS_TIMEOUT_MS

KEYBOARD, MOUSE = "KB-TKL-01", "MS-ERGO-02"


def sign_in(page: Any, shop: Any, email: str) -> None:
    page.goto(shop.url)
    expect(page.locator("#catalog li")).to_have_count(len(SEED_CATALOG))
    page.fill("#email", email)
    page.fill("#password", LOCAL_PASSWORD)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#who")).to_have_text(email)
    expect(page.locator("#live")).to_have_text("live")


def check_out(page: Any, sku: str) -> str:
    """Put one ``sku`` in the cart, check out, and return the id of the order that appears in "My orders"."""
    before = page.eval_on_selector_all("#orders tbody tr", "rows => rows.map(row => row.dataset.orderId)")
    page.click(f'#catalog button[data-sku="{sku}"]')
    page.click("#checkout")
    page.wait_for_function(
        "known => [...document.querySelectorAll('#orders tbody tr')].some(row => !known.includes(row.dataset.orderId))",
        arg=before,
    )
    ids = page.eval_on_selector_all("#orders tbody tr", "rows => rows.map(row => row.dataset.orderId)")
    [order_id] = [order_id for order_id in ids if order_id not in before]
    return order_id


def row(page: Any, order_id: str) -> Any:
    return page.locator(f'#orders tr[data-order-id="{order_id}"]')


def pushed(page: Any, order_id: str, status: str) -> Any:
    """The live log's entry of the socket message that brought ``order_id``'s ``status``."""
    return page.locator(f'#events li[data-order-id="{order_id}"][data-status="{status}"]')


def logged_order_ids(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("#events li", "entries => entries.map(entry => entry.dataset.orderId)"))


def test_a_shopper_orders_watches_it_complete_live_cancels_another_and_signs_out(new_page, shop):
    page = new_page()
    sign_in(page, shop, SHOPPER_ADA.email)
    expect(page.locator("#catalog")).to_contain_text(SEED_CATALOG[0].name)

    completed = check_out(page, KEYBOARD)
    expect(pushed(page, completed, "COMPLETED")).to_have_count(1, timeout=LIVE_STATUS_TIMEOUT_MS)
    expect(row(page, completed).locator(".status")).to_have_text("COMPLETED")
    expect(row(page, completed)).to_contain_text("89.99 USD")
    for status in ("AWAITING_SHIPMENT", "SHIPPED"):
        expect(pushed(page, completed, status)).to_have_count(1)

    cancelled = check_out(page, MOUSE)
    expect(row(page, cancelled).locator(".status")).to_have_text("AWAITING_SHIPMENT")
    row(page, cancelled).get_by_role("button", name="Cancel").click()
    expect(pushed(page, cancelled, "CANCELLED")).to_have_count(1)
    expect(row(page, cancelled).locator(".status")).to_have_text("CANCELLED")
    expect(page.locator("#message")).to_be_hidden()
    assert shop.service.as_user(SHOPPER_ADA.email).request("GET", f"/orders/{cancelled}").body["status"] == "CANCELLED"

    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#who")).to_have_text("")
    expect(page.locator("#live")).to_have_text("offline")
    page.reload()
    expect(page.locator("#catalog li")).to_have_count(len(SEED_CATALOG))
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#signed-in")).to_be_hidden()


def test_a_second_shoppers_page_never_shows_the_first_shoppers_order_events(new_page, shop):
    ada, grace = new_page(), new_page()
    sign_in(ada, shop, SHOPPER_ADA.email)
    sign_in(grace, shop, SHOPPER_GRACE.email)

    adas = check_out(ada, KEYBOARD)
    expect(pushed(ada, adas, "AWAITING_SHIPMENT")).to_have_count(1)
    graces = check_out(grace, MOUSE)
    expect(pushed(grace, graces, "AWAITING_SHIPMENT")).to_have_count(1)

    assert logged_order_ids(grace) == {graces}
    assert adas in logged_order_ids(ada) and graces not in logged_order_ids(ada)
    expect(row(grace, adas)).to_have_count(0)


def test_a_page_of_another_origin_can_neither_call_the_api_nor_sign_in(new_page, shop):
    page = new_page()
    page.goto(f"http://localhost:{shop.port}/")
    expect(page.locator("#message")).to_have_text("The shop cannot be reached right now. Please try again.")
    expect(page.locator("#catalog li")).to_have_count(0)

    page.fill("#email", SHOPPER_ADA.email)
    page.fill("#password", LOCAL_PASSWORD)
    page.click("#sign-in button[type=submit]")

    expect(page.locator("#message")).to_have_text("Sign-in cannot be reached right now. Please try again.")
    expect(page.locator("#who")).to_have_text("")
    refusals = [line for line in shop.printed().splitlines() if f"origin http://localhost:{shop.port} " in line]
    assert any(line.startswith("the API refused GET /products: CORS") for line in refusals), refusals
    assert any(line.startswith("the AWS endpoint refused OPTIONS /: CORS") for line in refusals), refusals


def test_after_a_reconnect_the_page_reads_what_it_missed_from_the_api(new_page, shop):
    """The first socket loses every message (as a dropped connection would), then closes: the page reconnects and
    reads the order it missed the events of from ``GET /orders/{id}``."""
    page = new_page()
    sockets: list[Any] = []

    def first_loses_its_messages(socket: Any) -> None:
        server = socket.connect_to_server()
        sockets.append(socket)
        if len(sockets) == 1:
            server.on_message(lambda _message: None)

    page.route_web_socket(re.compile(r"^ws://"), first_loses_its_messages)
    sign_in(page, shop, SHOPPER_ADA.email)
    missed = check_out(page, KEYBOARD)
    shop.service.as_user(SHOPPER_ADA.email).wait_for_status(missed, "AWAITING_SHIPMENT")
    expect(row(page, missed).locator(".status")).to_have_text("RECEIVED")

    sockets[0].close()

    expect(row(page, missed).locator(".status")).to_have_text("AWAITING_SHIPMENT")
    expect(page.locator("#live")).to_have_text("live")
    assert len(sockets) == 2
    expect(pushed(page, missed, "AWAITING_SHIPMENT")).to_have_count(0)


OPEN_SOCKET = """url => new Promise(resolve => {
    const socket = new WebSocket(url);
    socket.onopen = () => { resolve("open"); socket.close(); };
    socket.onclose = event => resolve(`closed ${event.code}`);
})"""
"""Opens a socket from the page, as its own script would: ``open``, or how it closed before it opened."""


def test_the_socket_opens_for_a_valid_token_and_refuses_a_bad_one_or_a_page_of_another_origin(new_page, shop):
    token = shop.service.tokens.token(SHOPPER_ADA.email)
    header, payload, signature = token.split(".")
    socket_url = f"{shop.service.websocket_url}/?token="
    storefront, foreign = new_page(), new_page()
    storefront.goto(shop.url)
    foreign.goto(f"http://localhost:{shop.port}/")

    assert storefront.evaluate(OPEN_SOCKET, socket_url + token) == "open"
    assert storefront.evaluate(OPEN_SOCKET, socket_url + f"{header}.{payload}.{signature[::-1]}") == "closed 1006"
    assert storefront.evaluate(OPEN_SOCKET, socket_url + "not-a-token") == "closed 1006"
    assert foreign.evaluate(OPEN_SOCKET, socket_url + token) == "closed 1006"

    refusals = [line for line in shop.printed().splitlines() if line.startswith("the WebSocket API refused GET /")]
    assert any(f"CORS: requests from origin http://localhost:{shop.port} " in line for line in refusals), refusals
    assert all(token not in line and signature not in line for line in shop.printed().splitlines())
