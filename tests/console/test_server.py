"""The console's WSGI app and its listener, without a browser or a stack: a fake service records what got through.

The app alone runs under werkzeug's test client; what depends on the wire (the Host and Origin guard, framing,
keep-alive) runs against the app served by waitress on a free port, through raw sockets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from typing import Any

import boto3
import pytest
from werkzeug.test import Client

from local.endpoint.listener import PortInUseError
from tests.console.support import FakeOperator, FakeService, console_on_a_port, exchange, request_bytes
from tools.console.api_caller import OrderApiCaller
from tools.console.graph import workflow_graph
from tools.console.layout import layout_graph
from tools.console.render import STYLE, render_svg
from tools.console.server import (
    CONTENT_SECURITY_POLICY,
    STATIC_DIR,
    ConsoleApp,
    ConsolePortInUseError,
    ConsoleServer,
)
from tools.console.service import ConsoleService
from tools.console.sessions import Sessions, cookie_name

PORT = 8233
BASE = f"http://127.0.0.1:{PORT}"
COOKIE = cookie_name(PORT)


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def client(service) -> Client:
    return Client(ConsoleApp(service))


def session_of(client: Client) -> str:
    """Open a session as the page does; the client keeps the cookie. Returns the CSRF token."""
    return client.get("/api/session", base_url=BASE).json["csrfToken"]


def post(client: Client, path: str, body: object = None, **headers: str):
    return client.post(
        path,
        base_url=BASE,
        data=json.dumps({} if body is None else body),
        headers={"Content-Type": "application/json", **headers},
    )


def assert_secured(headers) -> None:
    policy = headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"):
        assert directive in policy, (directive, policy)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_every_answer_carries_the_security_headers(client):
    answers = {
        "page": client.get("/", base_url=BASE),
        "detail page": client.get("/executions/ord-1", base_url=BASE),
        "script": client.get("/static/console.js", base_url=BASE),
        "json": client.get("/api/counts", base_url=BASE),
        "svg": client.get("/api/executions/ord-1/graph.svg", base_url=BASE),
        "not found": client.get("/nowhere", base_url=BASE),
        "wrong method": client.put("/api/counts", base_url=BASE),
        "refused action": client.post("/api/executions/ord-1/stop", base_url=BASE),
    }
    assert {what: answer.status_code for what, answer in answers.items()} == {
        "page": 200,
        "detail page": 200,
        "script": 200,
        "json": 200,
        "svg": 200,
        "not found": 404,
        "wrong method": 405,
        "refused action": 403,
    }
    for answer in answers.values():
        assert_secured(answer.headers)
    assert answers["not found"].json == {"message": "no page at /nowhere"}
    assert "javascript" in answers["script"].headers["Content-Type"]


def test_the_pages_need_nothing_the_policy_refuses():
    """No inline script or style in the page; the graph's own stylesheet is admitted by its hash alone."""
    html = (STATIC_DIR / "index.html").read_text()
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert 'src="/static/console.js"' in html
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    graph = workflow_graph({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    assert f"<style>{STYLE}</style>" in render_svg(graph, layout_graph(graph))


def test_a_session_is_an_http_only_same_site_strict_cookie_kept_across_reads(client):
    first = client.get("/api/session", base_url=BASE)
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    again = client.get("/api/session", base_url=BASE)
    assert "Set-Cookie" not in again.headers
    assert again.json["csrfToken"] == first.json["csrfToken"]


def test_a_cookie_this_console_did_not_issue_is_replaced(client):
    """A cookie set by another service of 127.0.0.1 (cookies ignore ports), or by a console since restarted."""
    client.set_cookie(COOKIE, "chosen-by-someone-else", domain="127.0.0.1")
    answer = client.get("/api/session", base_url=BASE)
    assert "chosen-by-someone-else" not in answer.headers["Set-Cookie"]
    restarted = Client(ConsoleApp(FakeService()))
    restarted.set_cookie(COOKIE, Sessions().new(), domain="127.0.0.1")
    assert "Set-Cookie" in restarted.get("/api/session", base_url=BASE).headers


class PagedExecutions:
    """A Step Functions client with two pages of one execution each; it records every nextToken it is given."""

    ARN = "arn:aws:states:us-east-1:123456789012:execution:order-workflow:"

    def __init__(self) -> None:
        self.tokens: list[str | None] = []

    def list_executions(self, **request: Any) -> dict[str, Any]:
        token = request.get("nextToken")
        self.tokens.append(token)
        if token is None:
            return {"executions": [{"executionArn": self.ARN + "ord-1", "status": "RUNNING"}], "nextToken": "page-2"}
        return {"executions": [{"executionArn": self.ARN + "ord-2", "status": "RUNNING"}]}


class NoOrders:
    def get_item(self, **request: Any) -> dict[str, Any]:
        return {}


def forged(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def test_a_page_token_this_console_did_not_hand_out_is_a_400_that_reaches_no_aws_call():
    """A forged token once reached ``KeyError: 'executions'``: a 500."""
    stepfunctions = PagedExecutions()
    service = ConsoleService(
        stepfunctions, NoOrders(), "orders", PagedExecutions.ARN, OrderApiCaller("http://127.0.0.1:9", FakeOperator())
    )
    client = Client(ConsoleApp(service))

    def listed(**query: str):
        return client.get("/api/executions", base_url=BASE, query_string=query)

    try:
        first = listed().json
        second = listed(page=first["next"])
        signature = first["next"].rpartition(".")[2]
        answers = {
            "no listing in it": listed(page=forged({})),
            "a position of its own": listed(page=forged({"executions": "page-9"})),
            "a list": listed(page=forged([1])),
            "not base64": listed(page="%%%é"),
            "altered": listed(page=forged({"executions": "page-9"}) + "." + signature),
            "of another listing": listed(page=first["next"], orderStatus="RECEIVED"),
        }
    finally:
        service.close()

    assert [row["name"] for row in second.json["executions"]] == ["ord-2"]
    assert {what: answer.status_code for what, answer in answers.items()} == dict.fromkeys(answers, 400)
    for answer in answers.values():
        assert "start again from the first page" in answer.json["message"]
    assert stepfunctions.tokens == [None, "page-2"], "no forged position reached Step Functions"


def test_an_action_without_this_sessions_token_is_refused_and_not_run(client, service):
    refused = post(client, "/api/executions/ord-1/stop")
    assert refused.status_code == 403 and refused.json["error"] == "csrf"
    token = session_of(client)
    assert post(client, "/api/executions/ord-1/stop", **{"X-CSRF-Token": "0" * 64}).status_code == 403
    assert post(client, "/api/orders/ord-1/cancel", **{"X-CSRF-Token": token + "0"}).status_code == 403
    other = Client(ConsoleApp(service))
    assert post(other, "/api/orders/ord-1/cancel", **{"X-CSRF-Token": token}).status_code == 403, "no cookie"
    other_token = session_of(other)
    assert post(client, "/api/orders/ord-1/cancel", **{"X-CSRF-Token": other_token}).status_code == 403
    assert post(client, "/api/orders/ord-1/cancel", **{"X-CSRF-Token": "tökén"}).status_code == 403
    assert service.stops == [] and service.order_actions == []


def test_an_action_takes_a_json_object_and_nothing_else(client, service):
    token = {"X-CSRF-Token": session_of(client)}
    path = "/api/orders/ord-1/cancel"
    form = client.post(path, base_url=BASE, data={"reason": "x"}, headers=token)
    assert form.status_code == 415
    text = client.post(path, base_url=BASE, data='{"reason": "x"}', headers={**token, "Content-Type": "text/plain"})
    assert text.status_code == 415
    for body in (b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        answer = client.post(path, base_url=BASE, data=body, headers={**token, "Content-Type": "application/json"})
        assert answer.status_code == 400, body
        assert "message" in answer.json
    huge = post(client, path, {"reason": "x" * 70_000}, **token)
    assert huge.status_code == 400 and "larger than" in huge.json["message"]
    assert service.order_actions == []


def test_the_pages_own_actions_go_through(client, service):
    token = {"X-CSRF-Token": session_of(client)}
    stopped = post(client, "/api/executions/ord-1/stop", **token)
    assert stopped.status_code == 200 and service.stops == ["ord-1"]
    shipped = post(client, "/api/orders/ord-2/shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z"}, **token)
    cancelled = post(client, "/api/orders/ord-3/cancel", {"reason": "duplicate"}, **token)
    assert (shipped.status_code, cancelled.status_code) == (202, 202)
    assert service.order_actions == [
        ("ord-2", "shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z"}),
        ("ord-3", "cancel", {"reason": "duplicate"}),
    ]
    assert post(client, "/api/orders/ord-3/refund", **token).status_code == 404
    assert client.get("/api/executions/ord-1/stop", base_url=BASE).status_code == 405


def test_a_read_that_fails_is_a_json_answer_not_a_traceback(service):
    def broken(name):
        raise RuntimeError("boom")

    service.execution = broken
    answer = Client(ConsoleApp(service)).get("/api/executions/ord-1", base_url=BASE)
    assert answer.status_code == 500
    assert answer.json == {"message": "the console failed to answer; its log says why"}


@pytest.fixture
def served(service):
    with console_on_a_port(service) as listener:
        yield listener


def session_on(port: int) -> tuple[str, str]:
    """A session opened over the wire: (the Cookie header's value, its CSRF token)."""
    (answer,) = exchange(port, request_bytes("GET", "/api/session", port))
    cookie = answer.headers["set-cookie"].split(";", 1)[0]
    return cookie, answer.json()["csrfToken"]


def action(port: int, path: str, cookie: str, token: str | None, **headers: str) -> bytes:
    all_headers = {"Cookie": cookie, "Content-Type": "application/json", **headers}
    if token is not None:
        all_headers["X-CSRF-Token"] = token
    return request_bytes("POST", path, port, all_headers, b"{}")


def test_a_foreign_host_is_refused(served):
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own name as Host."""
    for host in ("evil.example", f"evil.example:{served.port}", "127.0.0.1:1", f"127.0.0.1.nip.io:{served.port}"):
        (answer,) = exchange(served.port, request_bytes("GET", "/api/counts", served.port, {"Host": host}))
        assert answer.status == 403, (host, answer)
    (own,) = exchange(
        served.port, request_bytes("GET", "/api/counts", served.port, {"Host": f"localhost:{served.port}"})
    )
    assert own.status == 200


def test_a_post_from_a_foreign_origin_is_refused_even_with_the_token(served, service):
    cookie, token = session_on(served.port)
    for origin in ("http://evil.example", f"http://127.0.0.1:{served.port + 1}", "null"):
        (answer,) = exchange(
            served.port, action(served.port, "/api/executions/ord-1/stop", cookie, token, Origin=origin)
        )
        assert answer.status == 403, (origin, answer)
    assert service.stops == []
    (own,) = exchange(
        served.port,
        action(served.port, "/api/executions/ord-1/stop", cookie, token, Origin=f"http://127.0.0.1:{served.port}"),
    )
    assert own.status == 200 and service.stops == ["ord-1"]


@pytest.mark.parametrize(
    ("length", "status"), [("abc", 400), ("-1", 400), ("1e3", 400), ("0x10", 400), ("9" * 23, 413)]
)
def test_a_broken_content_length_is_a_quick_400(served, service, length, status):
    """Quick: answered at once from the headers, not after waiting for a body that never comes (the client sends no
    more and keeps the connection open; the server would wait ``channel_timeout`` for it, past the exchange's guard)."""
    cookie, token = session_on(served.port)
    answers = exchange(
        served.port, action(served.port, "/api/executions/ord-1/stop", cookie, token, **{"Content-Length": length})
    )
    assert [answer.status for answer in answers] == [status]
    assert b"Traceback" not in answers[0].body and b"File " not in answers[0].body
    assert service.stops == []


def test_a_body_is_never_read_as_a_second_request(served, service):
    """The attack the review found: a refused POST whose body is a whole request that would pass every check.

    The connection is kept alive and a harmless read follows: its answer must come second, which proves the
    server skipped the body instead of parsing it (parsed, the smuggled stop's answer would come second).
    """
    cookie, token = session_on(served.port)
    smuggled = action(served.port, "/api/executions/ord-1/stop", cookie, token)
    carrier = request_bytes(
        "POST",
        "/api/executions/ord-1/stop",
        served.port,
        {"Cookie": cookie, "Content-Type": "text/plain", "Connection": "keep-alive"},
        smuggled,
    )
    follower = request_bytes("GET", "/api/counts", served.port)
    answers = exchange(served.port, carrier + follower, answers=2)
    assert [answer.status for answer in answers] == [403, 200], answers
    assert answers[1].json() == {"counts": {"RUNNING": 1}, "capped": []}
    assert service.stops == []


def test_every_answer_on_the_wire_has_a_length_and_the_headers(served):
    cookie, _ = session_on(served.port)
    for data in (
        request_bytes("GET", "/", served.port),
        request_bytes("GET", "/nowhere", served.port),
        action(served.port, "/api/executions/ord-1/stop", cookie, None),
    ):
        (answer,) = exchange(served.port, data)
        assert int(answer.headers["content-length"]) == len(answer.body)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_taken_port_is_a_console_port_in_use_error():
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    clients = session.client("stepfunctions", endpoint_url="http://127.0.0.1:9"), session.client("dynamodb")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        console = ConsoleServer(*clients, "orders", "arn", "http://127.0.0.1:9", port=port, operator=FakeOperator())
        with pytest.raises(ConsolePortInUseError, match=f"127.0.0.1:{port}") as refused:
            console.start()
    assert isinstance(refused.value, PortInUseError)
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        ConsoleServer(*clients, "orders", "arn", "http://127.0.0.1:9", host="0.0.0.0", operator=FakeOperator())
