"""The orders command: run the local stack, sign in, list the catalog, and submit, inspect, list, watch, ship and cancel
orders.

Shopper commands send the signed-in user's Cognito ID token (--token, or the stored login of --user); ship signs its
request with SigV4 as the warehouse. Text from the API is printed with its terminal control characters escaped.

Exit codes, for scripts: 0 success; 1 the API refused the request, or Cognito refused the sign-in, or there is no
login or no AWS credentials to use (the message says why); 2 the API, the AWS endpoint or the user pool could not be
reached, or the stack could not start; 3 watch saw the order end in a failure status; 4 watch timed out, or list --all
stopped at its page limit; 64 a usage error: an unknown command, a bad, missing or contradictory option, or an
unreadable order file (nothing was sent); 130 Ctrl-C (orders up stops what had started); 141 the reader of the output
went away, as in orders list | head -1.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import math
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, NoReturn, TextIO

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.cognitoidp.identity import (
    LOCAL_PASSWORD,
    REFRESH_MARGIN_SECONDS,
    SEEDED_USERS,
    SHOPPER_ADA,
    SignInError,
    Tokens,
    UserPoolNotFoundError,
    find_user_pool,
    refresh,
    sign_in,
)
from local.aws.moto.versions import UnsupportedMotoError, require_supported_moto
from local.aws.sigv4 import WAREHOUSE, region_of, sign
from local.aws.stepfunctions.child_executions import EnteredState, ExecutionTrail
from local.provisioning import local_state_machine_arn, subscribe_queue
from local.simulators.catalog import SAMPLE_ADDRESS
from tasks.logic.ordering import MAX_PAGE
from tasks.models.order import PROGRESS, TERMINAL_STATUSES, UNPRINTABLE_CATEGORIES, OrderStatus
from tools.console.server import DEFAULT_PORT as DEFAULT_CONSOLE_PORT
from tools.console.server import StackConsole, add_console_arguments, run_console
from tools.events import (
    CLI_EVENTS_QUEUE,
    EventStore,
    ReplayError,
    describe,
    event_time,
    events_from_queue,
    failure_text,
    replay_archive,
)
from tools.storefront.server import PORT_SETTING as STOREFRONT_PORT_SETTING
from tools.storefront.server import StackStorefront, bundle_missing, storefront_port
from workflows.resources import ORDER_EVENTS, ORDER_WORKFLOW

LOCAL_HOST = "127.0.0.1"
DEFAULT_API_PORT, DEFAULT_AWS_PORT = 3000, 4566
EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_ORDER_FAILED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
EXIT_USAGE = 64
"""EX_USAGE of sysexits.h: a script tells a mistyped command from an API that is down (2)."""
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""What a shell reports for a command ended by Ctrl-C."""
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
"""What a command killed by SIGPIPE exits with, as ``orders list | head -1`` leaves it; Python's SIGPIPE is ignored."""
DEFAULT_PAGE = 20
MAX_PAGES = 1000
"""``list --all`` reads at most this many pages (100,000 orders): one command's load on the API stays bounded."""
LOCAL_HOSTS = frozenset({LOCAL_HOST, "localhost", "::1"})
START_THE_STACK = "start the stack with `make run`"


class CliError(Exception):
    """A failure the command reports in one line, with the exit code scripts see."""

    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code


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


def is_local_url(url: str) -> bool:
    """The local stack listens on 127.0.0.1 only; any other host is a deployed stack.

    Example
    -------
    >>> is_local_url("http://127.0.0.1:3000"), is_local_url("https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    (True, False)
    """
    return urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS


def default_api_url(env: Mapping[str, str] | None = None) -> str:
    """``ORDERS_API_URL``, else the local API on ``ORDERS_API_PORT``, the variable ``orders up`` listens on.

    Example
    -------
    >>> default_api_url({"ORDERS_API_PORT": "3001"})
    'http://127.0.0.1:3001'
    """
    env = os.environ if env is None else env
    return env.get("ORDERS_API_URL") or f"http://{LOCAL_HOST}:{_port(env, 'ORDERS_API_PORT', DEFAULT_API_PORT)}"


def local_aws_endpoint(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The local stack's AWS endpoint: ``--aws-endpoint``, ``ORDERS_AWS_ENDPOINT``, or 127.0.0.1:``ORDERS_AWS_PORT``.

    Example
    -------
    >>> local_aws_endpoint(env={"ORDERS_AWS_PORT": "4567"})
    'http://127.0.0.1:4567'
    """
    env = os.environ if env is None else env
    return (
        explicit
        or env.get("ORDERS_AWS_ENDPOINT")
        or f"http://{LOCAL_HOST}:{_port(env, 'ORDERS_AWS_PORT', DEFAULT_AWS_PORT)}"
    )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip() or str(default)
    if not value.isdigit() or not 0 < int(value) <= 65535:
        raise CliError(EXIT_UNREACHABLE, f"{name} must be a port number, got {value!r}")
    return int(value)


# Sign-in: where tokens come from, where they are kept, and how a current one is found.


@dataclass(frozen=True)
class PoolRef:
    """The user pool a login belongs to: the local stack's (``endpoint`` set) or a deployed one."""

    client_id: str
    region: str
    endpoint: str | None = None

    @property
    def is_local(self) -> bool:
        return self.endpoint is not None

    def describe(self) -> str:
        return (
            f"the local user pool at {self.endpoint}" if self.is_local else f"client {self.client_id} in {self.region}"
        )


@dataclass(frozen=True)
class Login:
    """One user's stored sign-in: the tokens and the pool that issued them, so a refresh asks the same pool."""

    user: str
    pool: PoolRef
    tokens: Tokens

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "pool": asdict(self.pool), **asdict(self.tokens)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Login:
        return cls(
            value["user"],
            PoolRef(**value["pool"]),
            Tokens(value["id_token"], value.get("refresh_token"), float(value["expires_at"])),
        )


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``ORDERS_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/orders``, else ``~/.config/orders``.

    Example
    -------
    >>> config_dir({"XDG_CONFIG_HOME": "/home/ada/.config"})
    PosixPath('/home/ada/.config/orders')
    """
    env = os.environ if env is None else env
    if env.get("ORDERS_CONFIG_DIR"):
        return Path(env["ORDERS_CONFIG_DIR"])
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "orders"


def token_path(user: str, env: Mapping[str, str] | None = None) -> Path:
    """The user's token file; the name is quoted so that no ``--user`` can point outside the directory.

    Example
    -------
    >>> token_path("ada@example.com", {"ORDERS_CONFIG_DIR": "/tmp/orders"})
    PosixPath('/tmp/orders/tokens/ada@example.com.json')
    """
    return config_dir(env) / "tokens" / f"{urllib.parse.quote(user, safe='@.+_-')}.json"


def save_login(login: Login, path: Path) -> None:
    """Write the file readable by its owner only (0600, in a 0700 directory): it holds a refresh token.

    The file is created 0600 under a temporary name and renamed into place, so it is never readable by others, even
    for a moment, and a reader never sees half of it.

    Example
    -------
    >>> save_login(Login("ada@example.com", pool, tokens), token_path("ada@example.com"))  # doctest: +SKIP
    """
    path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(login.to_json(), handle, indent=2)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load_login(path: Path) -> Login | None:
    """The stored login, or None when there is none (or it cannot be read: then signing in again replaces it).

    Example
    -------
    >>> load_login(token_path("nobody@example.com", {"ORDERS_CONFIG_DIR": "/nonexistent"})) is None
    True
    """
    try:
        return Login.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cognito_client(endpoint: str | None, region: str) -> Any:
    """A Cognito client for the local pool (``endpoint``, fake credentials) or a deployed one; tests replace it.

    Example
    -------
    >>> cognito_client("http://127.0.0.1:4566", "us-east-1").meta.endpoint_url
    'http://127.0.0.1:4566'
    """
    return aws_client("cognito-idp", endpoint, region)


def aws_client(service: str, endpoint: str | None, region: str | None) -> Any:
    """A client of the local stack's endpoint (fake credentials, one attempt) or of your own AWS account."""
    if endpoint is None:
        return boto3.session.Session(region_name=region).client(service)
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)
    local = Config(connect_timeout=2, read_timeout=15, retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=endpoint, config=local)


