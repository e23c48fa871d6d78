"""Fakes and raw HTTP for the console's tests: a service that records actions, an operator, and socket exchanges.

The raw exchanges matter: the attacks these tests replay (a body read as a second request, a broken
``Content-Length``) happen below any HTTP client library, which would frame the request properly.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local.endpoint.listener import LocalListener, LoopbackGuard
from tools.console.server import ConsoleApp

RAW_TIMEOUT_SECONDS = 30.0
"""How long an exchange waits for the answers it asked for: a hang guard, never what a test measures. It stays under
the listeners' ``channel_timeout`` (60 s), so a server that waits for bytes that never come still sends nothing."""


class FakeService:
    """What ``ConsoleApp`` calls, with canned reads; every action is recorded, so a test sees what got through."""

    def __init__(self) -> None:
        self.stops: list[str] = []
        self.order_actions: list[tuple[str, str, dict[str, Any]]] = []

    def counts(self) -> dict[str, Any]:
        return {"counts": {"RUNNING": 1}, "capped": []}

    def executions(self, **filters: Any) -> dict[str, Any]:
        return {"executions": [], "next": None, "filters": filters}

    def execution(self, name: str) -> dict[str, Any]:
        return {"execution": {"name": name, "status": "RUNNING"}, "graphSvg": "<svg></svg>"}

    def stop(self, name: str) -> dict[str, Any]:
        self.stops.append(name)
        return {"stopDate": "2026-12-01T00:00:00+00:00"}

    def order_action(self, order_id: str, action: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.order_actions.append((order_id, action, body))
        return 202, {"orderId": order_id, "accepted": action}

    def close(self) -> None:
        """Nothing to release."""


class FakeOperator:
    """An operator whose token and signature are plain strings, counting how often it was asked to forget."""

    who = "a fake operator"

    def __init__(self, token: str = "fake-id-token") -> None:
        self.token = token
        self.forgotten = 0

    def id_token(self) -> str:
        return self.token

    def forget(self) -> None:
        self.forgotten += 1

    def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Authorization": f"AWS4-HMAC-SHA256 fake {method} {url}"}


@contextmanager
def served(app: Any, what: str = "a test listener") -> Iterator[LocalListener]:
    """``app`` behind the loopback guard on waitress, on a free port, as the console is served."""
    listener = LocalListener(what, 0, LoopbackGuard(app))
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@contextmanager
def console_on_a_port(service: Any) -> Iterator[LocalListener]:
    with served(ConsoleApp(service), "the console under test") as listener:
        yield listener


def request_bytes(method: str, path: str, port: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request as it goes on the wire, Host and Content-Length included unless ``headers`` set them."""
    lines = [f"{method} {path} HTTP/1.1"]
    given = {name.lower() for name in headers or {}}
    if "host" not in given:
        lines.append(f"Host: 127.0.0.1:{port}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body and "content-length" not in given:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def exchange(port: int, data: bytes, *, answers: int = 1, timeout: float = RAW_TIMEOUT_SECONDS) -> list[RawAnswer]:
    """Send ``data`` on one connection and read up to ``answers`` answers, stopping early when the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        reader = _Reader(connection, time.monotonic() + timeout)
        found = []
        for _ in range(answers):
            answer = reader.answer()
            if answer is None:
                break
            found.append(answer)
        return found


class RawAnswer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"RawAnswer({self.status}, {self.headers}, {self.body[:200]!r})"


class _Reader:
    """Answers read off a socket by their Content-Length (every answer of waitress has one here)."""

    def __init__(self, connection: socket.socket, deadline: float):
        self._connection, self._deadline, self._buffer = connection, deadline, b""

    def _more(self) -> bool:
        self._connection.settimeout(max(0.05, self._deadline - time.monotonic()))
        try:
            chunk = self._connection.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return False
        self._buffer += chunk
        return bool(chunk)

    def answer(self) -> RawAnswer | None:
        while b"\r\n\r\n" not in self._buffer:
            if not self._more():
                return None
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            if not self._more():
                break
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return RawAnswer(int(status_line.split()[1]), headers, body)
