"""Summary tables and result files, on hand-made pyperf benchmarks (no measuring)."""

from __future__ import annotations

from pathlib import Path

import pyperf
import pytest

from bench.storage import CellGap, ResultFile, StorageError, default_output
from bench.summary import format_bytes, format_duration, format_rate, render_all
from bench.workloads import Memory, PingPong, ProducerConsumer


def _bench(spec, model: str, values: list[float], **extra: float) -> pyperf.Benchmark:
    name = f"{spec.workload}[{spec.params}]/{model}"
    metadata = {
        "name": name,
        "unit": spec.unit,
        "model": model,
        "workload": spec.workload,
        "params": spec.params,
        **extra,
    }
    run = pyperf.Run(values, metadata=metadata, collect_metadata=False)
    return pyperf.Benchmark([run])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3.2e-8, "32.0 ns"), (1.5e-6, "1.50 µs"), (0.0123, "12.3 ms"), (2.0, "2.00 s")],
)
def test_durations_use_three_significant_digits(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_rates_and_sizes_use_human_units() -> None:
    assert format_rate(1 / 2e-7) == "5.00 M"
    assert format_rate(250.0) == "250"
    assert format_bytes(6300) == "6.15 KiB"
    assert format_bytes(1.6 * 1024 * 1024) == "1.60 MiB"


def test_table_has_a_row_per_parameter_set_and_a_column_per_model() -> None:
    pingpong = PingPong(rounds=10)
    pipeline = ProducerConsumer(items=10)
    memory = Memory(tasks=10)
    benchmarks = [
        _bench(pingpong, "generators", [3e-8, 3.3e-8]),
        _bench(pingpong, "threads", [6e-6]),
        _bench(pipeline, "threads", [2e-6]),
        _bench(memory, "threads", [12_000.0]),
    ]
    name = f"producer_consumer[{pipeline.params}]/generators"
    gaps = [CellGap(name, "producer_consumer", pipeline.params, "generators", "failed", "crash")]
    text = render_all(benchmarks, gaps)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("cell"))
    assert header.split()[1:] == ["threads", "generators"]  # heaviest model first
    row = next(line for line in lines if line.startswith("pingpong"))
    assert "6.00 µs" in row and "31.5 ns ±7%" in row
    row = next(line for line in lines if line.startswith("producer_consumer"))
    assert "[items/s]" in row and "500 k" in row and "FAILED" in row
    row = next(line for line in lines if line.startswith("memory"))
    assert "11.7 KiB" in row and "·" in row


def test_profile_tables_appear_when_profile_metadata_exists() -> None:
    pingpong = PingPong(rounds=10)
    bench = _bench(pingpong, "threads", [6e-6], cpu_per_op=9e-6, ctx_switches_per_op=1.5)
    text = render_all([bench], [])
    assert "CPU time per operation" in text and "9.00 µs" in text
    assert "Context switches per operation" in text and "1.5" in text


def test_result_file_refuses_an_existing_path_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "existing.json"
    path.write_text("mine")
    with pytest.raises(StorageError, match="already exists"):
        ResultFile(path).claim()
    assert path.read_text() == "mine"


def test_result_file_is_replaced_atomically_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    result = ResultFile(path)
    result.claim()
    bench = _bench(PingPong(rounds=10), "threads", [6e-6])
    result.write([bench])
    result.write([bench, _bench(PingPong(rounds=10), "generators", [3e-8])])
    assert len(pyperf.BenchmarkSuite.load(str(path))) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_an_unused_result_file_is_removed(tmp_path: Path) -> None:
    result = ResultFile(tmp_path / "empty.json")
    result.claim()
    result.discard_if_empty()
    assert not (tmp_path / "empty.json").exists()


def test_default_output_names_python_and_host_and_never_collides(tmp_path: Path) -> None:
    first = default_output(tmp_path)
    first.write_text("taken")
    second = default_output(tmp_path)
    assert second != first and second.name.startswith(first.stem)
    assert first.name.startswith("cpython3.")


def test_latency_table_shows_p50_and_p99_of_cells_that_have_them() -> None:
    pingpong = PingPong(rounds=10)
    with_latency = _bench(pingpong, "threads", [6e-6], latency_p50=5e-6, latency_p99=4.2e-5)
    without = _bench(pingpong, "generators", [3e-8])
    text = render_all([with_latency, without], [])
    title = next(line for line in text.splitlines() if line.startswith("Latency p50 / p99"))
    assert "timer cost subtracted" in title
    rows = text.split(title)[1].splitlines()
    row = next(line for line in rows if line.startswith("pingpong"))
    assert "5.00 µs / 42.0 µs" in row


def test_no_latency_table_without_a_latency_pass() -> None:
    assert "Latency" not in render_all([_bench(PingPong(rounds=10), "threads", [6e-6])], [])


def test_echo_cells_are_labelled_with_delay_size_and_connection_reuse() -> None:
    from bench.summary import short_params
    from bench.workloads import FanOut

    spec = FanOut(tasks=1000, work="echo", delay_ms=10, connect="reuse")
    assert short_params(spec) == "N=1000 echo D=10 ms 64 B connect=reuse"
