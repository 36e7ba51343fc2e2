"""The machine's state before a run, from fake /proc and /sys trees: a quiet machine says
nothing; a loaded one says so in one line naming the busiest other process."""

from __future__ import annotations

from pathlib import Path

from bench.measure.machine import (
    BUSY_INTERVAL,
    NOT_READABLE,
    MachineState,
    machine_state,
    read_boost,
    read_governor,
)

HZ = 100.0
OWN_PID = 4000


def _stat(pid: int, name: str, ticks: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return f"{pid} ({name}) R 1 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0\n"


class FakeProc:
    """A /proc with a load average and processes whose CPU time grows by ``used`` ticks
    between the two readings (the fake sleep is when it grows)."""

    def __init__(self, root: Path, load: str, used: dict[tuple[int, str], int]) -> None:
        self.root, self.used, self.now = root, used, 0.0
        root.mkdir()
        (root / "loadavg").write_text(f"{load} 2/345 6789\n")
        (root / "self").mkdir()  # not a process directory: skipped
        self._write(grown=False)

    def _write(self, grown: bool) -> None:
        for (pid, name), used in self.used.items():
            (self.root / str(pid)).mkdir(exist_ok=True)
            ticks = 1000 + (used if grown else 0)
            (self.root / str(pid) / "stat").write_text(_stat(pid, name, ticks))

    def sleep(self, seconds: float) -> None:
        assert seconds == BUSY_INTERVAL
        self.now += seconds
        self._write(grown=True)

    def clock(self) -> float:
        return self.now


def _state(tmp_path: Path, load: str, used: dict[tuple[int, str], int]) -> MachineState:
    proc = FakeProc(tmp_path / "proc", load, used)
    return machine_state(
        own=[OWN_PID],
        proc=proc.root,
        cpu=tmp_path / "no-sysfs",
        sleep=proc.sleep,
        clock=proc.clock,
        cores=2,
        ticks_per_second=HZ,
    )


def test_a_quiet_machine_gives_no_warning(tmp_path: Path) -> None:
    # 1 tick in 0.2 s at 100 Hz: 5% of a core, under the 10% limit; load 0.4 per core
    state = _state(tmp_path, "0.80 0.50 0.30", {(10, "sshd"): 1, (11, "cron"): 0})
    assert state.busy == ()
    assert state.warning() is None
    recorded = state.environment()
    assert recorded["machine_state"] == "quiet"
    assert recorded["load_average"] == "0.80 0.50 0.30"
    assert recorded["busy_processes"] == "none"
    assert recorded["cpu_governor"] == recorded["cpu_boost"] == NOT_READABLE


def test_a_busy_process_is_named_in_one_line(tmp_path: Path) -> None:
    used = {
        (10, "sshd"): 1,
        (20, "stress (ng)"): 19,  # 95% of a core; its name holds a space and parentheses
        (21, "make"): 6,  # 30%
        (22, "cc1"): 4,  # 20%: the third, not named
        (OWN_PID, "python3"): 20,  # the run's own: never counted
    }
    state = _state(tmp_path, "0.10 0.10 0.10", used)
    assert [process.pid for process in state.busy] == [20, 21, 22]
    warning = state.warning()
    assert warning is not None
    assert "\n" not in warning
    assert "stress (ng) (pid 20) 95%, make (pid 21) 30% and 1 more of a core" in warning
    assert "python3" not in warning and "load" not in warning
    assert state.environment()["machine_state"].startswith("not quiet: ")


def test_a_high_load_average_alone_is_a_warning(tmp_path: Path) -> None:
    state = _state(tmp_path, "1.50 1.00 0.50", {(10, "sshd"): 0})
    warning = state.warning()
    assert warning is not None
    assert "1-minute load 1.50 on 2 cores (0.75 per core, above 0.5)" in warning


def test_unreadable_proc_is_no_warning_and_no_error(tmp_path: Path) -> None:
    state = machine_state(
        proc=tmp_path / "absent", cpu=tmp_path / "absent", sleep=lambda _: None, cores=2
    )
    assert state.load is None and state.busy == ()
    assert state.warning() is None
    assert state.environment()["load_average"] == NOT_READABLE


def test_governor_and_boost_where_sysfs_has_them(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu"
    for index, governor in enumerate(("performance", "performance", "powersave")):
        (cpu / f"cpu{index}" / "cpufreq").mkdir(parents=True)
        (cpu / f"cpu{index}" / "cpufreq" / "scaling_governor").write_text(governor + "\n")
    assert read_governor(cpu) == "performance on 2, powersave on 1"
    assert read_boost(cpu) == NOT_READABLE
    (cpu / "intel_pstate").mkdir()
    (cpu / "intel_pstate" / "no_turbo").write_text("1\n")
    assert read_boost(cpu) == "off"
    (cpu / "cpufreq").mkdir()
    (cpu / "cpufreq" / "boost").write_text("1\n")
    assert read_boost(cpu) == "on"
