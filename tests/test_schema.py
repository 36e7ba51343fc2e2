"""The result schema: reading and writing result files with one set of records (cells, gaps,
latency records, environment, model facts), atomic writes, the format versions, and every kind
of bad input becoming one ResultFileError that names the file."""

from __future__ import annotations

import gzip
import io
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyperf
import pytest

from bench.results import schema
from bench.results.schema import (
    FORMAT_VERSION,
    LEGACY_MODELS,
    Entry,
    Gap,
    LatencyRecord,
    ModelFacts,
    ResultFile,
    ResultFileError,
    load,
    load_all,
)
from bench.spec.models import DEFAULT_ORDER, FALLBACK_COLOUR

DATA = Path(__file__).resolve().parent / "data"
BASELINES = sorted(
    (Path(__file__).resolve().parent.parent / "results" / "baselines").glob("*.json")
)

GAP = Gap("spawn[tasks=5]/threads", "spawn", "tasks=5", "threads", "failed", "timed out")


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def benchmark(name: str, value: float = 1e-6, /, **metadata: object) -> pyperf.Benchmark:
    run = pyperf.Run(
        [value], metadata={"name": name, "unit": "second", **metadata}, collect_metadata=False
    )
    return pyperf.Benchmark([run])


def entry(name: str, value: float = 1e-6, /, **metadata: object) -> Entry:
    return Entry.from_pyperf(benchmark(name, value, **metadata))


def claimed(path: Path) -> ResultFile:
    result = ResultFile(path)
    result.claim()
    return result


def pyperf_json(benchmarks: list[pyperf.Benchmark]) -> dict[str, Any]:
    text = io.StringIO()
    pyperf.BenchmarkSuite(benchmarks).dump(text, compact=False)
    data: dict[str, Any] = json.loads(text.getvalue())
    return data


# --- writing ----------------------------------------------------------------------------------


def test_gaps_environment_and_interruption_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    claimed(path).write([entry("a")], [GAP], {"python_build": "X"}, interrupted=True)
    stored = load(path)
    assert [e.name for e in stored.entries] == ["a"]
    assert stored.gaps == (GAP,)
    assert stored.recorded_environment == {"python_build": "X"}
    assert stored.environment["python_build"] == "X"
    assert stored.interrupted is True
    assert json.loads(path.read_text())["concbench"]["version"] == FORMAT_VERSION
    # pyperf itself still reads the file
    assert pyperf.BenchmarkSuite.load(str(path)).get_benchmark_names() == ["a"]


def test_the_benchmarks_are_written_as_pyperf_writes_them(tmp_path: Path) -> None:
    """Metadata every benchmark shares goes to the file, what a benchmark's runs share to the
    benchmark, the rest stays with its run: what pyperf's own dump does, key for key."""
    shared = {"hostname": "vm", "python_version": "3.11.7"}
    first = benchmark("a", 1e-6, model="serial", **shared)
    first.add_runs(benchmark("a", 2e-6, model="serial", date="later", **shared))
    second = benchmark("b", 3e-6, model="threads", **shared)
    path = tmp_path / "r.json"
    entries = [Entry.from_pyperf(first), Entry.from_pyperf(second)]
    claimed(path).write(entries)
    written = json.loads(path.read_text())
    del written["concbench"]
    assert written == pyperf_json([first, second])


def test_runs_merge_as_pyperf_merges_them(tmp_path: Path) -> None:
    """A cell measured again (``--append``): runs join, metadata the runs no longer share moves
    into the runs, and the file is what pyperf would write for the merged benchmark."""
    old = benchmark("a", 1e-6, cell_seconds=1.5, model="serial")
    new = benchmark("a", 2e-6, cell_seconds=2.5, model="serial")
    merged = Entry.from_pyperf(old).add_runs(Entry.from_pyperf(new))
    old.add_runs(new)
    assert merged.values == (1e-6, 2e-6)
    assert "cell_seconds" not in merged.metadata
    assert [run.metadata["cell_seconds"] for run in merged.runs] == [1.5, 2.5]
    path = tmp_path / "r.json"
    claimed(path).write([merged])
    written = json.loads(path.read_text())
    del written["concbench"]
    assert written == pyperf_json([old])
    with pytest.raises(ValueError, match="unit differs"):
        merged.add_runs(entry("a", unit="byte"))


