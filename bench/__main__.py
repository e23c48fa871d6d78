"""``python -m bench``: every benchmark phase in turn, a summary row after each, then summary.json and BENCHMARKS.md.

The long run is time-boxed (``BENCH_LONG_RUN_SECONDS``, default 330 s, at most ``BENCH_LONG_RUN_ORDERS`` orders) so
that its length does not follow the stack's throughput; each chaos phase (our tasks failing, then AWS failing) always
runs at least ``CHAOS_MIN_ORDERS`` orders, which is most of the half hour the whole benchmark takes on two cores.
``python -m bench.chaos_aws --orders-per-stack 50`` runs the AWS chaos phase alone.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from local.aws.moto.versions import UnsupportedMotoError, require_supported_moto

try:
    require_supported_moto()
except UnsupportedMotoError as unsupported:
    sys.exit(f"make bench: {unsupported}")

from bench import chaos, chaos_aws, cold_init, cost, fuzz, inprocess, live_status, races, suite, throughput
from bench.profile import StackProfile
from bench.report import machine, print_row, target_results, write_markdown
from bench.service import RESULTS_DIR, SHOPPERS, start_stack

LONG_RUN_SECONDS = float(os.environ.get("BENCH_LONG_RUN_SECONDS", "330"))
LONG_RUN_MAX_ORDERS = int(os.environ.get("BENCH_LONG_RUN_ORDERS", "5000"))
CHAOS_MIN_ORDERS = 1000
CHAOS_ORDERS_PER_STACK = max(CHAOS_MIN_ORDERS // 2, int(os.environ.get("BENCH_CHAOS_ORDERS_PER_STACK", "500")))
CHAOS_AWS_ORDERS_PER_STACK = max(CHAOS_MIN_ORDERS // 2, int(os.environ.get("BENCH_CHAOS_AWS_ORDERS_PER_STACK", "500")))
ACCEPT_REQUESTS_PER_CLIENT = 6
BASELINE_ORDERS, BASELINE_PATCHED_ORDERS = 100, 300
INPROCESS_ORDERS = int(os.environ.get("BENCH_INPROCESS_ORDERS", "1000"))
PROFILE_SECONDS = 40
LIVE_STATUS_ORDERS = 100

METHOD = [
    f"Callers: shoppers are {SHOPPERS} bench users the benchmark creates in each stack's Cognito pool, each signed "
    "in once (its ID token refreshed before it expires) and sending it as Authorization; the benchmark's warehouse "
    "signs the shipment callback with SigV4 as the warehouse role, the readiness probe signs GET /health. Every "
    "bench stack raises the per-shopper order limit and the stage throttle (bench/service.py BENCH_LIMITS): the "
    "benchmark measures the service, not its limits.",
    "Throughput: a fresh stack (warehouse simulator at 0 s delay, ORDERS_TIME_SCALE=100) gets orders from 8 client "
    "threads, spread over the bench shoppers, never more than 32 unfinished; submissions stop after the time box and "
    "every order is awaited. "
    "completed_per_s = completed orders / (last COMPLETED timeline entry - first submission).",
    "Baseline: `python -m bench.baseline` in a fresh interpreter runs the same rendered ASL on moto's engine as "
    "shipped (mock_aws, no local/aws/moto), every Lambda answered at once by a stub returning what the "
    "next state "
    "reads, the task token answered by an instant warehouse thread; same closed loop of 32. A second run installs "
    "local/aws/moto first, to show what its caches are worth on their own.",
    "Acceptance: 32 threads, one bench shopper each, with keep-alive connections POST orders back to back on a fresh "
    "stack; latency is the client's, request sent to response read.",
    "End-to-end: from the client sending POST /orders to the COMPLETED entry of the order's timeline (same clock).",
    "Races: on the throughput stack after the long run; the 50 duplicate POSTs are one shopper's (a key is scoped "
    "to its caller); the stock race product is seeded straight into the products table through the AWS endpoint.",
    "Fuzz: schemathesis CLI (examples, coverage and fuzzing phases; not_a_server_error) against /openapi.json of "
    "the throughput stack, every request with a bench shopper's ID token; it cannot SigV4-sign, so the IAM routes "
    "only see the gateway's 403.",
    "Chaos: two stacks side by side, one per core; invariants from local/testkit/invariants.py per order plus the "
    "cross-order ones in bench/chaos.py.",
    "Chaos at the AWS level: two more stacks side by side, our tasks left alone and the AWS APIs the stack calls "
    "faulted at the endpoint (ORDERS_AWS_FAULTS, seeded; bench/chaos_aws.py THROTTLED and FAILING); the same orders, "
    "each with an Idempotency-Key, a 503 sent again after Retry-After as a storefront does, for up to 60 s; the "
    "warehouse also sends heartbeats. Every order of the bench shoppers in the table is checked, accepted or not; "
    "every API answer is counted by caller and status; the faults per operation are the stacks' own reports "
    "(ORDERS_AWS_FAULTS_REPORT).",
    "Cost: one order per path on moto in-process (local.testkit.fixtures.OrderStack), after one warm-up order; "
    "billable "
    "Standard transitions = the parent's StateEntered events plus task retries; the Express child's request, wall "
    "time and Lambda calls from its own history; DynamoDB units priced per request by bench/dynamodb_units.py; "
    "handlers' stdout and stderr counted per function at the deployed log level; what AWS writes itself (Step "
    "Functions log events, Lambda platform lines, API Gateway logs) rendered from the histories and the stack's "
    "formats; quotas from the documented defaults (docs/aws-references.md).",
    "Cold init: median of 3 fresh interpreters each, timed inside the interpreter (start-up excluded).",
    "In-process: `python -m bench.inprocess` in a fresh interpreter runs warm happy orders one after another on one "
    "local.testkit.fixtures.OrderStack (3 warm-up orders first); CPU per order is the process's user+system time "
    "over each "
    "block of 100; py-spy samples it (--gil) for 30 s after 5 s and bench.inprocess.layer_of splits the samples "
    "by layer, each share applied to the first block's CPU per order.",
    "Suite: the whole pytest suite once, as make test runs it (random order), with a JUnit report; a test's time "
    "is its setup, call and teardown; pytest_seconds is the child process's wall time.",
]


def main() -> int:
    started = time.monotonic()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"machine": machine(), "method": METHOD}
    print("| phase        |   time  | figures", flush=True)

    phase = time.monotonic()
    cold = cold_init.measure_cold_init()
    cold["worst_ms"] = cold["handlers_ms"][cold["worst_handler"]]
    summary["cold_init"] = cold
    print_row(
        "cold init", time.monotonic() - phase, f"worst {cold['worst_handler']} {cold['max_ratio_to_boto3']}x boto3"
    )

    phase = time.monotonic()
    tests = summary["suite"] = suite.measure(RESULTS_DIR)
    print_row(
        "suite",
        time.monotonic() - phase,
        f"{tests['pytest_seconds']} s, workflow median {tests['workflow_test_median_ms']} ms",
    )

    phase = time.monotonic()
    summary["inprocess"] = inprocess.measure(INPROCESS_ORDERS, RESULTS_DIR)
    print_row(
        "in-process",
        time.monotonic() - phase,
        f"{summary['inprocess']['cpu_ms_per_order']} ms CPU/order, "
        f"last 100 {summary['inprocess']['last100_vs_first100']}x the first",
    )

    phase = time.monotonic()
    baseline = throughput.measure_baseline(BASELINE_ORDERS, engine_patches=False)
    patched = throughput.measure_baseline(BASELINE_PATCHED_ORDERS, engine_patches=True)
    print_row(
        "baseline",
        time.monotonic() - phase,
        f"{baseline['completed_per_s']}/s as shipped, {patched['completed_per_s']}/s cached",
    )

    phase = time.monotonic()
    summary["cost"] = cost_summary()
    happy, quota = summary["cost"]["paths"]["happy"], summary["cost"]["aws_quota_orders_per_s"]
    print_row(
        "cost",
        time.monotonic() - phase,
        f"{happy['standard_transitions']} transitions, ${happy['usd_per_million_orders']:.2f}/1M all-in, "
        f"{summary['cost']['dynamodb_wru_happy_path']:.0f} WRU, {quota['large_regions']}/s quota (large regions)",
    )

    phase = time.monotonic()
    acceptance = throughput.measure_acceptance(ACCEPT_REQUESTS_PER_CLIENT)
    print_row(
        "acceptance",
        time.monotonic() - phase,
        f"p50 {acceptance['accept_p50_ms']} ms, p99 {acceptance['accept_p99_ms']} ms",
    )

    with start_stack("throughput") as stack:
        phase = time.monotonic()
        profile = StackProfile(stack.process.pid, PROFILE_SECONDS, RESULTS_DIR / "profile.txt.tmp")
        late_profile = StackProfile(
            stack.process.pid,
            PROFILE_SECONDS,
            RESULTS_DIR / "profile-late.txt.tmp",
            start_after=max(0.0, LONG_RUN_SECONDS - PROFILE_SECONDS),
        )
        run = throughput.long_run(stack, LONG_RUN_SECONDS, LONG_RUN_MAX_ORDERS)
        summary["profile"] = profile.result()
        summary["profile_late"] = late_profile.result()
        print_row(
            "long run",
            time.monotonic() - phase,
            f"{run['completed']} orders, {run['completed_per_s']}/s, drift {run['first100_vs_last100']}",
        )

        phase = time.monotonic()
        duplicates = races.duplicate_submissions(stack)
        stock = races.stock_race(stack)
        summary["races"] = {
            "duplicate_orders_created": duplicates["duplicate_orders_created"],
            "stock_race_reserved": stock["stock_race_reserved"],
            "duplicates": duplicates,
            "stock": stock,
        }
        print_row(
            "races",
            time.monotonic() - phase,
            f"{duplicates['duplicate_orders_created']} order, {stock['stock_race_reserved']} reserved",
        )

        phase = time.monotonic()
        summary["fuzz"] = fuzz.run_fuzz(stack)
        print_row(
            "fuzz",
            time.monotonic() - phase,
            f"{summary['fuzz'].get('cases')} cases, {summary['fuzz'].get('server_errors')} server errors, "
            f"{len(summary['fuzz'].get('operations_reached', []))} operations reached",
        )

    phase = time.monotonic()
    live = summary["live_status"] = live_status.measure_push_latency(LIVE_STATUS_ORDERS)
    print_row(
        "live status",
        time.monotonic() - phase,
        f"p95 {live['push_p95_ms']} ms to the socket, {live['missing_changes']} changes missing",
    )

    phase = time.monotonic()
    summary["chaos"] = chaos.run_chaos(CHAOS_ORDERS_PER_STACK, deadline_seconds=480)
    failed = [name for name, passed in summary["chaos"]["invariants"].items() if not passed]
    print_row(
        "chaos",
        time.monotonic() - phase,
        f"{summary['chaos']['orders']} orders, invariants {'all pass' if not failed else 'FAIL: ' + ', '.join(failed)}",
    )

    phase = time.monotonic()
    summary["chaos_aws"] = chaos_aws.run_chaos_aws(CHAOS_AWS_ORDERS_PER_STACK, deadline_seconds=480)
    failed = [name for name, passed in summary["chaos_aws"]["invariants"].items() if not passed]
    injected = sum(sum(entry["faults"].values()) for entry in summary["chaos_aws"]["faults"].values())
    print_row(
        "chaos AWS",
        time.monotonic() - phase,
        f"{summary['chaos_aws']['orders']} orders, {injected} AWS faults, "
        f"invariants {'all pass' if not failed else 'FAIL: ' + ', '.join(failed)}",
    )

    summary["throughput"] = {
        **{key: run[key] for key in ("orders", "completed", "seconds", "settled", "completed_per_s")},
        "baseline_completed_per_s": baseline["completed_per_s"],
        "baseline_patched_completed_per_s": patched["completed_per_s"],
        "baseline": baseline,
        "baseline_patched": patched,
    }
    summary["latency"] = {
        "accept_p50_ms": acceptance["accept_p50_ms"],
        "accept_p99_ms": acceptance["accept_p99_ms"],
        "accept_statuses": acceptance["statuses"],
        "acceptance": acceptance,
        **{
            key: run[key]
            for key in ("e2e_p50_ms", "e2e_p99_ms", "first100_e2e_p50_ms", "last100_e2e_p50_ms", "e2e_p50_ms_by_tenth")
        },
        "first100_vs_last100": run["first100_vs_last100"],
    }
    summary["targets"] = target_results(summary)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (RESULTS_DIR / "summary.json").write_text(json.dumps(_finite(summary), indent=2) + "\n")
    write_markdown(summary)
    print(f"wrote bench/results/summary.json and BENCHMARKS.md in {summary['seconds']:.0f} s", flush=True)
    for target in summary["targets"]:
        met = {True: "met", False: "NOT MET", None: "not measured"}[target["met"]]
        print(f"  {target['metric']:<40} {target['target']:>8}  {target['value']!s:>12}  {met}")
    return 0


def cost_summary() -> dict[str, Any]:
    """The cost model (``bench.cost.summarize``) over the paths ``python -m bench.cost`` measures in a fresh
    interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.cost"], capture_output=True, text=True, timeout=600, check=True
    )
    return cost.summarize(json.loads(result.stdout.strip().splitlines()[-1]))


def _finite(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be computed is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
