"""Fuzzing: schemathesis generates requests from the API's own /openapi.json and checks for server errors.

The CLI from the virtualenv runs the examples, coverage and fuzzing phases (not the open-ended stateful one) with
``--checks not_a_server_error``, a fixed seed, and enough examples per operation for the run to exceed
``MIN_CASES``. Every request carries a bench shopper's ID token (``--header Authorization: <IdToken>``), so the
shopper routes are fuzzed behind the authorizer. The CLI cannot SigV4-sign a body it generates, so the IAM routes
(``/health``, the shipment callback) are sent unsigned and only exercise the gateway's refusal (403). Its JSON report
gives the number of test cases and the failures; its HAR log gives the answers per operation, and so which
operations the fuzzer reached past the gateway.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.service import RESULTS_DIR, BenchStack
from workflows.resources import route_for

MIN_CASES = 1000
EXAMPLES_PER_OPERATION = 220
TIME_BUDGET_SECONDS = 90
SEED = 20261123
GATEWAY_REFUSALS = frozenset({401, 403})
"""What API Gateway answers before the function runs: no valid token (401), no valid signature or no route (403)."""


def run_fuzz(stack: BenchStack) -> dict[str, Any]:
    """schemathesis against the running stack's API as a shopper; cases, server errors, the first few failures, the
    answers per operation and the operations reached past the gateway.

    Example
    -------
    >>> run_fuzz(stack)["server_errors"]  # doctest: +SKIP
    0
    """
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with tempfile.TemporaryDirectory() as workdir:
        report, har = Path(workdir) / "report.json", Path(workdir) / "requests.har"
        command = [
            str(schemathesis),
            "run",
            f"{stack.api_url}/openapi.json",
            "--url",
            stack.api_url,
            "--header",
            f"Authorization: {stack.shoppers(1)[0].token}",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--workers",
            "4",
            "--request-timeout",
            "60",
            "--max-time",
            str(TIME_BUDGET_SECONDS),
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "json,har",
            "--report-json-path",
            str(report),
            "--report-har-path",
            str(har),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=workdir, timeout=TIME_BUDGET_SECONDS + 120, check=False
        )
        summary = _read_report(report) if report.exists() else {}
        answers = _answers_by_operation(har) if har.exists() else {}
    (RESULTS_DIR / "fuzz.log.tmp").write_text(result.stdout)
    reached = sorted(operation for operation, statuses in answers.items() if set(map(int, statuses)) - GATEWAY_REFUSALS)
    return {
        "exit_code": result.returncode,
        **summary,
        "failure_examples": _failure_examples(result.stdout),
        "operations_reached": reached,
        "operations_refused_at_gateway": sorted(set(answers) - set(reached)),
        "statuses_by_operation": answers,
    }


def _answers_by_operation(path: Path) -> dict[str, dict[str, int]]:
    """Status counts of every request in the HAR log, by the route it was for (``no route`` for none)."""
    counts: dict[str, Counter[str]] = {}
    for entry in json.loads(path.read_text())["log"]["entries"]:
        method, url = entry["request"]["method"], urlsplit(entry["request"]["url"])
        route = route_for(method, unquote(url.path))
        operation = f"{route.method} {route.path}" if route else "no route"
        counts.setdefault(operation, Counter())[str(entry.get("response", {}).get("status", 0))] += 1
    return {operation: dict(sorted(statuses.items())) for operation, statuses in sorted(counts.items())}


def _read_report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    server_errors = [failure for failure in data.get("failures", []) if failure.get("type") == "ServerError"]
    return {
        "cases": data["test_cases"]["generated"],
        "cases_with_failures": data["test_cases"]["with_failures"],
        "server_errors": sum(failure["count"] for failure in server_errors),
        "server_error_operations": sorted({op for failure in server_errors for op in failure["operations"]}),
        "stop_reason": data.get("stop_reason"),
        "seconds": round(data.get("running_time", 0.0), 1),
    }


def _failure_examples(output: str) -> list[str]:
    """Each failing operation with the status line schemathesis printed for it."""
    examples, operation = [], None
    for line in output.splitlines():
        heading = re.match(r"^_+ (.+?) _+$", line)
        if heading:
            operation = heading.group(1)
        status = re.match(r"^\[(\d{3})\] (.+?):?$", line.strip())
        if status and operation:
            examples.append(f"{operation}: {status.group(1)} {status.group(2)}")
            operation = None
    return examples