def test_metadata_set_after_measuring_is_every_runs(tmp_path: Path) -> None:
    measured = Entry.from_pyperf(benchmark("a")).with_metadata({"cell_seconds": 3.25})
    assert measured.metadata["cell_seconds"] == 3.25
    reference = benchmark("a")
    reference.update_metadata({"cell_seconds": 3.25})
    path = tmp_path / "r.json"
    claimed(path).write([measured])
    written = json.loads(path.read_text())
    del written["concbench"]
    assert written == pyperf_json([reference])


LATENCY_RUN = {"count": 5, "p50": 3e-8, "p90": 4e-8, "p99": 5e-8, "p99.9": 5e-8, "max": 5e-8}
LATENCY = {
    "what": "one-way switch: a round trip timed by the coordinator, minus the timer's cost, halved",
    "unit": "second",
    "timer_cost": 1.4e-07,
    "batch": 1,
    "batch_cost": 1.4e-07,
    "resolved": True,
    "runs": [LATENCY_RUN],
    "quantiles": [[0.0, 2e-8], [0.5, 3e-8], [1.0, 5e-8]],
}
UNRESOLVED = {
    "what": "one-way switch",
    "unit": "second",
    "timer_cost": 4e-08,
    "batch": 1,
    "batch_cost": 4e-08,
    "resolved": False,
    "reason": "below the timer's resolution",
    "median": 3.1e-08,
    "runs": [{"count": 5}, {"count": 5}],
}


def with_latency(name: str, record: dict[str, Any]) -> Entry:
    return replace(entry(name), latency=LatencyRecord.from_json(name, record))


def test_latency_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = claimed(path)
    cells = [
        with_latency("pingpong[rounds=5]/serial", LATENCY),
        with_latency("pingpong[rounds=5]/generators", UNRESOLVED),
    ]
    result.write(cells)
    section = json.loads(path.read_text())["concbench"]["latency"]
    assert section == {
        "pingpong[rounds=5]/serial": LATENCY,
        "pingpong[rounds=5]/generators": UNRESOLVED,
    }
    assert [e.latency for e in load(path).entries] == [e.latency for e in cells]
    result.write([entry("a")])
    assert all(e.latency is None for e in load(path).entries)
    assert "latency" not in json.loads(path.read_text())["concbench"]


def test_a_record_made_from_metadata_is_not_stored_twice(tmp_path: Path) -> None:
    metadata = {"latency_p50": 1e-6, "latency_p90": 2e-6, "latency_p99": 3e-6, "latency_p999": 4e-6}
    cell = entry("pingpong[rounds=5]/serial", **metadata)
    record = LatencyRecord.from_metadata(cell.metadata)
    assert record is not None and not record.from_runs
    path = tmp_path / "r.json"
    claimed(path).write([replace(cell, latency=record)])
    assert "latency" not in json.loads(path.read_text())["concbench"]
    (loaded,) = load(path).entries
    assert loaded.latency == record  # read back from the metadata, as before
    with pytest.raises(ValueError, match="not stored"):
        record.to_json()


def test_a_records_metadata_is_its_headline() -> None:
    record = LatencyRecord.from_json("cell", {**LATENCY, "runs": [LATENCY_RUN] * 3})
    metadata = record.metadata()
    assert metadata["latency_runs"] == 3 and metadata["latency_samples"] == 5
    assert metadata["latency_p99"] == 5e-8 and metadata["latency_p999"] == 5e-8
    assert LatencyRecord.from_metadata(metadata) == replace(
        record, runs=(), quantiles=(), batch_cost=None
    )
    unresolved = LatencyRecord.from_json("cell", UNRESOLVED).metadata()
    assert unresolved["latency_unresolved"] == UNRESOLVED["reason"]
    assert not any(key.startswith("latency_p") for key in unresolved)


