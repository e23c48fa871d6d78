"""How the console's actions reach the order API: as an operator, authenticated as each route requires.

The API authorizes its routes by caller (``workflows.resources.ROUTES``): shopper routes such as cancel take a
Cognito ID token, and an operator is a user of the ``ops`` group; the shipment route is IAM-authorized and takes a
SigV4 signature. An ``Operator`` supplies both: ``LocalOperator`` signs in to the local pool as the seeded ops user
and signs with the local warehouse role's keys; ``DeployedOperator`` uses an ops user's token given on the command
line and the caller's own AWS credentials. ``OrderApiCaller`` picks one or the other per route.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from local.aws import sigv4
from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.cognitoidp.identity import (
    LOCAL_PASSWORD,
    OPERATOR,
    SignedInUser,
    SignInError,
    UserPoolNotFoundError,
    find_user_pool,
)
from workflows.resources import Caller, route_for

API_TIMEOUT_SECONDS = 30.0


class OperatorUnavailableError(RuntimeError):
    """The console cannot authenticate as an operator (no token given, the sign-in refused, no AWS credentials)."""


class Operator(Protocol):
    """Who the console acts as: an ops user's ID token for shopper routes, a SigV4 signature for IAM routes."""

    who: str
    """For the console's start-up line: whom the actions are sent as."""

    def id_token(self) -> str:
        """A current ID token of a user in the ``ops`` group; raises ``OperatorUnavailableError``."""
        ...

    def forget(self) -> None:
        """Drop cached tokens: the API refused the last one (expired early, or the pool was created anew)."""
        ...

    def sign(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """``headers`` plus a SigV4 signature of the request; raises ``OperatorUnavailableError``."""
        ...


class LocalOperator:
    """The local stack's operator: ``ops@example.com`` of the local user pool, and the local warehouse role.

    The pool is found on first use (the console may start before the stack provisions it) and found again after
    ``forget``, as a restarted stack has a new pool. The ID token is renewed with the refresh token shortly before
    it expires; if that is refused, the console signs in again.

    Parameters
    ----------
    cognito:
        A ``cognito-idp`` client for the local stack's AWS endpoint, built like the console's other clients.
    region:
        The local stack's region, which names the pool's issuer.
    clock:
        Seconds since the epoch; tests pass their own.

    Example
    -------
    >>> operator = LocalOperator(session.client("cognito-idp", endpoint_url="http://127.0.0.1:4566"))  # doctest: +SKIP
    >>> operator.id_token()[:3]  # doctest: +SKIP
    'eyJ'
    """

    who = f"{OPERATOR.email} (local pool) and the local warehouse role"

    def __init__(self, cognito: Any, region: str = LOCAL_REGION, *, clock: Callable[[], float] = time.time):
        self.cognito = cognito
        self._region = region
        self._clock = clock
        self._user: SignedInUser | None = None
        self._lock = threading.Lock()

    def id_token(self) -> str:
        try:
            return self._signed_in().id_token()
        except (UserPoolNotFoundError, SignInError, ClientError, BotoCoreError) as error:
            raise OperatorUnavailableError(f"the console cannot sign in as {OPERATOR.email}: {error}") from None

    def _signed_in(self) -> SignedInUser:
        with self._lock:
            if self._user is None:
                client_id = find_user_pool(self.cognito, self._region).client_id
                self._user = SignedInUser(self.cognito, client_id, OPERATOR.email, LOCAL_PASSWORD, clock=self._clock)
            return self._user

    def forget(self) -> None:
        with self._lock:
            self._user = None

    def sign(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        return sigv4.sign(sigv4.WAREHOUSE, method, url, body, headers, region=self._region)


class DeployedOperator:
    """A deployed stack's operator: an ops user's ID token (``--token``) and the caller's own AWS credentials.

    A given token cannot be renewed here: when it expires, restart the console with a new one.

    Parameters
    ----------
    token:
        The ID token of a user in the ``ops`` group; without it, cancelling is refused with a message saying so.
    session:
        The boto3 session whose credentials sign the IAM routes (the shipment route's resource policy must admit
        them), and whose region scopes the signature unless the API's URL names another.

    Example
    -------
    >>> operator = DeployedOperator(os.environ["ORDERS_API_TOKEN"], boto3.session.Session())  # doctest: +SKIP
    """

    who = "the --token's user and your AWS credentials"

    def __init__(self, token: str | None, session: Any):
        self._token = token
        self._session = session

    def id_token(self) -> str:
        if not self._token:
            raise OperatorUnavailableError(
                "cancelling needs an ops user's ID token: start the console with --token (or ORDERS_API_TOKEN)"
            )
        return self._token

    def forget(self) -> None:
        """Nothing to renew: the token was given as it is."""

    def sign(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise OperatorUnavailableError("no AWS credentials to sign the request with (AWS_PROFILE, ...)")
        region = sigv4.region_of(url) or self._session.region_name
        return sigv4.sign(credentials, method, url, body, headers, region=region)


class OrderApiCaller:
    """POSTs to the order API as ``operator``: a token for shopper routes, a signature for IAM routes.

    An answer of 401 to a token is retried once with a fresh one (the operator forgets its tokens first).

    Parameters
    ----------
    api_url:
        The API's base URL, with its stage for a deployed API (``https://…/prod``).
    operator:
        A ``LocalOperator``, a ``DeployedOperator``, or a fake in tests.

    Example
    -------
    >>> caller = OrderApiCaller("http://127.0.0.1:3000", LocalOperator(cognito))  # doctest: +SKIP
    >>> caller.post("/orders/ord-1/cancel", {"reason": "duplicate"})  # doctest: +SKIP
    (202, {'orderId': 'ord-1', 'status': 'CANCELLING'})
    """

    def __init__(self, api_url: str, operator: Operator, *, timeout: float = API_TIMEOUT_SECONDS):
        self.api_url = api_url.rstrip("/")
        self.operator = operator
        self._timeout = timeout

    def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        """The API's status and answer, or 502 with a message when the API or the sign-in cannot be reached."""
        route = route_for("POST", path)
        if route is None:
            raise ValueError(f"the order API has no route POST {path}")
        data = json.dumps(body).encode()
        status, answer = self._send(route.caller, path, data)
        if status == 401 and route.caller is Caller.SHOPPER:
            self.operator.forget()
            status, answer = self._send(route.caller, path, data)
        return status, answer

    def _send(self, caller: Caller, path: str, data: bytes) -> tuple[int, Any]:
        url = self.api_url + path
        headers = {"Content-Type": "application/json"}
        try:
            if caller is Caller.SERVICE:
                headers = self.operator.sign("POST", url, data, headers)
            elif caller is Caller.SHOPPER:
                headers["Authorization"] = self.operator.id_token()
        except OperatorUnavailableError as error:
            return 502, {"message": str(error)}
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return response.status, _json_or_text(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json_or_text(error.read())
        except (urllib.error.URLError, OSError) as error:
            return 502, {"message": f"cannot reach the order API at {self.api_url}: {error}"}


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")
