"""The contracts every model keeps: one test per property, every model of the registry (variants
included) a parameter, each model run only through the registry and ``run_cell``. A model that
is unavailable here is a skip with its reason.

- Every cell of the tiny matrix (every workload the model supports) does exactly the work of its
  spec, twice in one process as pyperf's workers call it: the operations it counts are the
  spec's and its checksum is the spec's reference (``run_cell`` verifies both), and it leaves no
  thread or process behind.
- The latency pass's instrumented specs go through every model: each operation stamped exactly
  once, inside the measured region (``bench.measure.latency``).
- pingpong: a switch means one thing (issue 10, item 3): the coordinator passes each token
  ``each_round()`` yields through the model's primitive, the partner hands it back, and the
  model counts the switches from the last token that came back (``PingPong.switches``).
- producer_consumer: ``capacity`` means one thing (issue 10, item 2); how a run is recorded
  and judged is in ``tests/capacity_trace.py``.

The negative controls: a miscounting model (``tests/test_cells.py``), partners that break the
pingpong contract (the model files, ``tests/pingpong_faults.py``), the FIFO of before issue 10
and hand-made traces (below), a call that leaves a thread or a process (below), stamps skipped
or repeated (``tests/test_latency.py``).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bench.measure import latency
from bench.measure.cells import Cell, run_cell
from bench.measure.meters import Clock
from bench.models import generators
from bench.planning import plan
from bench.registry import all_models, get_model
from bench.results import gil
from bench.spec.models import Model
from bench.spec.workloads import SPECS, PingPong
from tests.capacity_trace import (
    SIZES,
    THREAD_SWITCHES,
    Layout,
    LooseFifo,
    analyse,
    check_contract,
    expected_blocking,
    measure,
    pipeline_rows,
    trace_from_rows,
)
from tests.helpers import (
    TINY_MATRIX,
    NothingLeft,
    call_model,
    meter_for,
    models_of,
    unless_available,
)

MODELS = all_models()
CELLS = plan(MODELS, list(SPECS), TINY_MATRIX)


def _cells(cells: Iterable[Cell]) -> list[object]:
    return [pytest.param(cell, id=cell.name, marks=unless_available(cell.model)) for cell in cells]


# Every cell.


@pytest.mark.parametrize("cell", _cells(CELLS))
def test_every_cell_does_the_work_of_its_spec_and_leaves_nothing_behind(cell: Cell) -> None:
    nothing_left = NothingLeft()
    for run in range(2):  # pyperf repeats runs in one process: the second must work as well
        outcome = run_cell(cell, meter_for(cell.model, cell.spec))
        assert (outcome.ops, tuple(outcome.checksum)) == (cell.spec.ops, cell.spec.reference())
        nothing_left.check(f"run {run + 1} of {cell.name}")


def test_every_model_has_cells_in_the_tiny_matrix() -> None:
    assert {cell.model.name for cell in CELLS} == {model.name for model in MODELS}
    assert {cell.spec.workload for cell in CELLS} == set(SPECS)


def test_a_thread_left_behind_is_caught() -> None:
    nothing_left = NothingLeft()
    release = threading.Event()
    left = threading.Thread(target=release.wait, name="left behind")
    left.start()
    try:
        with pytest.raises(AssertionError, match=r"left threads \['left behind'\] and processes"):
            nothing_left.check()
    finally:
        release.set()
        left.join()
    nothing_left.check()


def test_a_process_left_behind_running_or_unreaped_is_caught() -> None:
    nothing_left = NothingLeft()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(AssertionError, match=rf"processes \[{child.pid}\] behind"):
            nothing_left.check()
        child.kill()
        # Dead but not reaped: a zombie is still a child left behind.
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        with pytest.raises(AssertionError, match=rf"processes \[{child.pid}\] behind"):
            nothing_left.check()
    finally:
        child.kill()
        child.wait()
    nothing_left.check()


# The latency pass's hooks.


LATENCY_CELLS = [cell for cell in CELLS if latency.supports(cell.spec.workload)]


@pytest.mark.parametrize("cell", _cells(LATENCY_CELLS))
def test_the_latency_hooks_stamp_every_operation_once_inside_the_region(cell: Cell) -> None:
    # run() verifies the cell (count, checksum) and its stamps: every slot written exactly once,
    # inside the measured region, every get after its put. Two runs on one recorder, as the
    # pass makes them; pingpong's second stamps every 2nd round: a sample per whole batch, the
    # last round unstamped.
    spec = cell.spec
    with latency.LatencyPass(cell) as probe:
        for batch in (1, 2) if isinstance(spec, PingPong) else (1, 1):
            probe.batch = batch
            found, _ = probe.run()
            assert len(found) == (spec.rounds // batch if isinstance(spec, PingPong) else spec.ops)


# pingpong: what a switch is.


@pytest.mark.parametrize("model", models_of("pingpong"))
@pytest.mark.parametrize("rounds", [1, 2, 7])
def test_every_model_counts_two_switches_per_round(model: Model, rounds: int) -> None:
    spec = PingPong(rounds=rounds)
    outcome = run_cell(Cell(model, spec), Clock())
    assert outcome == (2 * rounds, (2 * rounds,)) == (spec.ops, spec.reference())


@dataclass(frozen=True)
class _TokensThatSkip(PingPong):
    """Tokens other than the round numbers: a count that follows them was read from them."""

    def each_round(self) -> Iterable[int]:
        return (0, 1, 2, 10)


@pytest.mark.parametrize("model", models_of("pingpong"))
def test_every_model_counts_from_the_tokens_that_crossed_its_primitive(model: Model) -> None:
    outcome = call_model(model.name, _TokensThatSkip(rounds=4), Clock())
    # 2 x (10 + 1): a model counting its own rounds would report 8.
    assert outcome == (22, (22,))


@pytest.mark.parametrize(
    ("sent", "back", "switches"),
    [
        (-1, -1, 0),  # no round
        (4, 4, 10),  # the last of 5 rounds came back
        (2, 1, 4),  # round 2's token did not come back: rounds 0 and 1 count
        (0, 1, 0),  # the first token came back changed
    ],
)
def test_switches_count_the_rounds_whose_token_came_back(
    sent: int, back: int, switches: int
) -> None:
    assert PingPong(rounds=5).switches(sent, back) == switches


# producer_consumer: what capacity is (tests/capacity_trace.py).

needs_thread_switches = pytest.mark.skipif(
    not THREAD_SWITCHES, reason="needs per-thread context switch counts (Linux)"
)


def _size_id(size: tuple[int, int]) -> str:
    return f"Q={size[0]},M={size[1]}"


@needs_thread_switches
@pytest.mark.parametrize("size", SIZES, ids=_size_id)
@pytest.mark.parametrize("model", models_of("producer_consumer"))
def test_capacity_means_the_same_in_every_model(model: Model, size: tuple[int, int]) -> None:
    check_contract(model.name, measure(model, *size))


@needs_thread_switches
@pytest.mark.parametrize("size", SIZES, ids=_size_id)
def test_the_loose_fifo_of_before_is_caught(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.setattr(generators, "Fifo", LooseFifo)
    capacity, items = size
    counts = measure(get_model("generators"), capacity, items)
    assert not counts.calls_consumer and not counts.parallel
    assert counts.peak_in_flight > capacity
    with pytest.raises(AssertionError, match="expected"):
        check_contract("generators with the loose FIFO", counts)


@needs_thread_switches
def test_the_loose_fifo_of_before_blocks_less_than_capacity_requires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At Q = 1 every item shows the hand-off. (At Q = 64 a cycle of the loose FIFO is 65 items
    # instead of 64, which 640 items cannot tell apart in the counts: 9 either way.)
    monkeypatch.setattr(generators, "Fifo", LooseFifo)
    capacity, items = SIZES[0]
    counts = measure(get_model("generators"), capacity, items)
    assert counts.blocking_puts < expected_blocking(items, capacity)
    assert counts.blocking_gets < expected_blocking(items, capacity)


def test_a_parallel_fifo_holding_more_than_q_items_is_caught() -> None:
    layout = Layout(4, 1)
    # Puts of items 0, 1 and 2 all return before the consumer starts its second get: with
    # Q = 1, at least two items (1 and 2) were in flight at once.
    rows = pipeline_rows(layout, put_returns=[1.0, 2.0, 3.0, 9.0], gets=[3.5, 4.0, 6.0, 9.5])
    counts = analyse(trace_from_rows(layout, rows), capacity=1, gil_enabled=True)
    assert counts.parallel and counts.peak_certainly_in_flight == 2
    with pytest.raises(AssertionError, match="more than Q=1"):
        check_contract("a parallel model", counts)
    wider = analyse(trace_from_rows(layout, rows), capacity=2, gil_enabled=True)
    assert wider.peak_certainly_in_flight <= 2


def test_threads_sharing_a_gil_are_held_to_the_exact_counts() -> None:
    layout = Layout(2, 1)
    consumer = [(3, 2.5, 0, 20, 1), (5, 2.6, 0, 20, 1), (4, 5.5, 0, 20, 1), (6, 5.6, 0, 20, 1)]
    # Two threads of one process at Q = 1: put 1 waits until the consumer took item 0, get 1
    # until put 1 returned, which is what the rule gives.
    producer = [(0, 1.0, 0, 10, 1), (1, 2.0, 0, 10, 1), (2, 5.0, 0, 10, 1)]
    good = analyse(trace_from_rows(layout, producer + consumer), capacity=1, gil_enabled=True)
    assert not good.parallel
    assert (good.blocking_puts, good.blocking_gets, good.peak_in_flight) == (1, 1, 1)
    check_contract("threads", good)
    # Both puts return before the consumer takes anything: two items in flight at Q = 1.
    early = [(0, 1.0, 0, 10, 1), (1, 2.0, 0, 10, 1), (2, 2.2, 0, 10, 1)]
    bad = analyse(trace_from_rows(layout, early + consumer), capacity=1, gil_enabled=True)
    assert (bad.blocking_puts, bad.blocking_gets, bad.peak_in_flight) == (0, 0, 2)
    with pytest.raises(AssertionError, match="expected 1 blocking puts"):
        check_contract("threads", bad)
    # Without a GIL the same threads run at the same time: only the bound holds them, and the
    # bound cannot tell this run (get 0 may have started before either put).
    parallel = analyse(trace_from_rows(layout, early + consumer), capacity=1, gil_enabled=False)
    assert parallel.parallel and parallel.peak_certainly_in_flight == 1
    check_contract("threads without a GIL", parallel)
    # So can threads that the interpreter preempts within an operation (a short switch interval).
    preempted = analyse(
        trace_from_rows(layout, early + consumer), capacity=1, gil_enabled=True, preempted=True
    )
    assert preempted.parallel
    check_contract("threads under a short switch interval", preempted)


@needs_thread_switches
def test_a_run_under_a_switch_interval_the_model_shortened_is_judged_by_the_bound() -> None:
    # Without a GIL every threads run is judged by the bound, the plain model's too.
    assert measure(get_model("threads"), 1, 7).parallel == (gil.state() == gil.DISABLED)
    assert measure(get_model("threads[switch_interval=0.1]"), 1, 7).parallel
    assert measure(get_model("threads[switch_interval=20]"), 1, 7).parallel


def test_only_a_put_that_runs_the_consumer_on_its_own_item_counts_as_a_call() -> None:
    layout = Layout(2, 1)
    producer = [(0, 1.0, 0, 10, 1), (1, 2.0, 0, 10, 1), (2, 3.0, 0, 10, 1)]
    # Serial: the consumer's work on each item runs inside that item's put.
    inside = [(3, 1.2, 0, 10, 1), (5, 1.3, 0, 10, 1), (4, 2.2, 0, 10, 1), (6, 2.3, 0, 10, 1)]
    call = analyse(trace_from_rows(layout, producer + inside), capacity=1, gil_enabled=True)
    assert call.calls_consumer and call.peak_in_flight == 0
    check_contract("serial", call)
    # One thread that buffers both items and consumes them afterwards is no call: it is held to
    # the FIFO's counts, and two items in flight at Q = 1 fail them.
    later = [(3, 4.0, 0, 10, 1), (5, 4.1, 0, 10, 1), (4, 4.2, 0, 10, 1), (6, 4.3, 0, 10, 1)]
    deferred = analyse(trace_from_rows(layout, producer + later), capacity=1, gil_enabled=True)
    assert not deferred.calls_consumer and deferred.peak_in_flight == 2
    with pytest.raises(AssertionError, match="expected"):
        check_contract("a buffering serial", deferred)


@needs_thread_switches
def test_the_switch_counter_is_the_one_proc_reports() -> None:
    status = Path("/proc/thread-self/status")
    if not status.exists():
        pytest.skip("no /proc/thread-self")

    def from_proc() -> int:
        text = status.read_text()
        match = re.search(r"^voluntary_ctxt_switches:\s+(\d+)$", text, re.MULTILINE)
        assert match is not None
        return int(match.group(1))

    def from_getrusage() -> int:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw

    first, before, second = from_proc(), from_getrusage(), from_proc()
    time.sleep(0.001)  # a wait is a voluntary switch
    after, third = from_getrusage(), from_proc()
    assert first <= before <= second < third
    assert before < after <= third