@contextlib.contextmanager
def _reaching(endpoint: str | None, region: str) -> Iterator[None]:
    """A network failure exits 2, saying what to do about it; Cognito's refusals are ``SignInError`` still."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        if endpoint is None:
            raise CliError(EXIT_UNREACHABLE, f"cannot reach Cognito in {region}: {error}") from None
        raise CliError(
            EXIT_UNREACHABLE, f"cannot reach the local AWS endpoint at {endpoint} ({error}); {START_THE_STACK}"
        ) from None


def local_pool(endpoint: str) -> PoolRef:
    """The local stack's pool, looked up each time: a restarted stack has a new pool, and old tokens are void there.

    Example
    -------
    >>> local_pool("http://127.0.0.1:4566").client_id  # doctest: +SKIP
    '627ed3045d6649dcbdaf79638e'
    """
    try:
        with _reaching(endpoint, LOCAL_REGION):
            pool = find_user_pool(cognito_client(endpoint, LOCAL_REGION), LOCAL_REGION)
    except UserPoolNotFoundError:
        raise CliError(EXIT_UNREACHABLE, f"no local user pool at {endpoint}; {START_THE_STACK}") from None
    return PoolRef(pool.client_id, pool.region, endpoint)


def deployed_pool(client_id: str, region: str | None) -> PoolRef:
    """A deployed stack's pool, from its outputs: the app client id (``UserPoolClientId``) and the region.

    Example
    -------
    >>> deployed_pool("1example23456789", "eu-west-1").describe()
    'client 1example23456789 in eu-west-1'
    """
    region = region or boto3.session.Session().region_name
    if not region:
        raise CliError(EXIT_USAGE, "--client-id needs --region (or AWS_REGION)")
    return PoolRef(client_id, region)


def is_seeded(user: str) -> bool:
    """The local stack's seeded users sign in with the one documented password, so nobody types it.

    Example
    -------
    >>> is_seeded("ops@example.com"), is_seeded("someone@example.com")
    (True, False)
    """
    return user.casefold() in {seeded.email for seeded in SEEDED_USERS}


def sign_in_to(pool: PoolRef, user: str, password: str, now: float) -> Tokens:
    """USER_PASSWORD_AUTH on ``pool``; a refusal is a ``CliError`` with exit code 1, a network failure 2.

    Example
    -------
    >>> sign_in_to(local_pool(endpoint), "ada@example.com", LOCAL_PASSWORD, time.time())  # doctest: +SKIP
    Tokens(id_token='eyJ0eXAiOiJKV1Qi...', refresh_token='...', expires_at=1796114937.0)
    """
    with _reaching(pool.endpoint, pool.region):
        try:
            return sign_in(cognito_client(pool.endpoint, pool.region), pool.client_id, user, password, now)
        except SignInError as error:
            raise CliError(EXIT_REFUSED, f"Cognito refused {user}: {error}") from None


def current_tokens(
    user: str, pool: PoolRef, stored: Login | None, path: Path, now: float, password: str | None = None
) -> Tokens:
    """Tokens of ``user`` on ``pool`` that are valid for another minute at least.

    With a ``password``, a new sign-in with it: a wrong one is refused, whatever is stored. Without, the stored
    tokens if they are valid, else refreshed with REFRESH_TOKEN_AUTH, else (seeded local users only) a new sign-in.
    A refresh or a sign-in is stored, except that a local sign-in never replaces a stored deployed login.

    Example
    -------
    >>> current_tokens("ada@example.com", local_pool(endpoint), None, path, time.time()).id_token  # doctest: +SKIP
    'eyJ0eXAiOiJKV1Qi...'
    """
    if password is not None:
        tokens = sign_in_to(pool, user, password, now)
        if not pool.is_local or stored is None or stored.pool.is_local:
            save_login(Login(user, pool, tokens), path)
        return tokens
    why = f"{user} has not signed in to {pool.describe()}"
    if stored is not None and stored.pool != pool and stored.pool.is_local and pool.is_local:
        why = f"the stored login of {user} is for a local user pool that is gone (was the stack restarted?)"
    if stored is not None and stored.pool == pool and stored.user == user:
        if stored.tokens.expires_at - now > REFRESH_MARGIN_SECONDS:
            return stored.tokens
        why = f"the ID token of {user} has expired and there is no refresh token"
        if stored.tokens.refresh_token:
            with _reaching(pool.endpoint, pool.region):
                try:
                    tokens = refresh(
                        cognito_client(pool.endpoint, pool.region), pool.client_id, stored.tokens.refresh_token, now
                    )
                except SignInError as error:
                    why = f"the refresh for {user} failed ({error})"
                else:
                    save_login(Login(user, pool, tokens), path)
                    return tokens
    if pool.is_local and is_seeded(user):
        tokens = sign_in_to(pool, user, LOCAL_PASSWORD, now)
        if stored is None or stored.pool.is_local:
            save_login(Login(user, pool, tokens), path)
        return tokens
    options = "" if pool.is_local else f" --client-id {pool.client_id} --region {pool.region}"
    raise CliError(EXIT_REFUSED, f"{why}; sign in with `orders login --user {shlex.quote(user)}{options}`")


def _asks_for_local(args: argparse.Namespace) -> bool:
    """A local endpoint named on the command line or in the environment picks the local pool over a stored one."""
    return bool(args.aws_endpoint or os.environ.get("ORDERS_AWS_ENDPOINT") or os.environ.get("ORDERS_AWS_PORT"))


def _password(args: argparse.Namespace, pool: PoolRef) -> str:
    if args.password:
        return args.password
    if pool.is_local and is_seeded(args.user):
        return LOCAL_PASSWORD
    if sys.stdin.isatty():
        return getpass.getpass(f"password for {args.user}: ")
    raise CliError(EXIT_USAGE, f"{args.user} needs a password: --password or ORDERS_PASSWORD")


def cmd_login(args: argparse.Namespace) -> int:
    """Sign in and store the tokens; the local pool unless ``--client-id`` names a deployed one.

    Example
    -------
    >>> main(["login", "--user", "ops@example.com"])  # doctest: +SKIP
    signed in as ops@example.com to the local user pool at http://127.0.0.1:4566; ID token valid until 11:02:17Z; ...
    0
    """
    if args.client_id:
        pool = deployed_pool(args.client_id, args.region)
    else:
        pool = local_pool(local_aws_endpoint(args.aws_endpoint))
    tokens = sign_in_to(pool, args.user, _password(args, pool), time.time())
    path = token_path(args.user)
    save_login(Login(args.user, pool, tokens), path)
    until = datetime.fromtimestamp(tokens.expires_at, UTC).strftime("%H:%M:%SZ")
    print(f"signed in as {args.user} to {pool.describe()}; ID token valid until {until}; stored in {path}")
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    """Print a current ID token, for ``TOKEN=$(orders token --user ...)`` in scripts.

    The pool is ``--client-id``'s, else the local one when a local endpoint is named (``--aws-endpoint``,
    ``ORDERS_AWS_ENDPOINT``, ``ORDERS_AWS_PORT``), else the one the user last logged in to, else the local one.

    Example
    -------
    >>> main(["token", "--user", "grace@example.com"])  # doctest: +SKIP
    eyJ0eXAiOiJKV1QiLCJraWQiOi...
    0
    """
    path = token_path(args.user)
    stored = load_login(path)
    if args.client_id:
        pool = deployed_pool(args.client_id, args.region)
    elif stored is not None and not stored.pool.is_local and not _asks_for_local(args):
        pool = stored.pool
    else:
        pool = local_pool(local_aws_endpoint(args.aws_endpoint))
    print(current_tokens(args.user, pool, stored, path, time.time(), args.password).id_token)
    return EXIT_OK


def shopper_token(args: argparse.Namespace) -> str:
    """``--token`` if given, else a current token of ``--user`` for the pool the API at ``--api-url`` trusts.

    ``--password`` signs in anew; with ``--token`` it contradicts it, since that token is sent as it is.

    Example
    -------
    >>> shopper_token(build_parser().parse_args(["list", "--token", "eyJ..."]))
    'eyJ...'
    """
    if args.token and args.password:
        raise CliError(
            EXIT_USAGE,
            "--token (or ORDERS_API_TOKEN) is sent as it is, so --password (or ORDERS_PASSWORD) would not be "
            "checked: give one of them",
        )
    if args.token:
        return args.token
    path = token_path(args.user)
    stored = load_login(path)
    if is_local_url(args.api_url):
        pool = local_pool(local_aws_endpoint())
    elif stored is not None and not stored.pool.is_local:
        pool = stored.pool
    else:
        raise CliError(
            EXIT_REFUSED,
            f"{args.user} has no login for {args.api_url}: run `orders login --user {shlex.quote(args.user)} "
            "--client-id CLIENT_ID --region REGION`, or pass --token",
        )
    return current_tokens(args.user, pool, stored, path, time.time(), args.password).id_token


def warehouse_signature(args: argparse.Namespace) -> Authorize:
    """SigV4 for the warehouse route: the local warehouse role, or your own AWS credentials for a deployed stack.

    Example
    -------
    >>> authorize = warehouse_signature(build_parser().parse_args(["ship", "ord-1"]))
    >>> authorize("POST", "http://127.0.0.1:3000/orders/ord-1/shipment", b"{}", {})["Authorization"][:45]
    'AWS4-HMAC-SHA256 Credential=LOCALWAREHOUSEKEY'
    """
    if is_local_url(args.api_url):
        return lambda method, url, body, headers: sign(WAREHOUSE, method, url, body, headers)
    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise CliError(EXIT_REFUSED, "signing for a deployed API needs AWS credentials (AWS_PROFILE, or the keys)")
    region = (
        args.region or region_of(args.api_url) or os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    )
    if not region:
        raise CliError(EXIT_USAGE, "say which region the API is in: --region (or AWS_REGION)")
    frozen = credentials.get_frozen_credentials()
    signer = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
    return lambda method, url, body, headers: sign(signer, method, url, body, headers, region=region)


# The API commands.


ORDER_OPTIONS = ("--payment-token", "--name", "--line1", "--city", "--postal-code", "--country")
"""The options that make an order with ``--item``; ``--file`` holds the whole order, so they contradict it."""


def order_line(text: str) -> dict[str, Any]:
    """``--item SKU=QUANTITY`` as a line of the order, checked before anything is sent.

    Example
    -------
    >>> order_line("KB-TKL-01=2")
    {'sku': 'KB-TKL-01', 'quantity': 2}
    """
    sku, _, quantity = text.partition("=")
    if not sku or not re.fullmatch("[0-9]+", quantity):
        raise argparse.ArgumentTypeError(f"{text!r}: use SKU=QUANTITY, e.g. KB-TKL-01=2")
    return {"sku": sku, "quantity": int(quantity)}


def order_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The order of ``--item`` and the address options; what they leave out is the banner's first order's."""
    address = FIRST_ORDER["shippingAddress"]
    given = {
        "name": args.name,
        "line1": args.line1,
        "city": args.city,
        "postalCode": args.postal_code,
        "country": args.country,
    }
    return {
        "items": args.item,
        "paymentToken": FIRST_ORDER["paymentToken"] if args.payment_token is None else args.payment_token,
        "shippingAddress": {key: address[key] if value is None else value for key, value in given.items()},
    }


