"""Free-threaded Python (``bench.analysis.freethreading``): the parallel speedup statement, the
single-thread cost of a build, the memory per parked thread and task, and the cross-file tables,
on hand-made files of a GIL build, a free-threaded build with the GIL off (with GIL-on twins)
and the same build run with PYTHON_GIL=1 (no measuring, no timing)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from bench.analysis import findings, freethreading
from bench.render import readmegen
from bench.results import schema
from bench.results.schema import Entry, Gap, ResultSet
from bench.spec.cellnames import cell_name
from bench.spec.models import gil_off_of, gil_on_twin_of, is_gil_on_twin
from bench.spec.workloads import PARALLEL_SPECS, PingPong, ProducerConsumer, Spawn, Spec
from bench.units import format_bytes, format_duration
from tests.result_sets import X, make_entry, make_set
from tests.test_paired import DRIFT, NOISE, NOISE_FLAT, rounds_entry

FAN = PARALLEL_SPECS[0][0]
PIPE = PARALLEL_SPECS[1][0]
PINGPONG = PingPong(rounds=2000)
HANDOVER = ProducerConsumer(producers=1, consumers=1, capacity=64)
SPAWN = Spawn(tasks=100)
GIL_BUILD = "CPython 3.13.0 (shared)"
FT_BUILD = "CPython 3.13.15 (free-threading, shared)"
FT_VERSION = "3.13.15 experimental free-threading build (main)"
# Noise of +-2% from round to round: paired against a flat cell, an interval that contains 1.
WOBBLE = {number: 1.0 + (0.02 if number % 2 else -0.02) for number in DRIFT}
# A parallel row's serial time per task before the drift.
WORK = 2e-3
# What a memory cell of threads holds besides its threads: the slope leaves it out.
FIXED = 1_000_000.0


def _state(build: str, gil_on: bool = False) -> dict[str, str]:
    """A cell's metadata for its build and the GIL its process asked for."""
    if gil_on:
        return {"python_build": build, "python_gil": "enabled", "environ": "PYTHON_GIL=1"}
    gil = "disabled" if "free-threading" in build else "enabled"
    return {"python_build": build, "python_gil": gil}


GIL = _state(GIL_BUILD)
GIL_OFF = _state(FT_BUILD)
GIL_ON = _state(FT_BUILD, gil_on=True)


def _rounds(
    spec: Spec,
    model: str,
    factor: float,
    state: Mapping[str, str],
    noise: Mapping[int, float] = NOISE_FLAT,
) -> Entry:
    """A cell of a parallel row measured in every round of ``DRIFT``: ``factor`` x WORK x the
    round's drift x ``noise``."""
    means = {n: factor * WORK * drift * noise[n] for n, drift in DRIFT.items()}
    return rounds_entry(model, means, workload=spec.workload, params=spec.params, **state)


def _cell(spec: Spec, model: str, mean: float, state: Mapping[str, object]) -> Entry:
    return make_entry(spec.workload, spec.params, model, [mean] * 3, **state)


def _memory(model: str, tasks: int, per_task: float, state: Mapping[str, str]) -> Entry:
    """A memory cell whose total is ``per_task`` x N plus a fixed cost (threads only)."""
    fixed = FIXED if model == "threads" else 0.0
    return make_entry("memory", f"tasks={tasks}", model, [per_task + fixed / tasks] * 3, **state)


def _parallel_rows(
    state: Mapping[str, str], serial: float, speedups: Mapping[str, float]
) -> list[Entry]:
    """Both parallel rows: serial at ``serial``, each other model at serial / its speedup; a
    speedup of 1 with round-to-round noise (so no clear difference), others with NOISE."""
    entries = []
    for spec in (FAN, PIPE):
        entries.append(_rounds(spec, "serial", serial, state))
        for model, gain in speedups.items():
            noise = WOBBLE if gain == 1 else NOISE
            entries.append(_rounds(spec, model, serial / gain, state, noise))
    return entries


