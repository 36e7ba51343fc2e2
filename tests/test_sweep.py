"""Scaling sweeps: the analysis (series, where scaling stops, the slope fit), the runner's skip
rules, and a real sweep at tiny sizes through the runner."""

from __future__ import annotations

import math
import random
from pathlib import Path
from types import ModuleType

import pyperf
import pytest

from bench.analysis.sweep import (
    Series,
    fit_line,
    scaling,
    split_params,
    sweep_series,
    t_quantile_975,
)
from bench.measure.cells import Cell
from bench.registry import get_model
from bench.results import schema
from bench.results.schema import Entry, Gap, Missing, Point
from bench.spec.models import Model, ModelRecord
from bench.spec.workloads import SWEEP_MATRIX, FanOut, Memory, ProducerConsumer
from runners.sweeps import order_cells, skip_reason, sweep_report
from tests.runs import gaps, load
from tests.runs import run_runner as run

FAN_FIXED = "work=sleep,delay_ms=1.0,cpu_iterations=100"


def fan(n: int) -> str:
    return FanOut(tasks=n, work="sleep").params


# --- fit_line ---------------------------------------------------------------------------------


def test_fit_recovers_a_known_slope_from_noisy_data() -> None:
    rng = random.Random(20261130)
    xs = [n for n in (10, 100, 1000, 10_000) for _ in range(5)]
    ys = [4e6 + 1500.0 * x + rng.gauss(0, 3e5) for x in xs]
    fit = fit_line(xs, ys)
    assert fit.slope_low < 1500.0 < fit.slope_high
    assert fit.slope == pytest.approx(1500.0, rel=0.02)
    assert fit.intercept == pytest.approx(4e6, rel=0.1)
    assert 0.99 < fit.r_squared < 1.0
    assert fit.points == 20
    assert fit.sizes == (10, 100, 1000, 10_000)


def test_exact_data_gives_r_squared_one_and_a_zero_width_interval() -> None:
    xs = [10, 100, 1000, 10_000, 100_000]
    fit = fit_line(xs, [123_456 + 6144 * x for x in xs])
    assert (fit.slope, fit.intercept, fit.r_squared) == (6144.0, 123_456.0, 1.0)
    assert fit.slope_low == fit.slope_high == 6144.0


def test_two_points_fit_exactly_without_an_interval() -> None:
    fit = fit_line([1, 3], [10, 30])
    assert fit.slope == 10.0 and fit.intercept == 0.0 and fit.r_squared == 1.0
    assert fit.slope_low == -math.inf and fit.slope_high == math.inf


@pytest.mark.parametrize(
    ("xs", "ys", "message"),
    [
        ([], [], "at least 2 distinct sizes"),
        ([5, 5, 5], [1, 2, 3], "at least 2 distinct sizes, got 1"),
        ([1, 2], [1], "2 x values but 1 y values"),
        ([1, 2, 3], [1, math.nan, 3], "non-finite"),
    ],
)
def test_fit_rejects_what_no_line_goes_through(
    xs: list[float], ys: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_line(xs, ys)


def test_t_quantiles_match_the_table_and_its_continuation() -> None:
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile_975(30) == pytest.approx(2.0423, abs=1e-4)
    # beyond the table: the expansion, against published values
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-4)
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=1e-4)
    assert t_quantile_975(10**6) == pytest.approx(1.95996, abs=1e-5)
    assert t_quantile_975(0) == math.inf


# --- series and scaling -----------------------------------------------------------------------


def test_split_params_separates_the_size() -> None:
    assert split_params("fan_out", fan(100)) == (FAN_FIXED, 100)
    pc = ProducerConsumer(producers=8, consumers=8, items=100).params
    assert split_params("producer_consumer", pc) == (
        "capacity=64,items=100,work=none,cpu_iterations=100",
        8,
    )
    unequal = ProducerConsumer(producers=2, consumers=3, items=100).params
    assert split_params("producer_consumer", unequal) is None
    assert split_params("pingpong", "rounds=5") is None
    assert split_params("fan_out", "work=cpu") is None


