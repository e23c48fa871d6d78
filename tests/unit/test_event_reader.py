"""``orders events``: reading the stack's subscribed queue, one order or all, each event once, printed safely."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.cli import main as cli
from tools.events import describe, events_from_queue


def event(order_id: str, sequence: int, status: str, **extra: Any) -> dict[str, Any]:
    detail = {"orderId": order_id, "sequence": sequence, "status": status, "previousStatus": None, "at": f"t{sequence}"}
    return {"source": "orders", "detail-type": "OrderStatusChanged", "detail": {**detail, **extra}}


@pytest.fixture
def queue() -> Any:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="orders-cli-events")["QueueUrl"]
        for body in (event("o-2", 1, "RECEIVED"), event("o-1", 2, "VALIDATED"), event("o-1", 1, "RECEIVED")):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        yield sqs, url


def test_one_orders_events_come_in_sequence_and_the_others_stay_in_the_queue(queue):
    sqs, url = queue

    read = [(item["detail"]["orderId"], item["detail"]["sequence"]) for item in events_from_queue(sqs, url, "o-1")]
    rest = [item["detail"]["orderId"] for item in events_from_queue(sqs, url)]

    assert read == [("o-1", 1), ("o-1", 2)]
    assert rest == ["o-2"]
    assert list(events_from_queue(sqs, url)) == [], "each event is shown once"


def test_orders_events_prints_one_line_per_event_with_control_characters_escaped(queue, monkeypatch, capsys):
    sqs, url = queue
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(event("o-3", 1, "FAILED", failure={"error": "X", "message": "\x1b[2Jgone\u202e"})),
    )
    monkeypatch.setattr(cli, "aws_client", lambda service, endpoint, region: sqs)

    exit_code = cli.main(["events", "o-3", "--queue-url", url])

    out = capsys.readouterr().out
    assert exit_code == 0
    assert out.count("\n") == 1 and "o-3  #1 - -> FAILED" in out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b" in out


def test_orders_events_says_when_there_is_nothing_new(queue, monkeypatch, capsys):
    sqs, url = queue
    monkeypatch.setattr(cli, "aws_client", lambda service, endpoint, region: sqs)

    assert cli.main(["events", "o-none", "--queue-url", url]) == 0
    assert capsys.readouterr().out == "no new events for o-none\n"


def test_the_first_orders_events_subscribes_its_queue_to_the_bus(monkeypatch, capsys):
    with mock_aws():
        clients = {name: boto3.client(name, region_name="us-east-1") for name in ("sqs", "events")}
        clients["events"].create_event_bus(Name="orders")
        monkeypatch.setattr(cli, "aws_client", lambda service, endpoint, region: clients[service])

        assert cli.main(["events"]) == 0
        rules = clients["events"].list_rules(EventBusName="orders")["Rules"]

    assert [rule["Name"] for rule in rules] == ["orders-cli-events"]
    assert "subscribed orders-cli-events" in capsys.readouterr().err


def test_an_event_of_a_timeout_without_a_message_names_what_it_means():
    failed = event("o-4", 5, "FAILED", failure={"error": "States.HeartbeatTimeout", "message": ""})

    assert describe(failed).endswith("  States.HeartbeatTimeout (the warehouse sent no heartbeat in time)")