def _common(state: Mapping[str, str], cost: float, thread: float, task: float) -> list[Entry]:
    """pingpong, the hand-over, spawn and memory cells; the single-thread models' times are
    ``cost`` x the GIL build's; ``thread`` and ``task`` bytes per parked thread and task."""
    return [
        _cell(PINGPONG, "serial", 30e-9 * cost, state),
        _cell(PINGPONG, "asyncio", 4e-6 * cost, state),
        _cell(PINGPONG, "threads", 7e-6, state),
        _cell(HANDOVER, "serial", 5e-7 * cost, state),
        _cell(HANDOVER, "threads", 3e-6, state),
        _cell(SPAWN, "serial", 70e-9 * cost, state),
        _cell(SPAWN, "asyncio", 5.8e-6 * cost, state),
        _cell(SPAWN, "threads", 57e-6, state),
        *(_memory("threads", tasks, thread, state) for tasks in (100, 300, 1000)),
        _memory("asyncio", 10_000, task, state),
    ]


def gil_build() -> ResultSet:
    """CPython 3.13.0 with the GIL: threads no faster than serial, processes 1.8x, the process
    pool 1.85x (outside rounds)."""
    entries = [
        *_parallel_rows(GIL, 1.0, {"threads": 1.0, "processes": 1.8}),
        _cell(FAN, "processes[executor=pool]", WORK * statistics.fmean(DRIFT.values()) / 1.85, GIL),
        *_common(GIL, 1.0, 16_000.0, 1_400.0),
        _cell(PINGPONG, "greenlet", 360e-9, GIL),
    ]
    environment: dict[str, Any] = {**GIL, "cpu_count": 2, "python_version": "3.13.0 (main)"}
    return make_set(entries, "3.13.0", **environment)


GIL_OFF_COST = 1.2
GIL_ON_COST = 1.3


def gil_off(serial_twin: bool = True) -> ResultSet:
    """CPython 3.13.15t with the GIL off, its GIL-on twins beside: threads 1.9x serial, their
    twin no faster than the serial twin, which takes 1.1x serial's time; processes 1.75x, their
    twin 1.7x."""
    twin = GIL_OFF_COST * 1.1
    twins = [
        _rounds(FAN, "threads[gil=on]", twin, GIL_ON, WOBBLE),
        _rounds(FAN, "processes[gil=on]", twin / 1.7, GIL_ON, NOISE),
        _cell(PINGPONG, "threads[gil=on]", 7.5e-6, GIL_ON),
        _cell(SPAWN, "asyncio[gil=on]", 5.9e-6, GIL_ON),
    ]
    if serial_twin:
        twins.append(_rounds(FAN, "serial[gil=on]", twin, GIL_ON))
    entries = [
        *_parallel_rows(GIL_OFF, GIL_OFF_COST, {"threads": 1.9, "processes": 1.75}),
        *twins,
        *_common(GIL_OFF, GIL_OFF_COST, 20_000.0, 1_600.0),
    ]
    gaps = [_gap(FAN, "processes[executor=pool]", "failed", "the pool's worker died")]
    environment: dict[str, Any] = {**GIL_OFF, "cpu_count": 2, "python_version": FT_VERSION}
    return make_set(entries, "3.13.15t GIL off", gaps, **environment)


def gil_on() -> ResultSet:
    """The same build run with PYTHON_GIL=1: threads no faster than serial, processes 1.7x."""
    entries = [
        *_parallel_rows(GIL_ON, GIL_ON_COST, {"threads": 1.0, "processes": 1.7}),
        *_common(GIL_ON, GIL_ON_COST, 20_000.0, 1_600.0),
    ]
    environment: dict[str, Any] = {**GIL_ON, "cpu_count": 2, "python_version": FT_VERSION}
    return make_set(entries, "3.13.15t GIL on", **environment)


def _gap(spec: Spec, model: str, status: schema.GapStatus, reason: str) -> Gap:
    name = cell_name(spec.workload, spec.params, model)
    return Gap(name, spec.workload, spec.params, model, status, reason)


def three_files() -> list[ResultSet]:
    return [gil_build(), gil_off(), gil_on()]


