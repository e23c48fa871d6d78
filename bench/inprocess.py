"""CPU per warm order on the in-process stack, how it holds up over 1,000 orders, and where it goes, layer by layer.

``python -m bench.inprocess`` runs orders one after another on one ``local.testkit.fixtures.OrderStack`` (moto, its
engine, the Lambda runner and the stream poller in this process) and prints one JSON line: the process's CPU time per
order for each block of orders, so the first 100 and the last 100 compare within one run. ``measure()`` runs it in a
fresh interpreter while py-spy samples it, and splits the CPU per layer (``layer_of``): which moto service answered, the
engine's own evaluation, botocore's client side, our handlers, and the local runtime around them.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.profile import StackProfile

WARM_UP_ORDERS = 3
BLOCK = 100
PROFILE_SECONDS = 30
MOTO_REQUEST = ("(moto/core/botocore_stubber", "(moto/core/responses")
MOTO_NOT_A_SERVICE = {"core", "utilities", "moto_api", "backends"}
LAYERS = (
    "moto response serializer",
    "moto dynamodb",
    "moto dynamodbstreams",
    "moto events",
    "moto stepfunctions",
    "moto sqs",
    "moto, other services",
    "botocore, client side",
    "engine evaluation",
    "our handlers (pydantic, Powertools)",
    "local runtime (runner, poller, harness)",
    "other",
)


def process_cpu_seconds() -> float:
    """User and system time of every thread of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_orders(orders: int) -> dict[str, Any]:
    """Warm orders one after another on one stack; CPU milliseconds per order for each block of ``BLOCK``."""
    from local.simulators.catalog import catalog_items
    from local.testkit.fixtures import OrderStack, sample_order

    stocked = [{**product, "stock": 10 * (orders + WARM_UP_ORDERS)} for product in catalog_items()]
    blocks: list[float] = []
    with OrderStack(products=stocked) as stack:
        for _ in range(WARM_UP_ORDERS):
            stack.run_order(sample_order())
        threads_after_warm_up = threading.active_count()
        for _ in range(max(1, orders // BLOCK)):
            started = process_cpu_seconds()
            for _ in range(BLOCK):
                run = stack.run_order(sample_order())
                if run.status != "COMPLETED":
                    raise RuntimeError(f"order {run.order_id} ended {run.status}")
            blocks.append(round((process_cpu_seconds() - started) * 1000 / BLOCK, 1))
        threads_at_end = threading.active_count()
    return {
        "orders": len(blocks) * BLOCK,
        "cpu_ms_per_order_by_block": blocks,
        "cpu_ms_per_order": blocks[0],
        "last100_vs_first100": round(blocks[-1] / blocks[0], 3),
        "threads_after_warm_up": threads_after_warm_up,
        "threads_at_end": threads_at_end,
    }


def layer_of(frames: list[str]) -> str:
    """The layer one py-spy sample (frames from the thread's root to the running one) spends its time in.

    Inside a request to moto, the moto service whose package the request reached (its serializer apart); outside,
    botocore's client side, the engine evaluating states, our handlers, or the local runtime.

    Example
    -------
    >>> layer_of(["run (local/testkit/fixtures.py:1)", "get_item (botocore/client.py:5)",
    ...           "process_request (moto/core/botocore_stubber.py:80)", "get_item (moto/dynamodb/models/table.py:9)"])
    'moto dynamodb'
    >>> layer_of(["handler (tasks/handlers/api.py:3)", "validate (pydantic/main.py:1)"])
    'our handlers (pydantic, Powertools)'
    """
    inside_moto = next((index for index, frame in enumerate(frames) if frame_in(frame, MOTO_REQUEST)), None)
    if inside_moto is not None:
        below = frames[inside_moto:]
        if any("(moto/core/serialize" in frame for frame in below):
            return "moto response serializer"
        for frame in below:
            service = moto_service(frame)
            if service is not None:
                layer = f"moto {service}"
                return layer if layer in LAYERS else "moto, other services"
        return "moto, other services"
    if any(frame_in(frame, ("(botocore/", "(boto3/")) for frame in frames):
        return "botocore, client side"
    if any("(moto/stepfunctions/parser/" in frame for frame in frames):
        return "engine evaluation"
    if any(frame_in(frame, ("(tasks/", "(aws_lambda_powertools/", "(pydantic")) for frame in frames):
        return "our handlers (pydantic, Powertools)"
    if any("(local/" in frame for frame in frames):
        return "local runtime (runner, poller, harness)"
    return "other"


def frame_in(frame: str, prefixes: tuple[str, ...]) -> bool:
    return any(prefix in frame for prefix in prefixes)


def moto_service(frame: str) -> str | None:
    marker = frame.find("(moto/")
    if marker < 0:
        return None
    service = frame[marker + len("(moto/") :].split("/", 1)[0]
    return None if service in MOTO_NOT_A_SERVICE or service.endswith(".py") else service


def layer_shares(raw: str) -> dict[str, float]:
    """Each layer's share of the sampled CPU, from py-spy's raw (collapsed) output."""
    samples: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[layer_of(stack.split(";"))] += int(count)
    total = sum(samples.values())
    return {layer: round(samples[layer] / total, 3) for layer in LAYERS if samples[layer]} if total else {}


def measure(orders: int, results_dir: Path) -> dict[str, Any]:
    """Run the orders in a fresh interpreter, sample it for ``PROFILE_SECONDS`` after its warm-up, and split the
    first block's CPU per order by layer."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.inprocess", str(orders)], stdout=subprocess.PIPE, text=True
    )
    samples = results_dir / "profile-inprocess.txt.tmp"
    profile = StackProfile(process.pid, PROFILE_SECONDS, samples, start_after=5.0)
    output, _ = process.communicate(timeout=1200)
    if process.returncode != 0:
        raise RuntimeError(f"bench.inprocess exited with {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    profiled = profile.result()
    shares = layer_shares(samples.read_text()) if profiled.get("available") else {}
    result["layers_ms_per_order"] = {
        layer: round(share * result["cpu_ms_per_order"], 1) for layer, share in shares.items()
    }
    result["layer_shares"] = shares
    result["profile"] = profiled
    return result


if __name__ == "__main__":
    print(json.dumps(run_orders(int(sys.argv[1]) if len(sys.argv) > 1 else BLOCK)), flush=True)
