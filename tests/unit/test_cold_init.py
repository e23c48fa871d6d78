"""Cold init of the handler modules: what loading one builds where tracing is off, and that tracing on still traces.

Each check runs in a fresh interpreter, so modules this test process has imported already cannot hide what a
handler module imports on its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tasks.adapters import event_bus
from tasks.models.events import OrderStatusChanged
from tasks.models.order import OrderStatus
from workflows.resources import ALL_FUNCTIONS, VALIDATE_ORDER

REPOSITORY = Path(__file__).resolve().parents[2]
DEFERRED_UNTIL_USED = ("aws_xray_sdk.core", "boto3")
"""The X-Ray recorder (it builds two X-Ray clients) and boto3: each costs about as much as a whole cold init."""
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
"""What Lambda sets in ``_X_AMZN_TRACE_ID`` for a sampled invocation; its Parent is the function's segment."""

FIRST_IMPORTERS_PROGRAM = """
import importlib, json, sys
deferred, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
first_importer = {}
for module in modules:
    importlib.import_module(module)
    for name in deferred:
        if name in sys.modules:
            first_importer.setdefault(name, module)
print(json.dumps(first_importer))
"""

TRACED_INVOCATION_PROGRAM = """
import importlib, json, sys
from types import SimpleNamespace
from aws_xray_sdk.core.patcher import _PATCHED_MODULES
handler = importlib.import_module(sys.argv[1]).handler
from tasks.handlers.runtime import tracer
context = SimpleNamespace(function_name="cold", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:cold",
                          memory_limit_in_mb=256, aws_request_id="request-1")
try:
    handler({}, context)
except Exception:
    pass
print(json.dumps({"provider": type(tracer.provider).__module__, "disabled": tracer.disabled,
                  "patched": sorted(_PATCHED_MODULES)}))
"""


def run_python(program: str, *args: str, environment: dict[str, str]) -> Any:
    result = subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def function_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any tracing or Lambda settings, then ``overrides``."""
    settings = ("POWERTOOLS_TRACE", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE", "_X_AMZN_TRACE_ID")
    environment = {name: value for name, value in os.environ.items() if not name.startswith(settings)}
    return {**environment, "AWS_DEFAULT_REGION": "us-east-1", **overrides}


@pytest.mark.parametrize(
    "environment",
    [
        pytest.param(function_environment(), id="outside-lambda"),
        pytest.param(
            function_environment(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true"),
            id="lambda-with-tracing-disabled",
        ),
    ],
)
def test_no_handler_module_loads_the_xray_recorder_or_boto3_where_tracing_is_off(environment: dict[str, str]) -> None:
    modules = sorted({spec.module for spec in ALL_FUNCTIONS})

    first_importer = run_python(
        FIRST_IMPORTERS_PROGRAM, json.dumps(DEFERRED_UNTIL_USED), json.dumps(modules), environment=environment
    )

    assert first_importer == {}, f"loaded by importing a handler module (the first that did): {first_importer}"


def test_with_tracing_on_a_handler_is_traced_by_xray_and_its_subsegment_reaches_the_daemon() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        environment = function_environment(
            LAMBDA_TASK_ROOT="/var/task",
            AWS_LAMBDA_FUNCTION_NAME=VALIDATE_ORDER.logical_name,
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
            _X_AMZN_TRACE_ID=TRACE_HEADER,
        )

        tracing = run_python(TRACED_INVOCATION_PROGRAM, VALIDATE_ORDER.module, environment=environment)

        assert tracing["provider"].startswith("aws_xray_sdk.") and tracing["disabled"] is False
        assert "botocore" in tracing["patched"]
        daemon.settimeout(2)
        header, document = daemon.recv(65536).decode().split("\n", 1)
    subsegment = json.loads(document)
    assert json.loads(header) == {"format": "json", "version": 1}
    assert subsegment["type"] == "subsegment" and subsegment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert subsegment["annotations"]["ColdStart"] is True
    assert subsegment["cause"]["exceptions"][0]["type"] == "InvalidTaskInputError"


def test_the_event_bus_gets_its_client_at_its_first_put(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream handler builds its bus before it reads the batch; an unreadable batch must not build a client."""
    clients: list[Any] = []

    class RecordingClient:
        def put_events(self, **request: Any) -> dict[str, Any]:
            return {"FailedEntryCount": 0, "Entries": [{} for _ in request["Entries"]]}

    def events_client() -> RecordingClient:
        clients.append(RecordingClient())
        return clients[-1]

    monkeypatch.setattr(event_bus, "events_client", events_client)
    bus = event_bus.EventBridgeBus("orders")
    assert clients == []

    event = OrderStatusChanged(
        orderId="o-1", customerId=None, status=OrderStatus.RECEIVED, previousStatus=None, sequence=1, at="t"
    )
    bus.publish([event])
    assert len(clients) == 1
