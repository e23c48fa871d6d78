"""Where the stack's time goes: py-spy samples the running ``orders up`` process without pausing it.

Sampling covers every thread (the engine, the Lambda runner, the API emulation, moto's server), which cProfile and
pyinstrument, tied to one thread, would not. Only the thread holding the GIL is sampled (``--gil``): the stack is one
Python process, so that thread is where its one core of CPU goes, and threads waiting for the GIL are not work.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

SAMPLE_RATE = 50
TOP = 15


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter (installed by the ``bench`` extra), or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class StackProfile:
    """Samples ``pid`` for ``seconds`` in the background; ``result()`` waits for it and summarizes the samples.

    Example
    -------
    >>> profile = StackProfile(stack.process.pid, 30, Path("/tmp/samples.txt"))  # doctest: +SKIP
    >>> profile.result()["self"][0]  # doctest: +SKIP
    {'frame': 'JSONDecoder.raw_decode (json/decoder.py:353)', 'share': 0.27}
    """

    def __init__(self, pid: int, seconds: int, output: Path, start_after: float = 0.0):
        self._output = output
        self._executable = py_spy()
        options = {"--pid": pid, "--duration": seconds, "--rate": SAMPLE_RATE, "--format": "raw", "--output": output}
        flags = ["--gil", "--nonblocking"]
        self._command = [self._executable, "record", *flags, *(str(part) for item in options.items() for part in item)]
        self._process: subprocess.Popen | None = None
        self._seconds = seconds
        self._deadline = time.monotonic() + start_after + seconds + 30
        if self._executable is not None:
            self._starter = threading.Timer(start_after, self._start)
            self._starter.daemon = True
            self._starter.start()

    def _start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def result(self) -> dict[str, Any]:
        if self._executable is None:
            return {"available": False, "reason": "py-spy not installed"}
        self._starter.join(timeout=max(0.0, self._deadline - time.monotonic()))
        if self._process is None:
            self._starter.cancel()
            return {"available": False, "reason": "the run ended before the profile window"}
        try:
            self._process.wait(timeout=max(1.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._process.kill()
            return {"available": False, "reason": "py-spy did not finish"}
        if not self._output.exists():
            return {"available": False, "reason": f"py-spy exited with {self._process.returncode}"}
        return {"available": True, "seconds": self._seconds, **summarize(self._output.read_text())}


def summarize(raw: str) -> dict[str, Any]:
    """Top frames by own samples, by inclusive samples, and of our own code (tasks/, local/) by inclusive samples,
    as shares of all non-idle samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    project: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if not frame.startswith(("<module>", "Thread.", "BaseServer.", "ThreadingMixIn.")):
                inclusive[frame] += int(count)
            if "(tasks/" in frame or "(local/" in frame:
                project[frame] += int(count)

    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": frame, "share": round(count / total, 3)} for frame, count in counter.most_common(TOP)]

    if not total:
        return {"samples": 0}
    return {"samples": total, "self": top(own), "inclusive": top(inclusive), "project": top(project)}
