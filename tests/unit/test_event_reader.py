"""``orders events``: the subscribed queue read in time order, kept per queue so one order's events can be shown again,
and the bus archive replayed for what came before; every line printed safely."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.provisioning import subscribe_queue
from tools.cli import events as events_command
from tools.cli import main as cli
from tools.events import CLI_EVENTS_QUEUE, EventStore, describe, events_from_queue
from workflows.resources import ORDER_EVENTS

START = datetime.now(UTC) - timedelta(minutes=30)


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(order_id: str, sequence: int, status: str, minutes: float = 0, **extra: Any) -> dict[str, Any]:
    detail = {"orderId": order_id, "sequence": sequence, "status": status, "previousStatus": None, "at": at(minutes)}
    return {"source": "orders", "detail-type": "OrderStatusChanged", "detail": {**detail, **extra}}


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("ORDERS_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The ``orders`` bus with its archive, as the stack provisions it; the CLI gets these clients."""
    with mock_aws():
        clients = {name: boto3.client(name, region_name="us-east-1") for name in ("sqs", "events")}
        bus_arn = clients["events"].create_event_bus(Name=ORDER_EVENTS.name)["EventBusArn"]
        clients["events"].create_archive(
            ArchiveName=ORDER_EVENTS.archive_name,
            EventSourceArn=bus_arn,
            EventPattern=json.dumps({"source": [ORDER_EVENTS.source]}),
        )
        monkeypatch.setattr(events_command, "aws_client", lambda service, endpoint, region: clients[service])
        yield clients


def publish(bus: dict[str, Any], *events: dict[str, Any]) -> None:
    entries = [
        {
            "Source": e["source"],
            "DetailType": e["detail-type"],
            "Detail": json.dumps(e["detail"]),
            "EventBusName": "orders",
        }
        for e in events
    ]
    bus["events"].put_events(Entries=entries)


def subscribed(bus: dict[str, Any]) -> str:
    return subscribe_queue(bus["events"], bus["sqs"], CLI_EVENTS_QUEUE)


def printed(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str]]:
    """(order, #sequence) of each line ``orders events`` printed."""
    return [tuple(line.split()[1:3]) for line in capsys.readouterr().out.splitlines()]


def test_events_print_in_time_order_across_orders_not_grouped_by_sequence(bus, capsys):
    subscribed(bus)
    publish(bus, event("o-2", 1, "RECEIVED", 3), event("o-1", 2, "VALIDATED", 2), event("o-1", 1, "RECEIVED", 1))

    assert cli.main(["events"]) == 0

    assert printed(capsys) == [("o-1", "#1"), ("o-1", "#2"), ("o-2", "#1")]


def test_an_orders_events_are_shown_again_after_a_plain_run_read_them(bus, capsys):
    subscribed(bus)
    publish(bus, event("o-1", 1, "RECEIVED", 1), event("o-2", 1, "RECEIVED", 2), event("o-1", 2, "VALIDATED", 3))
    assert cli.main(["events"]) == 0
    capsys.readouterr()

    assert cli.main(["events", "o-1"]) == 0
    assert printed(capsys) == [("o-1", "#1"), ("o-1", "#2")]

    assert cli.main(["events"]) == 0
    assert capsys.readouterr().out == "no new events\n", "a plain run shows what is new"


def test_events_from_before_the_first_run_come_from_the_archive_with_since(bus, capsys):
    publish(bus, event("o-1", 1, "RECEIVED", 1), event("o-1", 2, "VALIDATED", 2), event("o-0", 1, "RECEIVED", -60))

    assert cli.main(["events"]) == 0
    assert capsys.readouterr().out == "no new events\n"
    assert cli.main(["events", "o-1"]) == 0
    assert "add --since" in capsys.readouterr().out

    assert cli.main(["events", "--since", "45m"]) == 0

    out, err = capsys.readouterr()
    assert [tuple(line.split()[1:3]) for line in out.splitlines()] == [("o-1", "#1"), ("o-1", "#2")]
    assert "replaying the orders bus archive from " in err
    assert cli.main(["events", "o-0"]) == 0
    assert printed(capsys) == [("o-0", "#1")], "what the replay brought is kept too"


