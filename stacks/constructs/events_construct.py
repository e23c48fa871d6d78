"""The order events: the ``orders`` bus with its replay archive, fed from the orders table's stream by the publisher."""

from __future__ import annotations

import jsii
from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks import constants
from stacks.nag import suppress
from workflows.resources import ORDER_EVENTS, STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS

PUBLISHED_CHANGES = ("INSERT", "MODIFY")
"""The stream records the publisher is invoked for: a REMOVE never adds a timeline entry, so it is filtered out."""


class EventsConstruct(Construct):
    """The bus, its archive, the dead-letter queue, and the publisher's event source mapping on the table's stream.

    The bus's resource policy lets no principal but the publisher's role put an event with this service's ``source``.

    The publisher's role may put events on this bus, read this table's stream and send to this queue, nothing more
    (besides its logs and traces): no DynamoDB item action, since the stream records carry the order's images.

    Example
    -------
    With the tables and the publisher as ``DataConstruct`` and ``FunctionsConstruct`` build them:

    >>> from workflows.resources import PUBLISH_ORDER_EVENTS
    >>> publisher = functions.add(PUBLISH_ORDER_EVENTS)
    >>> order_events = EventsConstruct(stack, "Events", table=data.tables["Orders"], publisher=publisher)
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, table: dynamodb.Table, publisher: lambda_.Function
    ) -> None:
        super().__init__(scope, construct_id)
        self.event_bus = self._build_event_bus()
        self.archive = self._build_archive()
        self.dead_letter_queue = self._build_dead_letter_queue()
        self.event_bus.grant_put_events_to(publisher)
        self.event_bus.add_to_resource_policy(only_the_publisher_speaks_for_orders(self.event_bus, publisher.role))
        self.stream_mapping = self._build_stream_mapping(table, publisher)

    def _build_event_bus(self) -> events.EventBus:
        """Named as ``workflows.resources`` says: the publisher's environment and the subscribers use that name."""
        return events.EventBus(self, "Bus", event_bus_name=ORDER_EVENTS.name, description="Order status changes")

    def _build_archive(self) -> events.Archive:
        """Everything this service publishes, kept so that a consumer that was down can be replayed its events."""
        return self.event_bus.archive(
            "Archive",
            archive_name=ORDER_EVENTS.archive_name,
            description=f"Every {ORDER_EVENTS.detail_type} event, for replay to consumers that missed them",
            event_pattern=events.EventPattern(source=[ORDER_EVENTS.source]),
            retention=Duration.days(ORDER_EVENTS.archive_retention_days),
        )

    def _build_dead_letter_queue(self) -> sqs.Queue:
        """Where the mapping records the stream batches it gave up on: their shard and sequence numbers, no data."""
        queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=ORDER_EVENTS.dead_letter_queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=constants.ORDER_EVENTS_DLQ_RETENTION,
        )
        suppress(
            queue,
            "SQS3",
            "This queue is the dead-letter queue: the stream mapping's on-failure destination, where batches end "
            "after their retries. Nothing consumes it automatically, so there is no failed receive to catch.",
        )
        return queue

    def _build_stream_mapping(self, table: dynamodb.Table, publisher: lambda_.Function) -> lambda_.EventSourceMapping:
        """Ordered, retried from the first failed record, then recorded in the DLQ.

        Bisecting a failed batch would publish the records after a failure before it, and a parallelization factor
        above one would run two batches of a shard at once: either can reorder one order's events. A record the
        publisher reports failed is retried with every record after it (partial batch responses), so nothing is
        published twice or out of order.
        """
        table.grant_stream_read(publisher)
        return lambda_.EventSourceMapping(
            self,
            "OrdersStream",
            target=publisher,
            event_source_arn=table.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=STREAM_BATCH_SIZE,
            retry_attempts=STREAM_RETRY_ATTEMPTS,
            max_record_age=constants.STREAM_MAX_RECORD_AGE,
            report_batch_item_failures=True,
            bisect_batch_on_error=False,
            parallelization_factor=constants.STREAM_PARALLELIZATION_FACTOR,
            on_failure=SendOnlyQueueDestination(self.dead_letter_queue),
            filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.or_(*PUBLISHED_CHANGES)})],
        )


PUBLISHER_ONLY_SID = "OnlyThePublisherPutsOrderEvents"


def only_the_publisher_speaks_for_orders(
    bus: events.IEventBus, publisher_role: iam.IRole | None
) -> iam.PolicyStatement:
    """The bus's resource policy statement: PutEvents of an event whose ``source`` is this service's is denied to
    every principal but the publisher's role, so no other grant of ``events:PutEvents`` can forge an order event.

    An explicit Deny in a resource policy binds principals of this account as well as others (IAM's evaluation
    logic); ``events:source`` is a PutEvents condition key holding every entry's source, hence ``ForAnyValue``.

    Example
    -------
    >>> statement = only_the_publisher_speaks_for_orders(bus, publisher.role)  # doctest: +SKIP
    """
    if publisher_role is None:
        raise ValueError("the publisher needs an execution role to be told apart from everyone else")
    return iam.PolicyStatement(
        sid=PUBLISHER_ONLY_SID,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["events:PutEvents"],
        resources=[bus.event_bus_arn],
        conditions={
            "ForAnyValue:StringEquals": {"events:source": [ORDER_EVENTS.source]},
            "ArnNotEquals": {"aws:PrincipalArn": publisher_role.role_arn},
        },
    )


@jsii.implements(lambda_.IEventSourceDlq)
class SendOnlyQueueDestination:
    """An SQS on-failure destination whose grant is ``sqs:SendMessage`` on the queue, the one call Lambda makes.

    ``aws_lambda_event_sources.SqsDlq`` grants ``grant_send_messages``, which adds GetQueueAttributes and GetQueueUrl.

    Example
    -------
    >>> from aws_cdk import App, Stack
    >>> queue = sqs.Queue(Stack(App(), "Example"), "Queue")
    >>> destination = SendOnlyQueueDestination(queue)
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(
        self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        target_handler.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self._queue.queue_arn])
        )
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)
