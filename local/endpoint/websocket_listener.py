"""The WebSocket listener: ``websockets`` on 127.0.0.1, behind the same guard as the HTTP listeners.

``websockets`` speaks the protocol (the handshake, framing, pings and the close handshake). Before a handshake
reaches the application, ``LoopbackGuard`` refuses a ``Host`` that is not this listener, and any ``Origin`` that is
neither this listener's nor a trusted storefront's: a WebSocket handshake is a GET, but it opens a channel both ways
with whatever credentials the page holds (cross-site WebSocket hijacking), so a foreign origin is refused whatever the
method. The application then accepts the handshake, with a session that serves the socket, or refuses it with an HTTP
status. Nothing here logs a query string: it may carry a token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from local.endpoint.listener import HOST, LoopbackGuard, PortInUseError, log_refusal

LOG = logging.getLogger(__name__)

STOP_SECONDS = 5.0
GOING_AWAY = 1001


@runtime_checkable
class Session(Protocol):
    """One accepted socket's life: ``serve`` returns when the socket has closed."""

    def serve(self, socket: ServerConnection) -> None: ...


class Refusal(Protocol):
    """The HTTP answer to a handshake refused before the socket opens (its body is ``{"message": …}``)."""

    status: HTTPStatus
    message: str


class WebSocketApplication(Protocol):
    """Decides each handshake the guard let through, from its path, query, headers and the client's address."""

    def handshake(self, *, path: str, query: str, headers: dict[str, str], source_ip: str) -> Session | Refusal: ...


@dataclass(frozen=True)
class GuardRefusal:
    status: HTTPStatus
    message: str


class WebSocketListener:
    """A guarded WebSocket application served by ``websockets`` on 127.0.0.1 in a thread; each socket has a thread.

    Example
    -------
    >>> listener = WebSocketListener("the WebSocket API", 3001, LoopbackGuard(), app)  # doctest: +SKIP
    >>> listener.start(); listener.url  # doctest: +SKIP
    'ws://127.0.0.1:3001'
    """

    def __init__(
        self, what: str, port: int, guard: LoopbackGuard, app: WebSocketApplication, *, max_message_bytes: int
    ):
        self.what = what
        self._guard = guard
        self._app = app
        self._accepted: dict[ServerConnection, Session] = {}
        self._open: dict[ServerConnection, threading.Thread] = {}
        self._lock = threading.Lock()
        try:
            self._server: Server = serve(
                self._serve_socket,
                HOST,
                port,
                process_request=self._handshake,
                max_size=max_message_bytes,
                server_header=None,
                logger=LOG,
            )
        except OSError as error:
            raise PortInUseError(f"{what} cannot listen on {HOST}:{port}: {error.strerror}") from None
        self.port = int(self._server.socket.getsockname()[1])
        guard.serve_port(self.port, what)
        self._thread = threading.Thread(target=self._server.serve_forever, name=what, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, then close every open socket (1001, going away), as a server that shuts down does, and
        wait (boundedly) for each session to end, so that what it does as its socket ends runs before the stack
        behind it stops."""
        self._server.shutdown()
        self._thread.join(timeout=STOP_SECONDS)
        with self._lock:
            still_open = dict(self._open)
        for socket in still_open:
            socket.close(GOING_AWAY, "the local stack is stopping")
        give_up = time.monotonic() + STOP_SECONDS
        for session in still_open.values():
            session.join(timeout=max(0.0, give_up - time.monotonic()))

    def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        address = urlsplit(request.path)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": address.path, "HTTP_HOST": _one(request.headers, "Host")}
        for header, key in (("Origin", "HTTP_ORIGIN"), ("Sec-Fetch-Site", "HTTP_SEC_FETCH_SITE")):
            if header in request.headers:
                environ[key] = _one(request.headers, header)
        reason = self._guard.refusal(environ) or self._guard.foreign_origin_refusal(environ.get("HTTP_ORIGIN"))
        if reason is not None:
            log_refusal(self.what, environ, reason)
            return _refuse(socket, GuardRefusal(HTTPStatus.FORBIDDEN, f"Forbidden: {reason}"))
        source_ip = socket.remote_address[0] if socket.remote_address else HOST
        headers = dict(request.headers.raw_items())
        answer = self._app.handshake(path=address.path, query=address.query, headers=headers, source_ip=source_ip)
        if not isinstance(answer, Session):
            return _refuse(socket, answer)
        with self._lock:
            self._accepted[socket] = answer
        return None

    def _serve_socket(self, socket: ServerConnection) -> None:
        with self._lock:
            session = self._accepted.pop(socket)
            self._open[socket] = threading.current_thread()
        try:
            session.serve(socket)
        finally:
            with self._lock:
                self._open.pop(socket, None)


def _one(headers: Iterable, name: str) -> str:
    """A header sent once; a repeated one counts as none (two Host headers name no one listener)."""
    values = headers.get_all(name)
    return values[0] if len(values) == 1 else ""


def _refuse(socket: ServerConnection, refusal: Refusal) -> Response:
    response = socket.respond(refusal.status, json.dumps({"message": refusal.message}))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
