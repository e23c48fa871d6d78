"""PublishOrderEvents: the orders table's stream to the ``orders`` bus, with Powertools' partial batch responses.

The event source mapping (or the local stream poller) retries a batch from its first failed record, so once one
record fails every later record of the batch is held back too: an order's events never overtake each other, and
nothing after a failure is published twice.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.event_bus import order_event_bus
from tasks.errors import EventPublishError
from tasks.handlers.runtime import tracer
from tasks.logic.events import status_changes

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    bus = order_event_bus()
    held_back: list[str] = []

    def publish(record: DynamoDBRecord) -> None:
        if held_back:
            raise EventPublishError(f"held back behind record {held_back[0]}, which failed: order matters")
        try:
            bus.publish(status_changes(record.dynamodb.old_image, record.dynamodb.new_image))
        except Exception:
            held_back.append(record.dynamodb.sequence_number or "?")
            raise

    return process_partial_response(event=event, record_handler=publish, processor=processor, context=context)
