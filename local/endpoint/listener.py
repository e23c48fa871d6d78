"""Every local listener (the API, the console, the AWS endpoint): waitress on 127.0.0.1, behind one guard.

waitress parses HTTP (lengths, keep-alive, pipelining) instead of hand-written ``http.server`` handling, so a
request's body can never be read as a second request. ``LoopbackGuard`` then refuses what a browser on another
site could send: a ``Host`` other than the loopback name and port the listener serves (DNS rebinding), a
state-changing request whose ``Origin`` is not one the listener trusts (cross-site forms and fetches), and any
request a browser marks ``Sec-Fetch-Site: cross-site`` that no trusted origin made (``<img>``, ``<script>``, a beacon:
they send no ``Origin``), top-level page loads aside. A foreign origin's refusal names the origin and the setting
that would allow it, as a CORS refusal of the local guard: AWS itself would answer without CORS headers and leave the
browser to block the answer. Every refusal is logged, so a 403 is never a mystery.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from waitress import create_server, wasyncore
from waitress.server import BaseWSGIServer

HOST = "127.0.0.1"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CORS_RESPONSE_HEADERS = "access-control-"
READ_METHODS = frozenset({"GET", "HEAD"})
OTHER_SITES = frozenset({"cross-site", "same-site"})
"""``Sec-Fetch-Site`` values of a request a page on another site, or on another port of this host, started."""
REFUSAL_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)
"""A refusal is no page to frame or sniff either: a frame of another site shows the browser's error page."""

CORS_MAX_AGE_SECONDS = "600"

LOG = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class BrowserCalls:
    """The calls a same-origin-only listener still answers for pages of trusted origins, with CORS.

    A preflight cannot show which call follows (browsers send the header names, not their values), so a trusted
    origin's preflight is answered, and the actual request is refused unless ``admits`` it.

    Example
    -------
    >>> calls = BrowserCalls(frozenset({"http://127.0.0.1:5173"}), lambda environ: True, "sign-in", ("content-type",))
    >>> calls.cors_headers("http://127.0.0.1:5173")[0]
    ('Access-Control-Allow-Origin', 'http://127.0.0.1:5173')
    """

    origins: frozenset[str]
    admits: Callable[[dict[str, Any]], bool]
    what: str
    """The calls admitted, for the refusal of any other (``the Cognito sign-in calls``)."""
    allowed_headers: tuple[str, ...]
    exposed_headers: tuple[str, ...] = ()
    methods: tuple[str, ...] = ("POST",)

    def cors_headers(self, origin: str) -> list[tuple[str, str]]:
        """What an answer to ``origin`` carries so that its page may read it."""
        exposed = [("Access-Control-Expose-Headers", ", ".join(self.exposed_headers))] if self.exposed_headers else []
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"), *exposed]

    def preflight_headers(self, origin: str) -> list[tuple[str, str]]:
        return [
            *self.cors_headers(origin),
            ("Access-Control-Allow-Methods", ", ".join(self.methods)),
            ("Access-Control-Allow-Headers", ", ".join(self.allowed_headers)),
            ("Access-Control-Max-Age", CORS_MAX_AGE_SECONDS),
        ]


class PortInUseError(RuntimeError):
    pass


def not_ready(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """What a listener answers while the service behind it is still starting."""
    body = b'{"message": "starting"}'
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Retry-After", "1")],
    )
    return [body]