def write_file(result: ResultSet, path: Path) -> Path:
    """The set as a result file, its environment the runner's record."""
    entries = [_with(entry, **_identity(entry)) for entry in result.entries]
    document = schema.document(entries, result.gaps, dict(result.environment))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema.dumps(document), encoding="utf-8")
    return path


def _identity(entry: Entry) -> dict[str, object]:
    """What a file records of every cell: its name, workload, parameters, model and unit."""
    return {
        "name": entry.name,
        "workload": entry.workload,
        "params": entry.params,
        "model": entry.model,
        "unit": entry.unit,
    }


def _with(entry: Entry, **metadata: object) -> Entry:
    return replace(entry, metadata=MappingProxyType({**entry.metadata, **metadata}))


def write_three(directory: Path) -> list[Path]:
    """The three files under ``directory`` as a.json, b.json and c.json: labelled by their
    build and GIL when read back, not by their names."""
    names = ("a.json", "b.json", "c.json")
    return [write_file(r, directory / n) for r, n in zip(three_files(), names, strict=True)]


def statement(result: ResultSet, spec: Spec = FAN) -> str:
    """The file's speedup statement of the row of ``spec``."""
    label = findings.Row(spec.workload, spec.params).label
    texts = [f.text for f in freethreading.speedup_findings(result)]
    (found,) = [text for text in texts if text.startswith(label) and text[len(label)] in " ,"]
    return found


def serial_time(result: ResultSet, model: str = "serial") -> str:
    entry = findings.grid(result)[findings.Row(FAN.workload, FAN.params), model]
    return format_duration(entry.mean)


# --- the speedup statement --------------------------------------------------------------------


def test_a_gil_off_file_states_each_model_and_its_twin_against_serial() -> None:
    result = gil_off()
    text = statement(result)
    head = (
        f"fan_out N=32 cpu on 2 CPUs, with the GIL off (a free-threaded build), speedup over "
        f"serial ({serial_time(result)} per task; {serial_time(result, 'serial[gil=on]')} with "
        "the GIL on): "
    )
    assert text.startswith(head), text
    processes, threads = text[len(head) :].rstrip(".").split("; ")
    assert threads.startswith(f"threads 1.90{X} [")
    # the twin against the serial twin of its run: no faster; against serial it would be 0.91x
    assert f", with the GIL on {freethreading.SAME} (1.00{X} [" in threads
    assert processes.startswith(f"processes 1.75{X} [")
    assert f", with the GIL on 1.70{X} [" in processes


def test_a_twin_without_a_serial_twin_is_held_against_serial_and_says_so() -> None:
    text = statement(gil_off(serial_twin=False))
    assert f"with the GIL on 0.909{X} [" in text
    assert "(against serial with the GIL off)" in text
    assert "with the GIL on)" not in text  # no serial twin time in the head


def test_a_gil_build_says_so_and_threads_make_no_clear_difference() -> None:
    text = statement(gil_build())
    assert "with the GIL (a GIL build), speedup over serial" in text
    assert f"threads {freethreading.SAME} (1.00{X} [" in text
    assert f"processes 1.80{X} [" in text
    # no rounds: the ratio of the means, without an interval
    assert f"processes[executor=pool] 1.85{X} (ratio of the means)" in text


def test_a_run_with_python_gil_1_is_named_as_such() -> None:
    text = statement(gil_on(), PIPE)
    assert text.startswith("producer_consumer P=1 C=4 Q=8 M=64 cpu on 2 CPUs, with the GIL on ")
    assert "(a free-threaded build run with PYTHON_GIL=1)" in text
    assert "per item)" in text
    assert f"threads {freethreading.SAME}" in text


def test_the_speedup_is_paired_so_a_drift_of_the_machine_cancels() -> None:
    # serial drifts with the rounds; so does threads, at 1/1.9 of its time: the ratio of the
    # means is 1.9 too, but only pairing gives an interval this tight.
    (row,) = [r for r in freethreading.row_speedups(gil_off()) if r.row.spec == FAN]
    found = row.speedup("threads")
    assert found is not None and found.rounds == len(DRIFT) and found.interval is not None
    assert found.interval[0] > 1.85 and found.interval[1] < 1.95
    assert [s.model for s in row.speedups] == [
        "processes", "processes[gil=on]", "threads", "threads[gil=on]"
    ]  # fmt: skip


