"""Tiny Lambda functions for the runner and engine tests: each one shows one part of Lambda's contract."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from workflows.resources import FunctionSpec

IMPORTS = globals().get("IMPORTS", 0) + 1
"""How often this module's code ran in this module object: a reload would count again."""


def sample_function(name: str, handler: str, **options: Any) -> FunctionSpec:
    """A function whose handler lives in this module."""
    return FunctionSpec(logical_name=name, handler=f"{__name__}.{handler}", description=name, **options)


class SampleTaskError(Exception):
    """Lambda reports an unhandled exception by its class name; the ASL matches that name."""


def echo(event: Any, context: Any) -> dict[str, Any]:
    return {"event": event, "functionName": context.function_name}


def fail(event: Any, context: Any) -> None:
    raise SampleTaskError(f"failed on purpose for {event.get('orderId')}")


def outlive_the_timeout(event: Any, context: Any) -> dict[str, Any]:
    time.sleep(context.get_remaining_time_in_millis() / 1000 + 0.05)
    return {"finished": "too late"}


def fail_after_the_timeout(event: Any, context: Any) -> None:
    time.sleep(context.get_remaining_time_in_millis() / 1000 + 0.05)
    raise SampleTaskError("raised after Lambda would have stopped the function")


def use_most_of_the_timeout(event: Any, context: Any) -> dict[str, int]:
    time.sleep(0.6)
    return {"remainingMillis": context.get_remaining_time_in_millis()}


def report_the_remaining_time(event: Any, context: Any) -> dict[str, int]:
    return {"remainingMillis": context.get_remaining_time_in_millis()}


def return_something_json_cannot_hold(event: Any, context: Any) -> dict[str, Any]:
    return {"value": object()}


def read_environment(event: Any, context: Any) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in event["names"]}


resolver = APIGatewayRestResolver()


@resolver.post("/whoami")
def who_am_i() -> dict[str, str]:
    """Reads the caller from the event twice. Between the reads it waits until every request of the test is resolving
    (at a ``threading.Barrier`` a ``before_invoke`` hook put in the event), so each request's reads race the others'."""
    first = resolver.current_event.request_context.authorizer.claims["sub"]
    resolver.current_event.raw_event["everyRequestResolving"].wait()
    return {"before": first, "after": resolver.current_event.request_context.authorizer.claims["sub"]}


def resolve(event: Any, context: Any) -> dict[str, Any]:
    return resolver.resolve(event, context)


ECHO = sample_function("Echo", "echo")
FAIL = sample_function("Fail", "fail")
SLOW = sample_function("Slow", "outlive_the_timeout", timeout_seconds=1)
SLOW_FAILURE = sample_function("SlowFailure", "fail_after_the_timeout", timeout_seconds=1)
BUSY = sample_function("Busy", "use_most_of_the_timeout", timeout_seconds=1)
"""Runs 0.6 s of its 1 s timeout."""
PATIENT = sample_function("Patient", "report_the_remaining_time", timeout_seconds=30)
"""A 30 s timeout: long enough that waiting for its container never throttles it in a test."""
RESERVED = sample_function("Reserved", "echo", timeout_seconds=30, reserved_concurrency=1)
"""One concurrent execution reserved: a second invocation while one runs is throttled at once, not after 30 s."""
UNSERIALIZABLE = sample_function("Unserializable", "return_something_json_cannot_hold")
READ_ENVIRONMENT = sample_function("ReadEnvironment", "read_environment")
WHO_AM_I = sample_function("WhoAmI", "resolve")
"""A Powertools REST resolver, as the API function is."""
SAMPLE_FUNCTIONS = (ECHO, FAIL, SLOW, SLOW_FAILURE, BUSY, PATIENT, RESERVED, UNSERIALIZABLE, READ_ENVIRONMENT, WHO_AM_I)