class LoopbackGuard:
    """WSGI middleware: refuse foreign ``Host`` headers, and what pages of other sites send, unless trusted.

    Browsers mark every request with ``Sec-Fetch-Site``; the CLI, boto3 and curl send none and pass. A ``cross-site``
    request passes only from a trusted origin (the API's storefronts, by CORS) or as a page load (``GET``, mode
    ``navigate``, destination ``document``: a link to the console or the API's docs). ``same_origin_only``
    refuses ``same-site`` requests too, and every top-level load from another site.

    Parameters
    ----------
    app:
        The listener's own WSGI application; until it is set, every request answers 503 (the port is bound early so
        that a taken port is reported before anything else starts).
    trusted_origins:
        Origins besides the listener's own that may change state (the storefronts the API allows by CORS).
    same_origin_only:
        Refuse every request that carries a foreign ``Origin`` or comes from another site or port, reads too, and
        drop CORS headers the app adds: for the AWS endpoint, which web pages may call for ``browser_calls`` only.
    browser_calls:
        With ``same_origin_only``, the calls pages of its origins may make (the guard answers their preflights and
        adds the CORS headers): the Cognito sign-in calls of the storefronts, on the AWS endpoint.
    origins_setting:
        The setting that lists the trusted origins (``ORDERS_CORS_ORIGINS``), named in a foreign origin's refusal.

    Example
    -------
    >>> guard = LoopbackGuard(app)  # doctest: +SKIP
    >>> guard.serve_port(3000, "the API")  # doctest: +SKIP  (then Host must be 127.0.0.1:3000 or localhost:3000)
    """

    def __init__(
        self,
        app: WsgiApp | None = None,
        trusted_origins: Iterable[str] = (),
        *,
        same_origin_only: bool = False,
        browser_calls: BrowserCalls | None = None,
        origins_setting: str | None = None,
    ):
        self.app: WsgiApp = app or not_ready
        self._browser_calls = browser_calls if same_origin_only else None
        self._extra_origins = frozenset(trusted_origins) | (
            browser_calls.origins if self._browser_calls else frozenset()
        )
        self._same_origin_only = same_origin_only
        self._origins_setting = origins_setting
        self.what = "a local listener"
        self.hosts: frozenset[str] = frozenset()
        self.origins: frozenset[str] = self._extra_origins

    def serve_port(self, port: int, what: str | None = None) -> None:
        """The listener's port is known once it is bound; from then on only its loopback names are its Host."""
        self.hosts = frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)
        self.origins = frozenset(f"http://{host}" for host in self.hosts) | self._extra_origins
        self.what = what or self.what

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Why this request is refused, or None."""
        host = environ.get("HTTP_HOST", "").lower()
        if host not in self.hosts:
            return f"Host {host or '(none)'} is not this listener; use http://{HOST}:<port>"
        origin = environ.get("HTTP_ORIGIN")
        foreign = origin is not None and origin not in self.origins
        if foreign and (self._same_origin_only or environ["REQUEST_METHOD"] not in SAFE_METHODS or _preflight(environ)):
            return self._foreign_origin(origin)
        if self._browser_calls is not None and origin in self._browser_calls.origins:
            if _preflight(environ) or self._browser_calls.admits(environ):
                return None
            return f"pages of origin {origin} may make {self._browser_calls.what} here, and no other call"
        site = environ.get("HTTP_SEC_FETCH_SITE")
        if self._same_origin_only and site in OTHER_SITES:
            return f"no web page may call this listener (Sec-Fetch-Site: {site})"
        if site == "cross-site" and origin not in self._extra_origins and not _page_load(environ):
            if origin is not None:
                return self._foreign_origin(origin)
            return "a page of another site may only link here (Sec-Fetch-Site: cross-site)"
        return None

    def foreign_origin_refusal(self, origin: str | None) -> str | None:
        """Why a request with this ``Origin`` is refused whatever its method, or None: for a WebSocket handshake, a GET
        that opens a channel in both directions with the caller's credentials (cross-site WebSocket hijacking)."""
        if origin is None or origin in self.origins:
            return None
        return self._foreign_origin(origin)

    def _cors_headers(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """The CORS headers of an answer to a page of ``browser_calls``' origins (its refusals too, so the page can
        read why); none for anyone else."""
        origin = environ.get("HTTP_ORIGIN")
        if self._browser_calls is None or origin not in self._browser_calls.origins:
            return []
        return self._browser_calls.cors_headers(origin)

    def _foreign_origin(self, origin: str) -> str:
        """A CORS refusal by this local guard; it names the setting that would allow the origin, if there is one."""
        refusal = f"CORS: requests from origin {origin} are not allowed here"
        if self._origins_setting is None:
            return refusal
        return (
            f"{refusal} (the local stack allows the storefront origins listed in {self._origins_setting}, "
            "comma-separated, such as http://127.0.0.1:5173)"
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is not None:
            log_refusal(self.what, environ, refusal)
            body = json.dumps({"message": f"Forbidden: {refusal}"}).encode()
            start_response(
                "403 Forbidden",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    *REFUSAL_HEADERS,
                    *self._cors_headers(environ),
                ],
            )
            return [body]
        if not self._same_origin_only:
            return self.app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        if self._browser_calls is not None and origin in self._browser_calls.origins and _preflight(environ):
            start_response("204 No Content", self._browser_calls.preflight_headers(origin))
            return [b""]
        cors = self._cors_headers(environ)

        def without_cors(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            kept = [(name, value) for name, value in headers if not name.lower().startswith(CORS_RESPONSE_HEADERS)]
            return start_response(status, [*kept, *cors], *args)

        return self.app(environ, without_cors)


def _preflight(environ: dict[str, Any]) -> bool:
    """A browser's CORS preflight: ``OPTIONS`` that names the method to follow."""
    return environ["REQUEST_METHOD"] == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ


def _page_load(environ: dict[str, Any]) -> bool:
    """A top-level page load (a followed link, a typed URL): what another site may start, and only reads."""
    return (
        environ["REQUEST_METHOD"] in READ_METHODS
        and environ.get("HTTP_SEC_FETCH_MODE") == "navigate"
        and environ.get("HTTP_SEC_FETCH_DEST") == "document"
    )


def log_refusal(what: str, environ: dict[str, Any], reason: str) -> None:
    """One line per refused request, ``<listener> refused <METHOD> <path>: <reason>``; the query is left out (it
    can carry a signature), and the path is quoted, so a request cannot write lines of its own.

    Example
    -------
    >>> environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/moto-api/reset"}
    >>> log_refusal("the AWS endpoint", environ, "why")  # doctest: +SKIP
    the AWS endpoint refused GET /moto-api/reset: why
    """
    path = quote(environ.get("PATH_INFO") or "/", safe="/")
    LOG.warning("%s refused %s %s: %s", what, quote(environ.get("REQUEST_METHOD", ""), safe=""), path, reason)


class LocalListener:
    """A guarded WSGI app served by waitress on 127.0.0.1 in a thread; ``stop()`` returns within a second.

    Example
    -------
    >>> listener = LocalListener("the console", 0, LoopbackGuard(app))  # doctest: +SKIP
    >>> listener.start()  # doctest: +SKIP
    >>> listener.url  # doctest: +SKIP
    'http://127.0.0.1:41234'
    """

    def __init__(self, what: str, port: int, guard: LoopbackGuard, *, threads: int = 8):
        try:
            self._server: BaseWSGIServer = create_server(
                guard,
                host=HOST,
                port=port,
                threads=threads,
                ident=None,
                connection_limit=512,
                backlog=1024,
                channel_timeout=60,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as error:
            raise PortInUseError(f"{what} cannot listen on {HOST}:{port}: {error.strerror}") from None
        guard.serve_port(self.port, what)
        self._what = what
        self._thread = threading.Thread(target=self._server.run, name=what, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let the worker threads finish what they are answering, then close every socket from the server's own loop.

        A worker that has written an answer wakes the loop through its trigger (a pipe), which must still be open then:
        closing first let a late worker write to a closed pipe (``EBADF`` in its thread). And no ``select()`` may ever
        see a closed descriptor, so the loop closes the sockets itself."""
        self._server.task_dispatcher.shutdown()
        if not self._thread.is_alive():
            self._close_sockets()
            return
        try:
            self._server.trigger.pull_trigger(self._close_sockets)
        except OSError:
            LOG.warning("%s: its wake-up pipe is closed; it stops on its loop's next turn instead", self._what)
            self._server._map[STOP_ON_NEXT_TURN] = _StopOnNextTurn()
            self._thread.join(timeout=5)
            self._server._map.pop(STOP_ON_NEXT_TURN, None)
            self._close_sockets()
            return
        self._thread.join(timeout=5)

    def _close_sockets(self) -> None:
        wasyncore.close_all(self._server._map)


STOP_ON_NEXT_TURN = -1
"""The key of ``_StopOnNextTurn`` in a server's map of descriptors: no descriptor has it."""


class _StopOnNextTurn:
    """Ends a waitress loop from inside it when its wake-up pipe cannot be written (seen rarely, as ``EBADF``, in the
    suite's teardowns): the loop asks every entry of its map whether it is readable at least once a second, and
    waitress's ``run()`` ends on a ``SystemExit``. Once the loop is over, no ``select()`` runs, and ``stop()`` closes
    the sockets from its own thread."""

    accepting = False

    def readable(self) -> bool:
        raise SystemExit

    def writable(self) -> bool:
        return False
