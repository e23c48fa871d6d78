"""The ``events`` command: order events from the bus, read from a queue and kept, or replayed from the archive."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from local.aws.awslambda.runner import LOCAL_REGION
from local.provisioning import subscribe_queue
from tools.cli.auth import config_dir
from tools.cli.endpoints import aws_client, local_aws_endpoint, reaching_aws
from tools.cli.exit_codes import EXIT_OK, EXIT_REFUSED, CliError
from tools.cli.output import say
from tools.events import (
    CLI_EVENTS_QUEUE,
    EventStore,
    ReplayError,
    describe,
    event_time,
    events_from_queue,
    replay_archive,
)
from workflows.resources import ORDER_EVENTS


def cmd_events(args: argparse.Namespace) -> int:
    """Print order events in time order: the new ones; with an order id, every event of that order read so far;
    with ``--since``, every event from then on, replayed from the bus archive first. ``--follow`` then prints those
    that come, until Ctrl-C. Whatever is read from the queue is kept (``EventStore``), so nothing is lost to a run
    that showed something else."""
    endpoint = None if args.queue_url and not args.aws_endpoint else local_aws_endpoint(args.aws_endpoint)
    sqs = aws_client("sqs", endpoint, LOCAL_REGION if endpoint else None)
    stopped = threading.Event()
    if args.follow:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
    with reaching_aws(endpoint, LOCAL_REGION):
        queue_url = args.queue_url or _cli_events_queue(sqs, endpoint)
        store = _event_store(sqs, queue_url)
        if args.since is not None:
            _replay_since(args.since, aws_client("events", endpoint, sqs.meta.region_name), sqs, queue_url)
        new = store.add(events_from_queue(sqs, queue_url))
        shown = [event for event in (store.events() if args.order_id or args.since else new) if _wanted(event, args)]
        for event in shown:
            say(describe(event), flush=True)
        if not shown and not args.follow:
            say(_no_events(args))
        for event in events_from_queue(sqs, queue_url, follow=True, stopped=stopped) if args.follow else ():
            if store.add([event]) and _wanted(event, args):
                say(describe(event), flush=True)
    return EXIT_OK


def _wanted(event: dict[str, Any], args: argparse.Namespace) -> bool:
    detail = event.get("detail", {})
    return args.order_id in (None, detail.get("orderId")) and (args.since is None or event_time(event) >= args.since)


def _no_events(args: argparse.Namespace) -> str:
    since = f" since {args.since.isoformat(timespec='seconds')}" if args.since else ""
    if args.order_id:
        earlier = "" if args.since else "; events from before `orders events` first ran: add --since"
        return f"no events for {args.order_id}{since}{earlier}"
    return f"no events{since}" if args.since else "no new events"


def _event_store(sqs: Any, queue_url: str) -> EventStore:
    """The queue's store under the config directory; a queue created anew (a restarted stack) starts it empty."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["CreatedTimestamp"])["Attributes"]
    name = urllib.parse.quote(queue_url.split("://", 1)[-1], safe="@.+_-")
    return EventStore.open(config_dir() / "events" / f"{name}.jsonl", queue_url, attributes["CreatedTimestamp"])


def _replay_since(since: datetime, events: Any, sqs: Any, queue_url: str) -> None:
    """Have EventBridge replay the bus archive from ``since`` to the queue; a refusal is exit code 1."""
    say(f"replaying the {ORDER_EVENTS.name} bus archive from {since.isoformat(timespec='seconds')}…", file=sys.stderr)
    try:
        replay_archive(events, sqs, queue_url, since, datetime.now(UTC))
    except (ReplayError, ClientError) as error:
        raise CliError(EXIT_REFUSED, f"cannot replay the {ORDER_EVENTS.name} bus archive: {error}") from None


def parse_since(text: str) -> datetime:
    """``--since``: an ISO 8601 time (UTC unless it says otherwise), or a duration back from now: 90s, 10m, 2h, 1d.

    Example
    -------
    >>> parse_since("2026-12-06T04:20Z")
    datetime.datetime(2026, 12, 6, 4, 20, tzinfo=datetime.timezone.utc)
    """
    duration = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([smhd])", text.strip())
    if duration:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[2]]
        return datetime.now(UTC) - timedelta(seconds=float(duration[1]) * unit)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give an ISO time such as 2026-12-06T04:20Z, or a duration such as 10m, 2h or 1d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cli_events_queue(sqs: Any, endpoint: str | None) -> str:
    """The local stack's queue for ``orders events``, subscribed to the bus by the first ``orders events`` run."""
    try:
        return sqs.get_queue_url(QueueName=CLI_EVENTS_QUEUE)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        events = aws_client("events", endpoint, LOCAL_REGION)
        say(
            f"subscribed {CLI_EVENTS_QUEUE} to the {ORDER_EVENTS.name} bus: events from now on, earlier ones with "
            "--since",
            file=sys.stderr,
        )
        return subscribe_queue(events, sqs, CLI_EVENTS_QUEUE)
