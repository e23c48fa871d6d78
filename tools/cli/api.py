"""The client of the order API, local or deployed, and how a request carries its credentials."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from tools.cli.exit_codes import EXIT_REFUSED, EXIT_UNREACHABLE, CliError
from tools.cli.output import visible

Authorize = Callable[[str, str, bytes | None, dict[str, str]], dict[str, str]]
"""Adds a request's credentials: ``(method, url, body, headers)`` to the headers to send."""


TOKEN_REFUSED = (
    "the token was refused ({reason}): it has expired, or comes from an earlier `orders up`; "
    "get a fresh one with `orders token` (or `orders login`)"
)
"""What a 401 means to someone who sent an ID token: a restarted local stack has a new user pool."""


class OrdersApi:
    """A small client of the order API, local or deployed (``--api-url``, ``ORDERS_API_URL``).

    ``unauthorized`` explains a 401 (``{reason}`` is the API's message): what to do depends on the credentials sent.
    """

    def __init__(self, base_url: str, authorize: Authorize | None = None, *, unauthorized: str | None = None):
        self.base_url = base_url.rstrip("/")
        self._authorize = authorize
        self._unauthorized = unauthorized

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self._authorize is not None:
            all_headers = self._authorize(method, url, data, all_headers)
        try:
            request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            reason = _explain(error.read())
            if error.code == HTTPStatus.UNAUTHORIZED and self._unauthorized:
                reason = self._unauthorized.format(reason=reason)
            raise CliError(EXIT_REFUSED, f"{error.code}: {reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise CliError(EXIT_UNREACHABLE, f"cannot reach the API at {self.base_url}: {error}") from None
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise CliError(EXIT_UNREACHABLE, f"the API at {self.base_url} did not answer with JSON") from None


def token_api(base_url: str, token: str) -> OrdersApi:
    """The API as a signed-in user calls it: with the ID token, and a 401 that says how to get a fresh one."""
    return OrdersApi(base_url, with_token(token), unauthorized=TOKEN_REFUSED)


def with_token(token: str) -> Authorize:
    """Cognito-authorized routes take the raw ID token, without ``Bearer``, as API Gateway expects.

    Example
    -------
    >>> with_token("eyJ...")("GET", "http://127.0.0.1:3000/orders", None, {})
    {'Authorization': 'eyJ...'}
    """
    return lambda _method, _url, _body, headers: {**headers, "Authorization": token}


def _explain(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
    problems = body.get("problems") if isinstance(body, dict) else None
    message = body.get("message", raw.decode(errors="replace")) if isinstance(body, dict) else body
    return "\n  - ".join(visible(str(line)) for line in [message, *(problems or [])])
