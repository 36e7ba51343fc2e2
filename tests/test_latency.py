"""The latency pass: percentiles, the CDF grid, the cross-process recorder, the instrumented
specs and the pass itself on every model at tiny sizes (counts and order, never timings)."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import pyperf
import pytest

from bench.measure import latency, mpcontext
from bench.measure.cells import Cell, reference
from bench.measure.latency import (
    CDF_GRID,
    LatencyError,
    LatencyPass,
    Recorder,
    instrument,
    summarize,
)
from bench.registry import get_model
from bench.results import schema
from bench.results.schema import Entry, LatencyRecord, ResultFile
from bench.spec.resolution import RESOLUTION, is_resolved
from bench.spec.workloads import FanOut, PingPong, ProducerConsumer, Spawn, Spec
from runners import campaign as conductor
from runners.probe_passes import measure_latency
from runners.supervisor import Finished
from runners.verdict import Failed, Measured
from tests.helpers import TINY_MATRIX
from tests.runs import run_runner

LATENCY_SPECS = [spec for spec, _ in TINY_MATRIX if latency.supports(spec.workload)]


def _spec_id(spec: Spec) -> str:
    return f"{spec.workload}[{spec.params}]"


def test_a_latency_record_stores_the_same_numbers_as_before_the_quantile_moved() -> None:
    # Values that summarize and cdf gave for this fixed input before the quantile rule moved to
    # bench.spec.quantiles (and became the bootstrap's too): a record's numbers must not change.
    rng = random.Random(11)
    samples = [rng.expovariate(1e6) for _ in range(1237)]
    assert summarize(samples) == {
        "count": 1237,
        "p50": 7.241985762653756e-07,
        "p90": 2.3577726878424105e-06,
        "p99": 4.822371088428159e-06,
        "p99.9": 7.1282551853712185e-06,
        "max": 9.088261267600269e-06,
    }
    pooled = json.dumps(latency.cdf(samples)).encode()
    assert hashlib.sha256(pooled).hexdigest() == (
        "8373909673ee8bbc301e06991baab982b22ceb2bb85ecc7513fb546b10b11566"
    )


def test_summary_counts_and_orders_its_percentiles() -> None:
    summary = summarize([3.0, 1.0, 2.0, 10.0])
    assert summary["count"] == 4 and summary["max"] == 10.0
    assert summary["p50"] == 2.5
    order = [summary[key] for key in ("p50", "p90", "p99", "p99.9", "max")]
    assert order == sorted(order)


def test_cdf_grid_is_the_documented_one() -> None:
    assert len(CDF_GRID) == 1 + 99 + 9 + 1 + 1
    assert CDF_GRID[0] == 0.0 and CDF_GRID[-1] == 1.0
    assert list(CDF_GRID) == sorted(set(CDF_GRID))
    for q in (0.01, 0.5, 0.99, 0.991, 0.995, 0.999, 0.9999):
        assert q in CDF_GRID
    pairs = latency.cdf([5.0, 1.0, 3.0])
    assert [q for q, _ in pairs] == list(CDF_GRID)
    assert pairs[0][1] == 1.0 and pairs[-1][1] == 5.0
    assert [v for _, v in pairs] == sorted(v for _, v in pairs)


def _stamp_in_child(recorder: Recorder, slots: range) -> None:
    for slot in slots:
        recorder.stamp(slot)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_recorder_collects_stamps_from_a_child_process(method: str) -> None:
    if method not in mpcontext.available_methods():
        pytest.skip(f"no {method} here")
    fork = method == "fork"
    ctx = multiprocessing.get_context("fork") if fork else multiprocessing.get_context("spawn")
    with Recorder(6) as recorder:
        recorder.stamp(0)
        child = ctx.Process(target=_stamp_in_child, args=(recorder, range(1, 6)))
        child.start()
        child.join()
        assert child.exitcode == 0
        stamps = recorder.read(0, 6, "stamps")
        assert all(math.isfinite(stamp) for stamp in stamps)
        path = Path(recorder.path)
        assert path.exists()
    assert not path.exists()


def test_the_recorder_pickles_as_its_path_and_counts_missing_and_repeated_stamps() -> None:
    with Recorder(3) as recorder:
        assert len(pickle.dumps(recorder)) < 200 + len(recorder.path)
        recorder.stamp(0)
        recorder.stamp(0)
        with pytest.raises(LatencyError, match="2 of 3 not stamped, 1 stamped more than once"):
            recorder.read(0, 3, "rounds")
        recorder.reset()
        with pytest.raises(LatencyError, match="3 of 3 not stamped"):
            recorder.read(0, 3, "rounds")


@pytest.mark.parametrize("spec", LATENCY_SPECS, ids=_spec_id)
def test_an_instrumented_spec_keeps_name_params_equality_and_reference(spec: Spec) -> None:
    with latency.recorder_for(spec) as recorder:
        timed = instrument(spec, recorder)
        assert type(timed) is not type(spec) and isinstance(timed, type(spec))
        assert (timed.workload, timed.params, timed.ops) == (spec.workload, spec.params, spec.ops)
        assert timed == spec and spec == timed and hash(timed) == hash(spec)
        assert timed.reference() == spec.reference() == reference(timed)
        again = pickle.loads(pickle.dumps(timed))
        assert type(again) is type(timed) and again == spec
        assert instrument(timed, recorder) == spec
        # Computing the reference stamped nothing.
        assert set(recorder.counts.tolist()) == {0.0}


def test_instrumented_hooks_stamp_where_the_operations_happen() -> None:
    spec = ProducerConsumer(producers=2, consumers=1, capacity=1, items=5)
    with latency.recorder_for(spec) as recorder:
        timed = instrument(spec, recorder)
        assert isinstance(timed, ProducerConsumer)
        assert list(timed.items_of(1)) == [1, 3]
        assert timed.consume((3, b"x")) == spec.consume((3, b"x"))
        assert [recorder.counts[slot] for slot in (1, 3, 5 + 3)] == [1.0, 1.0, 1.0]
    rounds = PingPong(rounds=3)
    with latency.recorder_for(rounds) as recorder:
        timed = instrument(rounds, recorder)
        assert isinstance(timed, PingPong)
        assert list(timed.each_round()) == [0, 1, 2]
        assert len(recorder.read(0, 4, "rounds")) == 4


def test_workloads_without_latency_are_refused() -> None:
    with pytest.raises(ValueError, match="spawn has no latency pass"):
        LatencyPass(Cell(get_model("serial"), Spawn(tasks=3)))


# The record is the pass's whatever the model: one model makes it. Every model through the
# latency hooks is a contract of every model (tests/test_contract.py).
RECORD_MODEL = "threads"


@pytest.mark.parametrize("spec", LATENCY_SPECS, ids=_spec_id)
def test_the_pass_counts_every_operation_and_orders_its_percentiles(spec: Spec) -> None:
    cell = Cell(get_model(RECORD_MODEL), spec)
    # resolution=None: whether the timer resolves these tiny cells is the machine's business.
    record = measure_latency(cell, max_wall_seconds=0.0, resolution=None)
    assert record["what"] == latency.describe(spec.workload) and record["unit"] == "second"
    assert record["batch"] == 1 and record["resolved"] is True
    expected = spec.rounds if isinstance(spec, PingPong) else spec.ops
    runs = record["runs"]
    assert isinstance(runs, list) and len(runs) == 3
    for run in runs:
        assert run["count"] == expected
        order = [run[key] for key in ("p50", "p90", "p99", "p99.9", "max")]
        assert order == sorted(order)
    quantiles = record["quantiles"]
    assert isinstance(quantiles, list) and [q for q, _ in quantiles] == list(CDF_GRID)
    assert [v for _, v in quantiles] == sorted(v for _, v in quantiles)
    assert isinstance(record["timer_cost"], float) and record["timer_cost"] > 0
    json.dumps(record, allow_nan=False)


@pytest.fixture
def spawn_method() -> Iterator[None]:
    if "spawn" not in mpcontext.available_methods():
        pytest.skip("no spawn here")
    previous = mpcontext.start_method()
    mpcontext.set_start_method("spawn")
    yield
    mpcontext.set_start_method(previous)


@pytest.mark.parametrize(
    "spec",
    [ProducerConsumer(producers=2, consumers=2, capacity=1, items=5), FanOut(tasks=3)],
    ids=_spec_id,
)
@pytest.mark.slow  # every task an interpreter of its own
def test_the_pass_reaches_spawned_processes(spawn_method: None, spec: Spec) -> None:
    with LatencyPass(Cell(get_model("processes"), spec)) as probe:
        samples, _ = probe.run()
        path = Path(probe.recorder.path)
    assert len(samples) == spec.ops
    assert not path.exists()


def test_fan_out_latency_is_from_the_start_of_the_fan_out() -> None:
    spec = FanOut(tasks=4, work="sleep", delay_ms=1.0)
    with LatencyPass(Cell(get_model("serial"), spec)) as probe:
        samples, elapsed = probe.run()
    # Serial tasks finish one after another, each after its sleep; the last one at the end.
    assert samples == sorted(samples)
    assert samples[0] >= spec.delay and samples[-1] <= elapsed


def _finished(result: object) -> Finished:
    return Finished(returncode=0, elapsed=1.0, result=json.dumps(result))


def _benchmark_json(name: str) -> object:
    run = pyperf.Run([1e-6], metadata={"name": name, "unit": "second"}, collect_metadata=False)
    return Entry.from_pyperf(pyperf.Benchmark([run])).to_json()


LATENCY_RUN = {"count": 5, "p50": 3e-8, "p90": 4e-8, "p99": 5e-8, "p99.9": 5e-8, "max": 5e-8}


def test_the_runner_keeps_latency_records_by_cell(tmp_path: Path) -> None:
    result_file = ResultFile(tmp_path / "r.json")
    result_file.claim()
    state = conductor.RunState(result_file, {})
    record = {
        "what": "w",
        "unit": "second",
        "timer_cost": 1e-7,
        "batch": 1,
        "batch_cost": 1e-7,
        "resolved": True,
        "runs": [LATENCY_RUN],
        "quantiles": [[0.0, 2e-8], [1.0, 5e-8]],
    }
    a, b = _benchmark_json("a"), _benchmark_json("b")
    for bench, pass_record in ((a, record), (b, None)):
        measured = {"verdict": "measured", "benchmark": bench, "latency": pass_record}
        verdict = conductor.judge(_finished(measured), 60.0)
        assert isinstance(verdict, Measured)
        state.record(verdict.entry)
    assert {entry.name: entry.latency for entry in state.entries} == {
        "a": LatencyRecord.from_json("a", record),
        "b": None,
    }
    broken = {"verdict": "measured", "benchmark": a, "latency": [1]}
    verdict = conductor.judge(_finished(broken), 60.0)
    assert isinstance(verdict, Failed) and "unreadable result" in verdict.reason
    assert os.path.getsize(result_file.path) == 0  # record() stores; save() writes
    state.save()
    assert json.loads(result_file.path.read_text())["concbench"]["latency"] == {"a": record}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_runner_stores_the_pass_and_no_latency_skips_it(tmp_path: Path) -> None:
    specs = ("--spec", "pingpong:rounds=5", "--spec", "spawn:tasks=3")
    common = ("--debug-single-value", "--no-profile", "--models", "generators", *specs)
    with_pass, without = tmp_path / "with.json", tmp_path / "without.json"
    assert run_runner(*common, "-o", str(with_pass)).returncode == 0
    assert run_runner(*common, "--no-latency", "-o", str(without)).returncode == 0
    stored = json.loads(with_pass.read_text())["concbench"]["latency"]
    name = "pingpong[rounds=5]/generators"
    assert list(stored) == [name]  # spawn has no latency pass
    record = stored[name]
    assert record["what"] == latency.describe("pingpong") and record["runs"][0]["count"] == 5
    entry = schema.load(with_pass).entry(name)
    assert entry is not None
    metadata = entry.metadata
    assert metadata["latency_samples"] == 5 and metadata["latency_runs"] == len(record["runs"])
    # 5 rounds are too few to batch; whether the timer resolves a generator switch is the
    # machine's business, but either way the record and the metadata agree.
    assert record["batch"] == metadata["latency_batch"] == 1
    if record["resolved"]:
        assert metadata["latency_p50"] <= metadata["latency_p999"]
    else:
        assert metadata["latency_unresolved"] == record["reason"]
        assert not any(key in metadata for key in ("latency_p50", "latency_p99"))
        assert set(record["runs"][0]) == {"count"} and "quantiles" not in record
    assert metadata["latency_what"] == record["what"]
    assert "latency" not in json.loads(without.read_text())["concbench"]
    assert not any("latency_p50" in entry.metadata for entry in schema.load(without).entries)


def test_orphaned_stamp_files_of_dead_owners_are_removed_and_live_ones_kept() -> None:
    import subprocess
    import sys

    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    orphan = Path(latency._shared_dir()) / f"{latency._PREFIX}{dead_owner.pid}-test"
    orphan.write_bytes(b"")
    with latency.Recorder(4) as live:
        assert latency.remove_orphans() == [str(orphan)]
        assert Path(live.path).exists()
    assert not orphan.exists()


# -- the timer's limit: batches of pingpong rounds, cells the timer cannot resolve ---------------

NS = 1e-9


@pytest.mark.parametrize(
    ("median_ns", "rounds", "batch"),
    [
        (20_000.0, 2000, 1),  # a thread switch: 20 us is far above 20 x 260 ns
        (4_300.0, 2000, 2),  # 2 x 4.3 us >= 5.2 us
        (468.0, 2000, 16),  # 16 x 468 ns = 7.5 us; 8 x 468 ns = 3.7 us is not enough
        (45.0, 20_000, 128),  # 116 rounds would do: the next power of two
        (45.0, 2000, 16),  # would need 128, capped: 2000 / 32 leaves fewer than 100 batches
        (45.0, 199, 1),  # fewer than 200 rounds: never batched
        (-5.0, 2000, 16),  # shorter than the timer's jitter: as many rounds as allowed
    ],
)
def test_the_batch_is_the_smallest_power_of_two_that_resolves_the_median_within_the_cap(
    median_ns: float, rounds: int, batch: int
) -> None:
    assert latency.choose_batch(median_ns * NS, 260 * NS, rounds) == batch


def test_the_cap_leaves_at_least_min_batches_per_run() -> None:
    assert [latency.batch_limit(rounds) for rounds in (1, 199, 200, 399, 400, 2000, 20_000)] == [
        1, 1, 2, 2, 4, 16, 128,
    ]  # fmt: skip
    for rounds in (200, 2000, 12_345):
        limit = latency.batch_limit(rounds)
        assert rounds // limit >= latency.MIN_BATCHES > rounds // (2 * limit)


def test_a_median_is_resolved_from_20_times_the_timer_cost() -> None:
    assert is_resolved(5.2e-6, 260 * NS)
    assert not is_resolved(5.19e-6, 260 * NS)
    assert is_resolved(325 * NS, 260 * NS, batch=16)
    assert not is_resolved(0.0, 260 * NS, batch=1 << 20)
    assert not is_resolved(-1 * NS, 0.0)


class _Progress:
    """A fake clock that reads how many rounds the loop has finished."""

    def __init__(self) -> None:
        self.done = 0

    def __call__(self) -> float:
        return float(self.done)


@pytest.mark.parametrize(("rounds", "batch", "stamped_at"), [(8, 4, [0, 4, 8]), (10, 4, [0, 4, 8])])
def test_batch_stamps_fall_between_batches_and_the_rest_runs_unstamped(
    rounds: int, batch: int, stamped_at: list[int]
) -> None:
    progress = _Progress()
    with Recorder(rounds + 1) as recorder:
        stamper = latency.BatchStamped(recorder, rounds, batch, clock=progress)
        seen = []
        for number in stamper:
            seen.append(number)
            progress.done += 1
        assert seen == list(range(rounds))
        slots = len(stamped_at)
        assert recorder.read(0, slots, "batches") == [float(done) for done in stamped_at]
        assert recorder.counts[slots:].tolist() == [0.0] * (rounds + 1 - slots)


def test_a_batched_sample_is_the_interval_less_its_cost_per_one_way_switch() -> None:
    # Batches of 4 rounds (8 one-way switches) lasting 1.0 and 2.6 us, the stamper's cost 0.2 us.
    stamps = [10e-6, 11.0e-6, 13.6e-6]
    assert latency.pingpong_samples(stamps, 4, 0.2e-6) == pytest.approx([0.1e-6, 0.3e-6])
    assert latency.pingpong_samples(stamps, 1, 0.2e-6) == pytest.approx([0.4e-6, 1.2e-6])


def test_a_batched_spec_stamps_every_kth_round_and_pickles_with_its_batch() -> None:
    spec = PingPong(rounds=10)
    with latency.recorder_for(spec) as recorder:
        timed = instrument(spec, recorder, batch=4)
        assert timed == spec and timed.reference() == spec.reference()
        assert list(timed.each_round()) == list(range(10))
        assert latency.slots_needed(spec, 4) == 3
        assert len(recorder.read(0, 3, "batches")) == 3
        again = pickle.loads(pickle.dumps(timed))
        assert isinstance(again, latency.TimedPingPong) and again.batch == 4
        with pytest.raises(ValueError, match="cannot be stamped in batches"):
            instrument(ProducerConsumer(items=4), recorder, batch=2)


def _stamp_rounds(spec: PingPong, rounds: int, passes: int = 1) -> None:
    """A broken coordinator: iterates the hook ``passes`` times, stopping after ``rounds``."""
    for _ in range(passes):
        for number in spec.each_round():
            if number == rounds:
                break


@pytest.mark.parametrize(
    ("rounds", "passes", "problem"),
    [
        (6, 1, "1 of 3 not stamped, 0 stamped more than once"),  # stopped inside a batch
        (8, 2, "0 of 3 not stamped, 3 stamped more than once"),  # ran the rounds twice
    ],
)
def test_a_coordinator_that_skips_or_repeats_batches_fails_the_run(
    rounds: int, passes: int, problem: str
) -> None:
    spec = PingPong(rounds=8)
    with latency.recorder_for(spec) as recorder:
        timed = instrument(spec, recorder, batch=4)
        assert isinstance(timed, PingPong)
        _stamp_rounds(timed, rounds, passes)
        with pytest.raises(LatencyError, match=problem):
            recorder.read(0, latency.slots_needed(spec, 4), "pingpong stamps")


def test_a_batched_pass_gives_one_sample_per_batch() -> None:
    spec = PingPong(rounds=9)
    cell = Cell(get_model(RECORD_MODEL), spec)
    record = measure_latency(cell, max_wall_seconds=0.0, resolution=None, batch=4)
    assert record["batch"] == 4 and record["resolved"] is True
    assert record["what"] == latency.describe("pingpong", 4)
    assert "averaged over a batch of 4 rounds (8 one-way switches)" in str(record["what"])
    runs = record["runs"]
    assert isinstance(runs, list) and [run["count"] for run in runs] == [2, 2, 2]
    assert isinstance(record["batch_cost"], float) and record["batch_cost"] > 0


def test_the_pass_grows_the_batch_until_its_own_median_asks_for_no_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fake choice: a run at 1 round per stamp asks for 2, at 2 for 8, at 8 for 8 (resolved).
    wanted = {1: 2, 2: 8, 8: 8}
    runs_at: list[int] = []
    asked: list[tuple[int, int, float]] = []
    real_run = latency.LatencyPass.run

    def run(self: latency.LatencyPass) -> tuple[list[float], float]:
        runs_at.append(self.batch)
        return real_run(self)

    def choose(median: float, cost: float, rounds: int, resolution: float) -> int:
        assert math.isfinite(median) and resolution == RESOLUTION
        asked.append((runs_at[-1], rounds, cost))
        return wanted[runs_at[-1]]

    monkeypatch.setattr(latency.LatencyPass, "run", run)
    monkeypatch.setattr(latency, "choose_batch", choose)
    monkeypatch.setattr(latency, "is_resolved", lambda *args: True)
    record = measure_latency(Cell(get_model("serial"), PingPong(rounds=40)), max_wall_seconds=0.0)
    # A warm-up, a trial at each batch, then the three runs measured at the batch chosen.
    assert runs_at == [1, 1, 2, 8, 8, 8, 8]
    assert asked == [(1, 40, record["timer_cost"]), (2, 40, record["timer_cost"]),
                     (8, 40, record["timer_cost"])]  # fmt: skip
    assert record["batch"] == 8 and record["what"] == latency.describe("pingpong", 8)
    runs = record["runs"]
    assert isinstance(runs, list) and [run["count"] for run in runs] == [5, 5, 5]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (PingPong(rounds=5), "a run of 5 rounds allows batches of at most 1 round"),
        (ProducerConsumer(items=6), "a sample is one item's own interval and cannot be batched"),
        (FanOut(tasks=3), "a sample is one task's own interval and cannot be batched"),
    ],
    ids=["pingpong", "producer_consumer", "fan_out"],
)
def test_a_cell_the_timer_cannot_resolve_reports_its_median_and_no_percentile(
    spec: Spec, why: str
) -> None:
    # An infinite resolution stands for a timer that resolves nothing.
    cell = Cell(get_model("serial"), spec)
    record = measure_latency(cell, max_wall_seconds=0.0, resolution=math.inf)
    assert record["resolved"] is False and record["batch"] == 1
    assert why in str(record["reason"]) and "the timer's cost" in str(record["reason"])
    assert isinstance(record["median"], float) and math.isfinite(record["median"])
    count = spec.rounds if isinstance(spec, PingPong) else spec.ops
    assert record["runs"] == [{"count": count}] * 3 and "quantiles" not in record
    json.dumps(record, allow_nan=False)
    metadata = LatencyRecord.from_json("the pass", record).metadata()
    assert metadata["latency_unresolved"] == record["reason"]
    assert metadata["latency_median"] == record["median"]
    assert not any(key.startswith("latency_p") for key in metadata)


def test_metadata_of_a_batched_record_names_its_batch() -> None:
    run = {"count": 125, "p50": 4e-7, "p90": 5e-7, "p99": 6e-7, "p99.9": 7e-7, "max": 8e-7}
    record = {
        "what": latency.describe("pingpong", 16),
        "unit": "second",
        "timer_cost": 2.6e-7,
        "batch": 16,
        "batch_cost": 9.6e-7,
        "resolved": True,
        "runs": [run, {**run, "p99": 9e-7}, {**run, "p99": 7e-7}],
        "quantiles": [],
    }
    metadata = LatencyRecord.from_json("the pass", record).metadata()
    assert metadata["latency_batch"] == 16 and metadata["latency_samples"] == 125
    assert metadata["latency_p99"] == 7e-7 and "latency_unresolved" not in metadata
