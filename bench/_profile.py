"""Optional profiles of a server process during a measured phase (``BENCH_PROFILE_DIR``).

With ``BENCH_PROFILE_DIR`` set, ``profiled(pid, name)`` runs ``py-spy record`` on the process
for the duration of the block and writes ``<dir>/<name>.txt``: the functions holding the
most samples, by own time and including callees (what bench/RESULTS.md quotes).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_LINE = re.compile(r":\d+\)")


@contextlib.contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    directory = os.environ.get("BENCH_PROFILE_DIR")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not directory or not pid or not Path(spy).exists():
        yield
        return
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{name}.raw"
    recorder = subprocess.Popen(
        [
            spy,
            "record",
            "--subprocesses",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "-o",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            recorder.wait(timeout=30)
        if raw.exists():
            (out / f"{name}.txt").write_text(summary(raw))


def summary(raw: Path, top: int = 25) -> str:
    """Own-time and inclusive shares of the busiest functions in a py-spy raw profile."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples (250/s)", "-- own time"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["-- including callees"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(lines) + "\n"
