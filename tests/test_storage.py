"""Result files: atomic writes, the gap records, and one-line errors for unreadable files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyperf
import pytest

from bench.results import storage
from bench.results.storage import CellGap, ResultFile, StorageError, read_results

GAP = CellGap("spawn[tasks=5]/threads", "spawn", "tasks=5", "threads", "failed", "timed out")


def benchmark(name: str, value: float = 1e-6) -> pyperf.Benchmark:
    run = pyperf.Run([value], metadata={"name": name, "unit": "second"}, collect_metadata=False)
    return pyperf.Benchmark([run])


def test_gaps_environment_and_interruption_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = ResultFile(path)
    result.claim()
    result.write([benchmark("a")], [GAP], {"python_build": "X"}, interrupted=True)
    stored = read_results(path)
    assert [b.get_name() for b in stored.benchmarks] == ["a"]
    assert stored.gaps == [GAP]
    assert stored.environment == {"python_build": "X"}
    assert stored.interrupted is True
    # pyperf itself still reads the file
    assert pyperf.BenchmarkSuite.load(str(path)).get_benchmark_names() == ["a"]


LATENCY = {
    "pingpong[rounds=5]/serial": {
        "what": "one-way switch: a round trip timed by the coordinator, minus the timer's cost, "
        "halved",
        "unit": "second",
        "timer_cost": 1.4e-07,
        "runs": [{"count": 5, "p50": 3e-8, "p90": 4e-8, "p99": 5e-8, "p99.9": 5e-8, "max": 5e-8}],
        "quantiles": [[0.0, 2e-8], [0.5, 3e-8], [1.0, 5e-8]],
    }
}


def test_latency_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = ResultFile(path)
    result.claim()
    result.write([benchmark("pingpong[rounds=5]/serial")], latency=LATENCY)
    assert read_results(path).latency == LATENCY
    assert json.loads(path.read_text())["concbench"]["latency"] == LATENCY
    result.write([benchmark("a")])
    assert read_results(path).latency == {}
    assert "latency" not in json.loads(path.read_text())["concbench"]


def test_each_latency_record_is_one_line_and_the_rest_stays_indented(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = ResultFile(path)
    result.claim()
    second = {"pingpong[rounds=5]/threads": {**LATENCY["pingpong[rounds=5]/serial"]}}
    result.write([benchmark("pingpong[rounds=5]/serial")], latency={**LATENCY, **second})
    lines = path.read_text().splitlines()
    records = [line for line in lines if line.lstrip().startswith('"pingpong[rounds=5]/')]
    assert [json.loads("{" + line.rstrip(",") + "}") for line in records] == [LATENCY, second]
    assert '        "latency": {' in lines
    assert '    "concbench": {' in lines
    assert json.loads(path.read_text())["concbench"]["latency"] == {**LATENCY, **second}


def test_a_file_of_gaps_only_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = ResultFile(path)
    result.claim()
    result.write([], [GAP])
    stored = read_results(path)
    assert stored.benchmarks == [] and stored.gaps == [GAP]


def test_claim_never_takes_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text("precious")
    with pytest.raises(StorageError, match="already exists"):
        ResultFile(path).claim()
    assert path.read_text() == "precious"


def test_a_failed_write_leaves_the_previous_file_whole_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    result = ResultFile(path)
    result.claim()
    result.write([benchmark("a")])
    before = path.read_bytes()

    def dump_half(data: object, stream: object, **kwargs: object) -> None:
        assert hasattr(stream, "write")
        stream.write('{"benchmarks": [')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.json, "dump", dump_half)
    with pytest.raises(OSError, match="No space left"):
        result.write([benchmark("a"), benchmark("b")])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_gzip_files_are_read(tmp_path: Path) -> None:
    plain = tmp_path / "r.json"
    result = ResultFile(plain)
    result.claim()
    result.write([benchmark("a")], [GAP])
    packed = tmp_path / "r.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_results(packed).gaps == [GAP]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b'{"version": "1.0", "benchmarks": [{"runs": ', "truncated JSON"),
        (b"[1, 2]", "not a pyperf result file"),
        (b'{"version": "1.0", "benchmarks": 3}', "no benchmark list"),
        (json.dumps({"version": "0.1", "benchmarks": [{}]}).encode(), "unsupported pyperf file"),
        (
            json.dumps({"version": "1.0", "benchmarks": [], "concbench": {"gaps": [{}]}}).encode(),
            "not a pyperf result file",
        ),
        (
            json.dumps(
                {
                    "version": "1.0",
                    "benchmarks": [],
                    "concbench": {"gaps": [{**GAP.__dict__, "status": "lost"}]},
                }
            ).encode(),
            "malformed gap entry",
        ),
        (
            json.dumps(
                {"version": "1.0", "benchmarks": [], "concbench": {"latency": [1]}}
            ).encode(),
            "latency section is not an object",
        ),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(StorageError) as info:
        read_results(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)