def test_the_usable_cpus_recorded_win_over_the_machines_count() -> None:
    result = gil_build()

    def serial_with(**metadata: object) -> ResultSet:
        entries = tuple(_with(e, **metadata) if e.model == "serial" else e for e in result.entries)
        return replace(result, entries=entries)

    assert " on 1 usable CPU, " in statement(serial_with(cpu_affinity="1"))
    assert " on 3 usable CPUs, " in statement(serial_with(usable_cpus=3, cpu_affinity="1"))
    counted = replace(result, environment={**result.environment, "cpu_count": 4})
    assert " on 4 CPUs, " in statement(counted)
    unknown = replace(result, environment={k: v for k, v in result.environment.items()
                                           if k != "cpu_count"})  # fmt: skip
    assert statement(unknown).startswith("fan_out N=32 cpu, with the GIL (a GIL build)")


@pytest.mark.parametrize(
    ("text", "count"), [("0-3,6", 5), ("2", 1), ("0-1,1", 2), ("x", None), ("3-1", None)]
)
def test_a_cpu_list_is_counted(text: str, count: int | None) -> None:
    assert freethreading.cpu_list_count(text) == count


def test_a_row_without_serial_or_outside_the_parallel_rows_gives_no_statement() -> None:
    result = gil_off()
    no_serial = tuple(e for e in result.entries if e.model != "serial")
    assert freethreading.speedup_findings(replace(result, entries=no_serial)) == []
    other = [_cell(ProducerConsumer(work="cpu"), m, 1e-5, GIL_OFF) for m in ("serial", "threads")]
    assert freethreading.speedup_findings(make_set(other)) == []


def test_the_statement_goes_through_the_findings_the_report_and_readme_read() -> None:
    result = gil_off()
    found = [f for f in findings.file_findings(result) if f.topic == freethreading.TOPIC]
    assert [f.text for f in found] == [f.text for f in freethreading.speedup_findings(result)]
    assert len(found) == 2
    text = readmegen.statements_section(result)
    title = readmegen.TOPIC_TITLES[freethreading.TOPIC]
    assert f"**{title}**\n\n- producer_consumer P=1 C=4 Q=8 M=64 cpu on 2 CPUs" in text


def test_twins_are_told_from_plain_models() -> None:
    assert is_gil_on_twin("threads[executor=pool,gil=on]")
    assert not is_gil_on_twin("threads[executor=pool]")
    assert gil_on_twin_of("threads[executor=pool]") == "threads[executor=pool,gil=on]"
    assert gil_on_twin_of("serial") == "serial[gil=on]"
    assert gil_off_of("processes[executor=pool,gil=on]") == "processes[executor=pool]"
    assert freethreading.with_twins(["serial", "threads", "serial[gil=on]", "x[gil=on]"]) == [
        "serial", "serial[gil=on]", "threads", "x[gil=on]"
    ]  # fmt: skip


def test_each_file_knows_its_build_and_gil() -> None:
    builds = [freethreading.build_of(result) for result in three_files()]
    assert [(b.free_threaded, b.gil) for b in builds] == [
        (False, "enabled"), (True, "disabled"), (True, "enabled")
    ]  # fmt: skip
    assert [b.measures_twins for b in builds] == [False, True, False]


# --- across files -----------------------------------------------------------------------------


