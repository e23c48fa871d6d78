"""The local event source mapping reads the stream when the engine announces a record, not on a timer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.dynamodbstreams import event_source_mapping as event_stream
from local.aws.dynamodbstreams.event_source_mapping import StreamPoller
from local.aws.moto import STREAM_RECORD_LISTENERS, install_time_scale

HANG_GUARD_SECONDS = 30.0
"""How long a test waits for the poller before it calls that a hang; never what a test measures."""


class RecordingRunner:
    """Stands in for the Lambda runner: records the keys of each batch and accepts every record."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.delivered = threading.Event()

    def invoke(self, _function_name: str, payload: bytes) -> SimpleNamespace:
        records = json.loads(payload)["Records"]
        self.batches.append([record["dynamodb"]["Keys"]["id"]["S"] for record in records])
        self.delivered.set()
        return SimpleNamespace(function_error=None, status_code=200, payload=b'{"batchItemFailures": []}')

    def keys(self) -> list[str]:
        return [key for batch in self.batches for key in batch]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """moto with the engine's adapters, and no unannounced poll at all: only an announcement makes the poller read."""
    monkeypatch.setattr(event_stream, "UNANNOUNCED_POLL_SECONDS", None)
    install_time_scale(1)
    with mock_aws():
        yield SimpleNamespace(
            dynamodb=boto3.client("dynamodb", region_name=LOCAL_REGION),
            sqs=boto3.client("sqs", region_name=LOCAL_REGION),
            streams=boto3.client(
                "dynamodbstreams", region_name=LOCAL_REGION, config=Config(account_id_endpoint_mode="disabled")
            ),
        )


def streamed_table(dynamodb: Any) -> str:
    """A table with a stream of new and old images, as the orders table has; returns the stream's ARN."""
    return dynamodb.create_table(
        TableName="streamed",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]


@pytest.fixture
def poller(aws: SimpleNamespace) -> Iterator[tuple[StreamPoller, RecordingRunner]]:
    runner = RecordingRunner()
    dead_letters = aws.sqs.create_queue(QueueName="stream-dlq")["QueueUrl"]
    stream_poller = StreamPoller(aws.streams, streamed_table(aws.dynamodb), runner, aws.sqs, dead_letters)
    stream_poller.start()
    yield stream_poller, runner
    stream_poller.stop()


def put(dynamodb: Any, key: str) -> None:
    dynamodb.put_item(TableName="streamed", Item={"id": {"S": key}})


def delivered(runner: RecordingRunner, keys: list[str]) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while runner.keys() != keys and runner.delivered.wait(max(0.0, deadline - time.monotonic())):
        runner.delivered.clear()
    assert runner.keys() == keys, f"announced records not delivered (waited {HANG_GUARD_SECONDS}s)"


def test_a_written_record_is_delivered_when_announced(aws, poller):
    _, runner = poller

    put(aws.dynamodb, "o-1")
    put(aws.dynamodb, "o-2")

    delivered(runner, ["o-1", "o-2"])


def test_after_the_table_is_created_again_the_poller_follows_its_new_stream(aws, poller):
    stream_poller, runner = poller
    put(aws.dynamodb, "old")
    delivered(runner, ["old"])

    aws.dynamodb.delete_table(TableName="streamed")
    stream_poller.follow(streamed_table(aws.dynamodb))
    put(aws.dynamodb, "new")

    delivered(runner, ["old", "new"])


def test_stopping_ends_the_wait_at_once_and_stops_listening(poller):
    """The poller waits for an announcement with no timer to end the wait: only ``stop()`` can end its thread."""
    stream_poller, _ = poller

    stream_poller.stop()
    stream_poller._thread.join(HANG_GUARD_SECONDS)

    assert not stream_poller._thread.is_alive(), "stop() did not end the poller's wait"
    assert not any(getattr(listener, "__self__", None) is stream_poller for listener in STREAM_RECORD_LISTENERS)


def test_the_table_of_a_stream_is_named_in_its_arn():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-01-01T00:00:00.000"

    assert event_stream.table_of_stream(arn) == "orders"
