"""Fixtures of the console tests: a local ``orders up`` with the console beside it, and headless Chromium.

The browser is Debian's ``chromium`` driven by Playwright; nothing downloads a browser. When either is missing the
browser tests fail with how to install them (``make browser-deps``, ``pip install -e ".[console]"``): they never
skip, so a CI run without a browser cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.provisioning import subscribe_queue
from local.testkit.fixtures import sample_order
from tests.integration.service import OrdersService, start_local_service, stop_local_service
from tools.console.graph import nested_state_machines, workflow_graph
from tools.console.layout import layout_graph
from tools.console.server import ConsoleServer
from tools.events import EventLog
from workflows.resources import ORDER_WORKFLOW, STATE_MACHINES, StateMachineSpec, Substitution, SubstitutionKind


@dataclass
class ConsoleStack:
    service: OrdersService
    console: ConsoleServer
    stepfunctions: Any

    @property
    def url(self) -> str:
        return self.console.url

    def submit(self, **overrides: Any) -> str:
        """Place an order as the suite's default shopper; the console then acts on it as the operator."""
        answer = self.service.request("POST", "/orders", sample_order(**overrides))
        assert answer.status == 202, answer.body
        return answer.body["orderId"]

    def execution_status(self, order_id: str) -> str:
        arn = self.console.service.execution_arn(order_id)
        return self.stepfunctions.describe_execution(executionArn=arn)["status"]

    def failed_executions(self) -> int:
        """How many of the order workflow's executions have failed so far: every test of the module adds orders."""
        arn = self.console.service.state_machine_arn
        pages = self.stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="FAILED")
        return sum(len(page["executions"]) for page in pages)

    def order_status(self, order_id: str) -> str:
        return self.service.request("GET", f"/orders/{order_id}").body["status"]

    def detail(self, order_id: str) -> dict[str, Any]:
        """What the console's detail page reads for an execution."""
        return self.console.service.execution(order_id)


def deployed_arn(substitution: Substitution) -> str:
    """What a placeholder becomes: a state machine's ARN as AWS spells it, anything else a recognisable stand-in."""
    if substitution.kind is SubstitutionKind.STATE_MACHINE_ARN:
        spec = next(spec for spec in STATE_MACHINES if spec.logical_name == substitution.target)
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{spec.local_name}"
    return f"arn:local:{substitution.target}"


def spec_of(state_machine_arn: str) -> StateMachineSpec:
    return next(spec for spec in STATE_MACHINES if state_machine_arn.endswith(f":stateMachine:{spec.local_name}"))


@pytest.fixture(scope="module")
def graph() -> Any:
    """The graph model of the order workflow with its child's states inside PrepareOrder, from the ASL files the stack
    runs, as the console builds it from the two definitions DescribeStateMachine returns."""
    parent = ORDER_WORKFLOW.render(deployed_arn)
    children = {task: spec_of(arn).render(deployed_arn) for task, arn in nested_state_machines(parent).items()}
    return workflow_graph(parent, children)


@pytest.fixture(scope="module")
def layout(graph: Any) -> Any:
    return layout_graph(graph)


@pytest.fixture(scope="module")
def console_stack() -> Iterator[ConsoleStack]:
    """``orders up`` in a subprocess (warehouse off, 100x time) and a console reading its AWS endpoint, acting as
    the local pool's operator.

    ``ORDERS_CONSOLE_PORT=0``: ``orders up`` serves a console of its own, which must not take 8233 from another.
    """
    service = start_local_service({"ORDERS_CONSOLE_PORT": "0"})
    try:
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        )
        stepfunctions = session.client("stepfunctions", endpoint_url=service.aws_endpoint)
        dynamodb = session.client("dynamodb", endpoint_url=service.aws_endpoint)
        cognito = session.client("cognito-idp", endpoint_url=service.aws_endpoint)
        sqs = session.client("sqs", endpoint_url=service.aws_endpoint)
        events_queue = subscribe_queue(
            session.client("events", endpoint_url=service.aws_endpoint), sqs, "console-test-events"
        )
        state_machine_arn = next(
            machine["stateMachineArn"]
            for machine in stepfunctions.list_state_machines()["stateMachines"]
            if machine["name"] == ORDER_WORKFLOW.local_name
        )
        with ConsoleServer(
            stepfunctions,
            dynamodb,
            "orders",
            state_machine_arn,
            service.api_url,
            port=0,
            cognito=cognito,
            order_events=EventLog(sqs, events_queue),
        ) as console:
            yield ConsoleStack(service, console, stepfunctions)
    finally:
        assert stop_local_service(service) == 0


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page whose script errors, and anything the Content-Security-Policy refused, fail the test."""
    context = browser.new_context(viewport={"width": 1680, "height": 1050}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.set_default_timeout(20_000)
    yield page
    context.close()
    assert not errors, f"script errors or policy violations in the console: {errors}"