def test_single_thread_cost_is_the_geometric_mean_over_single_thread_cells() -> None:
    base = [
        _cell(PINGPONG, "serial", 30e-9, GIL),
        _cell(PINGPONG, "asyncio", 4e-6, GIL),
        _cell(SPAWN, "generators", 1.35e-6, GIL),
        # none of these may count: threads run in parallel, a twin with the GIL on, greenlet
        # turns it on, memory is no time, trio is in one file only
        _cell(PINGPONG, "threads", 7e-6, GIL),
        _cell(PINGPONG, "serial[gil=on]", 30e-9, GIL),
        _cell(PINGPONG, "greenlet", 360e-9, GIL),
        _memory("asyncio", 10_000, 1400.0, GIL),
        _cell(PINGPONG, "trio", 8e-6, GIL),
    ]
    factors = {"serial": 1.2, "asyncio": 1.1, "generators": 1.5, "trio": 9.0}
    other = [
        replace(e, values=tuple(v * factors.get(str(e.model), 3.0) for v in e.values))
        for e in base
        if e.model != "trio"
    ]
    cost = freethreading.single_thread_cost(make_set(base), make_set(other, "3.13.15t"))
    assert cost is not None
    assert cost.geometric_mean == pytest.approx((1.2 * 1.1 * 1.5) ** (1 / 3))
    assert cost.cells == 3
    assert (cost.low, cost.high) == pytest.approx((1.1, 1.5))
    assert (cost.label, cost.base) == ("3.13.15t", "3.11.7")
    assert cost.models == ("serial", "asyncio", "generators")
    assert freethreading.single_thread_cost(make_set(base), make_set(base[3:4])) is None


def test_single_thread_cost_of_each_file_against_the_first() -> None:
    (finding,) = freethreading.cost_findings(three_files())
    assert finding.topic == freethreading.COST_TOPIC
    # serial and asyncio in pingpong, the hand-over and spawn, serial in both parallel rows
    assert f"3.13.15t GIL off against 3.13.0: geometric mean 1.200{X}" in finding.text
    assert "n = 7 cells of serial, asyncio," in finding.text
    assert f"3.13.15t GIL on against 3.13.0: geometric mean 1.300{X}" in finding.text


def test_memory_per_parked_thread_is_the_slope_and_per_task_the_largest_size() -> None:
    figures = freethreading.memory_per_task(gil_off())
    thread, task = figures["threads"], figures["asyncio"]
    assert thread.slope and thread.sizes == (100, 300, 1000)
    assert thread.user == pytest.approx(20_000.0)  # the fixed megabyte is the intercept
    assert not task.slope and task.sizes == (10_000,)
    assert task.user == pytest.approx(1_600.0)
    assert freethreading.memory_per_task(make_set([_cell(SPAWN, "serial", 1e-7, GIL)])) == {}


def test_the_key_table_has_a_column_per_file_and_each_ratio_to_the_first() -> None:
    table = freethreading.key_table(three_files())
    assert table is not None
    assert table.header == ("cell", "model", "3.13.0", "3.13.15t GIL off", "3.13.15t GIL on")
    lines = {(line[0], line[1]): line[2:] for line in table.rows}
    assert lines["pingpong rounds=2000", "serial"] == (
        "30.0 ns", f"36.0 ns ({1.2:.2f}{X})", f"39.0 ns ({1.3:.2f}{X})"
    )  # fmt: skip
    assert lines["pingpong rounds=2000", "threads[gil=on]"] == (
        findings.MISSING, "7.50 µs", findings.MISSING
    )  # fmt: skip
    larger = f"{format_bytes(20_000.0)} (1.25{X})"
    assert lines["memory per parked thread", "threads"] == (format_bytes(16_000.0), larger, larger)
    assert lines["memory per parked asyncio task", "asyncio"][0] == format_bytes(1_400.0)
    # the failed cell is listed; greenlet, in no key row, is not
    assert lines["fan_out N=32 cpu", "processes[executor=pool]"][1] == findings.MISSING
    assert not any(model == "greenlet" for _cell, model in lines)
    models = [model for label, model in lines if label == "fan_out N=32 cpu"]
    assert models == [
        "serial", "serial[gil=on]", "processes", "processes[gil=on]", "processes[executor=pool]",
        "threads", "threads[gil=on]",
    ]  # fmt: skip


