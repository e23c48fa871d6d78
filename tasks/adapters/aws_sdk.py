"""Everything the adapters take from boto3, loaded on first use rather than when a handler module is imported.

Importing boto3 costs about as much as the rest of a handler's cold init together, and an invocation refused at
validation, or an API route that reads nothing, never needs it. Adapters cache what these return, so a warm
container builds each client once.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

STANDARD_RETRIES = {"mode": "standard", "max_attempts": 3}


def new_client(service_name: str, **config: Any) -> Any:
    """A low-level client of its own session; ``config`` are ``botocore.config.Config`` options.

    Example
    -------
    >>> new_client("dynamodb", retries=STANDARD_RETRIES).meta.service_model.service_name  # doctest: +SKIP
    'dynamodb'
    """
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(service_name, config=Config(**config))


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