def test_each_latency_record_is_one_line_and_the_rest_stays_indented(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    names = ("pingpong[rounds=5]/serial", "pingpong[rounds=5]/threads")
    claimed(path).write([with_latency(name, LATENCY) for name in names])
    lines = path.read_text().splitlines()
    records = [line for line in lines if line.lstrip().startswith('"pingpong[rounds=5]/')]
    assert [json.loads("{" + line.rstrip(",") + "}") for line in records] == [
        {name: LATENCY} for name in names
    ]
    assert '        "latency": {' in lines
    assert '    "concbench": {' in lines


def test_a_file_of_gaps_only_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    claimed(path).write([], [GAP])
    stored = load(path)
    assert stored.entries == () and stored.gaps == (GAP,)


def test_claim_never_takes_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text("precious")
    with pytest.raises(ResultFileError, match="already exists"):
        ResultFile(path).claim()
    assert path.read_text() == "precious"


def test_a_failed_write_leaves_the_previous_file_whole_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    result = claimed(path)
    result.write([entry("a")])
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        result.write([entry("a"), entry("b")])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_gzip_files_are_read(tmp_path: Path) -> None:
    plain = tmp_path / "r.json"
    claimed(plain).write([entry("a")], [GAP])
    packed = tmp_path / "r.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert load(packed).gaps == (GAP,)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b'{"version": "1.0", "benchmarks": [{"runs": ', "truncated JSON"),
        (b"[1, 2]", "not a pyperf result file"),
        (b'{"version": "1.0", "benchmarks": 3}', "'benchmarks' must be a list"),
        (json.dumps({"version": "0.1", "benchmarks": [{}]}).encode(), "unsupported pyperf file"),
        (
            json.dumps({"version": "1.0", "benchmarks": [], "concbench": {"gaps": [{}]}}).encode(),
            "status None is not one of failed, skipped",
        ),
        (
            json.dumps(
                {
                    "version": "1.0",
                    "benchmarks": [],
                    "concbench": {"gaps": [{**GAP.to_json(), "status": "lost"}]},
                }
            ).encode(),
            "status 'lost' is not one of failed, skipped",
        ),
        (
            json.dumps(
                {
                    "version": "1.0",
                    "benchmarks": [],
                    "concbench": {"gaps": [{**GAP.to_json(), "output": "a string"}]},
                }
            ).encode(),
            "'output' must be a list of lines",
        ),
        (
            json.dumps(
                {"version": "1.0", "benchmarks": [], "concbench": {"latency": [1]}}
            ).encode(),
            "'concbench.latency' must be a JSON object",
        ),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ResultFileError) as info:
        load(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


# --- format versions --------------------------------------------------------------------------


def test_a_file_of_a_newer_format_is_refused_in_one_line(tmp_path: Path) -> None:
    data = document("py311_gaps.json")
    data["concbench"]["version"] = FORMAT_VERSION + 1
    path = write(tmp_path / "future.json", data)
    with pytest.raises(ResultFileError) as info:
        load(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert f"concbench format version {FORMAT_VERSION + 1}" in text and "newer concbench" in text


def test_writing_what_was_read_keeps_every_committed_file(tmp_path: Path) -> None:
    """Version 1 files (the committed baselines and test data) written again read back as the
    same records; a baseline, which the runner wrote through pyperf, is the same pyperf
    document too (only the sidecar's version and shape move on)."""
    for path in [*BASELINES, *DATA.glob("*.json")]:
        try:
            read = load(path)
        except ResultFileError:
            continue  # the bad-input files
        copy = tmp_path / path.name
        claimed(copy).write(read.entries, read.gaps, read.recorded_environment, read.interrupted)
        again = load(copy)
        assert again.entries == read.entries, path
        assert (again.gaps, again.interrupted) == (read.gaps, read.interrupted), path
        written = json.loads(copy.read_text())
        assert written.pop("concbench")["version"] == FORMAT_VERSION
        if path in BASELINES:
            original = json.loads(path.read_text())
            original.pop("concbench", None)
            assert written == original, path
            assert again.environment == read.environment, path


# --- model facts ------------------------------------------------------------------------------

LEGACY_ORDER = ["serial", "processes", "threads", "asyncio", "gevent", "greenlet", "generators"]


def test_a_version_1_file_gets_the_facts_spec_version_2_meant() -> None:
    result = load(DATA / "py311.json")
    facts = {name: result.model_facts[name] for name in result.model_facts}
    assert schema.ordered_models(facts, facts) == [m for m in LEGACY_ORDER if m in facts]
    assert facts["serial"].baseline and facts["serial"].task_noun == "plain call"
    assert not any(f.baseline for name, f in facts.items() if name != "serial")
    assert facts["processes"].parallel == "always"
    assert facts["threads"].parallel == "without-gil"
    assert facts["greenlet"].parallel == "never"
    assert facts["threads"].colour == "#2ca02c"  # matplotlib's C2, as the charts drew it
    assert facts["gevent"].task_noun == "gevent greenlet"
    assert [facts[m].order for m in LEGACY_ORDER if m in facts] == sorted(
        facts[m].order for m in LEGACY_ORDER if m in facts
    )


def test_the_legacy_table_is_the_seven_models_of_spec_version_2() -> None:
    assert list(LEGACY_MODELS) == LEGACY_ORDER
    colours = [ModelFacts.for_name(name).colour for name in LEGACY_ORDER]
    assert colours == ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def test_an_unknown_model_comes_last_in_the_shared_colour_and_never_parallel() -> None:
    facts = ModelFacts.for_name("trio")
    assert facts == ModelFacts(
        "trio", "trio", "", DEFAULT_ORDER, FALLBACK_COLOUR, "trio task", "never", False
    )
    assert ModelFacts.for_name("trio") == facts  # the same every time
    variant = ModelFacts.for_name("asyncio[loop=uvloop]")
    assert (variant.base, variant.variant, variant.task_noun) == (
        "asyncio",
        "loop=uvloop",
        "asyncio task",
    )
    assert schema.ordered_models(["gevent", variant.name, "asyncio"], {}) == [
        "asyncio",
        "asyncio[loop=uvloop]",
        "gevent",
    ]
    assert not ModelFacts.for_name("serial[k=v]").baseline


FACTS = ModelFacts(
    name="asyncio[loop=uvloop]",
    base="asyncio",
    variant="loop=uvloop",
    order=31,
    colour="#123456",
    task_noun="uvloop task",
    parallel="never",
    baseline=False,
)


def test_facts_round_trip_through_metadata() -> None:
    assert ModelFacts.from_metadata(FACTS.metadata()) == FACTS
    plain = replace(FACTS, name="asyncio", variant="")
    assert "variant" not in plain.metadata()  # pyperf refuses an empty metadata value
    assert ModelFacts.from_metadata(plain.metadata()) == plain


def test_recorded_facts_win_over_the_legacy_table(tmp_path: Path) -> None:
    """A reader that ignored the recorded facts would order, colour and name these cells as
    the legacy table says; the file says otherwise."""
    recorded = {
        **ModelFacts.for_name("threads").metadata(),
        "model_order": 99,
        "model_colour": "#000001",
        "model_task_noun": "OS thread",
        "model_parallel": "always",
    }
    path = tmp_path / "r.json"
    params = {"workload": "spawn", "params": "tasks=5"}
    cells = [
        entry("spawn[tasks=5]/threads", **params, **recorded),
        entry("spawn[tasks=5]/generators", **params, model="generators"),
    ]
    gap = Gap("spawn[tasks=5]/trio", "spawn", "tasks=5", "trio", "skipped", "unavailable", (),
              replace(ModelFacts.for_name("trio"), order=5))  # fmt: skip
    claimed(path).write(cells, [gap])
    result = load(path)
    threads = result.model_facts["threads"]
    assert (threads.order, threads.colour, threads.task_noun, threads.parallel) == (
        99,
        "#000001",
        "OS thread",
        "always",
    )
    assert result.model_facts["trio"].order == 5
    assert schema.ordered_models(result.model_facts, result.model_facts) == [
        "trio",
        "generators",
        "threads",
    ]
    # a cell's model facts never pass for facts of the run
    assert "model_order" not in result.environment


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model_order", "7"),
        ("model_order", True),
        ("model_colour", "red"),
        ("model_parallel", "sometimes"),
        ("model_baseline", 2),
        ("model_task_noun", 3),
    ],
)
def test_a_malformed_fact_falls_back_alone(key: str, value: object) -> None:
    metadata = {**FACTS.metadata(), key: value}
    read = ModelFacts.from_metadata(metadata)
    legacy = ModelFacts.for_name(FACTS.name)
    field = {
        "model_order": "order",
        "model_colour": "colour",
        "model_parallel": "parallel",
        "model_baseline": "baseline",
        "model_task_noun": "task_noun",
    }[key]
    assert read == replace(FACTS, **{field: getattr(legacy, field)})