def test_series_group_by_model_and_fixed_parameters() -> None:
    points = [
        Point("fan_out", fan(100), "asyncio", 3e-5),
        Point("fan_out", fan(1), "asyncio", 1e-3),
        Point("fan_out", fan(10), "asyncio", 1e-4),
        Point("fan_out", fan(1), "threads", 1e-3),
        Point("fan_out", fan(10), "threads", 2e-4),
        # another fixed parameter set: a curve of its own
        Point("fan_out", FanOut(tasks=1, work="cpu").params, "asyncio", 1e-5),
        Point("fan_out", FanOut(tasks=10, work="cpu").params, "asyncio", 1e-5),
        # a single size is no curve
        Point("fan_out", fan(1), "gevent", 1e-3),
        # P != C is not a sweep point; P = C is
        Point("producer_consumer", ProducerConsumer(2, 3, items=50).params, "asyncio", 1e-6),
        Point("producer_consumer", ProducerConsumer(1, 1, items=50).params, "asyncio", 1e-6),
        Point("producer_consumer", ProducerConsumer(5, 5, items=50).params, "asyncio", 2e-6),
        Point("pingpong", "rounds=5", "asyncio", 1e-6),
    ]
    missing = [
        Missing("fan_out", fan(1000), "threads", "skipped: time limit: ..."),
        Missing("fan_out", fan(10_000), "threads", "skipped: not run: ..."),
        Missing("fan_out", fan(10), "gevent", "failed: timed out"),
    ]
    found = {(s.workload, s.fixed, s.model): s for s in sweep_series(points, missing)}
    assert set(found) == {
        ("fan_out", FAN_FIXED, "asyncio"),
        ("fan_out", FAN_FIXED, "threads"),
        ("fan_out", FAN_FIXED, "gevent"),
        ("fan_out", "work=cpu,delay_ms=1.0,cpu_iterations=100", "asyncio"),
        ("producer_consumer", "capacity=64,items=50,work=none,cpu_iterations=100", "asyncio"),
    }
    asyncio = found["fan_out", FAN_FIXED, "asyncio"]
    assert asyncio.sizes == (1, 10, 100)
    assert asyncio.values == (1e-3, 1e-4, 3e-5)
    assert asyncio.unreached == ()
    threads = found["fan_out", FAN_FIXED, "threads"]
    assert threads.sizes == (1, 10)
    assert threads.unreached == (
        (1000, "skipped: time limit: ..."),
        (10_000, "skipped: not run: ..."),
    )
    gevent = found["fan_out", FAN_FIXED, "gevent"]
    assert gevent.sizes == (1,) and gevent.unreached == ((10, "failed: timed out"),)
    pc = found["producer_consumer", "capacity=64,items=50,work=none,cpu_iterations=100", "asyncio"]
    assert pc.sizes == (1, 5)


def series(values: dict[int, float], unreached: tuple[tuple[int, str], ...] = ()) -> Series:
    sizes = tuple(sorted(values))
    return Series("fan_out", FAN_FIXED, "m", sizes, tuple(values[s] for s in sizes), unreached)


def test_scaling_finds_the_best_and_where_it_grows_past_twice_that() -> None:
    result = scaling(series({1: 1e-3, 10: 1e-4, 100: 5e-5, 1000: 9e-5, 10_000: 1.5e-4}))
    assert (result.best_size, result.best_value) == (100, 5e-5)
    assert result.stops_at == 10_000
    assert result.ratio_at_stop == pytest.approx(3.0)


def test_scaling_that_never_doubles_does_not_stop() -> None:
    reason = ((1000, "skipped: time limit: ..."),)
    result = scaling(series({1: 1e-3, 10: 2e-3, 100: 1e-3}, reason), factor=2.0)
    assert result.best_size == 1
    # exactly 2x is not more than 2x
    assert result.stops_at is None and result.ratio_at_stop is None
    assert result.unreached == reason


def test_scaling_needs_a_measured_size() -> None:
    with pytest.raises(ValueError, match="no measured size"):
        scaling(series({}, ((1, "failed: x"),)))


# --- the runner's sweep rules -----------------------------------------------------------------


def fake_model(limits: dict[str, int] | None = None) -> Model:
    record = ModelRecord(
        name="fake", summary="a fake model", primitives={}, sweep_limits=limits or {}
    )
    return Model(record, ModuleType("fake"))


def timed(cell: Cell, per_op: float) -> Entry:
    metadata = {
        "name": cell.name,
        "unit": "second",
        **{k: v for k, v in cell.metadata().items() if k in ("workload", "params", "model")},
        "ops_per_run": cell.spec.ops,
    }
    run = pyperf.Run([per_op], metadata=metadata, collect_metadata=False)
    return Entry.from_pyperf(pyperf.Benchmark([run]))


def gap(cell: Cell, status: str, reason: str) -> Gap:
    spec = cell.spec
    return Gap(cell.name, spec.workload, spec.params, cell.model.name, status, reason)  # type: ignore[arg-type]


def test_sweep_cells_run_in_ascending_size_per_series() -> None:
    model = fake_model()
    specs = [FanOut(tasks=n, work="sleep") for n in (100, 1, 10)] + [Memory(tasks=20)]
    specs += [Memory(tasks=5)]
    ordered = order_cells([Cell(model, spec) for spec in specs])
    assert [(c.spec.workload, c.spec.ops) for c in ordered] == [
        ("fan_out", 1), ("fan_out", 10), ("fan_out", 100), ("memory", 5), ("memory", 20)
    ]  # fmt: skip


