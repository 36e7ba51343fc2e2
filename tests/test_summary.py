"""Summary tables and result files, on hand-made pyperf benchmarks (no measuring)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pyperf
import pytest

from bench.render.terminal import pyperf_findings, render_all
from bench.results.schema import Entry, Gap, ResultFile, ResultFileError, default_output
from bench.spec.cellnames import cell_name
from bench.spec.precision import PRECISION_TARGET, relative_precision, t_quantile_975
from bench.spec.workloads import (
    SPECS,
    Checksum,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spec,
    WorkloadFacts,
)
from bench.units import format_bytes, format_duration, format_rate


def _bench(spec: Spec, model: str, values: list[float], **extra: object) -> Entry:
    name = cell_name(spec.workload, spec.params, model)
    metadata = {
        "name": name,
        "unit": spec.unit,
        "model": model,
        "workload": spec.workload,
        "params": spec.params,
        **extra,
    }
    run = pyperf.Run(values, metadata=metadata, collect_metadata=False)
    return Entry.from_pyperf(pyperf.Benchmark([run]))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3.2e-8, "32.0 ns"),
        (1.5e-6, "1.50 µs"),
        (0.0123, "12.3 ms"),
        (2.0, "2.00 s"),
        # Rounding up to the next decade keeps three digits, not four ("10.00 ms").
        (9.9996e-3, "10.0 ms"),
        (0.99996, "1.00 s"),
    ],
)
def test_durations_use_three_significant_digits(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_rates_and_sizes_use_human_units() -> None:
    assert format_rate(1 / 2e-7) == "5.00 M"
    assert format_rate(250.0) == "250"
    assert format_bytes(6300) == "6.15 KiB"
    assert format_bytes(1023.99) == "1.00 KiB"
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
    gaps = [Gap(name, "producer_consumer", pipeline.params, "generators", "failed", "crash")]
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
    with pytest.raises(ResultFileError, match="already exists"):
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


def test_the_latency_table_marks_batches_and_never_shows_an_unresolved_number() -> None:
    pingpong = PingPong(rounds=2000)
    batched = _bench(
        pingpong, "greenlet", [4e-7], latency_p50=4.16e-7, latency_p99=4.36e-7, latency_batch=16
    )
    # A file whose metadata kept percentiles beside the verdict still shows no number.
    unresolved = _bench(
        pingpong,
        "generators",
        [4e-8],
        latency_p50=4.5e-8,
        latency_p99=5e-8,
        latency_batch=16,
        latency_median=3.7e-8,
        latency_unresolved="median 37.6 ns per one-way switch x 16 rounds per batch = 601 ns",
    )
    text = render_all([batched, unresolved], [])
    title = next(line for line in text.splitlines() if line.startswith("Latency p50 / p99"))
    assert "(k=N): per switch averaged over batches of N rounds" in title
    assert "below timer resolution: k \N{MULTIPLICATION SIGN} the median is under 20" in title
    header, _rule, row = text.split(title)[1].splitlines()[1:4]
    assert header.split()[1:] == ["greenlet", "generators"]
    assert "416 ns / 436 ns (k=16)" in row and row.endswith("below timer resolution")
    assert "45.0 ns" not in row and "50.0 ns" not in row


def test_echo_cells_are_labelled_with_delay_size_and_connection_reuse() -> None:
    spec = FanOut(tasks=1000, work="echo", delay_ms=10, connect="reuse")
    assert spec.short_params() == "N=1000 echo D=10 ms 64 B connect=reuse"


@dataclass(frozen=True)
class Beats(Spec):
    """A workload the summary has never heard of, with no ``tasks``: its table row must come
    from its facts and its fields alone."""

    workload: ClassVar[str] = "beats"
    metric: ClassVar[str] = "seconds per beat"
    facts: ClassVar[WorkloadFacts] = WorkloadFacts(
        value="time per beat", column="per beat", operation="beat", operations="beats"
    )
    bars: int = 4
    tempo: float = 120.0

    @property
    def ops(self) -> int:
        return self.bars

    def reference(self) -> Checksum:
        return (self.bars,)


def test_a_new_workload_without_tasks_goes_through_the_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(SPECS, Beats.workload, Beats)
    spec = Beats(bars=8)
    text = render_all(
        [_bench(spec, "asyncio", [2e-6, 2e-6]), _bench(PingPong(rounds=5), "asyncio", [1e-7])],
        [
            Gap(
                cell_name("beats", spec.params, "threads"),
                "beats",
                spec.params,
                "threads",
                "failed",
                "x",
            )
        ],
    )
    row = next(line for line in text.splitlines() if line.startswith("beats"))
    assert row.startswith("beats bars=8 tempo=120.0 [per beat]")
    assert row.split()[-4:] == ["FAILED", "2.00", "µs", "±0%"]  # threads, then asyncio
    assert any(line.startswith("pingpong rounds=5 [per switch]") for line in text.splitlines())


FAN_SLEEP = "tasks=100,work=sleep,delay_ms=1.0,cpu_iterations=100"
FAN_CPU = "tasks=100,work=cpu,delay_ms=1.0,cpu_iterations=100"


def _fan_out(params: str, model: str, values: list[float], **bound: object) -> Entry:
    return _bench(FanOut.from_params(params), model, values, **bound)


def _bound(ideal: float, workers: int, text: str) -> dict[str, object]:
    return {"fan_out_ideal": ideal, "fan_out_ideal_workers": workers, "fan_out_bound": text}


ALL_AT_ONCE = _bound(0.001, 100, "D = 1 ms (sleep): all 100 tasks wait at once")
POOL = "ceil(N / W) x D = ceil(100 / 2) x 1 ms = 50 ms (sleep): 2 tasks wait at once"


def _overhead_section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("fan_out overhead per task"))
    return lines[start:]


def test_fan_out_overhead_table_subtracts_each_cells_ideal() -> None:
    benchmarks = [
        _fan_out(FAN_SLEEP, "processes", [562e-6, 562e-6], **_bound(0.05, 2, POOL)),
        _fan_out(FAN_SLEEP, "asyncio", [25.1e-6, 25.1e-6], **ALL_AT_ONCE),
        _fan_out(FAN_SLEEP, "generators", [12.4e-6, 12.6e-6], **ALL_AT_ONCE),
    ]
    text = render_all(benchmarks, [])
    # the makespan per task stays in the main table, labelled as such
    row = next(line for line in text.splitlines() if line.startswith("fan_out"))
    assert "[makespan per task]" in row and "562 µs" in row and "25.1 µs" in row
    section = _overhead_section(text)
    assert "(makespan - ideal makespan) / N" in section[0]
    row = next(line for line in section if line.startswith("fan_out N=100 sleep 1 ms"))
    assert row.split()[5:] == ["62.0", "µs", "±0%", "15.1", "µs", "±0%", "2.50", "µs", "±6%"]
    assert f"  processes, N=100 sleep 1 ms: {POOL}" in section
    assert not any("asyncio, " in line for line in section)  # all its tasks wait at once


def test_fan_out_overhead_at_or_below_the_ideal_is_not_a_duration() -> None:
    bench = _fan_out(FAN_SLEEP, "gevent", [9.5e-6, 9.9e-6], **ALL_AT_ONCE)
    row = next(line for line in _overhead_section(render_all([bench], [])) if "N=100" in line)
    assert "<= 0 (at or below the ideal)" in row


def test_cpu_fan_out_has_no_overhead_and_says_why() -> None:
    cpu = _fan_out(
        FAN_CPU, "asyncio", [9.5e-6], fan_out_bound="none: cpu work has no model-independent bound"
    )
    sleep = _fan_out(FAN_SLEEP, "asyncio", [25.1e-6], **ALL_AT_ONCE)
    section = _overhead_section(render_all([cpu, sleep], []))
    row = next(line for line in section if line.startswith("fan_out N=100 cpu"))
    assert "no bound (cpu)" in row
    assert any(line.startswith("work=cpu has no model-independent bound") for line in section)


def test_fan_out_without_a_recorded_ideal_has_no_overhead_table() -> None:
    # a file from before ideals were recorded: the makespan per task only, as before
    text = render_all([_fan_out(FAN_SLEEP, "asyncio", [25.1e-6])], [])
    assert "25.1 µs" in text and "overhead" not in text


# --- precision ---------------------------------------------------------------------------------


def _precision_section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Precision of the mean"))
    end = lines.index("", start)
    return lines[start:end]


def test_relative_precision_is_the_t_interval_of_the_mean() -> None:
    # mean 2, standard deviation 1, t(0.975, 2) = 4.303: half-width 4.303 / sqrt(3)
    assert relative_precision([1.0, 2.0, 3.0]) == pytest.approx(4.303 / 3**0.5 / 2)
    assert relative_precision([5.0]) is None
    assert t_quantile_975(30) == pytest.approx(2.042)
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-3)  # the expansion takes over


def test_precision_section_lists_the_unstable_cell_and_not_the_stable_one() -> None:
    pingpong = PingPong(rounds=10)
    # ±0.4% (well within 2%) and ±16% (far outside), ten values each, loops long enough
    values = {"loops": 10}
    stable = _bench(
        pingpong, "threads", [1.00e-3, 1.01e-3, 0.99e-3, 1.00e-3, 1.01e-3] * 2, **values
    )
    unstable = _bench(pingpong, "asyncio", [1.0e-3, 1.3e-3, 0.8e-3, 1.2e-3, 0.9e-3] * 2, **values)
    single = _bench(pingpong, "serial", [2e-3], **values)
    section = _precision_section(render_all([stable, unstable, single], []))
    assert f"±{100 * PRECISION_TARGET:g}%" in section[0]
    assert "Student's t" in section[0]
    assert section[1].startswith("  over 2 cells: median ±")
    assert "90th percentile" in section[1] and "1 unstable" in section[1]
    assert unstable.name in section[1]  # the worst
    assert section[2] == "  cells with a single value, so no interval: 1"
    listed = section[3:]
    assert len(listed) == 1
    precision = relative_precision(unstable.values)
    assert precision is not None and precision > PRECISION_TARGET
    # pyperf's own warning (standard deviation >= 10% of the mean) is carried on the same line
    assert listed[0] == (
        f"  {unstable.name}: ±{100 * precision:.0f}%; unstable; standard deviation 19% of the mean"
    )
    assert stable.name not in "\n".join(section)


def test_precision_section_carries_each_of_pyperfs_warnings() -> None:
    pingpong = PingPong(rounds=10)
    # one timed run of all its loops took 10 µs x 10 loops: under pyperf's 1 ms
    short = _bench(pingpong, "threads", [1e-5, 1e-5, 1.0001e-5], loops=10)
    outlier = _bench(pingpong, "asyncio", [1e-3] * 9 + [10e-3])
    findings = {bench.name: pyperf_findings(bench) for bench in (short, outlier)}
    assert findings[short.name] == ("shortest raw value 100 µs (under 1 ms)",)
    assert any(text.startswith("maximum") for text in findings[outlier.name])
    assert any(text.startswith("standard deviation") for text in findings[outlier.name])
    # a stable cell with pyperf's warning is listed, without "unstable"
    section = _precision_section(render_all([short], []))
    assert section[-1] == f"  {short.name}: ±0.0%; shortest raw value 100 µs (under 1 ms)"
