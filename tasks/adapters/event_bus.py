"""The ``orders`` EventBridge bus: PutEvents, ten entries a call, failed entries sent again (with backoff) before
giving up."""

from __future__ import annotations

import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.aws_sdk import STREAM_CALLS, client_for
from tasks.adapters.dynamodb import UNANSWERED, error_code
from tasks.errors import EventPublishError
from tasks.models.events import OrderStatusChanged
from workflows.resources import ORDER_EVENTS

PUT_EVENTS_MAX_ENTRIES = 10
ENTRY_ATTEMPTS = 3
"""How often an entry EventBridge refused (throttled, internal error) is sent again within one invocation."""
ENTRY_BACKOFF_SECONDS = 0.1
"""The first pause before refused entries are sent again (doubling, with jitter): resending a throttled entry at once
would only be throttled again."""


class EventBus(ABC):
    @abstractmethod
    def publish(self, events: Sequence[OrderStatusChanged]) -> None:
        """Put every event on the bus, in order; raises ``EventPublishError`` if any could not be put."""


class EventBridgeBus(EventBus):
    def __init__(self, bus_name: str, client: Any = None):
        self._bus = bus_name
        self._client = client
        """A given client, else the process's ``events_client()`` at the first put: a refused batch needs none."""

    def publish(self, events: Sequence[OrderStatusChanged]) -> None:
        for start in range(0, len(events), PUT_EVENTS_MAX_ENTRIES):
            self._put(list(events[start : start + PUT_EVENTS_MAX_ENTRIES]))

    def _put(self, events: list[OrderStatusChanged]) -> None:
        pending = [self._entry(event) for event in events]
        for attempt in range(ENTRY_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, ENTRY_BACKOFF_SECONDS * 2**attempt))
            try:
                answer = (self._client or events_client()).put_events(Entries=pending)
            except ClientError as error:
                raise EventPublishError(f"EventBridge refused PutEvents: {error_code(error)}") from error
            except UNANSWERED as error:
                raise EventPublishError(f"EventBridge did not answer PutEvents: {type(error).__name__}") from error
            if not answer.get("FailedEntryCount"):
                return
            pending = [entry for entry, result in zip(pending, answer["Entries"], strict=True) if "ErrorCode" in result]
        raise EventPublishError(f"EventBridge refused {len(pending)} event(s) after {ENTRY_ATTEMPTS} attempts")

    def _entry(self, event: OrderStatusChanged) -> dict[str, Any]:
        return {
            "EventBusName": self._bus,
            "Source": ORDER_EVENTS.source,
            "DetailType": ORDER_EVENTS.detail_type,
            "Resources": [],
            "Detail": event.model_dump_json(),
        }


def events_client() -> Any:
    return client_for("events", STREAM_CALLS)


def order_event_bus() -> EventBus:
    """The bus this function was deployed with."""
    return EventBridgeBus(os.environ[ORDER_EVENTS.env_var])
