"""The shipped ``OrderStack`` fixture works in a user's test process, which need not configure AWS at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from local.testing import OrderStack, sample_order
with OrderStack() as stack:
    print(stack.run_order(sample_order(items=[{"sku": "NO-SUCH-SKU", "quantity": 1}]), deadline=30).status)
"""


def test_an_order_runs_with_no_region_or_credentials_in_the_environment():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}

    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "REJECTED"