def order_file(name: str) -> Any:
    """``--file``: the order's JSON, read and checked while the options are, before anything is sent."""
    try:
        with open(name, encoding="utf-8") as handle:
            order = json.load(handle)
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"cannot read {name}: {error}") from None
    if isinstance(order, dict) and "customerId" in order:
        raise argparse.ArgumentTypeError(f"{name}: remove customerId; the API takes the customer from your sign-in")
    return order


def order_to_submit(args: argparse.Namespace) -> Any:
    """The order of ``--file``, or of ``--item`` and the address options, which contradict ``--file``."""
    if args.item:
        return order_from_flags(args)
    given = [option for option in ORDER_OPTIONS if getattr(args, option[2:].replace("-", "_")) is not None]
    if given:
        raise CliError(EXIT_USAGE, f"--file holds the whole order: drop {' '.join(given)}")
    return args.order


def cmd_submit(api: OrdersApi, order: Any, idempotency_key: str | None) -> int:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    _print(api.call("POST", "/orders", order, headers))
    return EXIT_OK


PRODUCT_COLUMNS = ("SKU", "NAME", "PRICE", "STOCK")


def cmd_products(api: OrdersApi, args: argparse.Namespace) -> int:
    """The catalog, one product a line: what ``--item SKU=QUANTITY`` can order. Public: nothing is signed."""
    products = api.call("GET", "/products")
    if args.json:
        _print(products)
        return EXIT_OK
    if not products:
        _say("no products")
        return EXIT_OK
    rows = [
        (product["sku"], product["name"], _money(product, "priceCents"), str(product["stock"])) for product in products
    ]
    widths = [max(len(row[column]) for row in [PRODUCT_COLUMNS, *rows]) for column in range(3)]
    for sku, name, price, stock in [PRODUCT_COLUMNS, *rows]:
        _say(f"{sku:<{widths[0]}}  {name:<{widths[1]}}  {price:>{widths[2]}}  {stock:>5}")
    return EXIT_OK


