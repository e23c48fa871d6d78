"""The TestState examples of docs/testing.md, run as a reader runs them: saved as a test module, under pytest, against
the running stack's AWS endpoint (``ORDERS_AWS_ENDPOINT``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration.service import OrdersService

REPO = Path(__file__).resolve().parents[2]
TESTING_DOCS = REPO / "docs" / "testing.md"
SECTION = "## Test one state with TestState"
EXAMPLES_DEADLINE_SECONDS = 120
EXAMPLE_TESTS = 6
"""AuthorizePayment's retries, ReserveInventory's result and catch, and RoutePreparationFailure's four routes."""


def example_module() -> str:
    """The section's Python block: a whole test module."""
    section = TESTING_DOCS.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    return block


def test_the_teststate_examples_pass_against_the_local_endpoint(local_only: OrdersService, tmp_path):
    module = tmp_path / "test_order_states.py"
    module.write_text(example_module())

    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", str(module)],
        cwd=tmp_path,
        env={**os.environ, "ORDERS_AWS_ENDPOINT": local_only.aws_endpoint, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=EXAMPLES_DEADLINE_SECONDS,
        check=False,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"{EXAMPLE_TESTS} passed" in ran.stdout
