"""Chart content: titles, axis labels and units, scales, series and points; never pixels."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.analysis.comparison import Options, compare
from bench.render import charts
from bench.results.schema import Entry, ResultSet, load_all
from tests.result_sets import (
    FAN_10K,
    FAN_100,
    PC_1X1,
    PC_4X4,
    PINGPONG,
    X,
    around,
    latency_set,
    make_entry,
    make_set,
)

DATA = Path(__file__).resolve().parent / "data"
PC_1X1_Q64 = "producers=1,consumers=1,capacity=64,items=4000,work=none,cpu_iterations=100"
FAN_100_CPU = "tasks=100,work=cpu,delay_ms=1.0,cpu_iterations=100"


def bars(ax: Axes) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def lines(ax: Axes) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def legend_texts(figure: Figure) -> list[str]:
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def tick_texts(ax: Axes, axis: str = "x") -> list[str]:
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [tick.get_text() for tick in ticks]


# A line's data as a list (matplotlib types it as any array-like).
def xs(line: Line2D) -> list[Any]:
    return list(cast("Iterable[Any]", line.get_xdata()))


def ys(line: Line2D) -> list[Any]:
    return list(cast("Iterable[Any]", line.get_ydata()))


def switches() -> ResultSet:
    return make_set(
        [
            make_entry("pingpong", PINGPONG, "generators", around(30e-9)),
            make_entry("pingpong", PINGPONG, "threads", around(16e-6)),
            make_entry("pingpong", PINGPONG, "serial", around(30e-9)),
            make_entry("pingpong", PINGPONG, "greenlet", around(200e-9)),
        ]
    )


def test_switch_latency_one_bar_per_model_in_suite_order_on_a_log_axis() -> None:
    figure = charts.switch_latency([switches()])
    assert figure is not None
    (ax,) = figure.axes
    assert ax.get_title() == "Switch latency: pingpong rounds=2000"
    assert ax.get_ylabel() == "time per one-way switch [ns] (log scale)"
    assert ax.get_xlabel() == "model"
    assert ax.get_yscale() == "log"
    assert tick_texts(ax) == ["serial", "threads", "greenlet", "generators"]
    (container,) = bars(ax)
    heights = [patch.get_height() for patch in container.patches]
    assert heights == pytest.approx([30.0, 16000.0, 200.0, 30.0])
    # Error bars are the min-max range of the values: 1% either side here.
    assert container.errorbar is not None
    assert figure.legends == []  # one series: no legend


def test_several_files_give_side_by_side_bars_and_a_legend() -> None:
    newer = make_set([make_entry("pingpong", PINGPONG, "greenlet", around(300e-9))], label="3.13.0")
    figure = charts.switch_latency([switches(), newer])
    assert figure is not None
    (ax,) = figure.axes
    first, second = bars(ax)
    assert len(first.patches) == 4 and len(second.patches) == 1
    assert second.patches[0].get_height() == pytest.approx(300.0)
    assert legend_texts(figure) == ["3.11.7", "3.13.0"]


def test_memory_and_spawn_name_the_size_when_models_ran_different_sizes() -> None:
    result = make_set(
        [
            make_entry("memory", "tasks=100", "threads", around(16.5 * 1024)),
            make_entry("memory", "tasks=10000", "generators", around(370.0)),
            make_entry("spawn", "tasks=100", "threads", around(80e-6)),
        ]
    )
    memory = charts.memory_per_task([result])
    assert memory is not None
    (ax,) = memory.axes
    assert ax.get_title() == "Memory per parked task"
    assert ax.get_ylabel() == "memory per parked task [KiB] (log scale)"
    assert tick_texts(ax) == ["threads\nN=100", "generators\nN=10000"]
    spawn = charts.spawn_cost([result])
    assert spawn is not None
    assert spawn.axes[0].get_title() == "Spawn cost: create, start and finish one task: spawn N=100"
    assert spawn.axes[0].get_yscale() == "log"


def pipeline() -> ResultSet:
    entries = []
    for params, rate in ((PC_1X1, 1e6), (PC_1X1_Q64, 2e6), (PC_4X4, 3e6)):
        for model, factor in (("threads", 0.1), ("greenlet", 1.0)):
            entries.append(
                make_entry("producer_consumer", params, model, around(1 / (rate * factor)))
            )
    return make_set(entries)


def test_producer_consumer_panels_never_mix_capacities() -> None:
    figure = charts.producer_consumer_throughput([pipeline()])
    assert figure is not None
    q1, q64 = figure.axes
    assert q1.get_title() == "Q=1, M=4,000 items, no work"
    assert q64.get_title() == "Q=64, M=4,000 items, no work"
    for ax in (q1, q64):
        assert ax.get_xlabel() == f"concurrency: producers {X} consumers"
        assert ax.get_ylabel() == "throughput [items/s] (log scale)"
        assert ax.get_yscale() == "log"
        assert len(lines(ax)) == 2  # one line per model
    assert tick_texts(q64) == [f"1{X}1", f"4{X}4"]
    threads_line = lines(q64)[0].lines[0]
    assert xs(threads_line) == [0, 1]
    assert ys(threads_line) == pytest.approx([2e5, 3e5])
    assert figure.get_suptitle() == "producer_consumer throughput (1 / mean time per item)"
    assert legend_texts(figure) == ["threads", "greenlet"]


def test_fan_out_plots_tasks_per_second_against_n_per_kind_of_work() -> None:
    result = make_set(
        [
            make_entry("fan_out", FAN_100_CPU, "asyncio", around(12e-6)),
            make_entry("fan_out", FAN_100, "asyncio", around(20e-6)),
            make_entry("fan_out", FAN_10K, "asyncio", around(10e-6)),
            make_entry("fan_out", FAN_100, "threads", around(100e-6)),
        ]
    )
    newer = make_set([make_entry("fan_out", FAN_100, "asyncio", around(25e-6))], label="3.13.0")
    figure = charts.fan_out_throughput([result, newer])
    assert figure is not None
    cpu, sleep = figure.axes
    assert cpu.get_title() == "each task computes (100 iterations)"
    assert sleep.get_title() == "each task sleeps 1 ms"
    assert sleep.get_xscale() == "log" and sleep.get_yscale() == "log"
    assert sleep.get_xlabel() == "N tasks launched and gathered (log scale)"
    assert sleep.get_ylabel() == "throughput [tasks/s] (log scale)"
    series = {c.get_label(): c.lines[0] for c in lines(sleep)}
    assert list(series) == ["threads (3.11.7)", "asyncio (3.11.7)", "asyncio (3.13.0)"]
    assert xs(series["asyncio (3.11.7)"]) == [100.0, 10000.0]
    assert ys(series["asyncio (3.11.7)"]) == pytest.approx([5e4, 1e5])
    # One file per line style, so the files of one model stay apart.
    assert series["asyncio (3.13.0)"].get_linestyle() != series["asyncio (3.11.7)"].get_linestyle()


def profiled(model: str, user: float, system: float) -> Entry:
    return make_entry(
        "pingpong",
        PINGPONG,
        model,
        around(user + system),
        cpu_user_per_op=user,
        cpu_system_per_op=system,
        profile_wall_per_op=user + system,
        ctx_voluntary_per_op=1.0 if model == "threads" else 0.0,
        ctx_involuntary_per_op=0.5 if model == "threads" else 0.0,
    )


def test_profile_stacks_user_and_system_cpu_and_both_kinds_of_switches() -> None:
    result = make_set([profiled("threads", 1e-6, 9e-6), profiled("greenlet", 150e-9, 50e-9)])
    figure = charts.profile([result], "pingpong")
    assert figure is not None
    cpu, ctx = figure.axes
    assert cpu.get_title() == "rounds=2000: CPU time per operation"
    assert cpu.get_ylabel() == "CPU time per op [µs]"
    assert ctx.get_ylabel() == "context switches per op [count]"
    user, system = bars(cpu)
    assert [p.get_height() for p in user.patches] == pytest.approx([1.0, 0.15])
    assert [p.get_height() for p in system.patches] == pytest.approx([9.0, 0.05])
    assert [p.get_y() for p in system.patches] == pytest.approx([1.0, 0.15])  # stacked
    _voluntary, involuntary = bars(ctx)
    assert [p.get_height() for p in involuntary.patches] == pytest.approx([0.5, 0.0])
    assert tick_texts(ctx) == ["threads", "greenlet"]
    assert legend_texts(figure) == [
        "user CPU",
        "system CPU",
        "wall time (profile pass)",
        "voluntary switches",
        "involuntary switches",
    ]
    assert charts.profile([result], "spawn") is None


def test_ratios_mark_significant_changes_apart() -> None:
    base = make_set(
        [
            make_entry("pingpong", PINGPONG, "greenlet", around(200e-9)),
            make_entry("pingpong", PINGPONG, "threads", around(16e-6, spread=0.3)),
        ]
    )
    new = make_set(
        [
            make_entry("pingpong", PINGPONG, "greenlet", around(300e-9)),
            make_entry("pingpong", PINGPONG, "threads", around(16.5e-6, spread=0.3)),
        ],
        label="3.13.0",
    )
    figure = charts.ratios(compare([base, new], Options()))
    assert figure is not None
    (ax,) = figure.axes
    assert ax.get_xscale() == "log"
    low, high = ax.get_xlim()
    assert low * high == pytest.approx(1.0)  # centred at 1
    assert tick_texts(ax, "y") == [
        "pingpong rounds=2000 / threads",
        "pingpong rounds=2000 / greenlet",
    ]
    significant, other = lines(ax)
    assert significant.lines[0].get_marker() == charts.SIGNIFICANT_MARKER
    assert other.lines[0].get_marker() == charts.INSIGNIFICANT_MARKER
    assert xs(significant.lines[0]) == pytest.approx([1.5])
    assert legend_texts(figure) == [
        "3.13.0 / 3.11.7: significant (p < 0.05)",
        "3.13.0 / 3.11.7: not significant",
    ]
    assert "log scale" in ax.get_xlabel()


def every_axes(figure: Figure) -> list[Axes]:
    return [ax for ax in figure.axes if ax.get_visible()]


def test_suite_files_give_every_chart_with_titles_and_labels() -> None:
    results = load_all([DATA / "py311.json", DATA / "py313.json"])
    built = charts.build(results, compare(results, Options()))
    assert [chart.name for chart in built] == [
        "switch_latency",
        "throughput_producer_consumer",
        "memory_per_task",
        "spawn_cost",
        "profile_pingpong",
        "profile_producer_consumer",
        "profile_spawn",
        "ratios",
    ]
    for chart in built:
        assert chart.title and chart.caption
        assert chart.figure.get_suptitle() or all(ax.get_title() for ax in chart.figure.axes)
        for ax in every_axes(chart.figure):
            assert ax.get_xlabel() and ax.get_ylabel(), chart.name
        # Several files: every chart tells them apart in a legend.
        assert any("3.13" in text for text in legend_texts(chart.figure)), chart.name


def test_foreign_files_have_no_suite_chart() -> None:
    (result,) = load_all([DATA / "foreign_timeit.json"])
    assert charts.build([result], None) == []


def test_save_writes_png_and_svg(tmp_path: Path) -> None:
    figure = charts.switch_latency([switches()])
    assert figure is not None
    png = charts.save(charts.Chart("switch_latency", "t", "c", figure), tmp_path)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (tmp_path / "switch_latency.svg").read_text().lstrip().startswith("<?xml")


# -- latency, sweeps, memory slope ----------------------------------------------------------------


def plotted(ax: Axes) -> dict[str, Line2D]:
    return {
        str(line.get_label()): line
        for line in ax.get_lines()
        if not str(line.get_label()).startswith("_")
    }


def test_latency_chart_draws_the_tail_on_log_axes() -> None:
    result = latency_set()
    figure = charts.latency_cdf([result], "producer_consumer")
    assert figure is not None
    (ax,) = every_axes(figure)
    # One panel: the chart's title, wrapped to the panel's width so that the legend beside it
    # cannot cover it, and the parameter set share the axes' title.
    assert ax.get_title() == (
        "Latency of producer_consumer (put to get): the\n"
        "tail of the distribution\n"
        "P=1 C=1 Q=1 M=4000 no work"
    )
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "latency [ms] (log scale)"
    assert ax.get_ylabel() == "fraction of items slower (1 \N{MINUS SIGN} F, log scale)"
    lines = plotted(ax)
    assert list(lines) == ["threads", "asyncio"]  # greenlet has no record: no line
    # 1 - F at each stored quantile, in ms; the maximum (q = 1) has no place on a log axis.
    assert xs(lines["asyncio"]) == pytest.approx([0.075, 0.15, 1.2])
    assert ys(lines["asyncio"]) == pytest.approx([1.0, 0.5, 0.01])
    assert legend_texts(figure) == ["threads", "asyncio"]
    assert charts.latency_cdf([result], "pingpong") is None


def test_latency_chart_of_two_files_gives_a_line_style_per_file() -> None:
    results = load_all([DATA / "py311_latency.json", DATA / "py313_latency.json"])
    figure = charts.latency_cdf(results, "pingpong")
    assert figure is not None
    (ax,) = every_axes(figure)
    lines = plotted(ax)
    assert lines["threads (3.11.7)"].get_linestyle() != lines["threads (3.13.0)"].get_linestyle()
    assert lines["threads (3.11.7)"].get_color() == lines["threads (3.13.0)"].get_color()
    # gevent in 3.13.0 has the metadata's percentiles only: nothing to draw.
    assert "gevent (3.13.0)" not in lines and "gevent (3.11.7)" in lines
    assert ax.get_ylim()[0] == pytest.approx(1e-4)


def test_sweep_curves_mark_the_stop_and_the_unreached_sizes() -> None:
    (result,) = load_all([DATA / "sweep.json"])
    figure = charts.sweep_curves([result], "fan_out")
    assert figure is not None
    (ax,) = every_axes(figure)
    assert ax.get_title() == "fan_out sweep: time per task against N\nsleep 1 ms"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "N tasks launched and gathered (log scale)"
    assert ax.get_ylabel() == "time per task [µs] (log scale)"
    lines = plotted(ax)
    assert xs(lines["threads"]) == [1, 10, 100, 1000]
    assert ys(lines["threads"]) == pytest.approx([1200, 200, 120, 300])
    stops = [line for line in ax.get_lines() if str(line.get_label()).startswith("stops scaling")]
    assert sorted((xs(line), ys(line)) for line in stops) == [
        ([1000], [pytest.approx(300)]),
        ([10000], [pytest.approx(30)]),
    ]
    crosses = [
        line
        for line in ax.get_lines()
        if line.get_marker() == charts.UNREACHED_MARKER and len(xs(line))
    ]
    (threads_crosses,) = crosses
    assert xs(threads_crosses) == [10000, 100000]
    assert set(ys(threads_crosses)) == {ax.get_ylim()[1]}  # on the top edge
    assert legend_texts(figure) == [
        "threads",
        "stops scaling (> 2\N{MULTIPLICATION SIGN} its best)",
        "size not reached (reason in the Sweeps table)",
        "asyncio",
        "generators",
    ]
    pipeline_sweep = charts.sweep_curves([result], "producer_consumer")
    assert pipeline_sweep is not None
    assert every_axes(pipeline_sweep)[0].get_xlabel() == "N producers = N consumers (log scale)"
    assert every_axes(pipeline_sweep)[0].get_ylabel() == "time per item [µs] (log scale)"
    assert charts.sweep_curves([switches()], "fan_out") is None


def test_memory_slope_draws_runs_and_fitted_lines_with_the_slope_in_the_legend() -> None:
    (result,) = load_all([DATA / "sweep.json"])
    figure = charts.memory_slope([result])
    assert figure is not None
    (ax,) = figure.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "N parked tasks (log scale)"
    assert ax.get_ylabel() == "memory of all parked tasks [MiB] (log scale)"
    texts = legend_texts(figure)
    assert texts[0] == "threads: runs"
    assert texts[1].startswith("threads: 16.5 KiB per task (R\N{SUPERSCRIPT TWO} = 1.000)")
    assert texts[3].startswith("asyncio: 1.37 KiB per task")
    runs = plotted(ax)["threads: runs"]
    assert sorted(set(xs(runs))) == [10, 100, 1000]
    assert len(xs(runs)) == 9
    assert charts.memory_slope([switches()]) is None


def test_echo_panels_apart_from_cpu_and_sleep() -> None:
    (result,) = load_all([DATA / "sweep.json"])
    figure = charts.fan_out_throughput([result])
    assert figure is not None
    titles = [ax.get_title() for ax in every_axes(figure)]
    assert titles == [
        "each task sleeps 1 ms",
        "each task echoes 64 B over TCP,\nserver delay D=10 ms, a connection per task",
        "each task echoes 64 B over TCP,\nserver delay D=10 ms, reused connections",
    ]
    each = {c.get_label(): c.lines[0] for c in lines(every_axes(figure)[1])}
    assert xs(each["asyncio"]) == [100.0, 1000.0]


def test_sweep_file_gives_the_sweep_and_slope_charts() -> None:
    results = load_all([DATA / "sweep.json"])
    names = [chart.name for chart in charts.build(results, None)]
    assert names == [
        "throughput_producer_consumer",
        "throughput_fan_out",
        "memory_per_task",
        # the swept workloads in the suite's order (bench.spec.workloads.SPECS)
        "sweep_producer_consumer",
        "sweep_fan_out",
        "memory_slope",
    ]


def test_fan_out_overhead_draws_what_each_model_adds_against_n() -> None:
    all_at_once = {"fan_out_ideal": 0.001, "fan_out_bound": "D = 1 ms (sleep): all wait at once"}
    result = make_set(
        [
            make_entry(
                "fan_out",
                FAN_100_CPU,
                "asyncio",
                around(12e-6),
                fan_out_bound="none: cpu work has no model-independent bound",
            ),
            make_entry("fan_out", FAN_100, "asyncio", around(20e-6), **all_at_once),
            make_entry("fan_out", FAN_10K, "asyncio", around(0.2e-6), **all_at_once),
            make_entry("fan_out", FAN_100, "threads", around(110e-6), **all_at_once),
            # at or below the ideal: nothing to draw on a log axis
            make_entry("fan_out", FAN_100, "gevent", around(9e-6), **all_at_once),
        ]
    )
    figure = charts.fan_out_overhead([result])
    assert figure is not None
    (sleep,) = figure.axes  # no panel for cpu work: it has no ideal
    assert figure.get_suptitle() == "fan_out overhead per task: (makespan - ideal makespan) / N"
    assert sleep.get_title() == "each task sleeps 1 ms"
    assert sleep.get_ylabel() == "overhead per task [µs] (log scale)"
    series = {c.get_label(): c.lines[0] for c in lines(sleep)}
    assert list(series) == ["threads", "asyncio"]
    assert xs(series["asyncio"]) == [100.0, 10000.0]
    # 20 µs per task less the 1 ms sleep spread over 100 tasks; 0.2 µs less it over 10,000
    assert ys(series["asyncio"]) == pytest.approx([10.0, 0.1])
    assert ys(series["threads"]) == pytest.approx([100.0])


def test_no_fan_out_overhead_chart_without_ideals() -> None:
    older = make_set([make_entry("fan_out", FAN_100, "asyncio", around(20e-6))])
    assert charts.fan_out_overhead([older]) is None
    names = [chart.name for chart in charts.build([older], None)]
    assert "throughput_fan_out" in names and "overhead_fan_out" not in names


def test_latency_chart_marks_batched_lines_and_lists_the_unresolved_cells() -> None:
    results = load_all([DATA / "py311_latency.json", DATA / "py313_latency.json"])
    figure = charts.latency_cdf(results, "pingpong")
    assert figure is not None
    (ax,) = every_axes(figure)
    lines = plotted(ax)
    assert lines["greenlet (3.11.7) (k=8)"].get_marker() == charts.BATCHED_MARKER
    assert lines["asyncio (3.13.0) (k=4)"].get_marker() == charts.BATCHED_MARKER
    assert lines["threads (3.11.7)"].get_marker() in ("", "None", None)
    assert not any(label.startswith("generators") for label in lines)
    note = charts.latency_resolution_note(results, "pingpong")
    assert "A line marked (k=N) is a pingpong stamped every N rounds" in note
    assert note.endswith("not drawn: rounds=5 generators (3.11.7), rounds=5 generators (3.13.0).")
    assert charts.latency_resolution_note(results, "producer_consumer") == ""