def cmd_status(api: OrdersApi, args: argparse.Namespace) -> int:
    order = api.call("GET", f"/orders/{urllib.parse.quote(args.order_id)}")
    if args.json:
        _print(order)
        return EXIT_OK
    _say(f"{order['orderId']}  {order['status']}  total {_money(order)}  customer {order.get('customerId')}")
    for entry in order.get("timeline", []):
        _say(f"  {entry['at']}  {entry['status']}")
    if order.get("failure"):
        _say(f"  failure: {failure_text(order['failure'])}")
    return EXIT_OK


def cmd_list(api: OrdersApi, args: argparse.Namespace) -> int:
    """One page, or with ``--all`` each page as it comes; a last line says how to go on when there are more."""
    limit = args.limit or (MAX_PAGE if args.all else DEFAULT_PAGE)
    query = {"status": args.status, "customerId": args.customer, "limit": limit}
    token, listed = args.next_token, 0
    for _ in range(MAX_PAGES if args.all else 1):
        sent = {key: value for key, value in {**query, "nextToken": token}.items() if value}
        page = api.call("GET", "/orders?" + urllib.parse.urlencode(sent))
        for order in page["orders"]:
            _say(f"{order['createdAt']}  {order['orderId']}  {order['status']:<18} {_money(order)}")
        listed += len(page["orders"])
        token = page.get("nextToken")
        if not token:
            break
    if not listed:
        given = (("--status", args.status), ("--customer", args.customer))
        filters = [f"{option} {value}" for option, value in given if value]
        _say(f"no orders matching {' '.join(filters)}" if filters else "no orders")
    if token:
        _say(f"(more: --next-token {shlex.quote(token)})")
    if token and args.all:
        print(f"orders list: stopped after {MAX_PAGES} pages; go on with the --next-token above", file=sys.stderr)
        return EXIT_TIMEOUT
    return EXIT_OK


def cmd_watch(api: OrdersApi, args: argparse.Namespace) -> int:
    """Follow the order through its statuses with a progress bar until it is terminal; with ``--states``, also the
    states its execution and its Express child enter, merged with the timeline in the order they happened.

    Each poll reads the execution first and the order second, so both are complete up to the moment before the
    poll; a line stamped later waits for the next poll, where something may come before it.
    """
    give_up = time.monotonic() + args.timeout
    shown = 0
    trail = _execution_trail(args) if args.states else None
    held: list[tuple[datetime, int, str]] = []
    while True:
        complete_until = datetime.now(UTC)
        states = trail.new_states() if trail else []
        order = api.call("GET", f"/orders/{urllib.parse.quote(args.order_id)}")
        try:
            status = OrderStatus(order["status"])
            timeline = [(OrderStatus(entry["status"]), entry["at"]) for entry in order.get("timeline", [])]
        except (KeyError, TypeError, ValueError):
            _say(
                f"the API answered a status this CLI does not know: {visible(json.dumps(order))[:200]}", file=sys.stderr
            )
            return EXIT_REFUSED
        terminal, timed_out = status in TERMINAL_STATUSES, time.monotonic() > give_up
        if trail and (terminal or timed_out):
            states += trail.new_states()  # what the parent enters after the order's last write
        held += [(state.at, 0, _state_line(state)) for state in states]
        held += [
            (_instant(at, complete_until), 1, f"{_progress_bar(entry_status)} {entry_status.value:<18} {at}")
            for entry_status, at in timeline[shown:]
        ]
        shown = len(timeline)
        if trail:
            held.sort(key=lambda line: line[:2])  # stable: a state before a timeline entry of the same moment
        waits = trail and not (terminal or timed_out)
        ready = sum(1 for at, _, _ in held if at <= complete_until) if waits else len(held)
        for _, _, line in held[:ready]:
            _say(line, flush=True)
        del held[:ready]
        if terminal:
            if status is OrderStatus.COMPLETED:
                _say(f"completed: tracking {order.get('trackingNumber')}, charged {_money(order)}")
                return EXIT_OK
            failure = order.get("failure")
            _say(f"ended {status.value}: {failure_text(failure)}" if failure else f"ended {status.value}")
            return EXIT_ORDER_FAILED
        if timed_out:
            _say(f"still {status.value} after {args.timeout:.0f}s", file=sys.stderr)
            return EXIT_TIMEOUT
        time.sleep(args.interval)


