"""Loading result files: the suite's, foreign pyperf files, gzip, gaps, and every kind of bad
input becoming one ResultFileError that names the file."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.results.resultfiles import ResultFileError, load, load_all

DATA = Path(__file__).resolve().parent / "data"


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_suite_file() -> None:
    result = load(DATA / "py311.json")
    assert result.label.startswith("3.11.")
    assert result.gaps == ()
    assert not result.interrupted
    entry = result.entry("pingpong[rounds=5]/greenlet")
    assert entry is not None
    assert (entry.workload, entry.params, entry.model) == ("pingpong", "rounds=5", "greenlet")
    assert entry.unit == "second"
    assert entry.is_suite_benchmark
    assert len(entry.values) == 9  # 3 processes x 3 values, warmups excluded
    assert entry.mean == pytest.approx(sum(entry.values) / 9)
    assert entry.stdev > 0
    assert entry.metadata["metric"] == "seconds per one-way switch"
    assert entry.metadata["python_gil"] == "enabled"  # file-level metadata merged in
    memory = result.entry("memory[tasks=5]/threads")
    assert memory is not None and memory.unit == "byte"
    assert result.environment["python_version"].startswith("3.11.")
    assert result.environment["spec_version"] == 1
    assert result.environment["processes"] == "3"


def test_foreign_file() -> None:
    result = load(DATA / "foreign_timeit.json")
    (entry,) = result.entries
    assert entry.name == entry.key == "sum_range"
    assert (entry.workload, entry.params, entry.model) == (None, None, None)
    assert not entry.is_suite_benchmark
    assert entry.unit == "second"
    assert len(entry.values) == 9


def test_gzip_by_suffix_and_by_content(tmp_path: Path) -> None:
    raw = (DATA / "py313.json").read_bytes()
    plain = load(DATA / "py313.json")
    for name in ("py313.json.gz", "gzipped-but-named.json"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(raw))
        loaded = load(path)
        assert [e.values for e in loaded.entries] == [e.values for e in plain.entries]


def test_gaps_are_read() -> None:
    result = load(DATA / "py311_gaps.json")
    statuses = {gap.key: gap.status for gap in result.gaps}
    assert statuses == {
        "pingpong[rounds=5]/processes": "failed",
        "memory[tasks=5]/gevent": "skipped",
    }
    assert result.entry("pingpong[rounds=5]/processes") is None


def test_a_file_of_only_gaps_loads(tmp_path: Path) -> None:
    data = document("py311_gaps.json")
    data["benchmarks"] = []
    data["concbench"]["interrupted"] = True
    result = load(write(tmp_path / "all-failed.json", data))
    assert result.entries == ()
    assert len(result.gaps) == 2
    assert result.interrupted


def test_the_runners_environment_fills_in(tmp_path: Path) -> None:
    data = document("py311_gaps.json")
    data["concbench"]["environment"] = {"measurement": "processes=3 values=3", "hostname": "x"}
    result = load(write(tmp_path / "with-environment.json", data))
    assert result.environment["measurement"] == "processes=3 values=3"
    assert result.environment["hostname"] == load(DATA / "py311.json").environment["hostname"]


def test_single_value_entry_has_zero_spread() -> None:
    entry = load(DATA / "py311_single.json").entries[0]
    assert len(entry.values) == 1
    assert entry.stdev == 0.0


def test_labels_are_python_versions_when_they_differ() -> None:
    labels = [r.label for r in load_all([DATA / "py311.json", DATA / "py313.json"])]
    assert labels[0].startswith("3.11.")
    assert labels[1].startswith("3.13.")


def test_labels_fall_back_to_stems_then_numbers() -> None:
    pair = load_all([DATA / "py311.json", DATA / "py311_regressed.json"])
    assert [r.label for r in pair] == ["py311", "py311_regressed"]
    same = load_all([DATA / "py311.json", DATA / "py311.json"])
    assert [r.label for r in same] == ["py311", "py311#2"]
    given = load_all([DATA / "py311.json", DATA / "py313.json"], labels=["old", "new"])
    assert [r.label for r in given] == ["old", "new"]
    with pytest.raises(ValueError, match="unique"):
        load_all([DATA / "py311.json", DATA / "py313.json"], labels=["x", "x"])


def corrupt(data: dict[str, Any], change: str) -> object:
    """Apply one named defect to a valid result document."""
    bench = data["benchmarks"][0]
    if change == "version":
        data["version"] = "9.9"
    elif change == "benchmarks-not-list":
        data["benchmarks"] = {"a": 1}
    elif change == "no-name":
        del bench["metadata"]["name"]
    elif change == "string-value":
        bench["runs"][0]["values"][0] = "fast"
    elif change == "nan-value":
        bench["runs"][0]["values"][0] = float("nan")
    elif change == "no-values":
        for run in bench["runs"]:
            run.pop("values", None)
    elif change == "duplicate":
        data["benchmarks"].append(bench)
    elif change == "gap-status":
        data["concbench"] = {"gaps": [{"name": "x", "status": "lost", "reason": "?"}]}
    elif change == "no-benchmarks":
        data["benchmarks"] = []
    elif change == "top-level-list":
        return [data]
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("version", "unsupported pyperf file format version '9.9'"),
        ("benchmarks-not-list", "'benchmarks' must be a list"),
        ("no-name", "benchmark #1 has no name"),
        ("string-value", "value 'fast' is not a finite number"),
        ("nan-value", "value nan is not a finite number"),
        ("no-values", "has no values"),
        ("duplicate", "appears twice"),
        ("gap-status", "status 'lost' is not one of failed, skipped"),
        ("no-benchmarks", "contains no benchmarks"),
        ("top-level-list", "not a pyperf result file"),
    ],
)
def test_malformed_content(tmp_path: Path, change: str, message: str) -> None:
    path = write(tmp_path / "bad.json", corrupt(document("py313.json"), change))
    with pytest.raises(ResultFileError) as caught:
        load(path)
    text = str(caught.value)
    assert text.startswith(str(path))
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("does-not-exist.json", "no such file"),
        ("empty.json", "file is empty"),
        ("truncated.json", "truncated JSON"),
        ("not_pyperf.json", "not a pyperf result file"),
    ],
)
def test_unreadable_files(name: str, message: str) -> None:
    with pytest.raises(ResultFileError, match=message):
        load(DATA / name)


def test_directory_binary_and_broken_gzip(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="is a directory"):
        load(tmp_path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultFileError, match="not UTF-8"):
        load(binary)
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress((DATA / "py313.json").read_bytes())[:200])
    with pytest.raises(ResultFileError, match="truncated or corrupt gzip"):
        load(broken)
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"version": "1.0", "benchmarks": [}')
    with pytest.raises(ResultFileError, match="invalid JSON"):
        load(invalid)


# -- latency records --------------------------------------------------------------------------

THREADS = "pingpong[rounds=5]/threads"


def test_latency_records_are_read() -> None:
    result = load(DATA / "py311_latency.json")
    entry = result.entry(THREADS)
    assert entry is not None and entry.latency is not None
    record = entry.latency
    assert record.what.startswith("one-way switch: a round trip timed by the coordinator")
    assert record.unit == "second"
    assert record.timer_cost == pytest.approx(4e-8)
    assert len(record.runs) == 5 and record.samples == 1000
    # The summary is the median over the runs, as the benchmark metadata says.
    assert record.p99 == pytest.approx(sorted(record.per_run("p99"))[2])
    assert record.p99 == pytest.approx(entry.metadata["latency_p99"])
    assert record.p50 <= record.p90 <= record.p99 <= record.p999
    quantiles = record.quantiles
    assert len(quantiles) == 111
    assert quantiles[0][0] == 0.0 and quantiles[-1][0] == 1.0
    assert [q for q, _v in quantiles] == sorted(q for q, _v in quantiles)
    spawn = result.entry("spawn[tasks=5]/threads")
    assert spawn is not None and spawn.latency is None


def test_files_without_latency_have_none() -> None:
    for name in ("py311.json", "py311_gaps.json", "foreign_timeit.json"):
        assert all(entry.latency is None for entry in load(DATA / name).entries)


def test_metadata_percentiles_without_a_record() -> None:
    entry = load(DATA / "py313_latency.json").entry("pingpong[rounds=5]/gevent")
    assert entry is not None and entry.latency is not None
    assert entry.latency.runs == () and entry.latency.quantiles == ()
    assert entry.latency.p99 == pytest.approx(entry.metadata["latency_p99"])


BATCHED = "pingpong[rounds=5]/greenlet"
UNRESOLVED = "pingpong[rounds=5]/generators"


def test_a_batched_record_keeps_its_batch_and_its_percentiles() -> None:
    entry = load(DATA / "py311_latency.json").entry(BATCHED)
    assert entry is not None and entry.latency is not None
    record = entry.latency
    assert record.batch == 8 and record.resolved and record.unresolved is None
    assert "averaged over a batch of 8 rounds" in record.what
    assert record.p99 == pytest.approx(entry.metadata["latency_p99"])
    assert record.batch_cost is not None and record.timer_cost is not None
    assert record.batch_cost > record.timer_cost


def test_an_unresolved_record_has_its_reason_and_median_and_no_percentile() -> None:
    entry = load(DATA / "py311_latency.json").entry(UNRESOLVED)
    assert entry is not None and entry.latency is not None
    record = entry.latency
    assert not record.resolved and record.batch == 1
    assert record.unresolved == entry.metadata["latency_unresolved"]
    assert "below 20 \N{MULTIPLICATION SIGN} the timer's cost (40 ns)" in record.unresolved
    assert record.median == pytest.approx(entry.metadata["latency_median"])
    assert [record.percentile(key) for key in ("p50", "p90", "p99", "p999")] == [None] * 4
    assert record.runs == () and record.quantiles == () and record.samples == 0


def test_an_unresolved_record_never_yields_a_percentile_it_carries(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    stale = data["concbench"]["latency"][THREADS]
    stale.update(resolved=False, reason="below the timer's resolution", median=7e-6)
    entry = load(write(tmp_path / "stale.json", data)).entry(THREADS)
    assert entry is not None and entry.latency is not None
    assert entry.latency.p99 is None and entry.latency.runs == () and not entry.latency.quantiles


def test_metadata_of_an_unresolved_cell_without_a_record(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    del data["concbench"]["latency"][UNRESOLVED]
    entry = load(write(tmp_path / "metadata-only.json", data)).entry(UNRESOLVED)
    assert entry is not None and entry.latency is not None
    assert not entry.latency.resolved and entry.latency.p99 is None
    assert entry.latency.median == pytest.approx(entry.metadata["latency_median"])


def test_records_from_before_batching_load_as_batch_1_resolved(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    records = data["concbench"]["latency"]
    del records[UNRESOLVED]  # the old format had no such record
    for record in records.values():
        for key in ("batch", "batch_cost", "resolved"):
            record.pop(key, None)
    for bench in data["benchmarks"]:
        bench["metadata"].pop("latency_batch", None)
    old = load(write(tmp_path / "old.json", data))
    entry = old.entry(THREADS)
    assert entry is not None and entry.latency is not None
    assert entry.latency.batch == 1 and entry.latency.resolved
    assert entry.latency.batch_cost is None and entry.latency.p99 is not None
    new_entry = load(DATA / "py311_latency.json").entry(THREADS)
    assert new_entry is not None and new_entry.latency == replace(
        entry.latency, batch_cost=entry.latency.timer_cost
    )


def test_a_record_for_an_unknown_cell_is_ignored(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    data["concbench"]["latency"]["pingpong[rounds=5]/nosuchmodel"] = {"what": 1}
    result = load(write(tmp_path / "extra.json", data))
    assert result.entry(THREADS) is not None


def test_memory_runs_keep_their_metadata() -> None:
    entry = load(DATA / "sweep.json").entry("memory[tasks=100]/asyncio")
    assert entry is not None
    assert len(entry.runs) == 3
    for run in entry.runs:
        (value,) = run.values
        assert run.metadata["memory_delta"] == pytest.approx(value * 100)


def break_latency(data: dict[str, Any], change: str) -> None:
    section = data["concbench"]["latency"]
    record = section[THREADS]
    if change == "section":
        data["concbench"]["latency"] = ["not", "an", "object"]
    elif change == "record":
        section[THREADS] = "fast"
    elif change == "what":
        record["what"] = ""
    elif change == "runs":
        record["runs"] = []
    elif change == "p99":
        record["runs"][1]["p99"] = "slow"
    elif change == "count":
        record["runs"][0]["count"] = 0
    elif change == "quantile-pair":
        record["quantiles"][3] = [0.03]
    elif change == "quantile-order":
        record["quantiles"][5], record["quantiles"][6] = (
            record["quantiles"][6],
            record["quantiles"][5],
        )
    elif change == "timer-cost":
        record["timer_cost"] = float("inf")
    elif change == "batch":
        record["batch"] = 0
    elif change == "batch-text":
        record["batch"] = "16"
    elif change == "resolved":
        record["resolved"] = "no"
    elif change == "no-reason":
        record.update(resolved=False, median=1e-8)
    elif change == "no-median":
        record.update(resolved=False, reason="below the timer's resolution")
    elif change == "unresolved-count":
        record.update(resolved=False, reason="why", median=1e-8, runs=[{"count": True}])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("section", "'concbench.latency' must be a JSON object"),
        ("record", f"latency of '{THREADS}' is not a JSON object"),
        ("what", "'what' must be a non-empty text"),
        ("runs", "'runs' must be a non-empty list"),
        ("p99", "runs[1]: 'p99' 'slow' is not a finite number"),
        ("count", "runs[0]: 'count' 0 is not a positive integer"),
        ("quantile-pair", "quantile [0.03] is not a [q, value] pair"),
        ("quantile-order", "q from 0 to 1 ascending"),
        ("timer-cost", "'timer_cost' inf is not a finite number"),
        ("batch", "'batch' 0 is not a positive integer"),
        ("batch-text", "'batch' '16' is not a positive integer"),
        ("resolved", "'resolved' 'no' is not true or false"),
        ("no-reason", "an unresolved record needs a 'reason' text"),
        ("no-median", "'median' None is not a finite number"),
        ("unresolved-count", "runs[0]: 'count' True is not a positive integer"),
    ],
)
def test_a_malformed_latency_record_is_one_line_naming_file_and_cell(
    tmp_path: Path, change: str, message: str
) -> None:
    data = document("py311_latency.json")
    break_latency(data, change)
    path = tmp_path / "bad-latency.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError) as caught:
        load(path)
    text = str(caught.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
    if change != "section":
        assert THREADS in text


def _build_variant(tmp_path: Path, name: str, build: str, gil: str | None) -> Path:
    """py313.json as if measured on another build, with the GIL state its workers read."""
    data = json.loads((DATA / "py313.json").read_text(encoding="utf-8"))
    data["metadata"]["python_build"] = build
    if gil is not None:
        data["metadata"]["python_gil_measured"] = gil
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_free_threaded_files_are_labelled_by_build_and_gil(tmp_path: Path) -> None:
    free = "CPython 3.13.0 (free-threading, shared)"
    files = [
        DATA / "py313.json",
        _build_variant(tmp_path, "off", free, "disabled"),
        _build_variant(tmp_path, "on", free, "enabled"),
    ]
    labels = [result.label for result in load_all(files)]
    assert labels == ["3.13.0", "3.13.0t GIL off", "3.13.0t GIL on"]
    # Without a reading from the workers, the state the interpreter started with is used.
    started = _build_variant(tmp_path, "started", free, None)
    assert load(started).label == "3.13.0t GIL on"  # the fixture's python_gil: enabled
