"""The bare-engine baseline: the same ASL files on moto's Step Functions engine, every task answered by a no-op stub.

Run in a fresh interpreter (``python -m bench.baseline``), so nothing of the local stack is loaded: moto in-process
(``mock_aws``), the order workflow and its child rendered from their ASL files with the local substitutions, and a
botocore ``before-call`` hook that answers each Lambda ``Invoke`` at once with exactly the fields the next state reads.
RequestShipment's stub hands its task token to an instant warehouse thread, which answers with ``SendTaskSuccess``
and then heartbeats until the token is gone: moto's engine only notices a callback that arrives before it starts
waiting on the heartbeat once the next heartbeat wakes it up.
``--engine-patches`` installs ``local.aws.moto`` first (time scale 1), to show what the engine's own caches are
worth; without it only the fixes the workflows cannot run without are installed (``WORKFLOW_PREREQUISITES``).

Prints one JSON object: completed executions, seconds from the first start to the last stop, and their ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import queue
import threading
import time
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION, function_name_from
from local.provisioning import create_state_machine
from workflows.resources import ORDER_WORKFLOW, STATE_MACHINES

DEADLINE_SECONDS = 300.0
WAREHOUSE_NUDGES = 2000
LINES = [{"sku": "BENCH-BASE", "quantity": 1, "unitPriceCents": 1000, "lineTotalCents": 1000}]

STUB_RESULTS: dict[str, dict[str, Any]] = {
    "ValidateOrder": {"lines": LINES, "totalCents": 1000, "currency": "USD"},
    "AuthorizePayment": {"authorizationId": "auth_bench"},
    "ReserveInventory": {"reservedUnits": 1},
    "RequestShipment": {"requested": True},
    "CapturePayment": {"captureId": "cap_bench", "status": "COMPLETED"},
    "VoidOrRefundPayment": {"action": "NOTHING_TO_UNDO"},
    "ReleaseInventory": {"action": "NOTHING_TO_UNDO"},
    "RecordFailure": {},
}
"""What each task's ResultSelector and the states after it read. The compensations only run if the baseline itself
is broken; they are answered too, so such an execution ends (and is reported as not completed) instead of hanging."""
LAST_TASKS = ("CapturePayment", "RecordFailure")
ORDER_INPUT = {
    "customerId": "bench",
    "items": [{"sku": "BENCH-BASE", "quantity": 1}],
    "shippingAddress": {"name": "Bench", "line1": "1 Loop", "city": "Local", "postalCode": "1", "country": "US"},
}
"""The execution input as the API starts it (``PlacedOrder.workflow_input``), but for the order id: the order and its
owner, never the payment token, which AuthorizePayment reads from the order record."""


class NoOpTasks:
    """Answers every Lambda Invoke with its stub result; counts finished orders to keep ``in_flight`` bounded."""

    def __init__(self, stepfunctions: Any, in_flight: int):
        self._stepfunctions = stepfunctions
        self.slots = threading.BoundedSemaphore(in_flight)
        self._tokens: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._warehouse, name="instant-warehouse", daemon=True).start()

    def _warehouse(self) -> None:
        while True:
            self._ship(self._tokens.get())

    def _ship(self, token: str) -> None:
        """Succeed the task, then heartbeat until the token is gone (moto refuses it once the task moved on).

        moto's callback calls scan every execution and fail with AttributeError on one whose worker has not started
        yet; that is retried.
        """
        shipped = False
        for _ in range(WAREHOUSE_NUDGES):
            try:
                if shipped:
                    self._stepfunctions.send_task_heartbeat(taskToken=token)
                else:
                    output = json.dumps({"trackingNumber": "1ZBENCH"})
                    self._stepfunctions.send_task_success(taskToken=token, output=output)
                    shipped = True
            except ClientError:
                return
            except AttributeError:
                pass
            time.sleep(0.005)

    def answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        function = function_name_from(unquote(params["url_path"].split("/functions/", 1)[1].split("/", 1)[0]))
        if function == "RequestShipment":
            self._tokens.put(json.loads(params["body"])["taskToken"])
        if function in LAST_TASKS:
            self.slots.release()
        payload = json.dumps(STUB_RESULTS[function]).encode()
        response = AWSResponse(url="local://lambda", status_code=200, headers={}, raw=None)
        return response, {
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }


def run(orders: int, in_flight: int) -> dict[str, Any]:
    """Start ``orders`` executions, at most ``in_flight`` at once, and wait (with a deadline) until all have ended.

    Example
    -------
    >>> run(50, 8)["completed"]  # doctest: +SKIP
    50
    """
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.setup_default_session(region_name=LOCAL_REGION)
        stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)
        tasks = NoOpTasks(stepfunctions, in_flight)
        boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", tasks.answer)
        arns = {spec.logical_name: create_state_machine(stepfunctions, spec) for spec in STATE_MACHINES}
        arn = arns[ORDER_WORKFLOW.logical_name]
        started = time.time()
        give_up = time.monotonic() + DEADLINE_SECONDS
        for index in range(orders):
            if not tasks.slots.acquire(timeout=max(0.0, give_up - time.monotonic())):
                break
            stepfunctions.start_execution(
                stateMachineArn=arn, name=f"base-{index}", input=json.dumps({"orderId": f"base-{index}", **ORDER_INPUT})
            )
        executions = _wait_until_ended(stepfunctions, arn, orders, give_up)
    succeeded = [execution for execution in executions if execution["status"] == "SUCCEEDED"]
    finished = max((execution["stopDate"].timestamp() for execution in succeeded), default=started)
    seconds = finished - started
    return {
        "orders": orders,
        "in_flight": in_flight,
        "completed": len(succeeded),
        "seconds": round(seconds, 3),
        "completed_per_s": round(len(succeeded) / seconds, 3) if seconds > 0 else 0.0,
    }


def _wait_until_ended(stepfunctions: Any, arn: str, orders: int, give_up: float) -> list[dict[str, Any]]:
    while True:
        executions: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": 1000}
        for _ in range(1000):
            page = stepfunctions.list_executions(**kwargs)
            executions += page["executions"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        ended = [execution for execution in executions if execution["status"] != "RUNNING"]
        if len(ended) >= orders or time.monotonic() > give_up:
            return ended
        time.sleep(0.2)


WORKFLOW_PREREQUISITES = (
    "case_nested_executions_as_aws",
    "read_variables_in_json_path",
    "name_executions_as_aws",
    "skip_starting_executions_in_callbacks",
)
"""The engine fixes the workflows cannot run without, installed even for moto "as shipped": the nested start, the
variables, a UUID name for each nameless child (moto names them all ``None``, so the second one already exists), and
callbacks that do not fail while another execution starts (two starts per order make that race common)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--engine-patches", action="store_true", help="install local.aws.moto's patches first")
    args = parser.parse_args()
    if args.engine_patches:
        from local.aws.moto import install_time_scale, quiet_engine_logs

        install_time_scale(1)
        quiet_engine_logs()
    else:
        import logging

        import local.aws.moto as engine

        for fix in WORKFLOW_PREREQUISITES:
            getattr(engine, fix)()
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    print(json.dumps({**run(args.orders, args.in_flight), "engine_patches": args.engine_patches}))


if __name__ == "__main__":
    main()
