"""The ``orders`` EventBridge bus: PutEvents, ten entries a call, failed entries sent again before giving up."""

from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from tasks.adapters.aws_sdk import STANDARD_RETRIES, new_client
from tasks.errors import EventPublishError
from tasks.models.events import OrderStatusChanged
from workflows.resources import ORDER_EVENTS

PUT_EVENTS_MAX_ENTRIES = 10
ENTRY_ATTEMPTS = 3
"""How often an entry EventBridge refused (throttled, internal error) is sent again within one invocation."""


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
        for _ in range(ENTRY_ATTEMPTS):
            answer = (self._client or events_client()).put_events(Entries=pending)
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


@functools.cache
def events_client() -> Any:
    return new_client("events", retries=STANDARD_RETRIES)


def order_event_bus() -> EventBus:
    """The bus this function was deployed with."""
    return EventBridgeBus(os.environ[ORDER_EVENTS.env_var])
