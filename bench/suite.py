"""How long the test suite takes, and a workflow test with its setup: one pytest run of the whole suite.

The suite runs as ``make test`` runs it (random order included), in a child process, with a JUnit report whose
per-test time is setup, call and teardown together (pytest's default ``junit_duration_report``), so a workflow
test's figure includes the ``order_stack`` it sets up.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_TESTS = "tests.workflow."


def junit_times(junit_xml: str) -> dict[str, float]:
    """Seconds per test, setup and teardown included, by ``classname::name``.

    Example
    -------
    >>> report = '<testsuites><testsuite><testcase classname="tests.workflow.test_a" name="t" time="0.25"/>'
    >>> junit_times(report + "</testsuite></testsuites>")
    {'tests.workflow.test_a::t': 0.25}
    """
    return {
        f"{case.get('classname')}::{case.get('name')}": float(case.get("time", "0"))
        for case in ElementTree.fromstring(junit_xml).iter("testcase")
    }


def measure(results_dir: Path) -> dict[str, Any]:
    """Run the whole suite once; its pytest time, and the median workflow test with its setup."""
    report = results_dir / "suite-junit.xml.tmp"
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.monotonic() - started
    times = junit_times(report.read_text())
    workflow = [seconds for name, seconds in times.items() if name.startswith(WORKFLOW_TESTS)]
    by_folder: dict[str, float] = {}
    for name, test_seconds in times.items():
        folder = name.split(".")[1] if name.count(".") > 1 else name
        by_folder[folder] = round(by_folder.get(folder, 0.0) + test_seconds, 1)
    return {
        "passed": finished.returncode == 0,
        "seconds_by_folder": dict(sorted(by_folder.items(), key=lambda item: -item[1])),
        "tests": len(times),
        "pytest_seconds": round(seconds, 1),
        "summary_line": finished.stdout.strip().splitlines()[-1] if finished.stdout.strip() else "",
        "workflow_tests": len(workflow),
        "workflow_test_median_ms": round(statistics.median(workflow) * 1000, 1) if workflow else None,
        "workflow_test_max_ms": round(max(workflow) * 1000, 1) if workflow else None,
    }
