"""Resource counters of the current process and all its descendants (the process tree).

Counters of the current process come from getrusage(), which also covers threads that already
exited and children that were waited for. Live descendants are read through psutil; on Linux
their context switches are summed over all their threads (``/proc/PID/status`` alone reports
only the main thread).

Peak RSS comes from the kernel's high-water marks, read once at the end: nothing samples the
tree while a region runs. Kernel memory (``kernel_memory``) is what USS and PSS leave out: a
thread's kernel stack, task structures and a process's page tables.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Counters:
    cpu_user: float
    cpu_system: float
    ctx_voluntary: int
    ctx_involuntary: int

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.cpu_user - other.cpu_user,
            self.cpu_system - other.cpu_system,
            self.ctx_voluntary - other.ctx_voluntary,
            self.ctx_involuntary - other.ctx_involuntary,
        )

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            self.cpu_user + other.cpu_user,
            self.cpu_system + other.cpu_system,
            self.ctx_voluntary + other.ctx_voluntary,
            self.ctx_involuntary + other.ctx_involuntary,
        )


ZERO = Counters(0.0, 0.0, 0, 0)


def descendants() -> list[psutil.Process]:
    children: list[psutil.Process] = psutil.Process().children(recursive=True)
    return children


def _linux_thread_switches(pid: int) -> tuple[int, int]:
    voluntary = involuntary = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"voluntary_ctxt_switches:"):
                        voluntary += int(line.split()[1])
                    elif line.startswith(b"nonvoluntary_ctxt_switches:"):
                        involuntary += int(line.split()[1])
        except OSError:
            continue
    return voluntary, involuntary


def _descendant_counters(proc: psutil.Process) -> Counters:
    try:
        times = proc.cpu_times()
        if sys.platform.startswith("linux"):
            voluntary, involuntary = _linux_thread_switches(proc.pid)
        else:
            switches = proc.num_ctx_switches()
            voluntary, involuntary = switches.voluntary, switches.involuntary
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ZERO
    return Counters(
        times.user + times.children_user,
        times.system + times.children_system,
        voluntary,
        involuntary,
    )


def _own_counters() -> Counters:
    total = ZERO
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += Counters(usage.ru_utime, usage.ru_stime, usage.ru_nvcsw, usage.ru_nivcsw)
    return total


def _descendants_counters() -> Counters:
    total = ZERO
    for proc in descendants():
        total += _descendant_counters(proc)
    return total


def _reap_finished_children() -> None:
    # An exited child's counters (its exited threads' context switches among them) reach
    # RUSAGE_CHILDREN only once it is reaped; multiprocessing reaps its finished children here.
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None:
        multiprocessing.active_children()


def tree_counters(*, scan_first: bool) -> Counters:
    """CPU seconds and context switches consumed so far by the whole process tree.

    Scanning the descendants costs this process a millisecond or more of CPU. Pass
    ``scan_first=True`` when opening a measured interval and ``False`` when closing it, so
    that the scans fall outside the interval instead of inflating it.
    """
    _reap_finished_children()
    if scan_first:
        scanned = _descendants_counters()
        return scanned + _own_counters()
    own = _own_counters()
    return own + _descendants_counters()


def _memory(proc: psutil.Process, measure: str) -> int:
    if measure == "pss" and sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{proc.pid}/smaps_rollup", "rb") as rollup:
                fields = dict(line.split(b":", 1) for line in rollup if b":" in line)
            # Anonymous and shared-memory pages only: the tree's share of file-backed pages
            # (libpython, libc) grows with its process count though no memory is added.
            return sum(int(fields[key].split()[0]) * 1024 for key in (b"Pss_Anon", b"Pss_Shmem"))
        except (OSError, KeyError, ValueError):
            pass
    value: int = getattr(proc.memory_full_info(), measure)
    return value


def tree_memory(measure: str = "uss") -> int:
    """Memory (bytes) of this process plus every live descendant, summed.

    ``uss``: pages private to each process. ``pss``: each page divided among the processes that
    map it, so that the sum over a tree counts a page shared by its members once (on Linux,
    anonymous and shared-memory pages only).
    """
    total = _memory(psutil.Process(), measure)
    for proc in descendants():
        try:
            total += _memory(proc, measure)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _maxrss_bytes(who: int) -> int:
    peak = resource.getrusage(who).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def self_peak_rss() -> int:
    """Peak RSS (bytes) of this process so far: the kernel's high-water mark."""
    return _maxrss_bytes(resource.RUSAGE_SELF)


def children_peak_rss() -> int:
    """The largest peak RSS (bytes) of any descendant reaped so far (0 if none): the kernel
    keeps the maximum over reaped children, not their sum. A peak of the tree as a whole,
    summed over processes alive at once, would need a sampler running during the region."""
    return _maxrss_bytes(resource.RUSAGE_CHILDREN)


MEMINFO = Path("/proc/meminfo")
# Kernel memory that tasks cost and USS/PSS leave out: kernel stacks (16 KiB per thread on
# x86-64), page tables, and unreclaimable slab (task structures, among others).
KERNEL_FIELDS = ("KernelStack", "PageTables", "SUnreclaim")


def kernel_memory(path: Path = MEMINFO) -> dict[str, int] | None:
    """``KERNEL_FIELDS`` of the whole machine in bytes, or None where the kernel does not
    report them (no /proc/meminfo, or a field missing): then there is no kernel figure at all,
    rather than a zero."""
    try:
        text = path.read_bytes()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(b":")
        key = name.decode("ascii", "replace")
        if key in KERNEL_FIELDS:
            size, _, unit = rest.strip().partition(b" ")
            try:
                values[key] = int(size) * (1024 if unit == b"kB" else 1)
            except ValueError:
                return None
    if set(values) != set(KERNEL_FIELDS):
        return None
    return values
