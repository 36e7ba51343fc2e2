"""The collector before every region, the kernel memory column, peak RSS from high-water marks,
and the supervisor's portable wait (no measuring: fake counters and tiny real runs)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path

import psutil
import pyperf
import pytest

from bench.measure import meters, proctree
from bench.measure.meters import Clock, MemoryMeter, ProfilingClock
from runners import probe_passes as probes
from runners import supervisor
from runners.supervisor import Supervised

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)


class _Cycle:
    """Garbage only the cycle collector frees: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


def _cyclic_garbage() -> weakref.ref[_Cycle]:
    cycle = _Cycle()
    return weakref.ref(cycle)


@pytest.mark.parametrize("meter_class", [Clock, ProfilingClock, MemoryMeter])
def test_garbage_of_an_earlier_run_is_collected_before_the_region(
    meter_class: type[Clock] | type[MemoryMeter],
) -> None:
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection may free it by chance
    try:
        garbage = _cyclic_garbage()
        assert garbage() is not None
        meter = meter_class()
        meter.start()
        assert garbage() is None
        meter.stop()
    finally:
        if was_enabled:
            gc.enable()


def test_the_collection_comes_before_the_counters_and_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def collect() -> int:
        calls.append("collect")
        return 0

    def counters(*, scan_first: bool) -> proctree.Counters:
        calls.append("counters")
        return proctree.ZERO

    def clock() -> float:
        calls.append("clock")
        return 1.0

    # The modules bench.measure.meters reads them from.
    monkeypatch.setattr(gc, "collect", collect)
    monkeypatch.setattr(proctree, "tree_counters", counters)
    monkeypatch.setattr(time, "perf_counter", clock)
    meter = ProfilingClock()
    meter.start()
    assert calls == ["collect", "counters", "clock"]
    meter.stop()
    assert calls[3:] == ["clock", "counters"]  # the clock stops before anything is read


def test_the_kernel_window_is_the_region_after_the_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kernel memory is read last before the region and first after it: the tree's slower
    USS/PSS scan stays outside its window."""
    calls: list[str] = []
    readings = iter([{"KernelStack": 1, "PageTables": 2, "SUnreclaim": 3},
                     {"KernelStack": 16385, "PageTables": 4098, "SUnreclaim": 4003}])  # fmt: skip

    def collect() -> int:
        calls.append("collect")
        return 0

    def user(measure: str) -> int:
        calls.append("user")
        return 100

    def kernel() -> dict[str, int]:
        calls.append("kernel")
        return next(readings)

    monkeypatch.setattr(gc, "collect", collect)
    monkeypatch.setattr(proctree, "tree_memory", user)
    monkeypatch.setattr(proctree, "kernel_memory", kernel)
    meter = MemoryMeter()
    meter.start()
    calls.append("region")
    meter.stop()
    assert calls == ["collect", "user", "kernel", "region", "collect", "kernel", "user"]
    assert meter.kernel_delta == {"KernelStack": 16384, "PageTables": 4096, "SUnreclaim": 4000}


def test_no_kernel_figure_where_the_kernel_reports_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proctree, "kernel_memory", lambda: None)
    meter = MemoryMeter()
    meter.start()
    meter.stop()
    assert meter.kernel_delta is None
    assert probes.kernel_metadata(meter.kernel_delta, 10) == {}


def test_kernel_metadata_names_its_fields_and_divides_by_the_tasks() -> None:
    metadata = probes.kernel_metadata(
        {"KernelStack": 16384 * 10, "PageTables": 4096 * 10, "SUnreclaim": 100}, 10
    )
    assert metadata["kernel_memory_delta"] == 16384 * 10 + 4096 * 10 + 100
    assert metadata["kernel_memory_per_task"] == pytest.approx(16384 + 4096 + 10)
    assert metadata["kernel_memory_fields"] == "KernelStack+PageTables+SUnreclaim"
    assert metadata["kernel_delta_SUnreclaim"] == 100


MEMINFO = """\
MemTotal:       24684052 kB
Slab:             131320 kB
SUnreclaim:        24708 kB
KernelStack:        1656 kB
PageTables:         2540 kB
"""


def test_kernel_memory_reads_the_three_fields_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "meminfo"
    path.write_text(MEMINFO)
    assert proctree.kernel_memory(path) == {
        "KernelStack": 1656 * 1024,
        "PageTables": 2540 * 1024,
        "SUnreclaim": 24708 * 1024,
    }


def test_kernel_memory_is_absent_not_zero_without_its_source(tmp_path: Path) -> None:
    assert proctree.kernel_memory(tmp_path / "no-such-file") is None
    partial = tmp_path / "meminfo"
    partial.write_text(MEMINFO.replace("KernelStack", "KernelStacks"))
    assert proctree.kernel_memory(partial) is None


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="no /proc/meminfo here")
def test_a_memory_run_records_both_columns() -> None:
    # In a fresh process, as the runner measures memory: inside this test process the heap
    # holds whatever earlier tests freed, and 20 threads' stacks can land in it unseen.
    out = subprocess.run(
        [sys.executable, "-m", "runners.probe", "memory", "--model", "threads",
         "--workload", "memory", "--params", "tasks=20"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=50,
    ).stdout  # fmt: skip
    bench = pyperf.Benchmark.loads(out)
    metadata = bench.get_runs()[0].get_metadata()
    assert bench.get_values()[0] * 20 == pytest.approx(metadata["memory_delta"])
    fields = ("KernelStack", "PageTables", "SUnreclaim")
    assert metadata["kernel_memory_delta"] == sum(metadata[f"kernel_delta_{f}"] for f in fields)
    assert metadata["kernel_memory_per_task"] == metadata["kernel_memory_delta"] / 20
    assert metadata["gc_before_region"] == meters.GC_BEFORE_REGION
    assert metadata["peak_rss_self"] > 1_000_000


def _probe(*argv: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "runners.probe", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=50,
    ).stdout
    data: dict[str, float] = json.loads(out)
    return data


@pytest.mark.slow
def test_peak_rss_comes_from_the_probe_and_its_reaped_children() -> None:
    threads = _probe("profile", "--model", "threads", "--workload", "spawn", "--params", "tasks=3")
    processes = _probe(
        "profile", "--model", "processes", "--workload", "spawn", "--params", "tasks=3"
    )
    assert threads["peak_rss_self"] > 1_000_000 and processes["peak_rss_self"] > 1_000_000
    assert threads["peak_rss_children_max"] == 0  # threads start no process
    assert processes["peak_rss_children_max"] > 1_000_000


FREEZE = """
import gc, json
from bench.measure.cells import Cell
from bench.measure.meters import collector_metadata, freeze_collector
from bench.registry import get_model
from bench.spec.workloads import PingPong
from runners.cell_process import time_cell

