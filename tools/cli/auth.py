"""Sign-in: where tokens come from, where they are kept, how a current one is found, and the warehouse's signature;
the ``login`` and ``token`` commands."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.cognitoidp.identity import (
    LOCAL_PASSWORD,
    REFRESH_MARGIN_SECONDS,
    SEEDED_USERS,
    SignInError,
    Tokens,
    UserPoolNotFoundError,
    find_user_pool,
    refresh,
    sign_in,
)
from local.aws.sigv4 import WAREHOUSE, region_of, sign
from tools.cli.api import Authorize
from tools.cli.endpoints import START_THE_STACK, aws_client, is_local_url, local_aws_endpoint, reaching_aws
from tools.cli.exit_codes import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, CliError


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


def local_pool(endpoint: str) -> PoolRef:
    """The local stack's pool, looked up each time: a restarted stack has a new pool, and old tokens are void there.

    Example
    -------
    >>> local_pool("http://127.0.0.1:4566").client_id  # doctest: +SKIP
    '627ed3045d6649dcbdaf79638e'
    """
    try:
        with reaching_aws(endpoint, LOCAL_REGION):
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
    with reaching_aws(pool.endpoint, pool.region):
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
            with reaching_aws(pool.endpoint, pool.region):
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
