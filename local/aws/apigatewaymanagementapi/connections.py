"""The open WebSocket connections of the local stage, and the ``@connections`` calls that reach them.

In AWS a function posts to a connection through the stage's management endpoint
(``https://<api>.execute-api.<region>.amazonaws.com/<stage>/@connections/<id>``). Locally the functions' endpoint
is the local AWS endpoint (``WEBSOCKET_CALLBACK_URL``), so the same SDK calls arrive there, signed as for
``execute-api``: in-process through ``IN_PROCESS_INTERCEPTORS``, from other processes through
``ConnectionsMiddleware``. Both answer them from ``LocalConnections`` (moto's own ``apigatewaymanagementapi`` only
stores the data), with AWS's answers: 200, 204, and 410 ``GoneException`` for a connection that is not open.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

CONNECTIONS_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/(?P<connection_id>[^/]+)$")
"""``/@connections/<id>``, below the stage's path in AWS (``/prod/@connections/<id>``)."""
MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway's limit on a WebSocket message (PostToConnection answers 413 above it)."""
OPENING_GRACE_SECONDS = 2.0
"""How long a post waits for a connection whose ``$connect`` is still running before it answers 410."""
AWS_HOST_SUFFIX = ".amazonaws.com"

Answer = tuple[int, dict[str, str], bytes]


class Socket(Protocol):
    """What a connection needs of its socket (``websockets``' ``ServerConnection`` is one)."""

    def send(self, message: str | bytes) -> None: ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...


class ConnectionGoneError(LookupError):
    """No open connection has that id: it closed, was refused at ``$connect``, or never existed."""


@dataclass
class OpenConnection:
    connection_id: str
    source_ip: str
    user_agent: str
    connected_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    last_active_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    socket: Socket | None = None
    """None while ``$connect`` runs: a post then waits ``OPENING_GRACE_SECONDS`` for the handshake to finish."""
    settled: threading.Event = field(default_factory=threading.Event)

    def description(self) -> dict[str, Any]:
        """GetConnection's answer."""
        return {
            "connectedAt": _iso(self.connected_at),
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
            "lastActiveAt": _iso(self.last_active_at),
        }