before = gc.get_freeze_count()
time_cell(2, Cell(get_model("generators"), PingPong(rounds=10)))
after_first = gc.get_freeze_count()
freeze_collector()
time_cell(2, Cell(get_model("generators"), PingPong(rounds=10)))
print(json.dumps([before, after_first, gc.get_freeze_count(), collector_metadata()]))
"""


def test_a_measuring_process_freezes_the_collector_once() -> None:
    # In a process of its own: a frozen object is never collected again.
    out = subprocess.run(
        [sys.executable, "-c", FREEZE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    before, after_first, after_second, metadata = json.loads(out)
    assert before == 0 and after_first > 1000
    assert after_second == after_first  # once: later calls freeze nothing more
    assert metadata["gc_frozen_objects"] == after_first
    assert metadata["gc_enabled"] == "yes"
    assert metadata["gc_thresholds"].count(",") == 2


def _stand_in(source: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(source), "cell"]


def _remove_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    # psutil decides once per process whether it waits with a pidfd: here it must not either.
    monkeypatch.setattr(psutil._psposix, "can_use_pidfd_open", lambda: False)


@pytest.fixture
def without_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor's portable wait, as on a system without pidfd_open."""
    _remove_pidfd(monkeypatch)


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in that ignores SIGTERM is killed after a short grace instead of a second."""
    monkeypatch.setattr(supervisor, "TERMINATE_GRACE", 0.05)


@pytest.mark.usefixtures("without_pidfd")
def test_the_portable_wait_delivers_the_result() -> None:
    source = """
        import os, sys
        with os.fdopen(int(sys.argv[-1]), "w") as out:
            out.write("the result")
        """
    finished = Supervised(_stand_in(source), timeout=30, cwd=ROOT).run("--result-fd")
    assert finished.returncode == 0 and finished.result == "the result"
    assert not finished.timed_out and finished.leftovers == []


@pytest.mark.usefixtures("without_pidfd", "short_grace")
def test_the_portable_wait_keeps_the_time_limit() -> None:
    started = time.monotonic()
    finished = Supervised(_stand_in("import time; time.sleep(60)"), timeout=0.2, cwd=ROOT).run(
        "--result-fd"
    )
    assert finished.timed_out and finished.returncode < 0
    assert time.monotonic() - started < 10


@pytest.mark.usefixtures("short_grace")
@pytest.mark.parametrize("pidfd", [True, False])
def test_a_stop_request_during_the_wait_ends_it_at_once(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if not pidfd:
        _remove_pidfd(monkeypatch)
    # The stand-in ignores SIGTERM: the wait must end on the request itself, not on its exit.
    # The request comes once the stand-in says it ignores SIGTERM, while the runner waits.
    ready = tmp_path / "ignoring SIGTERM"
    cell = Supervised(
        _stand_in("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  f"open({str(ready)!r}, 'w').close(); time.sleep(60)"),
        timeout=60,
        cwd=ROOT,
    )  # fmt: skip

    def stop_when_ready() -> None:
        while not ready.exists():
            time.sleep(0.01)
        cell.request_stop()

    stopper = threading.Thread(target=stop_when_ready, daemon=True)
    stopper.start()
    started = time.monotonic()
    finished = cell.run("--result-fd")
    stopper.join(timeout=10)
    assert finished.stopped and not finished.timed_out
    assert time.monotonic() - started < 10
