"""Where the stack is: the API URL and the local AWS endpoint from options and ``ORDERS_*`` settings, and AWS clients
of either, whose network failures exit 2."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tools.cli.exit_codes import EXIT_UNREACHABLE, CliError

LOCAL_HOST = "127.0.0.1"
DEFAULT_API_PORT, DEFAULT_AWS_PORT = 3000, 4566
LOCAL_HOSTS = frozenset({LOCAL_HOST, "localhost", "::1"})
START_THE_STACK = "start the stack with `make run`"


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


def aws_client(service: str, endpoint: str | None, region: str | None) -> Any:
    """A client of the local stack's endpoint (fake credentials, one attempt) or of your own AWS account."""
    if endpoint is None:
        return boto3.session.Session(region_name=region).client(service)
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)
    local = Config(connect_timeout=2, read_timeout=15, retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=endpoint, config=local)


@contextlib.contextmanager
def reaching_aws(endpoint: str | None, region: str) -> Iterator[None]:
    """A network failure exits 2, saying what to do about it; Cognito's refusals are ``SignInError`` still."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        if endpoint is None:
            raise CliError(EXIT_UNREACHABLE, f"cannot reach Cognito in {region}: {error}") from None
        raise CliError(
            EXIT_UNREACHABLE, f"cannot reach the local AWS endpoint at {endpoint} ({error}); {START_THE_STACK}"
        ) from None
