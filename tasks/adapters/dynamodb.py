"""Shared DynamoDB plumbing: one thread-safe client per process and caller, (de)serialization, error translation."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as SdkConnectionError

from tasks.adapters.aws_sdk import client_for, dynamodb_codec
from tasks.errors import StorageTransientError

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
UNANSWERED = (SdkConnectionError, HTTPClientError)
"""What botocore raises when AWS did not answer: a connect or read timeout, a refused or dropped connection."""


def dynamodb_client() -> Any:
    """A low-level client, with the SDK settings of the current caller (``tasks.adapters.aws_sdk``): unlike boto3
    resources it is safe to share between the threads of a Parallel state."""
    return client_for("dynamodb")


def table_name(env_var: str) -> str:
    """The deployed name of a table, from the function's environment (see ``workflows.resources``)."""
    try:
        return os.environ[env_var]
    except KeyError:
        raise RuntimeError(f"{env_var} is not set: the function was deployed without its table") from None


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    serializer, _ = dynamodb_codec()
    return {key: serializer.serialize(_to_dynamo(value)) for key, value in values.items()}


def to_value(value: Any) -> dict[str, Any]:
    serializer, _ = dynamodb_codec()
    return serializer.serialize(_to_dynamo(value))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    _, deserializer = dynamodb_codec()
    return {key: _from_dynamo(deserializer.deserialize(value)) for key, value in item.items()}


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


BATCH_GET_LIMIT = 100
"""Keys per BatchGetItem request, across its tables."""
UNPROCESSED_ROUNDS = 5
"""How often keys DynamoDB left unprocessed are asked for again, with backoff, before the read counts as throttled."""
UNPROCESSED_BACKOFF_SECONDS = 0.05


def batch_get(client: Any, keys: Mapping[str, list[Mapping[str, Any]]], *, consistent: bool) -> dict[str, list[dict]]:
    """The items with those keys, per table, read in as few BatchGetItem requests as DynamoDB allows.

    Missing items are left out, and the items of a table come back in no particular order. Unprocessed keys (a
    throttled partition) are asked for again with exponential backoff and jitter, as DynamoDB asks; keys still
    unprocessed after ``UNPROCESSED_ROUNDS`` raise ``StorageTransientError``, as a throttled read does.

    Example
    -------
    >>> batch_get(client, {"orders": [{"orderId": "o-1"}]}, consistent=True)  # doctest: +SKIP
    {'orders': [{'orderId': 'o-1', ...}]}
    """
    found: dict[str, list[dict]] = {table: [] for table in keys}
    pending = [(table, to_item(key)) for table, table_keys in keys.items() for key in table_keys]
    for start in range(0, len(pending), BATCH_GET_LIMIT):
        request: dict[str, Any] = {}
        for table, key in pending[start : start + BATCH_GET_LIMIT]:
            request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
        for round_ in range(UNPROCESSED_ROUNDS + 1):
            if round_:
                time.sleep(random.uniform(0, UNPROCESSED_BACKOFF_SECONDS * 2**round_))
            with transient_errors_retried_by_the_workflow():
                response = client.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                found[table] += [from_item(item) for item in items]
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            left = sum(len(table["Keys"]) for table in request.values())
            raise StorageTransientError(f"DynamoDB: {left} key(s) still unprocessed after {UNPROCESSED_ROUNDS} retries")
    return found


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


@contextmanager
def transient_errors_retried_by_the_workflow() -> Iterator[None]:
    """Turn throttling, conflicts, DynamoDB's 5xx and calls it never answered (timeouts, dropped connections) into
    ``StorageTransientError``, the name the ASL retries with backoff and the API answers with 503."""
    try:
        yield
    except ClientError as error:
        if error_code(error) in TRANSIENT_ERROR_CODES:
            raise StorageTransientError(f"DynamoDB: {error_code(error)}") from error
        raise
    except UNANSWERED as error:
        raise StorageTransientError(f"DynamoDB did not answer: {type(error).__name__}") from error