class LocalConnections:
    """The stage's connections, by id, for the WebSocket listener (which opens and closes them) and the
    ``@connections`` calls (which post to them).

    A connection is announced before its ``$connect`` route runs: the route records it in the connections table, and
    a status change pushed in the moments before the handshake completes must wait for the socket rather than find
    it gone (and have the push function delete its entry).

    Example
    -------
    >>> connections = LocalConnections()
    >>> connections.announce("c-1", "127.0.0.1", "test")
    >>> connections.refuse("c-1")
    >>> connections.post("c-1", b"{}")
    Traceback (most recent call last):
    local.aws.apigatewaymanagementapi.connections.ConnectionGoneError: c-1
    """

    def __init__(self) -> None:
        self._connections: dict[str, OpenConnection] = {}
        self._lock = threading.Lock()

    def announce(self, connection_id: str, source_ip: str, user_agent: str) -> None:
        with self._lock:
            self._connections[connection_id] = OpenConnection(connection_id, source_ip, user_agent)

    def open(self, connection_id: str, socket: Socket) -> None:
        with self._lock:
            connection = self._connections[connection_id]
            connection.socket = socket
        connection.settled.set()

    def refuse(self, connection_id: str) -> None:
        """``$connect`` refused it, or its socket closed: posts to it are answered 410 from now on."""
        with self._lock:
            connection = self._connections.pop(connection_id, None)
        if connection is not None:
            connection.settled.set()

    def touch(self, connection_id: str) -> None:
        """The client sent a message (GetConnection's ``lastActiveAt``)."""
        with self._lock:
            connection = self._connections.get(connection_id)
            if connection is not None:
                connection.last_active_at = datetime.datetime.now(datetime.UTC)

    def open_ids(self) -> list[str]:
        with self._lock:
            return [key for key, connection in self._connections.items() if connection.socket is not None]

    def describe(self, connection_id: str) -> dict[str, Any]:
        return self._settled(connection_id).description()

    def post(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` as one message: a text frame if it is UTF-8 (JSON is), else a binary one."""
        socket = self._settled(connection_id).socket
        try:
            message: str | bytes = data.decode()
        except UnicodeDecodeError:
            message = data
        try:
            socket.send(message)
        except Exception as error:  # the socket closed under the post: websockets' ConnectionClosed, or an OSError
            raise ConnectionGoneError(connection_id) from error

    def close(self, connection_id: str) -> None:
        """DeleteConnection: the server closes the socket (its ``$disconnect`` route runs as the socket ends)."""
        self._settled(connection_id).socket.close(1000, "closed by the service")

    def _settled(self, connection_id: str) -> OpenConnection:
        with self._lock:
            connection = self._connections.get(connection_id)
        if connection is None or not connection.settled.wait(OPENING_GRACE_SECONDS) or connection.socket is None:
            raise ConnectionGoneError(connection_id)
        return connection


def answer(connections: LocalConnections, method: str, path: str, body: bytes) -> Answer | None:
    """The answer to an ``@connections`` call, or None if ``path`` is no such call.

    Example
    -------
    >>> answer(LocalConnections(), "POST", "/@connections/c-1", b"{}")[0]
    410
    """
    matched = CONNECTIONS_PATH.match(path)
    if matched is None:
        return None
    connection_id = unquote(matched["connection_id"])
    try:
        if method == "POST":
            if len(body) > MAX_MESSAGE_BYTES:
                return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE.value, "PayloadTooLargeException", "Message too long")
            connections.post(connection_id, body)
            return HTTPStatus.OK.value, {}, b""
        if method == "GET":
            described = json.dumps(connections.describe(connection_id)).encode()
            return HTTPStatus.OK.value, {"Content-Type": "application/json"}, described
        if method == "DELETE":
            connections.close(connection_id)
            return HTTPStatus.NO_CONTENT.value, {}, b""
    except ConnectionGoneError:
        return _error(HTTPStatus.GONE.value, "GoneException", f"Connection {connection_id} is gone")
    refused = f"{method} is not a method of @connections"
    return _error(HTTPStatus.METHOD_NOT_ALLOWED.value, "ForbiddenException", refused)


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"message": message}).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, body


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_served: LocalConnections | None = None
_installed = False
_install_lock = threading.Lock()


def serve_connections(connections: LocalConnections | None) -> None:
    """Answer ``@connections`` calls from ``connections`` from now on (None: leave them to moto).

    The first call installs the in-process interceptor; ``ConnectionsMiddleware`` reads the same connections.

    Example
    -------
    >>> serve_connections(LocalConnections())
    >>> serve_connections(None)
    """
    global _served, _installed
    from local.aws.moto import IN_PROCESS_INTERCEPTORS

    with _install_lock:
        if not _installed:
            IN_PROCESS_INTERCEPTORS.append(_intercept_in_process)
            _installed = True
        _served = connections


def _intercept_in_process(request: Any, deliver: Callable[[Any], Any]) -> Any:
    """An in-process request to ``execute-api``'s ``@connections``, answered here; anything else goes on to moto."""
    connections, address = _served, urlsplit(request.url)
    host = address.hostname or ""
    if connections is None or not (host.startswith("execute-api.") and host.endswith(AWS_HOST_SUFFIX)):
        return deliver(request)
    body = request.body or b""
    answered = answer(connections, request.method, address.path, body if isinstance(body, bytes) else body.encode())
    return deliver(request) if answered is None else answered


class ConnectionsMiddleware:
    """WSGI middleware in front of moto's server: ``@connections`` calls from other processes reach the sockets.

    Example
    -------
    >>> app = AwsCallsOnly(ConnectionsMiddleware(DomainDispatcherApplication(create_backend_app)))  # doctest: +SKIP
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        connections, path = _served, environ.get("PATH_INFO", "")
        if connections is None or CONNECTIONS_PATH.match(path) is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        status, headers, answer_body = answer(connections, environ["REQUEST_METHOD"], path, body)
        start_response(
            f"{status} {HTTPStatus(status).phrase}", [*headers.items(), ("Content-Length", str(len(answer_body)))]
        )
        return [answer_body]
