"""Serve the sample storefront beside the local stack, as a companion (``local.stack.Companion``).

The page, its stylesheet and its bundle come from ``examples/storefront`` (the bundle from ``dist/``, which
``make storefront-build`` writes), and ``/config.json`` from the running stack: the URLs of the API, the WebSocket
API and the AWS endpoint, and the user pool's ids. The page is served under a Content-Security-Policy whose
``connect-src`` names exactly those three; in AWS a team writes its own ``config.json`` from the stack's outputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.endpoint.listener import LocalListener, LoopbackGuard

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "storefront"
BUNDLE = Path("dist") / "storefront.js"
PORT_SETTING = "ORDERS_STOREFRONT_PORT"
DEFAULT_PORT = 5173
BUILD_IT = "run `make storefront` (or `make storefront-build`)"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/dist/storefront.js": (str(BUNDLE), "text/javascript; charset=utf-8"),
    "/dist/storefront.js.map": (f"{BUNDLE}.map", "application/json"),
}
"""Every path the storefront serves, and nothing else: no directory is listed or walked."""


class StorefrontNotBuiltError(RuntimeError):
    """The bundle is missing: the page cannot run without it."""


@dataclass(frozen=True)
class StorefrontConfig:
    """What the page reads from ``/config.json``: where the API, the socket and the user pool are."""

    apiUrl: str  # noqa: N815 - the page's JSON names
    websocketUrl: str  # noqa: N815
    awsEndpoint: str  # noqa: N815
    userPoolId: str  # noqa: N815
    clientId: str  # noqa: N815
    region: str

    @classmethod
    def of_stack(cls, stack: Any) -> StorefrontConfig:
        """The running local stack's URLs and pool."""
        pool = stack.user_pool
        return cls(
            apiUrl=stack.api_url,
            websocketUrl=stack.websocket_url,
            awsEndpoint=stack.aws_endpoint,
            userPoolId=pool.pool_id,
            clientId=pool.client_id,
            region=pool.region,
        )

    def content_security_policy(self) -> str:
        """Scripts, styles and everything else from the page's own origin; calls only to the three services.

        Example
        -------
        >>> urls = "http://127.0.0.1:3000", "ws://127.0.0.1:3001", "http://127.0.0.1:4566"
        >>> StorefrontConfig(*urls, "us-east-1_pool", "client", "us-east-1").content_security_policy().split("; ")[1]
        "connect-src 'self' http://127.0.0.1:3000 ws://127.0.0.1:3001 http://127.0.0.1:4566"
        """
        return (
            f"default-src 'self'; connect-src 'self' {self.apiUrl} {self.websocketUrl} {self.awsEndpoint}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )


def bundle_missing(directory: Path = EXAMPLE_DIR) -> str | None:
    """Why the storefront cannot be served from ``directory``, in one line naming the make target; None when built.

    Example
    -------
    >>> bundle_missing(Path("/nowhere")).split(": ")[0]
    'the storefront is not built (/nowhere/dist/storefront.js is missing)'
    """
    bundle = directory / BUNDLE
    return None if bundle.is_file() else f"the storefront is not built ({bundle} is missing): {BUILD_IT}"


class StorefrontApp:
    """The WSGI app: the page's files from ``directory`` and ``/config.json``; GET and HEAD only."""

    def __init__(self, config: StorefrontConfig, directory: Path = EXAMPLE_DIR):
        self.config = config
        self.directory = directory

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
        if method not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"GET only\n", "text/plain", [("Allow", "GET")])
        if path == "/config.json":
            body = json.dumps(self.config.__dict__).encode()
            return _answer(start_response, "200 OK", body, "application/json", [("Cache-Control", "no-store")])
        if path not in FILES:
            return _answer(start_response, "404 Not Found", b"not found\n", "text/plain")
        missing = bundle_missing(self.directory)
        if missing is not None:
            return _answer(start_response, "503 Service Unavailable", f"{missing}\n".encode(), "text/plain")
        name, content_type = FILES[path]
        body = (self.directory / name).read_bytes()
        headers = [("Cache-Control", "no-cache")]
        if content_type.startswith("text/html"):
            headers.append(("Content-Security-Policy", self.config.content_security_policy()))
        return _answer(start_response, "200 OK", body, content_type, headers)


def _answer(
    start_response: Callable[..., Any],
    status: str,
    body: bytes,
    content_type: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            *(headers or []),
        ],
    )
    return [body]


def storefront_port(environ: dict[str, str] | None = None) -> int:
    """``ORDERS_STOREFRONT_PORT``, else 5173 (Vite's port, which storefront teams often already allow).

    Example
    -------
    >>> storefront_port({"ORDERS_STOREFRONT_PORT": "5174"})
    5174
    """
    value = (os.environ if environ is None else environ).get(PORT_SETTING, str(DEFAULT_PORT)).strip()
    return _checked_port(int(value) if value.isdigit() else value)


def _checked_port(port: int | str) -> int:
    """The page's origin names its port, and the stack allows that origin before anything listens: no port 0."""
    if not isinstance(port, int) or not 0 < port <= 65535:
        raise ValueError(f"{PORT_SETTING} must be a port number from 1 to 65535, got {port!r}")
    return port


class StackStorefront:
    """The storefront as a companion of ``orders up``'s stack: its origin must be among the stack's CORS origins
    (``origin``), so its port is fixed before the stack starts.

    Example
    -------
    >>> storefront = StackStorefront(5173)
    >>> storefront.origin
    'http://127.0.0.1:5173'
    >>> with LocalStack(StackSettings(cors_origins=(storefront.origin,)), companions=[storefront]):  # doctest: +SKIP
    ...     print(storefront.url)
    """

    name = "the storefront"

    def __init__(self, port: int = DEFAULT_PORT, directory: Path = EXAMPLE_DIR):
        self.port = _checked_port(port)
        self.directory = directory
        self._listener: LocalListener | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/"

    def start(self, stack: Any) -> None:
        missing = bundle_missing(self.directory)
        if missing is not None:
            raise StorefrontNotBuiltError(missing)
        app = StorefrontApp(StorefrontConfig.of_stack(stack), self.directory)
        self._listener = LocalListener(self.name, self.port, LoopbackGuard(app))
        self._listener.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