def _state_line(state: EnteredState) -> str:
    return f"{'  ' * (state.depth + 1)}{'child ' if state.depth else ''}state {state.name}"


def _instant(at: str, otherwise: datetime) -> datetime:
    """A timeline entry's ``at`` as a moment; one the CLI cannot read sorts as ``otherwise``, the poll's moment."""
    try:
        moment = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return otherwise
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _execution_trail(args: argparse.Namespace) -> ExecutionTrail:
    """The order's execution on the local stack's AWS endpoint: its name is the order id."""
    stepfunctions = aws_client("stepfunctions", local_aws_endpoint(args.aws_endpoint), LOCAL_REGION)
    machine = local_state_machine_arn(ORDER_WORKFLOW)
    return ExecutionTrail(stepfunctions, f"{machine.replace(':stateMachine:', ':execution:')}:{args.order_id}")


def cmd_events(args: argparse.Namespace) -> int:
    """Print order events in time order: the new ones; with an order id, every event of that order read so far;
    with ``--since``, every event from then on, replayed from the bus archive first. ``--follow`` then prints those
    that come, until Ctrl-C. Whatever is read from the queue is kept (``EventStore``), so nothing is lost to a run
    that showed something else."""
    endpoint = None if args.queue_url and not args.aws_endpoint else local_aws_endpoint(args.aws_endpoint)
    sqs = aws_client("sqs", endpoint, LOCAL_REGION if endpoint else None)
    stopped = threading.Event()
    if args.follow:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
    with _reaching(endpoint, LOCAL_REGION):
        queue_url = args.queue_url or _cli_events_queue(sqs, endpoint)
        store = _event_store(sqs, queue_url)
        if args.since is not None:
            _replay_since(args.since, aws_client("events", endpoint, sqs.meta.region_name), sqs, queue_url)
        new = store.add(events_from_queue(sqs, queue_url))
        shown = [event for event in (store.events() if args.order_id or args.since else new) if _wanted(event, args)]
        for event in shown:
            _say(describe(event), flush=True)
        if not shown and not args.follow:
            _say(_no_events(args))
        for event in events_from_queue(sqs, queue_url, follow=True, stopped=stopped) if args.follow else ():
            if store.add([event]) and _wanted(event, args):
                _say(describe(event), flush=True)
    return EXIT_OK


def _wanted(event: dict[str, Any], args: argparse.Namespace) -> bool:
    detail = event.get("detail", {})
    return args.order_id in (None, detail.get("orderId")) and (args.since is None or event_time(event) >= args.since)


def _no_events(args: argparse.Namespace) -> str:
    since = f" since {args.since.isoformat(timespec='seconds')}" if args.since else ""
    if args.order_id:
        earlier = "" if args.since else "; events from before `orders events` first ran: add --since"
        return f"no events for {args.order_id}{since}{earlier}"
    return f"no events{since}" if args.since else "no new events"


def _event_store(sqs: Any, queue_url: str) -> EventStore:
    """The queue's store under the config directory; a queue created anew (a restarted stack) starts it empty."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["CreatedTimestamp"])["Attributes"]
    name = urllib.parse.quote(queue_url.split("://", 1)[-1], safe="@.+_-")
    return EventStore.open(config_dir() / "events" / f"{name}.jsonl", queue_url, attributes["CreatedTimestamp"])


def _replay_since(since: datetime, events: Any, sqs: Any, queue_url: str) -> None:
    """Have EventBridge replay the bus archive from ``since`` to the queue; a refusal is exit code 1."""
    _say(f"replaying the {ORDER_EVENTS.name} bus archive from {since.isoformat(timespec='seconds')}…", file=sys.stderr)
    try:
        replay_archive(events, sqs, queue_url, since, datetime.now(UTC))
    except (ReplayError, ClientError) as error:
        raise CliError(EXIT_REFUSED, f"cannot replay the {ORDER_EVENTS.name} bus archive: {error}") from None


def _since(text: str) -> datetime:
    """``--since``: an ISO 8601 time (UTC unless it says otherwise), or a duration back from now: 90s, 10m, 2h, 1d.

    Example
    -------
    >>> _since("2026-12-06T04:20Z")
    datetime.datetime(2026, 12, 6, 4, 20, tzinfo=datetime.timezone.utc)
    """
    duration = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([smhd])", text.strip())
    if duration:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[2]]
        return datetime.now(UTC) - timedelta(seconds=float(duration[1]) * unit)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give an ISO time such as 2026-12-06T04:20Z, or a duration such as 10m, 2h or 1d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cli_events_queue(sqs: Any, endpoint: str | None) -> str:
    """The local stack's queue for ``orders events``, subscribed to the bus by the first ``orders events`` run."""
    try:
        return sqs.get_queue_url(QueueName=CLI_EVENTS_QUEUE)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        events = aws_client("events", endpoint, LOCAL_REGION)
        _say(
            f"subscribed {CLI_EVENTS_QUEUE} to the {ORDER_EVENTS.name} bus: events from now on, earlier ones with "
            "--since",
            file=sys.stderr,
        )
        return subscribe_queue(events, sqs, CLI_EVENTS_QUEUE)


def _progress_bar(status: OrderStatus) -> str:
    width = len(PROGRESS)
    done = PROGRESS.index(status) + 1 if status in PROGRESS else width
    mark = "#" if status in PROGRESS else "x"
    return "[" + mark * done + "." * (width - done) + "]"