def test_sweep_data_is_the_cells_with_a_mean_and_the_gaps() -> None:
    measured = entry("fan_out[tasks=1]/threads", 2e-3, workload="fan_out", params="tasks=1",
                     model="threads")  # fmt: skip
    zero = Entry("memory[tasks=5]/threads", "memory", "tasks=5", "threads", "byte", (0.0,))
    points, missing = schema.sweep_data([measured, zero], [GAP])
    assert points == [schema.Point("fan_out", "tasks=1", "threads", 2e-3)]
    assert missing == [schema.Missing("spawn", "tasks=5", "threads", "failed: timed out")]


# --- reading ----------------------------------------------------------------------------------


def test_suite_file() -> None:
    result = load(DATA / "py311.json")
    assert result.label.startswith("3.11.")
    assert result.gaps == ()
    assert not result.interrupted
    cell = result.entry("pingpong[rounds=5]/greenlet")
    assert cell is not None
    assert (cell.workload, cell.params, cell.model) == ("pingpong", "rounds=5", "greenlet")
    assert cell.unit == "second"
    assert cell.is_suite_benchmark
    assert len(cell.values) == 9  # 3 processes x 3 values, warmups excluded
    assert cell.mean == pytest.approx(sum(cell.values) / 9)
    assert cell.stdev > 0
    assert cell.metadata["metric"] == "seconds per one-way switch"
    assert cell.metadata["python_gil"] == "enabled"  # file-level metadata merged in
    memory = result.entry("memory[tasks=5]/threads")
    assert memory is not None and memory.unit == "byte"
    assert result.environment["python_version"].startswith("3.11.")
    assert result.environment["spec_version"] == 1
    assert result.environment["processes"] == "3"


