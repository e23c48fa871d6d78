"""Fuzzing: schemathesis generates requests from the API's own /openapi.json and checks for server errors.

The CLI from the virtualenv runs the examples, coverage and fuzzing phases (not the open-ended stateful one) with
``--checks not_a_server_error``, a fixed seed, and enough examples per operation for the run to exceed
``MIN_CASES``. Its JSON report gives the number of test cases and the failures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.service import RESULTS_DIR, BenchStack

MIN_CASES = 1000
EXAMPLES_PER_OPERATION = 220
TIME_BUDGET_SECONDS = 90
SEED = 20261123


def run_fuzz(stack: BenchStack) -> dict[str, Any]:
    """schemathesis against the running stack's API; cases, server errors and the first few failures.

    Example
    -------
    >>> run_fuzz(stack)["server_errors"]  # doctest: +SKIP
    0
    """
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with tempfile.TemporaryDirectory() as workdir:
        report = Path(workdir) / "report.json"
        command = [
            str(schemathesis),
            "run",
            f"{stack.api_url}/openapi.json",
            "--url",
            stack.api_url,
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
            "json",
            "--report-json-path",
            str(report),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=workdir, timeout=TIME_BUDGET_SECONDS + 120, check=False
        )
        summary = _read_report(report) if report.exists() else {}
    (RESULTS_DIR / "fuzz.log.tmp").write_text(result.stdout)
    return {"exit_code": result.returncode, **summary, "failure_examples": _failure_examples(result.stdout)}


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
