"""Where the stack's time goes: py-spy samples the running ``orders up`` process without pausing it.

Sampling covers every thread (the engine, the Lambda runner, the API emulation, moto's server), which cProfile and
pyinstrument, tied to one thread, would not. Samples of idle threads are left out by py-spy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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

    def __init__(self, pid: int, seconds: int, output: Path):
        self._output = output
        executable = py_spy()
        options = {"--pid": pid, "--duration": seconds, "--rate": SAMPLE_RATE, "--format": "raw", "--output": output}
        command = [executable, "record", "--nonblocking", *(str(part) for item in options.items() for part in item)]
        self._process = (
            None
            if executable is None
            else subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        self._seconds = seconds

    def result(self) -> dict[str, Any]:
        if self._process is None:
            return {"available": False, "reason": "py-spy not installed"}
        try:
            self._process.wait(timeout=self._seconds + 30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return {"available": False, "reason": "py-spy did not finish"}
        if not self._output.exists():
            return {"available": False, "reason": f"py-spy exited with {self._process.returncode}"}
        return {"available": True, **summarize(self._output.read_text())}


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