def test_foreign_file() -> None:
    result = load(DATA / "foreign_timeit.json")
    (foreign,) = result.entries
    assert foreign.name == foreign.key == "sum_range"
    assert (foreign.workload, foreign.params, foreign.model) == (None, None, None)
    assert not foreign.is_suite_benchmark
    assert foreign.unit == "second"
    assert len(foreign.values) == 9
    # its calibration run is kept (a file written back is the file read), without values
    assert [len(run.values) for run in foreign.runs if not run.values] == [0]


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
    # version 1 gaps carry no facts: their models' come from the legacy table
    assert all(gap.facts is None for gap in result.gaps)
    assert result.model_facts["processes"] == ModelFacts.for_name("processes")


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
    assert result.recorded_environment == data["concbench"]["environment"]


def test_single_value_entry_has_zero_spread() -> None:
    single = load(DATA / "py311_single.json").entries[0]
    assert len(single.values) == 1
    assert single.stdev == 0.0


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
    elif change == "warmup":
        bench["runs"][0]["warmups"] = [[1]]
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
        ("warmup", "warmup [1] is not a [loops, value] pair"),
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
    cell = result.entry(THREADS)
    assert cell is not None and cell.latency is not None
    record = cell.latency
    assert record.what.startswith("one-way switch: a round trip timed by the coordinator")
    assert record.unit == "second"
    assert record.timer_cost == pytest.approx(4e-8)
    assert len(record.runs) == 5 and record.samples == 1000
    # The summary is the median over the runs, as the benchmark metadata says.
    assert record.p99 == pytest.approx(sorted(record.per_run("p99"))[2])
    assert record.p99 == pytest.approx(cell.metadata["latency_p99"])
    p50, p90, p99, p999 = record.p50, record.p90, record.p99, record.p999
    assert p50 is not None and p90 is not None and p99 is not None and p999 is not None
    assert p50 <= p90 <= p99 <= p999
    quantiles = record.quantiles
    assert len(quantiles) == 111
    assert quantiles[0][0] == 0.0 and quantiles[-1][0] == 1.0
    assert [q for q, _v in quantiles] == sorted(q for q, _v in quantiles)
    spawn = result.entry("spawn[tasks=5]/threads")
    assert spawn is not None and spawn.latency is None


def test_files_without_latency_have_none() -> None:
    for name in ("py311.json", "py311_gaps.json", "foreign_timeit.json"):
        assert all(cell.latency is None for cell in load(DATA / name).entries)


def test_metadata_percentiles_without_a_record() -> None:
    cell = load(DATA / "py313_latency.json").entry("pingpong[rounds=5]/gevent")
    assert cell is not None and cell.latency is not None
    assert cell.latency.runs == () and cell.latency.quantiles == ()
    assert cell.latency.p99 == pytest.approx(cell.metadata["latency_p99"])


BATCHED = "pingpong[rounds=5]/greenlet"
UNRESOLVED_CELL = "pingpong[rounds=5]/generators"


def test_a_batched_record_keeps_its_batch_and_its_percentiles() -> None:
    cell = load(DATA / "py311_latency.json").entry(BATCHED)
    assert cell is not None and cell.latency is not None
    record = cell.latency
    assert record.batch == 8 and record.resolved and record.unresolved is None
    assert "averaged over a batch of 8 rounds" in record.what
    assert record.p99 == pytest.approx(cell.metadata["latency_p99"])
    assert record.batch_cost is not None and record.timer_cost is not None
    assert record.batch_cost > record.timer_cost


