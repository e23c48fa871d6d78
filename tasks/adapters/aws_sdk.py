"""Everything the adapters take from boto3, loaded on first use rather than when a handler module is imported, and
the SDK settings (retry mode, attempts, timeouts) each kind of caller uses.

Importing boto3 costs about as much as the rest of a handler's cold init together, and an invocation refused at
validation, or an API route that reads nothing, never needs it. Adapters cache what these return, so a warm
container builds each client once.

Callers differ in how long they may wait for AWS (docs/decisions.md has the table and the reasons): the API must
answer a person within its Lambda timeout, so it gives up soon and answers 503; a task may wait longer, and behind the
SDK's retries its state's ``Retry`` retries again with a longer backoff; the stream publisher is retried by its event
source mapping. The API handler runs its calls ``with calls_as(API_CALLS)``; everything else uses the settings its
client names.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


@dataclass(frozen=True)
class SdkSettings:
    """How one kind of caller uses the SDK: botocore's retry mode, total attempts (the first included) and timeouts.

    Example
    -------
    >>> API_CALLS.config()["retries"]
    {'mode': 'standard', 'total_max_attempts': 2}
    """

    caller: str
    total_attempts: int
    connect_timeout_seconds: float
    read_timeout_seconds: float
    mode: str = "standard"

    def config(self) -> dict[str, Any]:
        """``botocore.config.Config`` options. botocore's ``max_attempts`` counts retries, ``total_max_attempts``
        every attempt: these settings say total attempts, so they use the latter."""
        return {
            "retries": {"mode": self.mode, "total_max_attempts": self.total_attempts},
            "connect_timeout": self.connect_timeout_seconds,
            "read_timeout": self.read_timeout_seconds,
        }


API_CALLS = SdkSettings("the API function", total_attempts=2, connect_timeout_seconds=1, read_timeout_seconds=2)
"""A failing call costs the API at most about 2 x (1 s + 2 s) plus a backoff under 1 s, so a request answers 503 well
inside the function's 10 s timeout instead of being cut off (which API Gateway answers 502)."""
TASK_CALLS = SdkSettings("a workflow task", total_attempts=3, connect_timeout_seconds=1, read_timeout_seconds=2)
"""At most about 3 x (1 s + 2 s) plus 3 s of backoff inside a task's 15 s timeout; then the task raises its
transient error and the state's Retry tries again with the ASL's longer backoff."""
STREAM_CALLS = SdkSettings("the stream publisher", total_attempts=3, connect_timeout_seconds=1, read_timeout_seconds=2)
"""PutEvents: what still fails is retried by the event source mapping from the failed record, then recorded in the
stream's dead-letter queue."""

_calls: ContextVar[SdkSettings] = ContextVar("sdk_settings", default=TASK_CALLS)


@contextmanager
def calls_as(settings: SdkSettings) -> Iterator[None]:
    """Make the clients the adapters ask for in this context use ``settings`` (the API handler's invocations).

    Example
    -------
    >>> with calls_as(API_CALLS):
    ...     current_sdk_settings().caller
    'the API function'
    """
    token = _calls.set(settings)
    try:
        yield
    finally:
        _calls.reset(token)


def current_sdk_settings() -> SdkSettings:
    return _calls.get()


def new_client(service_name: str, **config: Any) -> Any:
    """A low-level client of its own session; ``config`` are ``botocore.config.Config`` options.

    Example
    -------
    >>> new_client("dynamodb", **TASK_CALLS.config()).meta.service_model.service_name  # doctest: +SKIP
    'dynamodb'
    """
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(service_name, config=Config(**config))


@functools.cache
def cached_client(service_name: str, settings: SdkSettings) -> Any:
    """One client per service and settings per process: building one costs tens of milliseconds."""
    return new_client(service_name, **settings.config())


def client_for(service_name: str, settings: SdkSettings | None = None) -> Any:
    """The process's client of ``service_name`` with ``settings``, or those of the current context."""
    return cached_client(service_name, settings or current_sdk_settings())


@functools.cache
def dynamodb_codec() -> tuple[TypeSerializer, TypeDeserializer]:
    """boto3's DynamoDB attribute-value (de)serializers, one pair per process.

    Example
    -------
    >>> serializer, deserializer = dynamodb_codec()
    >>> deserializer.deserialize(serializer.serialize("o-1"))
    'o-1'
    """
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()