def test_a_size_after_a_gap_of_its_series_is_not_run() -> None:
    model = fake_model()
    small, mid, big = (Cell(model, FanOut(tasks=n, work="sleep")) for n in (1, 10, 100))
    other = Cell(fake_model(), FanOut(tasks=1, work="cpu"))
    gaps_so_far = [gap(mid, "skipped", "time limit: x"), gap(other, "failed", "boom")]
    assert skip_reason(small, [], gaps_so_far, 10.0, 300.0) is None
    assert skip_reason(big, [], gaps_so_far, 10.0, 300.0) == (
        "not run: N=10 already skipped (time limit: x)"
    )


def test_a_size_above_the_models_sweep_limit_is_skipped() -> None:
    model = fake_model({"memory": 100})
    assert skip_reason(Cell(model, Memory(tasks=100)), [], [], 10.0, 300.0) is None
    reason = skip_reason(Cell(model, Memory(tasks=1000)), [], [], 10.0, 300.0)
    assert reason is not None and reason.startswith("above the model's sweep limit: N=1,000")
    assert get_model("processes").sweep_limit("memory") is not None
    assert get_model("asyncio").sweep_limit("memory") is None


def test_a_run_projected_past_the_limit_is_skipped() -> None:
    model = fake_model()
    cells = [Cell(model, FanOut(tasks=n, work="sleep")) for n in (1, 10, 100, 1000)]
    measured = [timed(cells[0], 1e-3), timed(cells[1], 2e-4)]
    # projected from N=10 (the largest measured): 2e-4 s x 100 tasks = 20 ms
    assert skip_reason(cells[2], measured, [], 0.05, 300.0) is None
    reason = skip_reason(cells[2], measured, [], 0.01, 300.0)
    assert reason == (
        "time limit: one run would take about 20.0 ms (200 µs per task at N=10), "
        "above the 0.01 s limit; raise --sweep-run-limit"
    )


def test_memory_runs_are_projected_from_their_duration() -> None:
    model = fake_model()
    small, big = Cell(model, Memory(tasks=10)), Cell(model, Memory(tasks=1000))
    metadata = {"name": small.name, "unit": "byte", "workload": "memory",
                "params": small.spec.params, "model": "fake", "ops_per_run": 10}  # fmt: skip
    runs = [
        pyperf.Run([4096.0], metadata={**metadata, "duration": d, "memory_delta": 40960},
                   collect_metadata=False)
        for d in (0.01, 0.03)
    ]  # fmt: skip
    bench = Entry.from_pyperf(pyperf.Benchmark(runs))
    # a memory run is made only a few times: it may take 10x the limit
    assert skip_reason(big, [bench], [], 1.0, 300.0) is None
    reason = skip_reason(big, [bench], [], 0.1, 300.0)
    assert reason is not None
    assert "about 2.00 s (2.00 ms per task at N=10), above the 1 s limit of a memory run" in reason


def test_a_cell_extrapolated_past_the_cell_timeout_is_not_started() -> None:
    model = fake_model()
    cells = [Cell(model, ProducerConsumer(n, n, items=20_000)) for n in (1, 10, 100, 1000)]
    # the per-item time stays small (the tasks are set up outside the region) ...
    timings = zip(cells[:3], (1e-6, 1e-6, 2e-6), (5.0, 6.0, 15.0), strict=True)
    measured = [
        timed(cell, per_op).with_metadata({"cell_seconds": seconds})
        for cell, per_op, seconds in timings
    ]
    # ... but the cell grew by 9 s from N=10 to N=100: about 105 s at N=1,000
    assert skip_reason(cells[3], measured, [], 2.0, 120.0) is None
    reason = skip_reason(cells[3], measured, [], 2.0, 60.0)
    assert reason == (
        "time limit: the cell would take about 105 s (extrapolated from 6 s at N=10 and 15 s "
        "at N=100), more than --cell-timeout (60 s)"
    )
    # one measured size is not enough to extrapolate
    assert skip_reason(cells[3], measured[2:], [], 2.0, 1.0) is None


