"""Profiling for `scripts/bench.py --profile-dir`: py-spy attached to a server for one benchmark.

py-spy samples every thread of the running server (the event loop, the commit
thread, gRPC's threads) without restarting it or changing its speed much, which
cProfile cannot: it sees only the thread it runs in. Samples of threads that are
waiting (on a lock, the GIL, epoll or the disk) are left out, so the summary is
where the CPU went. py-spy is not a dependency: install it (`pip install py-spy`)
and put it on PATH, or pass `--py-spy PATH`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

_RATE = 200  # samples a second
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


class PySpy:
    """`py-spy record --pid` from start() until stop(), written in raw (collapsed) form."""

    def __init__(self, executable: str, pid: int, output: Path) -> None:
        self.command = [
            executable,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--nonblocking",  # do not pause the server to sample it
            "--rate",
            str(_RATE),
            "--output",
            str(output),
        ]
        self.output = output
        self.seconds = 0.0
        self._started = 0.0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(0.3)  # let it attach before the timed run begins
        if self._process.poll() is not None:
            assert self._process.stderr is not None
            raise RuntimeError("py-spy failed: " + self._process.stderr.read().decode())
        self._started = time.perf_counter()

    def stop(self) -> None:
        if self._process is None:
            return
        self.seconds = time.perf_counter() - self._started
        self._process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        self._process.communicate(timeout=120)

    def summary(self, top: int = 15) -> str:
        return summarize(self.output, top, possible=_RATE * self.seconds)


#: Frames every stack of a thread passes through: start-up, the event loop, thread plumbing.
_PLUMBING = re.compile(
    r"runpy|click/|asyncio/(runners|base_events)\.py|threading\.py|concurrent/futures/"
    r"|ledger/server/(main|__main__)\.py|ledger/cli/_runner\.py|^serve \(ledger/server/daemon"
    r"|^<module> |^_main \(_bench_grpc"
)


def _parse(frame: str) -> tuple[str, str]:
    """(function with its file, the same with the line number) for one py-spy frame."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, frame
    path = match["file"]
    for marker in ("site-packages/", "/ledger/", "/clients/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker in ("/ledger/", "/clients/"):
                path = marker.strip("/") + "/" + path
            break
    function = f"{match['name']} ({path})"
    return function, f"{match['name']} ({path}:{match['line']})" if match["line"] else function


def _thread(functions: list[str]) -> str:
    """Which of the daemon's threads a stack belongs to, from its outermost frames."""
    if any(f.startswith("_worker (concurrent/futures/") for f in functions[:5]):
        return "commit thread (LMDB writes and sync)"
    if functions[0].startswith("Thread._bootstrap") and len(functions) <= 3:
        return "gRPC completion-queue poller (C, under Thread.run)"
    if functions[0].startswith("Thread._bootstrap"):
        return "other threads"
    return "main thread (asyncio event loop: gRPC, handlers, validation)"


def summarize(raw: Path, top: int = 15, possible: float = 0.0) -> str:
    """Where the busy threads were: by thread, by function (inclusive) and by line (self).

    `possible` is the number of samples one always-busy thread would have given
    (rate x seconds); with it, each thread's busy share of the window is shown too.
    """
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parse(frame) for frame in stack.split(";")]
        functions = [function for function, _ in frames]
        total += count
        threads[_thread(functions)] += count
        own[frames[-1][1]] += count
        for function in set(functions):
            if not _PLUMBING.search(function):
                inclusive[function] += count
    if total == 0:
        return f"{raw.name}: no samples\n"
    parts = [f"{total:,} samples of busy threads ({raw.name})\n"]
    parts += ["| thread | share of samples | busy, of the window |", "|---|---:|---:|"]
    parts += [
        f"| {name} | {count / total:.1%} | {f'{count / possible:.0%}' if possible else '—'} |"
        for name, count in threads.most_common()
    ]
    for title, counter in (
        ("functions, cumulative (start-up and event-loop frames left out)", inclusive),
        ("lines, self", own),
    ):
        parts.append(f"\n| top {top} {title} | share |\n|---|---:|")
        for name, count in counter.most_common(top):
            parts.append(f"| `{name}` | {count / total:.1%} |")
    return "\n".join(parts) + "\n"