def test_every_missing_number_says_why() -> None:
    texts = [f.text for f in freethreading.missing_findings(three_files())]
    assert f"3.13.0: no GIL-on twin: {freethreading.TWINS_ONLY_BESIDE_GIL_OFF}." in texts
    assert f"3.13.15t GIL on: no GIL-on twin: {freethreading.TWINS_ONLY_BESIDE_GIL_OFF}." in texts
    assert (
        "3.13.15t GIL off: processes[executor=pool] in fan_out N=32 cpu: failed: the pool's "
        "worker died." in texts
    )
    assert (
        "3.13.15t GIL on: processes[executor=pool] in fan_out N=32 cpu: no "
        "processes[executor=pool] cell in the file." in texts
    )
    # every empty cell of the table is accounted for, by its file and cell or as a twin
    table = freethreading.key_table(three_files())
    assert table is not None
    for line in table.rows:
        for label, text in zip(table.header[2:], line[2:], strict=True):
            if text != findings.MISSING:
                continue
            said = [t for t in texts if t.startswith(f"{label}: ")]
            twin = is_gil_on_twin(line[1]) and any("no GIL-on twin" in t for t in said)
            assert twin or any(f"{line[1]} in {line[0]}" in t for t in said), (label, line)


def test_the_speedup_table_puts_the_files_side_by_side() -> None:
    table = freethreading.speedup_table(three_files())
    assert table is not None
    lines = {(line[0], line[1]): line[2:] for line in table.rows}
    threads = lines["fan_out N=32 cpu", "threads"]
    assert threads[0].startswith(f"1.00{X} [") and threads[1].startswith(f"1.90{X} [")
    assert threads[2].startswith(f"1.00{X} [")
    assert lines["fan_out N=32 cpu", "threads[gil=on]"][0] == findings.MISSING
    assert ("producer_consumer P=1 C=4 Q=8 M=64 cpu", "threads[gil=on]") not in lines


def test_the_statements_of_each_file_follow_row_by_row() -> None:
    texts = [f.text for f in freethreading.comparison_findings(three_files())]
    labels = ["3.13.0", "3.13.15t GIL off", "3.13.15t GIL on"]
    assert [text.split(": ")[0] for text in texts[:6]] == labels * 2
    assert all("producer_consumer" in text for text in texts[:3])
    assert all("fan_out" in text for text in texts[3:6])
    assert len(texts) == 7 and texts[-1].startswith("Time per operation over the first file's")


def test_files_written_and_read_back_are_labelled_by_build_and_gil(tmp_path: Path) -> None:
    loaded = schema.load_all(write_three(tmp_path))
    assert [r.label for r in loaded] == ["3.13.0", "3.13.15t GIL off", "3.13.15t GIL on"]
    assert [freethreading.build_of(r).gil for r in loaded] == ["enabled", "disabled", "enabled"]
    assert math.isclose(
        freethreading.memory_per_task(loaded[1])["threads"].user, 20_000.0, rel_tol=1e-9
    )
    assert statement(loaded[1]) == statement(gil_off())


def test_a_speedup_says_when_the_model_spent_more_cpu_time_than_serial_on_the_same_work() -> None:
    """Two processes busy but each slower (1.7x serial's CPU time per task): the statement
    gives that ratio beside the speedup, which it caps; at 1.1x it says nothing."""
    slowed: dict[str, object] = {**GIL_OFF, "cpu_per_op": 1.7 * WORK}
    entries = [
        _cell(FAN, "serial", WORK, {**GIL_OFF, "cpu_per_op": WORK}),
        _cell(FAN, "processes", WORK / 1.15, slowed),
        _cell(FAN, "threads", WORK / 1.8, {**GIL_OFF, "cpu_per_op": 1.1 * WORK}),
    ]
    (said,) = [f.text for f in freethreading.speedup_findings(make_set(entries, "3.13.15t"))]
    assert f"processes 1.15{X} (ratio of the means) (CPU time per task 1.70{X} serial's)" in said
    assert f"threads 1.80{X} (ratio of the means)." in said  # 1.1x serial's CPU: not stated
    assert "which caps its speedup" in said
    plain = [_cell(FAN, "serial", WORK, GIL_OFF), _cell(FAN, "processes", WORK / 1.15, GIL_OFF)]
    (quiet,) = [f.text for f in freethreading.speedup_findings(make_set(plain, "3.13.15t"))]
    assert "CPU time" not in quiet