def test_an_unresolved_record_has_its_reason_and_median_and_no_percentile() -> None:
    cell = load(DATA / "py311_latency.json").entry(UNRESOLVED_CELL)
    assert cell is not None and cell.latency is not None
    record = cell.latency
    assert not record.resolved and record.batch == 1
    assert record.unresolved == cell.metadata["latency_unresolved"]
    assert record.unresolved is not None
    assert "below 20 \N{MULTIPLICATION SIGN} the timer's cost (40 ns)" in record.unresolved
    assert record.median == pytest.approx(cell.metadata["latency_median"])
    assert [record.percentile(key) for key in ("p50", "p90", "p99", "p999")] == [None] * 4
    assert record.runs == () and record.quantiles == () and record.samples == 0
    assert len(record.counts) == 5  # each run's count, kept for writing the record back


def test_an_unresolved_record_never_yields_a_percentile_it_carries(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    stale = data["concbench"]["latency"][THREADS]
    stale.update(resolved=False, reason="below the timer's resolution", median=7e-6)
    cell = load(write(tmp_path / "stale.json", data)).entry(THREADS)
    assert cell is not None and cell.latency is not None
    assert cell.latency.p99 is None and cell.latency.runs == () and not cell.latency.quantiles


def test_metadata_of_an_unresolved_cell_without_a_record(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    del data["concbench"]["latency"][UNRESOLVED_CELL]
    cell = load(write(tmp_path / "metadata-only.json", data)).entry(UNRESOLVED_CELL)
    assert cell is not None and cell.latency is not None
    assert not cell.latency.resolved and cell.latency.p99 is None
    assert cell.latency.median == pytest.approx(cell.metadata["latency_median"])


def test_records_from_before_batching_load_as_batch_1_resolved(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    records = data["concbench"]["latency"]
    del records[UNRESOLVED_CELL]  # the old format had no such record
    for record in records.values():
        for key in ("batch", "batch_cost", "resolved"):
            record.pop(key, None)
    for bench in data["benchmarks"]:
        bench["metadata"].pop("latency_batch", None)
    old = load(write(tmp_path / "old.json", data))
    cell = old.entry(THREADS)
    assert cell is not None and cell.latency is not None
    assert cell.latency.batch == 1 and cell.latency.resolved
    assert cell.latency.batch_cost is None and cell.latency.p99 is not None
    new_cell = load(DATA / "py311_latency.json").entry(THREADS)
    assert new_cell is not None and new_cell.latency == replace(
        cell.latency, batch_cost=cell.latency.timer_cost
    )


def test_a_record_for_an_unknown_cell_is_ignored(tmp_path: Path) -> None:
    data = document("py311_latency.json")
    data["concbench"]["latency"]["pingpong[rounds=5]/nosuchmodel"] = {"what": 1}
    result = load(write(tmp_path / "extra.json", data))
    assert result.entry(THREADS) is not None


def test_memory_runs_keep_their_metadata() -> None:
    cell = load(DATA / "sweep.json").entry("memory[tasks=100]/asyncio")
    assert cell is not None
    assert len(cell.runs) == 3
    for run in cell.runs:
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


# --- the committed baselines ------------------------------------------------------------------


@pytest.mark.parametrize("path", BASELINES, ids=[path.stem for path in BASELINES])
def test_every_committed_baseline_goes_through_compare_and_report(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files as committed: compare reads each against itself and the report builds its page
    (HTML with the SVG charts, and Markdown); their models keep the order and colours their
    facts give (recorded in the file; for version 1 files, the ones they were drawn in)."""
    pytest.importorskip("matplotlib", reason="the report draws its charts with matplotlib")
    from bench.commands import compare as compare_command
    from bench.render import htmlreport

    assert compare_command.main([str(path), str(path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["benchmarks"]
    (result,) = load_all([path])
    assert len(rows) == len(result.entries)

    page = htmlreport.content([result], title="baseline")
    html = htmlreport.render_html(page)
    facts = result.model_facts
    models = sorted(facts, key=lambda name: facts[name].sort_key)
    assert models
    if set(facts) <= set(LEGACY_ORDER):  # a version 1 file: the seven models' order and colours
        assert models == [name for name in LEGACY_ORDER if name in facts]
        assert all(facts[name] == ModelFacts.for_name(name) for name in models)
    for grid in page.costs:
        assert list(grid.models) == [name for name in models if name in grid.models]
        for name in grid.models:
            header = f'style="--c:{facts[name].colour}">{name}</th>'
            assert header in html, name
    markdown = htmlreport.render_summary(page)
    assert f"{len(result.entries)} benchmarks" in markdown