def cmd_ship(api: OrdersApi, args: argparse.Namespace) -> int:
    body = (
        {"outcome": "FAILED", "reason": args.fail}
        if args.fail
        else {"outcome": "SHIPPED", "trackingNumber": args.tracking}
    )
    _print(api.call("POST", f"/orders/{urllib.parse.quote(args.order_id)}/shipment", body))
    return EXIT_OK


def cmd_cancel(api: OrdersApi, args: argparse.Namespace) -> int:
    _print(api.call("POST", f"/orders/{urllib.parse.quote(args.order_id)}/cancel", {"reason": args.reason}))
    return EXIT_OK


PORT_SETTINGS = {
    "the API": "ORDERS_API_PORT",
    "the AWS endpoint": "ORDERS_AWS_PORT",
    "the WebSocket API": "ORDERS_WS_PORT",
    StackConsole.name: "ORDERS_CONSOLE_PORT",
    StackStorefront.name: STOREFRONT_PORT_SETTING,
}
"""The setting that moves each listener of ``orders up``, by the name the stack reports a taken port with."""


def cmd_up(args: argparse.Namespace) -> int:
    """Run the local stack in the foreground until Ctrl-C or SIGTERM."""
    try:
        require_supported_moto()
    except UnsupportedMotoError as error:
        raise CliError(EXIT_USAGE, str(error)) from None
    from local.stack import LocalStack, PortInUseError, StackSettings

    try:
        settings = StackSettings.from_environment()
    except ValueError as error:
        print(f"orders up: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    overrides = {
        "aws_port": args.aws_port,
        "api_port": args.api_port,
        "console_port": args.console_port,
        "ws_port": args.ws_port,
    }
    settings = StackSettings(
        **{**settings.__dict__, **{key: value for key, value in overrides.items() if value is not None}}
    )
    console = StackConsole(settings.console_port)
    companions: list[Any] = [console]
    storefront = None
    if args.storefront:
        try:
            port = storefront_port() if args.storefront_port is None else args.storefront_port
            storefront = StackStorefront(port)
        except ValueError as error:
            print(f"orders up: {error}", file=sys.stderr)
            return EXIT_UNREACHABLE
        missing = bundle_missing(storefront.directory)
        if missing is not None:
            print(f"orders up: {missing}", file=sys.stderr)
            return EXIT_UNREACHABLE
        companions.append(storefront)
        if storefront.origin not in settings.cors_origins:
            settings = replace(settings, cors_origins=(*settings.cors_origins, storefront.origin))
    stack = LocalStack(settings, companions=companions)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # the API answers before start() returns
    try:
        stack.start()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stack.stop()
        raise CliError(EXIT_INTERRUPTED, "interrupted during start-up; stopped what had started") from None
    except PortInUseError as error:
        named = [PORT_SETTINGS[busy.what] for busy in getattr(error, "busy", ()) if busy.what in PORT_SETTINGS]
        advice = "Free them, or pick others" if len(named) > 1 else "Free it, or pick another"
        print(f"orders up: {error}. {advice}: {', '.join(named or PORT_SETTINGS.values())}.", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(_banner(stack, console.url, storefront.url if storefront else None), flush=True)
    stopped.wait()
    print("stopping…", flush=True)
    stack.stop()
    return EXIT_OK


FIRST_ORDER = {
    "items": [{"sku": "KB-TKL-01", "quantity": 1}],
    "paymentToken": "tok_ok",
    "shippingAddress": SAMPLE_ADDRESS,
}
"""The order the banner's curl submits: no customerId, the API takes the customer from the token."""


def _banner(stack: Any, console_url: str, storefront_url: str | None = None) -> str:
    """What ``orders up`` prints: the URLs, the users, and commands that work as pasted, whatever the ports."""
    warehouse = (
        f"confirms shipments after {stack.settings.warehouse_delay_seconds:g}s"
        if stack.settings.warehouse_delay_seconds is not None
        else "off: ship with `orders ship ID` or a SigV4-signed POST /orders/{id}/shipment"
    )
    ports = {
        "ORDERS_AWS_PORT": (urllib.parse.urlsplit(stack.aws_endpoint).port, DEFAULT_AWS_PORT),
        "ORDERS_API_PORT": (urllib.parse.urlsplit(stack.api_url).port, DEFAULT_API_PORT),
    }
    prefix = "".join(f"{name}={port} " for name, (port, default) in ports.items() if port != default)
    orders = f"{prefix}{_orders_script()}"
    users = ", ".join(
        user.email + (f" (group {', '.join(user.groups)})" if user.groups else "") for user in SEEDED_USERS
    )
    curl = (
        f"curl -s -X POST {stack.api_url}/orders -H \"Authorization: $TOKEN\" -H 'Content-Type: application/json' "
        f"-H 'Idempotency-Key: my-first-order' -d {shlex.quote(json.dumps(FIRST_ORDER))}"
    )
    return "\n".join(
        [
            "Order service is ready.",
            f"  API            {stack.api_url}   (docs: {stack.api_url}/docs; /health and shipments take SigV4)",
            f"  Live status    {stack.websocket_url}/?token=<ID token>   (each of your orders' status changes)",
            f"  Console        {console_url}",
            *([f"  Storefront     {storefront_url}   (sign in as {SHOPPER_ADA.email})"] if storefront_url else []),
            f"  AWS endpoint   {stack.aws_endpoint}   (aws --endpoint-url {stack.aws_endpoint} stepfunctions ...)",
            "                 (test-state, start-sync-execution: export AWS_DISABLE_HOST_PREFIX_INJECTION=true)",
            f"  User pool      {stack.user_pool.pool_id}, app client {stack.user_pool.client_id}",
            f"  Users          {users}; password {LOCAL_PASSWORD}",
            f"  State machine  {stack.state_machine_arn}",
            f"  Warehouse      {warehouse}",
            f"  Time scale     {stack.settings.time_scale:g}x",
            f"  Fault rules    {', '.join(rule.task for rule in stack.settings.faults) or 'none'}",
            f"Submit an order as {SHOPPER_ADA.email}:",
            f"  TOKEN=$({orders} token --user {SHOPPER_ADA.email})",
            f"  {curl}",
            f"Then watch it:  {orders} watch <orderId>      Stop with Ctrl-C.",
        ]
    )


def _orders_script() -> str:
    """This installation's ``orders``, relative to the working directory when it is below it (``.venv/bin/orders``)."""
    script = Path(sys.executable).with_name("orders")
    if not script.exists():
        return "orders"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def _money(record: dict[str, Any], cents: str = "totalCents") -> str:
    if record.get(cents) is None:
        return "-"
    return f"{record[cents] / 100:.2f} {record.get('currency', '')}".strip()


class _Escapes(dict[int, str]):
    """What ``str.translate`` puts for each character: its escape if its Unicode category is unprintable, else itself.

    Worked out the first time a character is met, so the table costs nothing up front and stays as small as the text.
    """

    def __init__(self, *, keep_newlines: bool) -> None:
        super().__init__({ord("\n"): "\n"} if keep_newlines else {})

    def __missing__(self, code: int) -> str:
        character = chr(code)
        if unicodedata.category(character) not in UNPRINTABLE_CATEGORIES:
            escape = character
        elif code < 0x100:
            escape = f"\\x{code:02x}"
        elif code < 0x10000:
            escape = f"\\u{code:04x}"
        else:
            escape = f"\\U{code:08x}"
        self[code] = escape
        return escape


_ESCAPES = _Escapes(keep_newlines=False)
_ESCAPES_BUT_NEWLINE = _Escapes(keep_newlines=True)


def visible(text: str, *, newlines: bool = False) -> str:
    r"""Text from the API made inert: control, format and separator characters are printed as escapes.

    An ESC sequence in a cancel reason or an address would clear or recolour the terminal, a carriage return overwrite
    the line, U+202E reverse it, U+2028 break it, U+200B hide in it. A newline is escaped too, one datum staying one
    line, unless ``newlines``. The categories are the ones the API refuses in names and addresses
    (``tasks.models.order.UNPRINTABLE_CATEGORIES``): C0, DEL and C1 (Cc), format characters (Cf), line and paragraph
    separators (Zl, Zp).

    Example
    -------
    >>> print(visible("\x1b[2Jpaid\r\u202erefund\u200b"))
    \x1b[2Jpaid\x0d\u202erefund\u200b
    """
    return text.translate(_ESCAPES_BUT_NEWLINE if newlines else _ESCAPES)


def _say(line: str, *, file: TextIO | None = None, flush: bool = False) -> None:
    """Print a line made from API data, escaped so that it stays one line of plain text."""
    print(visible(line), file=file, flush=flush)


def _print(value: Any) -> None:
    """JSON as the API sent it; ``ensure_ascii`` escapes every control character and bidi override in it."""
    print(json.dumps(value, indent=2, ensure_ascii=True))


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that a usage error exits 64 (EX_USAGE): its own 2 means "unreachable" here."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _page_size(text: str) -> int:
    """``--limit`` within the API's bounds, checked before anything is sent."""
    if not re.fullmatch("[0-9]+", text) or not 1 <= int(text) <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of orders from 1 to {MAX_PAGE}")
    return int(text)


def _seconds(text: str) -> float:
    """A positive, finite number of seconds: ``watch --interval 0`` would poll the API without pause."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return seconds


def _add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options that go before or after the subcommand; a subcommand's copy sets them only when given there."""
    env = os.environ

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--api-url", default=default(default_api_url()), help="default ORDERS_API_URL, or 127.0.0.1:ORDERS_API_PORT"
    )
    parser.add_argument(
        "--token", default=default(env.get("ORDERS_API_TOKEN") or None), help="an ID token; wins over --user"
    )
    parser.add_argument(
        "--user",
        default=default(env.get("ORDERS_USER") or SHOPPER_ADA.email),
        help=f"sign in as this user (default ORDERS_USER or {SHOPPER_ADA.email})",
    )
    parser.add_argument(
        "--password",
        default=default(env.get("ORDERS_PASSWORD") or None),
        help="the password of --user (default ORDERS_PASSWORD): a command that signs in then signs in anew with it "
        "instead of using a stored token; the local stack's seeded users need none",
    )


