"""Throughput and latency: POST /orders at 32 concurrent clients, a long closed-loop run, and the bare-engine baseline.

- Acceptance: 32 client threads, each a bench shopper with its own keep-alive connection, post orders back to back
  on a fresh stack; the latency is the client's, request sent to response read (token verification included).
- Long run: orders go through a fresh stack with at most ``IN_FLIGHT`` unfinished at once, for a fixed time; the
  throughput is completed orders over the time from the first submission to the last COMPLETED timeline entry, and
  end-to-end latency runs from the client's send to that entry. The ratio of the median end-to-end latency of the
  last 100 orders to the first 100 shows whether the engine slows down as its history grows.
- Baseline: ``bench.baseline`` in fresh interpreters, as moto ships and with ``local.aws.moto``'s patches.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from typing import Any

from bench.load import LoadRun, Submission, drive, epoch_seconds, order_body, percentile
from bench.service import BenchStack, Shopper, start_stack
from tasks.models.order import OrderStatus

THROUGHPUT_SKU = "BENCH-THROUGHPUT"
IN_FLIGHT = 32
ACCEPT_CLIENTS = 32
EDGE_ORDERS = 100
BASELINE_DEADLINE_SECONDS = 300.0


def measure_acceptance(requests_per_client: int) -> dict[str, Any]:
    """POST /orders latency with ``ACCEPT_CLIENTS`` clients posting back to back on a fresh stack.

    Example
    -------
    >>> measure_acceptance(10)["accept_p99_ms"]  # doctest: +SKIP
    """
    with start_stack("acceptance") as stack:
        stack.put_product(THROUGHPUT_SKU, 10**9)
        shoppers = stack.shoppers(ACCEPT_CLIENTS)
        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client(shopper: Shopper) -> None:
            for _ in range(requests_per_client):
                response = stack.api.request("POST", "/orders", order_body(THROUGHPUT_SKU), caller=shopper)
                with lock:
                    latencies.append(response.seconds)
                    statuses.append(response.status)

        threads = [threading.Thread(target=client, args=(shopper,), daemon=True) for shopper in shoppers]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        seconds = time.monotonic() - started
    return {
        "clients": ACCEPT_CLIENTS,
        "requests": len(latencies),
        "accepted": statuses.count(202),
        "statuses": {str(status): statuses.count(status) for status in sorted(set(statuses))},
        "requests_per_s": round(len(latencies) / seconds, 2),
        "accept_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "accept_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


def completed_at(submission: Submission) -> float | None:
    if submission.final_status != OrderStatus.COMPLETED.value:
        return None
    return epoch_seconds(
        next(e["at"] for e in reversed(submission.outcome["timeline"]) if e["status"] == OrderStatus.COMPLETED.value)
    )


def summarize_run(run: LoadRun) -> dict[str, Any]:
    """Throughput and end-to-end latency of a run, and the drift from its first to its last ``EDGE_ORDERS`` orders."""
    completed = sorted(run.completed, key=lambda submission: submission.sent_at)
    finished = max((completed_at(submission) for submission in completed), default=run.started)
    seconds = max(finished - run.started, 1e-9)
    e2e = [submission.end_to_end_seconds() for submission in completed]
    first = [value for value in e2e[:EDGE_ORDERS]]
    last = [value for value in e2e[-EDGE_ORDERS:]]
    drift = percentile(last, 0.5) / percentile(first, 0.5) if len(e2e) >= 2 * EDGE_ORDERS else math.nan
    tenths = [e2e[len(e2e) * part // 10 : len(e2e) * (part + 1) // 10] for part in range(10)]
    return {
        "orders": len(run.submissions),
        "accepted": len(run.accepted),
        "completed": len(completed),
        "settled": run.settled,
        "seconds": round(seconds, 1),
        "completed_per_s": round(len(completed) / seconds, 3),
        "e2e_p50_ms": round(percentile(e2e, 0.5) * 1000, 1),
        "e2e_p99_ms": round(percentile(e2e, 0.99) * 1000, 1),
        "first100_e2e_p50_ms": round(percentile(first, 0.5) * 1000, 1),
        "last100_e2e_p50_ms": round(percentile(last, 0.5) * 1000, 1),
        "first100_vs_last100": round(drift, 3),
        "e2e_p50_ms_by_tenth": [round(percentile(tenth, 0.5) * 1000, 1) for tenth in tenths if tenth],
    }


def long_run(stack: BenchStack, seconds: float, max_orders: int) -> dict[str, Any]:
    """Time-boxed closed-loop run on ``stack``: submissions stop after ``seconds``, then every order is awaited."""
    stack.put_product(THROUGHPUT_SKU, 10**9)
    run = drive(
        stack,
        max_orders,
        lambda index: order_body(THROUGHPUT_SKU),
        shoppers=stack.shoppers(),
        in_flight=IN_FLIGHT,
        clients=8,
        label="long run",
        deadline_seconds=seconds + 120,
        submit_seconds=seconds,
    )
    return summarize_run(run)


def measure_baseline(orders: int, engine_patches: bool) -> dict[str, Any]:
    """The bare-engine baseline in a fresh interpreter (see ``bench.baseline``)."""
    command = [sys.executable, "-m", "bench.baseline", "--orders", str(orders), "--in-flight", str(IN_FLIGHT)]
    if engine_patches:
        command.append("--engine-patches")
    result = subprocess.run(command, capture_output=True, text=True, timeout=BASELINE_DEADLINE_SECONDS + 60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])
