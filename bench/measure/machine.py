"""The machine's state before a run: is anything else likely to disturb the measurements?

Read by the runner the user started, once, before its first cell (never while a cell runs):
the load average, the CPU frequency governor and boost (turbo) where Linux exposes them, and
the processes other than the run's own that used noticeable CPU over a short interval (two
readings of /proc/<pid>/stat, ``BUSY_INTERVAL`` apart). Where something cannot be read (no
cpufreq on most virtual machines, no /proc elsewhere), it is "not readable".

The machine is "not quiet" when the 1-minute load average exceeds ``LOAD_PER_CORE_LIMIT`` per
core (the run's own start-up adds little to a 1-minute average), or when another process used
more than ``BUSY_PROCESS_LIMIT`` of one core over the interval: either leaves less than a whole
core to the cells, whose numbers then include someone else's work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

LOAD_PER_CORE_LIMIT = 0.5
BUSY_PROCESS_LIMIT = 0.10
BUSY_INTERVAL = 0.2
NOT_READABLE = "not readable"
# The busy processes a warning names, the busiest first.
NAMED_IN_WARNING = 2

PROC = Path("/proc")
CPU_SYSFS = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class BusyProcess:
    pid: int
    name: str
    share: float  # of one core, over the interval

    def text(self) -> str:
        return f"{self.name} (pid {self.pid}) {100 * self.share:.0f}%"


@dataclass(frozen=True)
class MachineState:
    load: tuple[float, float, float] | None  # 1, 5 and 15 minutes
    cores: int
    governor: str
    boost: str
    busy: tuple[BusyProcess, ...]  # the busiest first

    def load_per_core(self) -> float | None:
        return None if self.load is None else self.load[0] / max(self.cores, 1)

    def reasons(self) -> list[str]:
        """Why the machine is not quiet; empty when it is."""
        reasons = []
        per_core = self.load_per_core()
        if per_core is not None and per_core > LOAD_PER_CORE_LIMIT:
            assert self.load is not None
            reasons.append(
                f"1-minute load {self.load[0]:.2f} on {self.cores} cores "
                f"({per_core:.2f} per core, above {LOAD_PER_CORE_LIMIT:g})"
            )
        if self.busy:
            named = ", ".join(process.text() for process in self.busy[:NAMED_IN_WARNING])
            more = len(self.busy) - NAMED_IN_WARNING
            others = f" and {more} more" if more > 0 else ""
            reasons.append(f"other busy processes: {named}{others} of a core")
        return reasons

    def warning(self) -> str | None:
        """One line when the machine is not quiet, None when it is."""
        reasons = self.reasons()
        if not reasons:
            return None
        return "warning: the machine is not quiet, numbers may include other work: " + "; ".join(
            reasons
        )

    def environment(self) -> dict[str, str]:
        """What the result file records (``bench.results.schema.ENVIRONMENT`` places
        ``machine_state``, ``cpu_governor`` and ``cpu_boost``; the readings behind the state
        are recorded beside them)."""
        reasons = self.reasons()
        load = NOT_READABLE if self.load is None else " ".join(f"{v:.2f}" for v in self.load)
        return {
            "machine_state": "not quiet: " + "; ".join(reasons) if reasons else "quiet",
            "cpu_governor": self.governor,
            "cpu_boost": self.boost,
            "load_average": load,
            "busy_processes": ", ".join(p.text() for p in self.busy) or "none",
        }


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def read_load(proc: Path = PROC) -> tuple[float, float, float] | None:
    text = _read(proc / "loadavg")
    try:
        one, five, fifteen = (float(field) for field in (text or "").split()[:3])
    except ValueError:
        return None
    return one, five, fifteen


def read_governor(cpu: Path = CPU_SYSFS) -> str:
    """The scaling governor of every CPU that reports one ("performance", or
    "powersave on 2, performance on 2" when they differ)."""
    found: dict[str, int] = {}
    for path in sorted(cpu.glob("cpu[0-9]*/cpufreq/scaling_governor")):
        governor = _read(path)
        if governor:
            found[governor] = found.get(governor, 0) + 1
    if not found:
        return NOT_READABLE
    if len(found) == 1:
        return next(iter(found))
    return ", ".join(f"{governor} on {count}" for governor, count in found.items())


def read_boost(cpu: Path = CPU_SYSFS) -> str:
    """Boost (turbo) "on" or "off": cpufreq's ``boost`` (acpi-cpufreq, amd-pstate) or
    intel_pstate's ``no_turbo`` (which says the reverse)."""
    boost = _read(cpu / "cpufreq" / "boost")
    if boost in ("0", "1"):
        return "on" if boost == "1" else "off"
    no_turbo = _read(cpu / "intel_pstate" / "no_turbo")
    if no_turbo in ("0", "1"):
        return "off" if no_turbo == "1" else "on"
    return NOT_READABLE


def cpu_ticks(proc: Path = PROC) -> dict[int, tuple[str, int]]:
    """Each process's name and CPU time so far (user + system, in clock ticks)."""
    ticks = {}
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        text = _read(entry / "stat")
        if text is None:
            continue  # ended since the listing, or not ours to read
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        name_start, name_end = text.find("("), text.rfind(")")
        fields = text[name_end + 2 :].split()
        try:
            # utime and stime: fields 14 and 15 of the line, 12 and 13 after comm and state.
            ticks[int(entry.name)] = (
                text[name_start + 1 : name_end],
                int(fields[11]) + int(fields[12]),
            )
        except (IndexError, ValueError):
            continue
    return ticks


def busy_processes(
    own: Iterable[int],
    *,
    proc: Path = PROC,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    ticks_per_second: float | None = None,
) -> tuple[BusyProcess, ...]:
    """The processes, other than ``own``, that used more than ``BUSY_PROCESS_LIMIT`` of a core
    between two readings ``BUSY_INTERVAL`` apart, the busiest first."""
    hz = ticks_per_second or float(os.sysconf("SC_CLK_TCK"))
    before, start = cpu_ticks(proc), clock()
    sleep(BUSY_INTERVAL)
    after, elapsed = cpu_ticks(proc), clock() - start
    if elapsed <= 0:
        return ()
    skipped = set(own)
    busy = []
    for pid, (name, ticks) in after.items():
        if pid in skipped or pid not in before or before[pid][0] != name:
            continue  # ours, started during the interval, or a reused pid
        share = (ticks - before[pid][1]) / hz / elapsed
        if share > BUSY_PROCESS_LIMIT:
            busy.append(BusyProcess(pid, name, share))
    return tuple(sorted(busy, key=lambda process: -process.share))


def machine_state(
    own: Iterable[int] = (),
    *,
    proc: Path = PROC,
    cpu: Path = CPU_SYSFS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    cores: int | None = None,
    ticks_per_second: float | None = None,
) -> MachineState:
    """Read the machine's state; ``own``: the run's processes (the caller's pid is added)."""
    return MachineState(
        load=read_load(proc),
        cores=cores if cores is not None else os.cpu_count() or 1,
        governor=read_governor(cpu),
        boost=read_boost(cpu),
        busy=busy_processes(
            {os.getpid(), *own},
            proc=proc,
            sleep=sleep,
            clock=clock,
            ticks_per_second=ticks_per_second,
        ),
    )
