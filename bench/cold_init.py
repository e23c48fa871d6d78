"""Cold init: import + first invoke of every Lambda handler module in a fresh interpreter, against ``import boto3``.

Each measurement is its own ``python -c`` subprocess, timed inside the interpreter with ``perf_counter`` from before
the import to after the first invocation, so interpreter start-up (the same for all) is left out. The first
invocation gets an event that fails validation before any AWS call (a task input with no fields; for the API an
unknown route), so no endpoint is needed. The median of ``REPEATS`` runs is reported. For the worst module,
``-X importtime`` names the imports that cost the most.

The context is a plain object made before the clock starts, as Lambda hands one over: building the local runner's
``LocalLambdaContext`` inside the timing would import ``local.aws.awslambda.runner``, and with it boto3 and Powertools'
event handler (about 150 ms), into every handler's figure, whether the handler needs them at once or not.
"""

from __future__ import annotations

import os
import pkgutil
import re
import statistics
import subprocess
import sys
from typing import Any

import tasks.handlers
from local.provisioning import local_function_environment
from workflows.resources import ALL_FUNCTIONS

REPEATS = 3
TIMEOUT_SECONDS = 60

BOTO3_PROGRAM = """
import time
started = time.perf_counter()
import boto3
print(time.perf_counter() - started)
"""

HANDLER_PROGRAM = """
import time
from types import SimpleNamespace
context = SimpleNamespace(function_name="cold", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:cold",
                          memory_limit_in_mb=256, aws_request_id="cold-init", function_version="$LATEST",
                          get_remaining_time_in_millis=lambda: 15000)
started = time.perf_counter()
import {module} as handler_module
try:
    handler_module.handler({event}, context)
except Exception:
    pass
print(time.perf_counter() - started)
"""

API_EVENT = (
    '{"httpMethod": "GET", "path": "/no-such-route", "resource": "/{proxy+}", "headers": {}, "requestContext": {}}'
)


def handler_modules() -> list[str]:
    """Every module of ``tasks.handlers`` that defines a Lambda ``handler``."""
    names = [f"tasks.handlers.{info.name}" for info in pkgutil.iter_modules(tasks.handlers.__path__)]
    return [name for name in names if re.search(r"^def handler\(", _source(name), re.MULTILINE)]


def _source(module: str) -> str:
    path = os.path.join(os.path.dirname(tasks.handlers.__file__), module.rsplit(".", 1)[1] + ".py")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _environment() -> dict[str, str]:
    """The functions' environment with a dummy endpoint, so nothing reaches a real AWS account."""
    return {
        **os.environ,
        **local_function_environment(ALL_FUNCTIONS, "arn:aws:states:us-east-1:123456789012:stateMachine:cold"),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }


def _seconds(program: str, extra: list[str] | None = None) -> float:
    result = subprocess.run(
        [sys.executable, *(extra or []), "-c", program],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=TIMEOUT_SECONDS,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def import_profile(module: str, top: int = 12) -> list[dict[str, Any]]:
    """The imports with the largest cumulative time when ``module`` is imported cold (``-X importtime``)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=TIMEOUT_SECONDS,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append(
                {"module": match.group(4), "cumulative_ms": int(match.group(2)) / 1000, "depth": len(match.group(3))}
            )
    shallow = [row for row in rows if row["depth"] <= 6]
    return [
        {"module": row["module"], "cumulative_ms": round(row["cumulative_ms"], 1)}
        for row in sorted(shallow, key=lambda row: row["cumulative_ms"], reverse=True)[:top]
    ]


def measure_cold_init() -> dict[str, Any]:
    """Median cold init of every handler module and of ``import boto3``, and the worst ratio.

    Example
    -------
    >>> measure_cold_init()["max_ratio_to_boto3"]  # doctest: +SKIP
    """
    boto3_seconds = statistics.median(_seconds(BOTO3_PROGRAM) for _ in range(REPEATS))
    modules: dict[str, float] = {}
    for module in handler_modules():
        event = API_EVENT if module.endswith(".api") else "{}"
        program = HANDLER_PROGRAM.format(module=module, event=event)
        modules[module] = statistics.median(_seconds(program) for _ in range(REPEATS))
    worst = max(modules, key=modules.get)
    return {
        "repeats": REPEATS,
        "boto3_import_ms": round(boto3_seconds * 1000, 1),
        "handlers_ms": {module: round(seconds * 1000, 1) for module, seconds in modules.items()},
        "worst_handler": worst,
        "max_ratio_to_boto3": round(modules[worst] / boto3_seconds, 2),
        "worst_import_profile": import_profile(worst),
    }
