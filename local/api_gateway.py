"""API Gateway emulation: HTTP requests become REST API proxy events (v1) for the API function, and back.

It runs the API handler through the Lambda runner, exactly as the state machine's tasks run, so the API gets a
Lambda context, its environment and Lambda's error contract. A function error answers 502, as API Gateway does.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.lambda_runner import LambdaRunner

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway's own payload limit; the handler enforces the API's much smaller one."""


def proxy_event(method: str, target: str, headers: dict[str, str], body: str | None, source_ip: str) -> dict:
    """The API Gateway REST proxy event (payload v1) for one request.

    Example
    -------
    >>> proxy_event("GET", "/orders?status=COMPLETED", {}, None, "127.0.0.1")["queryStringParameters"]
    {'status': 'COMPLETED'}
    """
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    return {
        "resource": "/{proxy+}",
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": url.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/local{url.path}",
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
            "accountId": "123456789012",
            "apiId": "local",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class ApiGatewayEmulation:
    """Serves ``function_name`` over HTTP on ``host:port`` (127.0.0.1 only, as the local stack requires)."""

    def __init__(self, runner: LambdaRunner, function_name: str, server: ThreadingHTTPServer):
        self._runner = runner
        self._function_name = function_name
        self._server = server
        server.RequestHandlerClass = self._handler_class()
        self._thread = threading.Thread(target=server.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def respond(self, event: dict) -> tuple[int, dict[str, str], bytes]:
        invocation = self._runner.invoke(self._function_name, json.dumps(event).encode())
        if invocation.function_error or invocation.status_code != 200:
            return 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
        result = json.loads(invocation.payload)
        headers = {name: values[-1] for name, values in (result.get("multiValueHeaders") or {}).items()}
        headers.update(result.get("headers") or {})
        body = result.get("body") or ""
        return int(result.get("statusCode", 200)), headers, body.encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        emulation = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._send(413, {"Content-Type": "application/json"}, b'{"message": "Request Entity Too Large"}')
                    return
                raw = self.rfile.read(length) if length else b""
                body = raw.decode("utf-8", errors="replace") if raw else None
                event = proxy_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
                self._send(*emulation.respond(event))

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in {"content-length", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def __getattr__(self, name: str) -> Any:
                """A proxy resource takes every method (``do_<METHOD>``) to the function, which answers those it has no
                route for; the standard library would answer 501 itself."""
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                """Access logs stay quiet; the API handler logs what matters."""

        return Handler