def test_the_report_states_where_scaling_stops_and_the_memory_slope() -> None:
    model = fake_model()
    fan_cells = [Cell(model, FanOut(tasks=n, work="sleep")) for n in (1, 10, 100)]
    benches = [timed(c, v) for c, v in zip(fan_cells, (1e-3, 1e-4, 5e-4), strict=True)]
    for n in (10, 100, 1000):
        cell = Cell(model, Memory(tasks=n))
        meta = {"name": cell.name, "unit": "byte", "workload": "memory",
                "params": cell.spec.params, "model": "fake", "ops_per_run": n}  # fmt: skip
        runs = [
            pyperf.Run([(5000 + 1024 * n + e) / n], metadata={**meta, "memory_delta": 5000 +
                       1024 * n + e}, collect_metadata=False)
            for e in (-10, 10)
        ]  # fmt: skip
        benches.append(Entry.from_pyperf(pyperf.Benchmark(runs)))
    gaps_so_far = [gap(Cell(model, FanOut(tasks=1000, work="sleep")), "skipped", "time limit: y")]
    text = sweep_report(benches, gaps_so_far)
    # The report's words (bench.analysis.findings), not a second prose of the runner's.
    assert (
        "fake  time per task grows 5.0\N{MULTIPLICATION SIGN} over its best (100 µs at N=10) at "
        "N=100; could not reach N=1,000 (skipped: time limit: y)"
    ) in text
    assert (
        "fake  slope 1.00 KiB (95% interval 1.00 KiB to 1.00 KiB, R\N{SUPERSCRIPT TWO} = 1.000, "
        "N = 10, 100, 1,000)"
    ) in text


# --- through the runner -----------------------------------------------------------------------


def test_the_sweep_matrix_has_the_issues_sizes() -> None:
    sizes: dict[str, set[int]] = {}
    for spec, scope in SWEEP_MATRIX:
        assert scope == "all"
        found = split_params(spec.workload, spec.params)
        assert found is not None
        sizes.setdefault(spec.workload, set()).add(found[1])
    assert sizes == {
        "fan_out": {1, 10, 100, 1000, 10_000, 100_000},
        "producer_consumer": {1, 10, 100, 1000, 10_000},
        "memory": {10, 100, 1000, 10_000, 100_000},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sweep", "--matrix", "smoke"), "give --sweep or --matrix, not both"),
        (("--sweep", "--spec", "fan_out:tasks=3"), "give --sweep or --spec, not both"),
        (("--sweep-run-limit", "1"), "--sweep-run-limit applies to sweeps only"),
        (("--sweep", "--sweep-run-limit", "0"), "--sweep-run-limit must be more than 0"),
    ],
)
def test_sweep_options_are_checked_in_one_line(args: tuple[str, ...], message: str) -> None:
    result = run(*args, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


MODELS = ("generators", "threads")


@pytest.mark.slow(seconds=6)
@pytest.mark.timeout(180)
def test_a_tiny_sweep_measures_every_size_and_prints_the_slope(tmp_path: Path) -> None:
    output = tmp_path / "sweep.json"
    result = run(
        "--debug-single-value", "--matrix", "sweep-smoke", "--models", ",".join(MODELS),
        "--no-profile", "--no-latency", "-o", str(output), timeout=170,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    stored = schema.load(output)
    assert stored.gaps == ()
    points = {(entry.workload, entry.params, entry.model) for entry in stored.entries}
    expected = {
        (workload, params, model)
        for model in MODELS
        for workload, params in [
            *(("fan_out", fan(n)) for n in (1, 3, 9)),
            *(
                ("producer_consumer", ProducerConsumer(n, n, capacity=2, items=9).params)
                for n in (1, 3, 9)
            ),
            *(("memory", Memory(tasks=n).params) for n in (5, 10, 20)),
        ]
    }
    assert points == expected
    text = result.stdout[result.stdout.index("Scaling sweep") :]
    lines = [line.split(maxsplit=2) for line in text.splitlines() if line.startswith("  ")]
    for model in MODELS:
        said = [rest for name, first, rest in lines if name == model]
        assert any(rest.startswith("per task ") for rest in said), text
        assert any(rest.startswith("per item ") for rest in said), text
        assert any(" (95% interval " in rest for rest in said), text
        assert [first for name, first, _ in lines if name == model] == ["time", "time", "slope"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sizes_that_would_take_too_long_are_skipped_with_the_reason(tmp_path: Path) -> None:
    output = tmp_path / "sweep.json"
    # one task sleeps 1 ms, so N=3 takes at least 3 ms: above a 2 ms limit whatever the model
    result = run(
        "--debug-single-value", "--matrix", "sweep-smoke", "--models", "generators",
        "--workloads", "fan_out", "--no-profile", "--sweep-run-limit", "0.002",
        "-o", str(output), timeout=110,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = load(output)
    found = gaps(data)
    assert len(data["benchmarks"]) == 1
    n3 = found[f"fan_out[{fan(3)}]/generators"]
    assert n3["status"] == "skipped"
    assert n3["reason"].startswith("time limit: one run would take about ")
    assert "per task at N=1), above the 0.002 s limit; raise --sweep-run-limit" in n3["reason"]
    n9 = found[f"fan_out[{fan(9)}]/generators"]
    assert n9["status"] == "skipped"
    assert n9["reason"] == f"not run: N=3 already skipped ({n3['reason']})"
    assert "; could not reach N=3 (skipped: time limit" in result.stdout
