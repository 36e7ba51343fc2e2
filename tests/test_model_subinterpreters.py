"""subinterpreters: available exactly where PEP 734's interpreters are; every task an
interpreter with a GIL of its own, set up before the region where the cell says so and closed
after it; a FIFO of the capacity the spec asks for; a partner that does not hand back its token
caught; a failing task raised, not waited for. (Every workload twice, leaving no thread, the
latency hooks and the capacity contract: tests/test_contract.py, run under 3.13 or 3.14.)"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from typing import Any

import pytest

from bench.measure import affinity
from bench.measure.cells import Cell, run_cell
from bench.measure.meters import Clock
from bench.models import subinterpreters as model
from bench.planning import plan
from bench.registry import all_models, get_model
from bench.spec.workloads import (
    DEFAULT_MATRIX,
    PARALLEL_SPECS,
    SPECS,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spawn,
    Spec,
)
from tests import interpreter_doubles
from tests.capacity_trace import SIZES, THREAD_SWITCHES, check_contract, measure
from tests.helpers import TINY_MATRIX, NothingLeft, StateMeter
from tests.pingpong_faults import FAULTS, assert_caught

MODEL = get_model("subinterpreters")
REASON = MODEL.unavailable_reason()
needs_interpreters = pytest.mark.skipif(REASON is not None, reason=f"unavailable: {REASON}")


def _pep_734_here() -> bool:
    if sys.version_info >= (3, 14):
        return True
    backport = importlib.util.find_spec("interpreters_backport") is not None
    return sys.version_info[:2] == (3, 13) and backport


def _run(spec: Spec, meter: Clock | None = None) -> None:
    run_cell(Cell(MODEL, spec), meter or Clock())


def _alive_interpreters() -> list[Any]:
    from bench.models._interpreters import interpreters

    found: list[Any] = interpreters.list_all()
    return found


def test_the_model_is_available_exactly_where_pep_734_is() -> None:
    if _pep_734_here():
        assert REASON is None
    else:
        assert REASON is not None
        assert (
            "subinterpreters need concurrent.interpreters (Python 3.14+) or the "
            "interpreters-pep-734 backport (Python 3.13)"
        ) in REASON


def test_the_default_matrix_measures_it_in_the_workloads_of_its_record() -> None:
    cells = plan(all_models(), list(SPECS), DEFAULT_MATRIX)
    workloads = {cell.spec.workload for cell in cells if cell.model.name == MODEL.name}
    # its queues poll every 10 ms: spawn and the parallel fan-out (an interpreter pool, no queue)
    # fit the default run's time (the module's record)
    assert workloads == {"spawn", "fan_out"}
    fan_outs = {cell.spec for cell in cells if cell.model.name == MODEL.name} - {
        cell.spec for cell in cells if cell.spec.workload == "spawn"
    }
    assert fan_outs == {spec for spec, _ in PARALLEL_SPECS if spec.workload == "fan_out"}


def test_the_faulty_partners_hand_back_what_the_suites_faults_do() -> None:
    assert set(interpreter_doubles.RULES) == set(FAULTS) == set(interpreter_doubles.PARTNERS)
    for name, rule in interpreter_doubles.RULES.items():
        for token in range(5):
            for previous in (-1, 1, None):
                assert rule(token, previous) == FAULTS[name](token, previous), (name, token)


@needs_interpreters
def test_every_cell_closes_the_interpreters_it_made() -> None:
    for cell in plan([MODEL], list(SPECS), TINY_MATRIX):
        run_cell(cell, Clock())
        assert len(_alive_interpreters()) == 1, cell.name


@needs_interpreters
def test_the_pingpong_partner_is_an_interpreter_with_its_own_gil_running_before_the_region() -> (
    None
):
    low_level = importlib.import_module("_interpreters")  # CPython's own, 3.13+

    def partner_running() -> None:
        _main, partner = _alive_interpreters()
        assert threading.active_count() == 2
        assert low_level.get_config(partner.id).gil == "own"
        assert partner.is_running()

    _run(PingPong(rounds=3), StateMeter(partner_running))


@needs_interpreters
def test_producers_and_consumers_are_parked_in_their_interpreters_before_the_region() -> None:
    spec = ProducerConsumer(producers=2, consumers=3, capacity=2, items=11)

    def all_parked() -> None:
        tasks = _alive_interpreters()[1:]
        assert len(tasks) == 5 and all(task.is_running() for task in tasks)
        assert threading.active_count() == 6

    _run(spec, StateMeter(all_parked))


@needs_interpreters
def test_the_pool_s_workers_start_before_the_region_and_no_interpreter_inside_it() -> None:
    workers = affinity.usable_cpus()

    def pool_ready() -> None:
        assert len(_alive_interpreters()) == 1 + workers

    _run(FanOut(tasks=7, work="cpu", cpu_iterations=1), StateMeter(pool_ready, pool_ready))


@needs_interpreters
def test_spawn_creates_and_closes_every_interpreter_inside_the_region() -> None:
    def only_the_main_interpreter() -> None:
        assert len(_alive_interpreters()) == 1

    _run(Spawn(tasks=4), StateMeter(only_the_main_interpreter, only_the_main_interpreter))


@needs_interpreters
def test_memory_measures_idle_interpreters_without_threads() -> None:
    def idle() -> None:
        tasks = _alive_interpreters()[1:]
        assert len(tasks) == 6 and not any(task.is_running() for task in tasks)
        assert threading.active_count() == 1

    _run(Memory(tasks=6), StateMeter(at_stop=idle))


needs_thread_switches = pytest.mark.skipif(
    not THREAD_SWITCHES, reason="needs per-thread context switch counts (Linux)"
)


@needs_interpreters
@needs_thread_switches
def test_a_fifo_larger_than_the_capacity_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.models import _interpreters

    real = _interpreters.create_queue
    capacity, items = SIZES[0]

    def one_too_many(maxsize: int = 0) -> Any:
        return real(maxsize + 1 if maxsize == capacity else maxsize)

    monkeypatch.setattr(_interpreters, "create_queue", one_too_many)
    counts = measure(MODEL, capacity, items)
    assert counts.parallel
    with pytest.raises(AssertionError, match=f"more than Q={capacity} items were in flight"):
        check_contract("subinterpreters with a FIFO one too large", counts)


@needs_interpreters
@pytest.mark.parametrize("fault", FAULTS)
def test_pingpong_fails_when_the_partner_does_not_hand_back_its_token(
    monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setattr(model, "_pingpong_partner", interpreter_doubles.PARTNERS[fault])
    nothing_left = NothingLeft()
    assert_caught(MODEL.name, fault)
    # The partner, waiting for a token that would not come, was stopped and its interpreter
    # closed.
    nothing_left.check()
    assert len(_alive_interpreters()) == 1


@needs_interpreters
def test_a_failing_task_is_raised_and_every_other_one_stopped() -> None:
    from bench.models._interpreters import interpreters

    # The consumer fails on item 5, leaving the producers waiting on a full FIFO.
    spec = interpreter_doubles.FailingConsumption(producers=2, consumers=1, capacity=1, items=20)
    nothing_left = NothingLeft()
    with pytest.raises(interpreters.ExecutionFailed, match="ArithmeticError: consumer failed"):
        _run(spec)
    nothing_left.check()
    assert len(_alive_interpreters()) == 1