def _add_pool_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ
    pool = parser.add_mutually_exclusive_group()
    pool.add_argument("--client-id", help="a deployed pool's app client (UserPoolClientId); default the local pool")
    pool.add_argument("--aws-endpoint", help="the local AWS endpoint (default ORDERS_AWS_ENDPOINT or ORDERS_AWS_PORT)")
    parser.add_argument(
        "--region",
        default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        help="the deployed pool's region, with --client-id (default AWS_REGION or AWS_DEFAULT_REGION)",
    )


def build_parser() -> argparse.ArgumentParser:
    summary, *_, exit_codes = __doc__.split("\n\n")
    parser = _Parser(prog="orders", description=summary, epilog=exit_codes)
    _add_global_options(parser, suppress=False)
    shared = argparse.ArgumentParser(add_help=False)
    _add_global_options(shared, suppress=True)
    commands = parser.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND", help="orders COMMAND --help for more"
    )

    def command(name: str, summary: str, parents: tuple[argparse.ArgumentParser, ...] = (shared,)) -> _Parser:
        return commands.add_parser(name, help=summary, description=summary, parents=list(parents))

    up = command("up", "run the local stack in the foreground", parents=())
    up.add_argument("--aws-port", type=int, help="default ORDERS_AWS_PORT or 4566")
    up.add_argument("--api-port", type=int, help="default ORDERS_API_PORT or 3000")
    up.add_argument("--console-port", type=int, help=f"default ORDERS_CONSOLE_PORT or {DEFAULT_CONSOLE_PORT}")
    up.add_argument("--ws-port", type=int, help="live order status socket: default ORDERS_WS_PORT or 3001")
    up.add_argument(
        "--storefront",
        action="store_true",
        help="also serve the sample storefront (examples/storefront, built by make storefront) and allow its origin",
    )
    up.add_argument("--storefront-port", type=int, help=f"default {STOREFRONT_PORT_SETTING} or 5173")

    login = command("login", "sign in as --user (with --password) and store the tokens")
    _add_pool_options(login)

    token = command(
        "token", "print a current ID token of --user (refreshed, or signed in anew when it must or --password is given)"
    )
    _add_pool_options(token)

    address = FIRST_ORDER["shippingAddress"]
    submit = command("submit", "submit an order as --user: an order file, or --item lines and the address options")
    order = submit.add_mutually_exclusive_group(required=True)
    order.add_argument(
        "--file", dest="order", type=order_file, help="the order as JSON, as POST /orders takes it (without customerId)"
    )
    order.add_argument(
        "--item", action="append", type=order_line, metavar="SKU=QUANTITY", help="a line of the order; repeatable"
    )
    submit.add_argument(
        "--payment-token",
        help=f"the simulated card: tok_declined, tok_flaky, tok_unavailable (default {FIRST_ORDER['paymentToken']})",
    )
    submit.add_argument("--name", help=f"shipping address: the name (default {address['name']})")
    submit.add_argument("--line1", help=f"shipping address: the street (default {address['line1']})")
    submit.add_argument("--city", help=f"shipping address: the city (default {address['city']})")
    submit.add_argument("--postal-code", help=f"shipping address: the postal code (default {address['postalCode']})")
    submit.add_argument("--country", help=f"shipping address: the ISO country code (default {address['country']})")
    submit.add_argument("--idempotency-key", help="a repeat with the same key returns the same order")

    products = command("products", "list the catalog: each product's SKU, name, price and stock (needs no sign-in)")
    products.add_argument("--json", action="store_true", help="print the API's JSON")

    status = command("status", "show an order")
    status.add_argument("order_id", help="the orderId")
    status.add_argument("--json", action="store_true", help="print the API's JSON")

    listing = command("list", "list orders, newest first (a shopper's own; any customer's for operators)")
    statuses = [status.value for status in OrderStatus]
    listing.add_argument(
        "--status", choices=statuses, metavar="STATUS", help=f"only orders in this status: {', '.join(statuses)}"
    )
    listing.add_argument("--customer", help="operators: only this customer's orders")
    listing.add_argument(
        "--limit",
        type=_page_size,
        help=f"orders per page, 1 to {MAX_PAGE} (default {DEFAULT_PAGE}; {MAX_PAGE} with --all)",
    )
    listing.add_argument("--next-token", help="go on where an earlier page ended: the token its last line gives")
    listing.add_argument(
        "--all", action="store_true", help=f"follow the pages to the last one (at most {MAX_PAGES} pages)"
    )

    watch = command("watch", "follow an order until it is terminal")
    watch.add_argument("order_id", help="the orderId")
    watch.add_argument("--timeout", type=_seconds, default=120.0, help="give up after this many seconds (default 120)")
    watch.add_argument("--interval", type=_seconds, default=0.5, help="seconds between polls (default 0.5)")
    watch.add_argument(
        "--states",
        action="store_true",
        help="also print each state the order's execution and its Express child enter (local stack only)",
    )
    watch.add_argument(
        "--aws-endpoint",
        help="with --states: the local stack's AWS endpoint (default ORDERS_AWS_ENDPOINT, else ORDERS_AWS_PORT)",
    )

    ship = command("ship", "answer the shipment callback as the warehouse (SigV4-signed)")
    ship.add_argument("order_id", help="the orderId")
    outcome = ship.add_mutually_exclusive_group()
    outcome.add_argument("--fail", metavar="REASON", help="report that the shipment failed, and why")
    outcome.add_argument(
        "--tracking", default="1Z999AA10123456784", help="the shipment's tracking number (default 1Z999AA10123456784)"
    )
    ship.add_argument("--region", help="a deployed API's region (default: from its URL, else AWS_REGION)")

    console = command("console", "serve the ops console (for the local stack, or --aws)")
    add_console_arguments(console)

    events = command(
        "events", "print order events in time order: the new ones, one order's, or all since a time (--since)"
    )
    events.add_argument("order_id", nargs="?", help="every event of this order read so far, shown or not")
    events.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="replay the bus archive from WHEN and print every event since: an ISO time such as 2026-12-06T04:20Z "
        "(UTC unless it says otherwise), or a duration back from now: 90s, 10m, 2h, 1d",
    )
    events.add_argument("--follow", action="store_true", help="keep printing events as they come, until Ctrl-C")
    events.add_argument(
        "--aws-endpoint", help="the local stack's AWS endpoint (default ORDERS_AWS_ENDPOINT, else ORDERS_AWS_PORT)"
    )
    events.add_argument("--queue-url", help="read another queue subscribed to the bus (a deployed stack's, say)")

    cancel = command("cancel", "cancel an order awaiting shipment")
    cancel.add_argument("order_id", help="the orderId")
    cancel.add_argument("--reason", default="cancelled by the customer", help="default: cancelled by the customer")
    return parser


