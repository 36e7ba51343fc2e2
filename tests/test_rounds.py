"""Interleaved rounds and the stopping rule (issue 14), driven by synthetic samples and fake
workers: no process is started and nothing is timed.

- ``round_order``: every cell takes every place in the round equally often.
- The stopping rule: a cell stops once its mean is precise enough, never before its minimum
  rounds, and at its time budget or maximum rounds otherwise, with the precision it reached.
- A row: rounds go on while any cell samples, a cell that stopped is no longer measured, a
  failed cell becomes a gap without stopping the others, an interrupted row keeps nothing, and
  every run is tagged with its round, place and session.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyperf
import pytest

from bench.measure.cells import Cell
from bench.measure.sampling import CellSampling, SamplingRule, loops_for, round_order
from bench.registry import get_model
from bench.spec.precision import run_mean_precision
from bench.spec.workloads import Memory, PingPong, Spawn
from runners import rounds
from runners.campaign import _units
from runners.rounds import Interrupted, ProcessFailed, RowRunner, measure_row
from runners.supervisor import Finished
from runners.verdict import Failed

SPEC = PingPong(rounds=5)
# How every fake worker or probe ended: cleanly, in half a second.
FINISHED = Finished(returncode=0, elapsed=0.5)


def _cells(*models: str) -> list[Cell]:
    return [Cell(get_model(name), SPEC) for name in models]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_every_cell_takes_every_place_equally_often(count: int) -> None:
    cells = list(range(count))
    places: Counter[tuple[int, int]] = Counter()
    followers: Counter[tuple[int, int]] = Counter()
    for number in range(1, 2 * count + 1):
        order = round_order(cells, number)
        assert sorted(order) == cells
        places.update((cell, place) for place, cell in enumerate(order))
        followers.update(itertools.pairwise(order))
    assert set(places.values()) == {2}
    # each ordered pair of neighbours occurs about as often as any other
    if count > 1:
        assert len(followers) == count * (count - 1)
        assert max(followers.values()) - min(followers.values()) <= (2 if count % 2 else 0)


def test_the_order_changes_from_round_to_round() -> None:
    assert [round_order(["a", "b"], n) for n in (1, 2, 3)] == [["a", "b"], ["b", "a"], ["a", "b"]]
    assert [round_order(["a", "b", "c"], n) for n in range(1, 8)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
        ["c", "b", "a"], ["a", "c", "b"], ["b", "a", "c"], ["a", "b", "c"],
    ]  # fmt: skip
    assert round_order(list("abcd"), 1) == list("abdc")
    assert round_order([], 5) == []


def test_precision_is_students_t_over_the_run_means() -> None:
    means = [1.0, 1.02, 0.98, 1.0]
    expected = 3.182 * statistics.stdev(means) / math.sqrt(4) / statistics.fmean(means)
    assert run_mean_precision(means) == pytest.approx(expected)
    assert run_mean_precision([1.0]) is None
    assert run_mean_precision([0.0, 0.0]) is None


def test_loops_follow_pyperfs_rule() -> None:
    assert loops_for(0.2, 0.1) == 1
    assert loops_for(0.1, 0.1) == 1
    assert loops_for(0.03, 0.1) == 4
    assert loops_for(1e-6, 0.1) == 131072
    with pytest.raises(ValueError, match="cannot size its loops"):
        loops_for(0.0, 0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0.0}, "precision target"),
        ({"min_rounds": 0}, "rounds"),
        ({"min_rounds": 5, "max_rounds": 4}, "rounds"),
        ({"budget_seconds": 0.0}, "time budget"),
    ],
)
def test_a_rule_that_cannot_work_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingRule(**kwargs)


def _sample(values: list[float], rule: SamplingRule, seconds: float = 0.1) -> CellSampling:
    """Feed one value per round until the rule stops the cell (or the values run out)."""
    cell = CellSampling()
    for value in values:
        cell.add([value], seconds)
        if cell.decide(rule) is not None:
            break
    return cell


def test_a_stable_cell_stops_once_precise_but_not_before_its_minimum_rounds() -> None:
    rule = SamplingRule(target=0.02, min_rounds=3, max_rounds=20, budget_seconds=100.0)
    # identical values: an interval of zero after two rounds, but three are the minimum
    cell = _sample([1.0] * 10, rule)
    assert (cell.rounds, cell.stopped, cell.precision) == (3, "reached", 0.0)


def test_a_noisy_cell_goes_on_until_precise() -> None:
    rule = SamplingRule(target=0.02, min_rounds=3, max_rounds=50, budget_seconds=100.0)
    noisy = [1.0, 1.06, 0.95, 1.04, 0.97, 1.02, 0.99, 1.01, 1.0, 0.98, 1.02, 1.0]
    cell = _sample(noisy, rule)
    assert cell.stopped == "reached" and cell.rounds > 3
    assert cell.precision is not None and cell.precision <= 0.02
    # one round fewer was not enough
    assert run_mean_precision(cell.run_means[:-1]) > 0.02  # type: ignore[operator]


def test_a_cell_that_never_settles_stops_at_its_budget_with_what_it_reached() -> None:
    swings = [1.0, 1.5] * 20
    by_time = _sample(swings, SamplingRule(max_rounds=40, budget_seconds=0.55), seconds=0.1)
    assert (by_time.rounds, by_time.stopped) == (6, "budget")
    assert by_time.precision is not None and by_time.precision > 0.02
    by_rounds = _sample(swings, SamplingRule(max_rounds=4, budget_seconds=100.0))
    assert (by_rounds.rounds, by_rounds.stopped) == (4, "budget")


def test_one_round_states_no_interval_and_stops() -> None:
    cell = _sample([1.0], SamplingRule(min_rounds=1, max_rounds=1))
    assert (cell.rounds, cell.stopped, cell.precision) == (1, "budget", None)


def test_a_stopped_cell_stays_stopped() -> None:
    rule = SamplingRule(min_rounds=2, max_rounds=10)
    cell = _sample([1.0, 1.0], rule)
    assert cell.stopped == "reached"
    cell.add([5.0], 0.1)
    assert cell.decide(rule) == "reached"


# --- a row, with fake workers -------------------------------------------------------------


def _args(**overrides: Any) -> argparse.Namespace:
    values = {
        "precision": 0.02, "min_rounds": 3, "max_rounds": 8, "cell_budget": 100.0,
        "debug_single_value": False, "fast": False, "no_profile": True, "no_latency": True,
        "loops": 4, "values": 2, "warmups": 1, "min_time": 0.1, "start_method": "fork",
        "verbose": 0, "affinity": None, "hook": ["concbench_gil"], "copy_env": False,
        "inherit_environ": [], "locale": False, "cell_timeout": 60.0,
    }  # fmt: skip
    return argparse.Namespace(**{**values, **overrides})


class FakeRunner(RowRunner):
    """Workers that return synthetic runs: per model, an iterator of values (one value list
    per round), or an exception to raise."""

    def __init__(self, args: argparse.Namespace, streams: dict[str, Any]) -> None:
        super().__init__(args, "s3ss10n", lambda _: None, lambda: False)
        self.streams = streams
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.values: int | None = None

    def worker(
        self, cell: Cell, loops: int | None, tags: dict[str, Any], values: int | None = None
    ) -> tuple[pyperf.Benchmark, Any]:
        model = cell.model.name
        self.calls.append((model, tags))
        self.values = values
        stream = self.streams[model]
        if isinstance(stream, BaseException):
            raise stream
        sample: list[float] = next(stream)
        run = pyperf.Run(
            sample,
            warmups=[(loops or 1, sample[0])],
            metadata={"name": cell.name, "unit": "second", "loops": loops, **tags},
            collect_metadata=False,
        )
        return pyperf.Benchmark([run]), FINISHED

    def probe(self, cell: Cell, kind: str) -> tuple[dict[str, Any], Any]:
        raise AssertionError("no probe in these tests")


def _steady(value: float) -> Iterator[list[float]]:
    return itertools.repeat([value, value])


def _swinging() -> Iterator[list[float]]:
    return itertools.cycle([[1.0, 1.0], [2.0, 2.0]])


def test_a_row_samples_until_each_cell_stops_and_tags_every_run() -> None:
    runner = FakeRunner(_args(), {"serial": _steady(1e-6), "generators": _swinging()})
    lines: list[str] = []
    result = measure_row(runner, _cells("serial", "generators"), lines.append)
    assert not result.gaps and set(result.entries) == {
        c.name for c in _cells("serial", "generators")
    }
    by_model = Counter(model for model, _ in runner.calls)
    # the steady cell stops at its minimum rounds; the swinging one runs to its maximum
    assert by_model == {"serial": 3, "generators": 8}
    assert len(lines) == 8 and lines[0].startswith("round 1: ")
    # rounds 1-3 hold both cells, in an order that changes; then only the one still sampling
    first_rounds = [model for model, tags in runner.calls if tags["round"] <= 3]
    assert first_rounds == ["serial", "generators", "generators", "serial", "serial", "generators"]
    for _model, tags in runner.calls:
        assert tags["rounds_session"] == "s3ss10n"
    serial = result.entries["pingpong[rounds=5]/serial"]
    tagged = [(serial.run_metadata(run)["round"], serial.run_metadata(run)["round_position"])
              for run in serial.runs]  # fmt: skip
    assert tagged == [(1, 0), (2, 1), (3, 0)]
    assert serial.metadata["rounds"] == 3 and serial.metadata["sampling_stop"] == "reached"
    swinging = result.entries["pingpong[rounds=5]/generators"].metadata
    assert swinging["sampling_stop"] == "budget" and swinging["precision_reached"] > 0.02


def test_a_failed_cell_is_a_gap_and_the_row_goes_on() -> None:
    failure = ProcessFailed(Failed("a pyperf worker exited with status 3"), ("boom",))
    runner = FakeRunner(_args(), {"serial": _steady(1e-6), "generators": failure})
    result = measure_row(runner, _cells("serial", "generators"), lambda _: None)
    assert set(result.entries) == {"pingpong[rounds=5]/serial"}
    assert result.gaps == {"pingpong[rounds=5]/generators": failure.verdict}
    assert result.output["pingpong[rounds=5]/generators"] == ("boom",)
    assert [model for model, _ in runner.calls].count("generators") == 1


def test_an_interrupted_row_keeps_nothing() -> None:
    runner = FakeRunner(_args(), {"serial": _steady(1e-6), "generators": Interrupted()})
    result = measure_row(runner, _cells("serial", "generators"), lambda _: None)
    assert result.interrupted and not result.entries and not result.gaps


def test_one_round_with_debug_single_value() -> None:
    runner = FakeRunner(_args(debug_single_value=True), {"serial": _steady(1e-6)})
    result = measure_row(runner, _cells("serial"), lambda _: None)
    assert len(runner.calls) == 1 and set(result.entries) == {"pingpong[rounds=5]/serial"}


def test_rows_group_the_timed_cells_of_one_spec() -> None:
    spawn, memory = Spawn(tasks=5), Memory(tasks=5)
    cells = [
        *_cells("serial", "generators"),
        Cell(get_model("serial"), spawn),
        Cell(get_model("generators"), spawn),
        Cell(get_model("generators"), memory),
        Cell(get_model("threads"), memory),
    ]
    units = _units(cells, interleave=True)
    assert [len(unit) for unit in units] == [2, 2, 1, 1]
    assert [len(unit) for unit in _units(cells, interleave=False)] == [1] * 6


def test_a_worker_is_started_as_pyperfs_manager_would_with_the_rounds_tags() -> None:
    cell = _cells("serial")[0]
    tags = {"round": 2, "round_position": 1, "rounds_session": "abc"}
    argv = rounds.worker_argv(_args(affinity="1"), cell, 64, tags)
    joined = " ".join(argv)
    for part in ("-m runners.run --worker --worker-task=0", "--values 2", "--min-time 0.1",
                 "--warmups 1", "--loops 64", "--affinity=1", "--hook concbench_gil",
                 f"--cell {cell.name}", "--start-method fork", "--round 2",
                 "--round-position 1", "--rounds-session abc"):  # fmt: skip
        assert part in joined, part
    assert "--calibrate-loops" in rounds.worker_argv(_args(), cell, None, {})


def test_a_worker_gets_the_variables_pyperf_would_hand_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_GIL", "0")
    monkeypatch.setenv("CONCBENCH_UNRELATED", "x")
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")  # one the runner forwards
    environ = rounds.worker_environ(_args(), {"EXTRA": "1"})
    assert environ["PYTHON_GIL"] == "0" and environ["EXTRA"] == "1"
    assert environ["PYTHONASYNCIODEBUG"] == "1"
    assert "CONCBENCH_UNRELATED" not in environ
    assert "CONCBENCH_UNRELATED" in rounds.worker_environ(_args(copy_env=True), {})


class ProfilingFakeRunner(FakeRunner):
    """Its profile probe reports one run of ``region`` seconds."""

    def __init__(self, args: argparse.Namespace, streams: dict[str, Any], region: float) -> None:
        super().__init__(args, streams)
        self.region = region
        self.kinds: list[str] = []

    def probe(self, cell: Cell, kind: str) -> tuple[dict[str, Any], Any]:
        self.kinds.append(kind)
        profile = {
            "runs": 1, "ops": cell.spec.ops, "wall_per_op": self.region / cell.spec.ops,
            "cpu_user_per_op": 0.0, "cpu_system_per_op": 0.0, "ctx_voluntary_per_op": 0.0,
            "ctx_involuntary_per_op": 0.0, "peak_rss_self": 1, "peak_rss_children_max": 0,
            "gil_measured": "enabled",
        }  # fmt: skip
        return profile, FINISHED


@pytest.mark.parametrize(
    ("region", "loops", "values"), [(0.001, 64, 2), (0.06, 1, 2), (0.3, 1, 1), (3.0, 1, 1)]
)
def test_loops_come_from_the_profile_and_long_runs_make_one_value(
    region: float, loops: int, values: int
) -> None:
    args = _args(no_profile=False, loops=None, min_time=0.05)
    runner = ProfilingFakeRunner(args, {"serial": _steady(1e-6)}, region)
    result = measure_row(runner, [Cell(get_model("serial"), Spawn(tasks=5))], lambda _: None)
    entry = result.entries["spawn[tasks=5]/serial"]
    assert runner.kinds == ["profile"]  # spawn has no latency pass to join it
    assert entry.metadata["loops_source"] == "profile pass"
    assert {entry.run_metadata(run)["loops"] for run in entry.runs} == {loops}
    assert runner.values == values
