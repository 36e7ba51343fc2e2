"""The report's tables and "what the numbers say" statements, from small hand-made result sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.analysis import findings
from bench.analysis.comparison import Options, compare
from bench.results.schema import Entry, Gap, ResultSet, load
from tests.result_sets import (
    FAN_10K,
    FAN_100,
    PC_1X1,
    PINGPONG,
    X,
    around,
    latency_set,
    make_entry,
    make_set,
)


def switch_set() -> ResultSet:
    return make_set(
        [
            make_entry("pingpong", PINGPONG, "serial", around(30.1e-9)),
            make_entry("pingpong", PINGPONG, "threads", around(16.1e-6), ctx_switches_per_op=1.53),
            make_entry("pingpong", PINGPONG, "greenlet", around(217e-9), ctx_switches_per_op=0.0),
            make_entry("pingpong", PINGPONG, "generators", around(30.8e-9)),
        ]
    )


def all_text(found: Sequence[findings.Finding]) -> str:
    return "\n".join(finding.text for finding in found)


def test_greenlet_against_thread_switch() -> None:
    texts = [f.text for f in findings.switch_findings(switch_set())]
    assert (
        f"A greenlet switch costs 217 ns, 74{X} less than a thread switch (16.1 µs) on this host."
        in texts
    )
    assert any(
        t.startswith(f"A generator switch costs 30.8 ns, 1.02{X} a plain function") for t in texts
    )


def test_switch_ranking_is_cheapest_first_with_factors() -> None:
    ranking = next(
        f.text for f in findings.switch_findings(switch_set()) if "cheapest first" in f.text
    )
    assert ranking.index("serial (plain call) 30.1 ns") < ranking.index("generators 30.8 ns")
    assert ranking.index(f"greenlet 217 ns (7.2{X})") < ranking.index(f"threads 16.1 µs (535{X})")


def test_kernel_switches_named_only_for_models_with_profile_data() -> None:
    text = next(f.text for f in findings.switch_findings(switch_set()) if "kernel" in f.text)
    assert text == (
        "Context switches counted by the kernel per one-way switch: threads 1.53; "
        "none for greenlet."
    )


def test_a_missing_model_gives_no_statement_and_never_nan() -> None:
    only_threads = make_set([make_entry("pingpong", PINGPONG, "threads", around(16e-6))])
    assert findings.switch_findings(only_threads) == []
    assert findings.winner_findings(only_threads) == []
    empty = make_set([])
    assert findings.file_findings(empty) == []
    zero = make_set(
        [
            make_entry("pingpong", PINGPONG, "threads", [0.0, 0.0]),
            make_entry("pingpong", PINGPONG, "greenlet", around(2e-7)),
        ]
    )
    text = all_text(findings.file_findings(zero))
    assert "nan" not in text.lower() and "inf" not in text.lower()
    assert "thread switch" not in text


def test_memory_ranking_names_sizes_when_they_differ() -> None:
    result = make_set(
        [
            make_entry("memory", "tasks=100", "threads", around(16.5 * 1024)),
            make_entry("memory", "tasks=100", "processes", around(1.58 * 1024 * 1024)),
            make_entry("memory", "tasks=10000", "generators", around(0.362 * 1024)),
            make_entry("memory", "tasks=100", "generators", around(5 * 1024)),
        ]
    )
    ranking, contrast = [f.text for f in findings.memory_findings(result)]
    # The generators' figure is taken from the largest size it ran (the least noisy).
    assert ranking == (
        "Memory per parked task, smallest first: generators 0.362 KiB (N=10,000), "
        "threads 16.5 KiB (N=100), processes 1.58 MiB (N=100)."
    )
    assert contrast.startswith("A parked process holds 4,4")
    assert contrast.endswith("the memory of a parked generator (1.58 MiB against 0.362 KiB).")


def test_winner_excludes_the_serial_baseline_and_states_the_margin() -> None:
    result = make_set(
        [
            make_entry("producer_consumer", PC_1X1, "serial", around(1 / 3.5e6)),
            make_entry("producer_consumer", PC_1X1, "greenlet", around(1 / 1.05e6)),
            make_entry("producer_consumer", PC_1X1, "generators", around(1 / 1.26e6)),
            make_entry("producer_consumer", PC_1X1, "threads", around(1 / 23.8e3)),
        ]
    )
    (text,) = [f.text for f in findings.winner_findings(result)]
    assert text == (
        "producer_consumer P=1 C=1 Q=1 M=4000 no work: generators moves the most items "
        "(1.26 M items/s), 20% more than the runner-up greenlet (1.05 M items/s); "
        "the serial baseline: 3.50 M items/s."
    )


def test_winner_within_the_noise_says_so() -> None:
    result = make_set(
        [
            make_entry("fan_out", FAN_100, "asyncio", around(20e-6, spread=0.2)),
            make_entry("fan_out", FAN_100, "gevent", around(21e-6, spread=0.2)),
        ]
    )
    (text,) = [f.text for f in findings.winner_findings(result)]
    assert "asyncio is fastest (20.0 µs), 5% faster than the runner-up gevent" in text
    assert "within the noise" in text


def test_parallel_work_only_for_models_that_can_run_in_parallel() -> None:
    result = make_set(
        [
            make_entry(
                "fan_out",
                FAN_100,
                "processes",
                around(1e-4),
                cpu_per_op=2e-4,
                profile_wall_per_op=1e-4,
            ),
            # A tiny region's CPU ticks can exceed its wall time; that is not parallel work.
            make_entry(
                "fan_out",
                FAN_100,
                "serial",
                around(1e-8),
                cpu_per_op=3e-8,
                profile_wall_per_op=1e-8,
            ),
        ]
    )
    (finding,) = findings.parallel_findings(result)
    assert f"processes in fan_out N=100 sleep 1 ms (2.0{X} its wall time)" in finding.text
    assert "serial" not in finding.text


def test_gaps_are_counted_and_tabled() -> None:
    gap = Gap("spawn[tasks=100]/gevent", "spawn", "tasks=100", "gevent", "failed", "ImportError: x")
    result = make_set([make_entry("spawn", "tasks=100", "threads", around(8e-5))], gaps=[gap])
    assert [f.text for f in findings.gap_findings(result)] == [
        "1 cell(s) failed; see Gaps for the reasons."
    ]
    table = findings.gaps_table([result])
    assert table is not None
    assert table.rows == (("3.11.7", "spawn N=100", "gevent", "failed", "ImportError: x"),)
    means = findings.means_table([result])
    assert means is not None
    assert means.header == ("cell", "threads", "gevent")
    assert means.rows[0][2] == "FAILED"


def test_means_table_side_by_side_for_several_files() -> None:
    base = switch_set()
    other = make_set([make_entry("pingpong", PINGPONG, "greenlet", around(300e-9))], label="3.12.1")
    table = findings.means_table([base, other])
    assert table is not None
    assert table.header == ("cell", "file", "serial", "threads", "greenlet", "generators")
    assert [row[:2] for row in table.rows] == [
        ("pingpong rounds=2000", "3.11.7"),
        ("pingpong rounds=2000", "3.12.1"),
    ]
    assert table.rows[1][4] == "300 ns ±1%"
    assert table.rows[1][2] == findings.MISSING


def test_profile_tables_show_user_system_and_switch_split() -> None:
    result = make_set(
        [
            make_entry(
                "pingpong",
                PINGPONG,
                "threads",
                around(16e-6),
                cpu_user_per_op=1e-6,
                cpu_system_per_op=9e-6,
                ctx_voluntary_per_op=1.15,
                ctx_involuntary_per_op=0.38,
            )
        ]
    )
    cpu, switches = findings.cpu_table([result]), findings.switches_table([result])
    assert cpu is not None and switches is not None
    assert cpu.rows[0][1] == "10.0 µs (1.00 µs user + 9.00 µs sys)"
    assert switches.rows[0][1] == "1.53 (1.15 vol + 0.38 invol)"
    assert findings.cpu_table([switch_set()]) is None


def test_environment_table_orders_known_keys_and_marks_differences() -> None:
    first = make_set([], label="3.11.7", hostname="vm", zeta="1")
    second = make_set([], label="3.12.1", hostname="vm", zeta="2")
    table = findings.environment_table([first, second])
    assert [row[0] for row in table.rows] == ["python_version", "hostname", "zeta"]
    assert findings.differing_environment_keys([first, second]) == {"python_version", "zeta"}


def test_foreign_benchmarks_are_tabled_by_name() -> None:
    foreign = Entry("json_dumps", None, None, None, "second", (1e-3, 1.2e-3))
    result = make_set([foreign])
    table = findings.foreign_table([result])
    assert table is not None
    assert table.rows == (("json_dumps", "1.10 ms ±13%"),)
    assert findings.rows([result]) == []


def test_changes_name_the_biggest_significant_ones() -> None:
    base = make_set(
        [
            make_entry("pingpong", PINGPONG, "greenlet", around(200e-9)),
            make_entry("pingpong", PINGPONG, "threads", around(16e-6)),
        ]
    )
    new = make_set(
        [
            make_entry("pingpong", PINGPONG, "greenlet", around(300e-9)),
            make_entry("pingpong", PINGPONG, "threads", around(16e-6)),
        ],
        label="3.12.1",
    )
    result = compare([base, new], Options())
    texts = [f.text for f in findings.change_findings(result)]
    assert texts[0].startswith(f"Over 2 benchmarks measured in time, 3.12.1 is 1.22{X} slower")
    assert texts[1].startswith("3.12.1 against 3.11.7: 0 of 2 benchmarks significantly better, 1")
    assert texts[2] == (
        "Biggest significant changes: pingpong rounds=2000 / greenlet: 300 ns in 3.12.1 "
        f"against 200 ns in 3.11.7, 1.50{X} slower, p = 0.0022."
    )
    table = findings.comparison_table(result)
    assert table.header == (
        "benchmark",
        "3.11.7",
        "3.12.1",
        "3.12.1 / 3.11.7",
        "p-value",
        "verdict",
    )
    assert table.rows[0] == (
        "pingpong rounds=2000 / greenlet",
        "200 ns",
        "300 ns",
        "1.500",
        "0.0022",
        "slower",
    )


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(1.0, f"1.00{X}"), (7.16, f"7.2{X}"), (74.2, f"74{X}"), (4481.4, f"4,481{X}")],
)
def test_times(ratio: float, text: str) -> None:
    assert findings.times(ratio) == text


def test_rows_follow_the_suite_order_whatever_the_file_order() -> None:
    result = make_set(
        [
            make_entry("fan_out", FAN_10K, "asyncio", around(1e-5)),
            make_entry("pingpong", PINGPONG, "asyncio", around(1e-6)),
            make_entry("fan_out", FAN_100, "asyncio", around(1e-5)),
            make_entry("pingpong", "rounds=oops", "asyncio", around(1e-6)),
        ]
    )
    assert [row.label for row in findings.rows([result])] == [
        "pingpong rounds=2000",
        "fan_out N=10000 sleep 1 ms",
        "fan_out N=100 sleep 1 ms",
    ]
    # A benchmark whose parameters this version cannot read is shown by name, not charted.
    table = findings.foreign_table([result])
    assert table is not None and table.rows[0][0] == "pingpong[rounds=oops]/asyncio"


# -- latency, sweeps, memory slope ----------------------------------------------------------------

DATA = Path(__file__).resolve().parent / "data"


def test_tail_statement_lowest_p99_first_with_its_spread() -> None:
    (finding,) = findings.tail_findings(latency_set())
    assert finding.text == (
        "p99 latency (put to get) in producer_consumer P=1 C=1 Q=1 M=4000 no work, lowest first: "
        f"asyncio 1.20 ms (p99/p50 = 8.0{X}), threads 9.80 ms (p99/p50 = 9.8{X})."
    )
    assert findings.tail_findings(switch_set()) == []


def test_latency_table_shows_the_four_percentiles() -> None:
    table = findings.latency_table([latency_set()])
    assert table is not None
    assert table.header == ("cell", "threads", "asyncio", "greenlet")
    assert table.rows[0][1:] == (
        "1.00 ms / 2.00 ms / 9.80 ms / 14.7 ms",
        "150 µs / 300 µs / 1.20 ms / 1.80 ms",
        findings.MISSING,
    )
    assert "producer_consumer: put to get" in table.note
    assert findings.latency_table([switch_set()]) is None


def sweep_file() -> ResultSet:
    return load(DATA / "sweep.json")


def test_scaling_statements_name_the_stop_and_the_unreached_sizes() -> None:
    texts = [f.text for f in findings.scaling_findings(sweep_file())]
    assert texts[0] == (
        "producer_consumer Q=64 M=2000 no work: threads: time per item grows "
        f"3.7{X} over its best (40.0 µs at N=1) at N=100; could not reach N=1,000 "
        "(skipped: resource limit: can't start new thread)."
    )
    assert texts[1] == (
        "producer_consumer Q=64 M=2000 no work: asyncio: time per item stays within "
        f"2{X} of its best (7.00 µs at N=1) up to N=100."
    )
    assert texts[2].startswith(
        f"fan_out sleep 1 ms: threads: time per task grows 2.5{X} over its best (120 µs at "
        "N=100) at N=1,000; could not reach N=10,000 (skipped: time limit: one run would take"
    )
    assert "could not reach N=100,000 (skipped: not run: N=10000 already skipped" in texts[2]
    assert texts[3] == (
        f"fan_out sleep 1 ms: asyncio: time per task grows 2.5{X} over its best (12.0 µs at "
        "N=1,000) at N=10,000."
    )
    assert texts[4] == (
        "fan_out sleep 1 ms: generators: time per task is lowest at the largest size measured, "
        "N=10,000 (2.00 µs)."
    )
    # Two sizes are no sweep: the echo cells at N=100 and 1,000 give no statement.
    assert not any("echo" in text for text in texts)


def test_sweep_table_lists_best_stop_and_reasons() -> None:
    table = findings.sweep_table([sweep_file()])
    assert table is not None
    assert table.header[:3] == ("sweep", "model", "sizes measured")
    threads = next(row for row in table.rows if row[:2] == ("fan_out sleep 1 ms", "threads"))
    assert threads[2:5] == ("1, 10, 100, 1,000", "120 µs at N=100", f"N=1,000 (2.5{X} the best)")
    assert threads[5].startswith("N=10,000: skipped: time limit")
    assert findings.sweep_table([switch_set()]) is None


def memory_line(model: str, slope: float, intercept: float) -> list[Entry]:
    """Memory cells at N = 10, 100, 1,000 exactly on a line (no per-run metadata: bytes per
    task x N is the total)."""
    return [
        make_entry("memory", f"tasks={n}", model, [(intercept + slope * n) / n] * 3)
        for n in (10, 100, 1000)
    ]


def test_slope_recovers_bytes_per_task_and_says_how_well_it_fits() -> None:
    result = make_set([*memory_line("threads", 16896, 1e5), *memory_line("asyncio", 1400, 6e4)])
    (finding,) = findings.slope_findings(result)
    assert finding.text == (
        "Memory per parked task fitted as the slope of total bytes against N, smallest first: "
        "asyncio 1.37 KiB (95% interval 1.37 KiB to 1.37 KiB, R\N{SUPERSCRIPT TWO} = 1.000, "
        "N = 10, 100, 1,000); threads 16.5 KiB (95% interval 16.5 KiB to 16.5 KiB, "
        "R\N{SUPERSCRIPT TWO} = 1.000, N = 10, 100, 1,000)."
    )
    fits = {item.model: item.fit for item in findings.memory_fits(result)}
    assert fits["asyncio"].slope == pytest.approx(1400)
    assert fits["asyncio"].intercept == pytest.approx(6e4)
    table = findings.slope_table([result])
    assert table is not None
    assert table.rows[0][:3] == ("threads", "16.5 KiB", "16.5 KiB to 16.5 KiB")
    # One size per model is no line.
    single = make_set([make_entry("memory", "tasks=100", "threads", around(16e3))])
    assert findings.slope_findings(single) == [] and findings.slope_table([single]) is None


def test_slope_from_the_runs_memory_delta() -> None:
    fits = {item.model: item.fit for item in findings.memory_fits(sweep_file())}
    assert fits["threads"].slope == pytest.approx(16896, rel=0.01)
    assert fits["threads"].points == 9
    assert fits["threads"].slope_low <= 16896 <= fits["threads"].slope_high


def test_echo_cells_are_labelled_with_delay_and_connection() -> None:
    labels = [row.label for row in findings.rows([sweep_file()], "fan_out")]
    assert "fan_out N=100 echo D=10 ms 64 B connect=each" in labels
    assert "fan_out N=100 echo D=10 ms 64 B connect=reuse" in labels


# --- fan_out: what the model adds -------------------------------------------------------------

FAN_CPU = "tasks=100,work=cpu,delay_ms=1.0,cpu_iterations=100"
CPU_BOUND = {"fan_out_bound": "none: cpu work has no model-independent bound"}


def bound(ideal: float, workers: int, text: str = "all 100 tasks wait at once") -> dict[str, Any]:
    return {"fan_out_ideal": ideal, "fan_out_ideal_workers": workers, "fan_out_bound": text}


SERIAL_BOUND = bound(0.1, 1, "N x D = 100 x 1 ms = 100 ms (sleep): one task waits at a time")
POOL_BOUND = bound(
    0.05, 2, "ceil(N / W) x D = ceil(100 / 2) x 1 ms = 50 ms (sleep): 2 tasks wait at once"
)


def fan_out_set(with_ideals: bool = True) -> ResultSet:
    """The issue's example: generators and asyncio 1.6x apart per task, 4.9x apart in what they
    add to the sleeps; threads beat processes on the makespan, not on what they add."""
    cells = [
        ("serial", 1.064e-3, SERIAL_BOUND),
        ("processes", 562e-6, POOL_BOUND),
        ("threads", 85.5e-6, bound(0.001, 100)),
        ("asyncio", 19.4e-6, bound(0.001, 100)),
        ("generators", 11.9e-6, bound(0.001, 100)),
    ]
    return make_set(
        [
            make_entry("fan_out", FAN_100, model, around(mean), **(ideal if with_ideals else {}))
            for model, mean, ideal in cells
        ]
    )


def test_fan_out_ranks_what_each_model_adds_to_the_waits() -> None:
    ranking, bounds = (f.text for f in findings.fan_out_findings(fan_out_set()))
    assert ranking.startswith("fan_out N=100 sleep 1 ms: what each model adds to the waits")
    assert (
        f"least first, of its makespan per task: generators 1.90 µs of 11.9 µs, asyncio 9.40 µs "
        f"(4.9{X}) of 19.4 µs, processes 62.0 µs (33{X}) of 562 µs, serial (plain call) 64.0 µs "
        f"(34{X}) of 1.06 ms, threads 75.5 µs (40{X}) of 85.5 µs." in ranking
    )
    assert bounds == (
        "fan_out N=100 sleep 1 ms: the ideal makespan is the wait D when all tasks wait at "
        "once; where fewer can: serial N x D = 100 x 1 ms = 100 ms (sleep): one task waits at a "
        "time; processes ceil(N / W) x D = ceil(100 / 2) x 1 ms = 50 ms (sleep): 2 tasks wait "
        "at once."
    )


def test_fan_out_at_or_below_its_ideal_is_named_not_ranked() -> None:
    result = make_set(
        [
            make_entry("fan_out", FAN_100, "asyncio", around(19.4e-6), **bound(0.001, 100)),
            make_entry("fan_out", FAN_100, "gevent", around(9.8e-6), **bound(0.001, 100)),
        ]
    )
    (ranking,) = (f.text for f in findings.fan_out_findings(result))
    assert ranking.endswith(
        "asyncio 9.40 µs of 19.4 µs; at or below the ideal makespan, so nothing to rank: gevent."
    )
    # one model left to rank: no winner, rather than gevent "adding the least"
    assert findings.winner_findings(result) == []


def test_a_cpu_fan_out_says_it_has_no_bound() -> None:
    result = make_set(
        [
            make_entry("fan_out", FAN_CPU, "asyncio", around(9.5e-6), **CPU_BOUND),
            make_entry("fan_out", FAN_CPU, "generators", around(8.6e-6), **CPU_BOUND),
        ]
    )
    assert [f.text for f in findings.fan_out_findings(result)] == [
        "fan_out N=100 cpu: cpu work has no model-independent bound, so no overhead is given: "
        "the time per task is the work and what the model adds together."
    ]
    (winner,) = findings.winner_findings(result)
    assert winner.text.startswith("fan_out N=100 cpu: generators is fastest (8.60 µs)")


def test_the_fan_out_winner_is_the_model_that_adds_the_least() -> None:
    result = make_set([e for e in fan_out_set().entries if e.model in ("processes", "threads")])
    (winner,) = findings.winner_findings(result)
    # threads finish sooner (85.5 µs against 562 µs per task) because all their tasks sleep at
    # once, but the pool adds less to its two-at-a-time sleeps
    assert winner.text == (
        "fan_out N=100 sleep 1 ms: processes adds the least to the waits (62.0 µs per task "
        "beyond the ideal makespan; 562 µs per task in all); the runner-up threads adds 22% more "
        "(75.5 µs)."
    )
    (winner,) = findings.winner_findings(fan_out_set())
    assert "generators adds the least to the waits (1.90 µs" in winner.text
    assert f"the runner-up asyncio adds 4.9{X} that (9.40 µs)" in winner.text
    assert winner.text.endswith("; the serial baseline adds 64.0 µs.")


def test_fan_out_statements_of_an_older_file_are_on_the_makespan() -> None:
    result = fan_out_set(with_ideals=False)
    assert findings.fan_out_findings(result) == []
    (winner,) = findings.winner_findings(result)
    assert winner.text.startswith(
        "fan_out N=100 sleep 1 ms: generators is fastest (11.9 µs), 63% faster than the "
        "runner-up asyncio (19.4 µs)"
    )


def test_the_parallel_statement_holds_a_fan_out_against_its_whole_wall_time() -> None:
    # 300 µs of CPU per task is more than the pool adds (62 µs) but less than the makespan per
    # task (562 µs): CPU during the sleeps is not parallel work
    entry = make_entry(
        "fan_out",
        FAN_100,
        "processes",
        around(562e-6),
        cpu_per_op=3e-4,
        profile_wall_per_op=562e-6,
        **POOL_BOUND,
    )
    assert findings.parallel_findings(make_set([entry])) == []


def test_the_means_table_shows_the_makespan_and_what_the_model_adds() -> None:
    table = findings.means_table([fan_out_set()])
    assert table is not None
    assert table.header == ("cell", "serial", "processes", "threads", "asyncio", "generators")
    assert table.rows[0][1:] == (
        "1.06 ms ±1%; adds 64.0 µs",
        "562 µs ±1%; adds 62.0 µs",
        "85.5 µs ±1%; adds 75.5 µs",
        "19.4 µs ±1%; adds 9.40 µs",
        "11.9 µs ±1%; adds 1.90 µs",
    )
    assert "(adds: (makespan - ideal makespan) / N" in table.note
    older = findings.means_table([fan_out_set(with_ideals=False)])
    assert older is not None and "adds" not in " ".join(older.rows[0])


def test_comparison_table_marks_rows_judged_on_the_overhead() -> None:
    newer = make_set(
        [replace(e, values=tuple(v + 4.7e-6 for v in e.values)) for e in fan_out_set().entries],
        label="3.13.0",
    )
    result = compare([fan_out_set(), newer], Options(bootstrap_resamples=0))
    table = findings.comparison_table(result)
    row = next(row for row in table.rows if "/ generators" in row[0])
    assert row[:4] == (
        "fan_out N=100 sleep 1 ms / generators [overhead per task]",
        "1.90 µs",
        "6.60 µs",
        "3.474",
    )
    (_, _, biggest) = (f.text for f in findings.change_findings(result))
    assert "/ generators [overhead per task]: 6.60 µs in 3.13.0 against 1.90 µs" in biggest


def test_the_tail_statement_marks_batches_and_names_unresolved_models_without_a_number() -> None:
    tails = [finding.text for finding in findings.tail_findings(load(DATA / "py311_latency.json"))]
    pingpong = next(text for text in tails if text.startswith("p99 latency (one-way switch)"))
    assert f"greenlet 529 ns (batches of 8 rounds, p99/p50 = 2.3{X})" in pingpong
    assert pingpong.endswith("; below timer resolution: generators.")
    assert "generators" not in pingpong.split(";")[0]


def test_the_latency_table_shows_the_batch_and_no_unresolved_number() -> None:
    table = findings.latency_table([load(DATA / "py311_latency.json")])
    assert table is not None
    pingpong = dict(zip(table.header, table.rows[0], strict=True))
    assert pingpong["greenlet"] == "232 ns / 361 ns / 529 ns / 676 ns (k=8)"
    assert pingpong["generators"] == "below timer resolution"
    assert "(k=N): a pingpong stamped every N rounds" in table.note
    assert "so no percentile is reported" in table.note


def test_an_echo_fan_out_without_delay_has_no_wait_to_subtract() -> None:
    echo = "tasks=100,work=echo,delay_ms=0.0,cpu_iterations=100,request_bytes=64,connect=each"
    no_wait = bound(0.0, 100, "D = 0 ms (server delay): all 100 tasks wait at once")
    result = make_set(
        [
            make_entry("fan_out", echo, "asyncio", around(141e-6), **no_wait),
            make_entry("fan_out", echo, "generators", around(64.5e-6), **no_wait),
        ]
    )
    assert findings.fan_out_findings(result) == []
    (winner,) = findings.winner_findings(result)
    assert "generators is fastest (64.5 µs)" in winner.text
    table = findings.means_table([result])
    assert table is not None and table.rows[0][1:] == ("141 µs ±1%", "64.5 µs ±1%")