def test_since_takes_an_iso_time_and_refuses_anything_else(bus, capsys):
    subscribed(bus)
    publish(bus, event("o-1", 1, "RECEIVED", 1), event("o-1", 2, "VALIDATED", 10))

    assert cli.main(["events", "--since", at(5)]) == 0
    assert printed(capsys) == [("o-1", "#2")]

    with pytest.raises(SystemExit) as refused:
        cli.main(["events", "--since", "last tuesday"])
    assert refused.value.code == cli.EXIT_USAGE
    assert "give an ISO time such as 2026-12-06T04:20Z, or a duration such as 10m" in capsys.readouterr().err


def test_since_on_a_queue_no_rule_feeds_says_so(bus, capsys):
    url = bus["sqs"].create_queue(QueueName="not-subscribed")["QueueUrl"]

    assert cli.main(["events", "--since", "10m", "--queue-url", url]) == cli.EXIT_REFUSED

    assert capsys.readouterr().err.endswith(
        f"orders events: cannot replay the orders bus archive: no rule of the orders bus delivers to {url}\n"
    )


def test_the_store_is_private_and_a_new_queue_starts_it_empty(tmp_path):
    path = tmp_path / "config" / "events" / "queue.jsonl"
    store = EventStore.open(path, "http://127.0.0.1:4566/123456789012/q", created="1")
    store.add([event("o-1", 1, "RECEIVED"), event("o-1", 1, "RECEIVED")])

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(EventStore.open(path, "http://127.0.0.1:4566/123456789012/q", created="1").events()) == 1
    assert EventStore.open(path, "http://127.0.0.1:4566/123456789012/q", created="2").events() == []


def test_reading_the_queue_takes_every_orders_events_in_time_order_once(bus):
    url = subscribed(bus)
    publish(bus, event("o-2", 1, "RECEIVED", 2), event("o-1", 1, "RECEIVED", 1))

    read = [(item["detail"]["orderId"], item["detail"]["sequence"]) for item in events_from_queue(bus["sqs"], url)]

    assert read == [("o-1", 1), ("o-2", 1)]
    assert list(events_from_queue(bus["sqs"], url)) == [], "each message is read once"


def test_orders_events_prints_one_line_per_event_with_control_characters_escaped(bus, capsys):
    url = subscribed(bus)
    publish(bus, event("o-3", 1, "FAILED", failure={"error": "X", "message": "\x1b[2Jgone\u202e"}))

    exit_code = cli.main(["events", "o-3", "--queue-url", url])

    out = capsys.readouterr().out
    assert exit_code == 0
    assert out.count("\n") == 1 and "o-3  #1 - -> FAILED" in out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b" in out


def test_orders_events_says_when_there_is_nothing_for_an_order(bus, capsys):
    url = subscribed(bus)

    assert cli.main(["events", "o-none", "--queue-url", url]) == 0
    assert capsys.readouterr().out.startswith("no events for o-none")


def test_the_first_orders_events_subscribes_its_queue_to_the_bus(bus, capsys):
    assert cli.main(["events"]) == 0
    rules = bus["events"].list_rules(EventBusName="orders")["Rules"]

    assert CLI_EVENTS_QUEUE in [rule["Name"] for rule in rules]
    assert "subscribed orders-cli-events" in capsys.readouterr().err


def test_an_event_of_a_timeout_without_a_message_names_what_it_means():
    failed = event("o-4", 5, "FAILED", failure={"error": "States.HeartbeatTimeout", "message": ""})

    assert describe(failed).endswith("  States.HeartbeatTimeout (the warehouse sent no heartbeat in time)")