SHOPPER_COMMANDS = {
    "status": cmd_status,
    "list": cmd_list,
    "watch": cmd_watch,
    "cancel": cmd_cancel,
}


def main(argv: list[str] | None = None) -> int:
    """Parse and run one command; stdout is flushed here, so that a closed pipe is met here too."""
    name = "orders"
    try:
        args = build_parser().parse_args(argv)
        name = f"orders {args.command}"
        exit_code = run(args)
        sys.stdout.flush()
    except CliError as error:
        print(f"{name}: {visible(str(error), newlines=True)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python's recipe: stdout to devnull, or the interpreter's own flush at exit fails again, with a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_CLOSED
    return exit_code


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; shopper commands get their token first, so a failed sign-in sends nothing."""
    if args.command == "submit":
        order = order_to_submit(args)  # a usage error, before any sign-in, needs no stack
        return cmd_submit(token_api(args.api_url, shopper_token(args)), order, args.idempotency_key)
    if args.command == "up":
        return cmd_up(args)
    if args.command == "console":
        return run_console(args)
    if args.command == "login":
        return cmd_login(args)
    if args.command == "token":
        return cmd_token(args)
    if args.command == "ship":
        return cmd_ship(OrdersApi(args.api_url, warehouse_signature(args)), args)
    if args.command == "events":
        return cmd_events(args)
    if args.command == "products":
        return cmd_products(OrdersApi(args.api_url), args)
    return SHOPPER_COMMANDS[args.command](token_api(args.api_url, shopper_token(args)), args)


if __name__ == "__main__":
    sys.exit(main())
