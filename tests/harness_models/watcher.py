"""watcher: a test-only model whose measured regions check that nothing of the harness runs.

Inside every measured region (timed runs in a pyperf worker, the profile and latency passes,
the memory probe) it reads the context-switch counters of every thread of every harness process
above it, sleeps ``QUIET_SECONDS``, reads them again and raises ``PassengerError``, naming the
process, the thread and the count, if any of those threads woke (or appeared, or ended) in
between. It also requires that its own process runs no other thread. The harness processes are
the chain of ancestors whose command line is ``python -m runners.run`` or ``runners.probe``:
the runner at least, and the cell process of a memory cell.

- pingpong: no hand-off at all; the coordinator's loop iterates ``spec.each_round()`` once per
  round (the latency pass stamps it) and the outcome is the spec's own count and reference.
- memory: N blocks of 16 KiB written in the region, so that the memory probe sees it grow.

Linux only (``/proc``). Found through CONCBENCH_MODEL_PATH; never part of a real matrix.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import Memory, PingPong, tally

MODEL = ModelRecord(
    name="watcher",
    summary="checks that nothing of the harness runs in its measured regions",
    lightweight=True,
    primitives={"pingpong": "none (watches the harness)", "memory": "a 16 KiB block per task"},
)

QUIET_SECONDS = 0.2
HARNESS_MODULES = ("runners.run", "runners.probe")
# The runner and the cell process are above every measuring process.
# The runner, and the cell process where there is one (memory cells); a round's pyperf worker
# and a timed cell's probes run right below the runner (``runners.rounds``).
MIN_HARNESS_PROCESSES = 1
# 256 KiB: above glibc's mmap threshold, so every block is fresh pages and the tree grows
# whatever the heap had free before the region.
BLOCK = bytes(range(256)) * 1024

Switches = dict[tuple[int, int], int]


class PassengerError(RuntimeError):
    """Something of the harness ran while a region was being measured."""


def command_line(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
    return int(stat.rpartition(")")[2].split()[1])


def is_harness(argv: Sequence[str]) -> bool:
    return len(argv) >= 3 and argv[1] == "-m" and argv[2] in HARNESS_MODULES


def harness_ancestors() -> list[int]:
    """The harness processes above this one, nearest first."""
    found = []
    pid = os.getppid()
    while pid > 1 and is_harness(command_line(pid)):
        found.append(pid)
        pid = parent_of(pid)
    return found


def thread_switches(pids: Sequence[int]) -> Switches:
    """Voluntary plus involuntary context switches of every thread of ``pids``."""
    counts: Switches = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            total = 0
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
            counts[pid, int(tid)] = total
    return counts


def woken(before: Switches, after: Switches) -> list[str]:
    """Every thread that switched, appeared or ended between two readings."""
    found = []
    for key in sorted(before.keys() | after.keys()):
        pid, tid = key
        if key not in before:
            found.append(f"pid {pid} thread {tid}: started")
        elif key not in after:
            found.append(f"pid {pid} thread {tid}: ended")
        elif after[key] != before[key]:
            found.append(f"pid {pid} thread {tid}: {after[key] - before[key]} context switches")
    return found


def check_quiet(pids: Sequence[int], seconds: float = QUIET_SECONDS) -> None:
    """Raise if any thread of ``pids`` runs while this process sleeps ``seconds``."""
    before = thread_switches(pids)
    time.sleep(seconds)
    found = woken(before, thread_switches(pids))
    if found:
        names = "; ".join(f"{pid}: {' '.join(command_line(pid))[:120]}" for pid in pids)
        raise PassengerError(
            f"the harness ran during a measured region: {', '.join(found)} (watched {names})"
        )


def check_alone() -> None:
    threads = sorted(int(tid) for tid in os.listdir("/proc/self/task"))
    if len(threads) != 1:
        raise PassengerError(f"pid {os.getpid()} runs {len(threads)} threads: {threads}")


def watch_harness() -> None:
    ancestors = harness_ancestors()
    if len(ancestors) < MIN_HARNESS_PROCESSES:
        raise PassengerError(
            f"found {len(ancestors)} harness process(es) above pid {os.getpid()}, expected at "
            f"least {MIN_HARNESS_PROCESSES} (the runner)"
        )
    check_alone()
    check_quiet(ancestors)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    meter.start()
    watch_harness()
    for _ in spec.each_round():
        pass
    meter.stop()
    return Outcome(spec.ops, spec.reference())


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    meter.start()
    watch_harness()
    blocks = [bytearray(BLOCK) for _ in range(spec.tasks)]
    meter.stop()
    return Outcome(len(blocks), tally(range(spec.tasks)))
