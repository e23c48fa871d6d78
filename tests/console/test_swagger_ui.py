"""Swagger UI at /docs, as a frontend developer uses it in a browser: "Try it out" reaches the API.

The document's server URL is where the API answers (``/`` locally), so Execute gets the API's answer, not a 404.
Swagger UI and its assets come from the API itself (Powertools serves them inline): no CDN.
"""

from __future__ import annotations


def execute(page, operation_id: str) -> str:
    """Expand one operation, press "Try it out" and "Execute", and return the status Swagger UI shows."""
    block = page.locator(f"#operations-default-{operation_id}")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


def test_try_it_out_reaches_the_api_for_a_public_route(console_stack, page):
    page.goto(f"{console_stack.service.api_url}/docs")

    assert execute(page, "listProducts") == "200"


def test_try_it_out_with_a_token_lists_the_shoppers_orders(console_stack, page):
    service = console_stack.service
    token = service.tokens.token(service.users.shopper)
    page.goto(f"{service.api_url}/docs")
    page.locator("button.authorize").first.click()
    page.locator(".auth-container").filter(has_text="cognito").locator("input").fill(token)
    page.locator(".auth-container").filter(has_text="cognito").locator("button.authorize").click()
    page.locator("button.btn-done").first.click()

    assert execute(page, "listOrders") == "200"
