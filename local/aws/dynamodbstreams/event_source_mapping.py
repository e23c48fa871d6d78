"""The local stand-in for Lambda's event source mapping on the orders table's stream.

It reads moto's DynamoDB stream shard by shard and hands batches to the real PublishOrderEvents handler through
the Lambda runner, with the mapping's settings from ``workflows.resources``: batches of ``STREAM_BATCH_SIZE``,
partial batch responses (a retry starts at the first failed record), ``STREAM_RETRY_ATTEMPTS`` retries, then the
batch's coordinates from that record on sent to the dead-letter queue, as Lambda's on-failure destination records
them, and the next batch goes on. There is no bisect, as in the CDK mapping: splitting a batch could publish an
order's later events before an earlier one that is still being retried.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from local.aws.awslambda.runner import LambdaRunner, function_arn
from local.aws.moto import STREAM_RECORD_LISTENERS
from workflows.resources import PUBLISH_ORDER_EVENTS, STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS

UNANNOUNCED_POLL_SECONDS = 1.0
"""The engine announces every record of an in-process table, and the poller reads it at once; it still looks this
often for records nobody announced (a moto in another process), instead of waiting on the announcement forever."""
SHARDS_REFRESH_SECONDS = 10.0
"""The table has one shard locally; its list is read again now and then, not on every poll."""
log = logging.getLogger(__name__)


class StreamPoller:
    """Reads one table's stream in a thread when the engine announces a record; ``drain()`` delivers everything there
    is now, for tests.

    Parameters
    ----------
    streams:
        A ``dynamodbstreams`` client of the endpoint that holds the table.
    stream_arn:
        The table's ``LatestStreamArn``.
    runner:
        Runs PublishOrderEvents.
    sqs, dead_letter_queue_url:
        Where a record that still fails after its retries is recorded.

    Example
    -------
    >>> poller = StreamPoller(streams, stream_arn, runner, sqs, dlq_url)  # doctest: +SKIP
    >>> poller.start()  # doctest: +SKIP
    """

    def __init__(self, streams: Any, stream_arn: str, runner: LambdaRunner, sqs: Any, dead_letter_queue_url: str):
        self._streams, self._stream_arn, self._runner = streams, stream_arn, runner
        self._sqs, self._dead_letter_queue_url = sqs, dead_letter_queue_url
        self._iterators: dict[str, str] = {}
        self._shards: list[str] = []
        self._shards_read_at = float("-inf")
        self._lock = threading.Lock()
        self._stopped = False
        self._announced = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)

    def start(self) -> None:
        STREAM_RECORD_LISTENERS.append(self._record_announced)
        self._thread.start()

    def stop(self) -> None:
        if self._record_announced in STREAM_RECORD_LISTENERS:
            STREAM_RECORD_LISTENERS.remove(self._record_announced)
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def follow(self, stream_arn: str) -> None:
        """Read ``stream_arn`` from its start from now on: the table was created again, with a new stream."""
        with self._lock:
            self._stream_arn = stream_arn
            self._iterators.clear()
            self._shards = []
            self._shards_read_at = float("-inf")

    def _record_announced(self, table_name: str, _record: dict[str, Any]) -> None:
        if table_name == table_of_stream(self._stream_arn):
            with self._wake:
                self._announced = True
                self._wake.notify_all()

    def _run(self) -> None:
        while self._wait_for_records():
            try:
                self.drain()
            except Exception:
                log.warning("stream poll failed", exc_info=True)

    def _wait_for_records(self) -> bool:
        """Until a record is announced, or ``UNANNOUNCED_POLL_SECONDS`` have passed; False once stopped."""
        with self._wake:
            self._wake.wait_for(lambda: self._announced or self._stopped, timeout=UNANNOUNCED_POLL_SECONDS)
            self._announced = False
            return not self._stopped

    def drain(self) -> int:
        """Deliver every record the stream holds now; returns how many were read."""
        with self._lock:
            if time.monotonic() - self._shards_read_at > SHARDS_REFRESH_SECONDS:
                description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
                self._shards = [shard["ShardId"] for shard in description["Shards"]]
                self._shards_read_at = time.monotonic()
            return sum(self._drain_shard(shard_id) for shard_id in self._shards)

    def _drain_shard(self, shard_id: str) -> int:
        read = 0
        while True:
            iterator = (
                self._iterators.get(shard_id)
                or self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            page = self._streams.get_records(ShardIterator=iterator, Limit=STREAM_BATCH_SIZE)
            records = page["Records"]
            if records:
                self._deliver(shard_id, records)
            self._iterators[shard_id] = page.get("NextShardIterator") or iterator
            read += len(records)
            if len(records) < STREAM_BATCH_SIZE:
                return read

    def _deliver(self, shard_id: str, records: Sequence[dict[str, Any]]) -> None:
        """Retry from the first failure; once the retries run out, record the rest of the batch in the DLQ."""
        failed_at = self._with_retries(list(records))
        if failed_at is not None:
            self._dead_letter(shard_id, records[failed_at:])

    def _with_retries(self, batch: list[dict[str, Any]]) -> int | None:
        """None when the batch got through; else the index of the record that kept failing."""
        start = 0
        for _ in range(1 + STREAM_RETRY_ATTEMPTS):
            failed = self._invoke(batch[start:])
            if failed is None:
                return None
            if failed > 0:
                start, failed = start + failed, 0
        return start

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """One invocation: None when every record succeeded, else the index of the first failed one."""
        event = {"Records": [_lambda_record(record, self._stream_arn) for record in batch]}
        invocation = self._runner.invoke(PUBLISH_ORDER_EVENTS.logical_name, json.dumps(event, default=str).encode())
        if invocation.function_error or invocation.status_code != 200:
            return 0
        failures = {item["itemIdentifier"] for item in json.loads(invocation.payload).get("batchItemFailures", [])}
        numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        return next((index for index, number in enumerate(numbers) if number in failures), None)

    def _dead_letter(self, shard_id: str, records: Sequence[dict[str, Any]]) -> None:
        """What Lambda's on-failure destination receives for a stream: the batch's coordinates, not its data."""
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn(PUBLISH_ORDER_EVENTS.logical_name),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 1 + STREAM_RETRY_ATTEMPTS,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": str(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": str(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self._stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._dead_letter_queue_url, MessageBody=json.dumps(message))


def table_of_stream(stream_arn: str) -> str:
    """The table a stream belongs to: ``arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>``.

    Example
    -------
    >>> table_of_stream("arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-01-01T00:00:00.000")
    'orders'
    """
    return stream_arn.split(":table/", 1)[-1].split("/stream/", 1)[0]


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda hands it to a function: GetRecords' record plus the ARN of its stream."""
    shaped = dict(record)
    shaped["eventSourceARN"] = stream_arn
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    shaped["dynamodb"] = dynamodb
    return shaped
