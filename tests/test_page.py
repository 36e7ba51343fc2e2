"""The report page's parts without a browser: the overview's numbers (``bench.analysis.overview``),
the
inline SVG charts (``bench.render.svgcharts``) and the size of the page of the default two-file
report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from bench.analysis import comparison, findings, overview
from bench.render import charts, htmlreport, svgcharts
from bench.results.schema import load_all

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
BASELINES = ROOT / "results" / "baselines"
MAX_LINES = 7
PAGE_LIMIT = 2 * 1024 * 1024


def lines_per_panel(chart: svgcharts.Chart) -> list[int]:
    return [len(p.series) for p in chart.panels if isinstance(p, svgcharts.LinePanel)]


def test_cost_grid_is_each_model_against_serial_and_the_best() -> None:
    (result,) = load_all([DATA / "py311.json"])
    grid = overview.cost_grid(result)
    assert grid is not None
    cells = findings.grid(result)
    for row in grid.rows:
        serial = cells.get((row.row, "serial"))
        best = min(
            (e.mean for (r, m), e in cells.items() if r == row.row and m != "serial"),
            default=None,
        )
        for model, cost in row.cells.items():
            entry = cells[row.row, model]
            if serial is None:
                assert cost.vs_serial is None
            else:
                assert cost.vs_serial == pytest.approx(entry.mean / serial.mean)
            if best is not None:
                assert cost.vs_best == pytest.approx(entry.mean / best)
            assert cost.best == (model == row.best_model)
        assert row.cells[row.best_model].vs_best == pytest.approx(1.0)


def test_headlines_are_few_ranked_and_a_failed_cell_leads() -> None:
    results = load_all([DATA / "py311_gaps.json"])
    said = overview.headlines(results, None)
    assert overview.MIN_HEADLINES <= len(said) <= overview.MAX_HEADLINES
    assert said[0].topic == "gaps" and "failed" in said[0].text
    scores = [headline.score for headline in said]
    assert scores == sorted(scores, reverse=True)
    # One statement per workload before a second one of any.
    groups = [headline.group for headline in said]
    assert len(set(groups)) == len(groups)


def test_multiples_below_one_keep_two_significant_digits() -> None:
    assert htmlreport.multiple(0.0021) == "0.0021\N{MULTIPLICATION SIGN}"
    assert htmlreport.multiple(0.53) == "0.53\N{MULTIPLICATION SIGN}"
    assert htmlreport.multiple(675.2) == "675\N{MULTIPLICATION SIGN}"
    assert htmlreport.cost_hue(1.0) > htmlreport.cost_hue(10.0) > htmlreport.cost_hue(1000.0)


def test_log_ticks_span_the_values_in_whole_decades() -> None:
    low, high, ticks = svgcharts.log_ticks(3e-8, 2e-5)
    assert (low, high) == pytest.approx((1e-8, 1e-4))
    assert ticks[0] == pytest.approx(low) and ticks[-1] == pytest.approx(high)
    low, high, ticks = svgcharts.log_ticks(1.5, 4.0)
    assert ticks == pytest.approx([1, 2, 5, 10])


def test_charts_have_at_most_seven_lines_a_panel_in_the_models_colours() -> None:
    results = load_all([DATA / "py311_latency.json", DATA / "py313_latency.json"])
    compared = comparison.compare(results, comparison.Options(skip_unit_mismatch=True))
    built = svgcharts.build(results, compared)
    assert {"ratios", "latency_pingpong", "switch_latency"} <= {chart.name for chart in built}
    for chart in built:
        assert all(count <= MAX_LINES for count in lines_per_panel(chart)), chart.name
        page = svgcharts.render(chart)
        for model in chart.models:
            hue = to_hex(charts.model_color(model, results))
            assert f"--c:{hue}" in page, (chart.name, model)
        # Every point and bar carries its value.
        assert "<title>" in page and untitled_marks(page) == 0, chart.name


def test_the_line_count_check_catches_a_crowded_panel() -> None:
    crowded = svgcharts.LinePanel(
        "crowded",
        "x",
        "y",
        tuple(
            svgcharts.Series(f"model{i}", (svgcharts.Point(1.0, 1.0 + i, "v"),)) for i in range(8)
        ),
        str,
        str,
    )
    chart = svgcharts.Chart("crowded", "crowded", "", (crowded,))
    assert lines_per_panel(chart) == [8]
    assert not all(count <= MAX_LINES for count in lines_per_panel(chart))


def test_labels_are_kept_inside_their_panel() -> None:
    label = "a long tick label"
    centre = svgcharts._inside(svgcharts.WIDTH - 1, label, svgcharts.WIDTH)
    assert centre + svgcharts.text_width(label) / 2 <= svgcharts.WIDTH
    assert svgcharts._inside(0, label, svgcharts.WIDTH) - svgcharts.text_width(label) / 2 >= 0


def test_the_page_of_the_default_two_file_report_is_small() -> None:
    files = [
        BASELINES / "cpython3.11-vm-20261129T222740.json",
        BASELINES / "cpython3.13-vm-20261129T222740.json",
    ]
    if not all(path.exists() for path in files):
        pytest.skip("the baseline result files are not in this checkout")
    results = load_all(files)
    page = htmlreport.render_html(htmlreport.content(results, title="size"))
    size = len(page.encode("utf-8"))
    assert size < PAGE_LIMIT, f"{size / 1e6:.2f} MB"
    assert "data:image" not in page


def untitled_marks(page: str) -> int:
    marks = re.findall(r'<(?:circle|rect) class="(?:dot|bar)[^"]*"[^>]*>(<title>)?', page)
    return sum(1 for title in marks if not title)


def test_the_title_check_catches_a_mark_without_a_value() -> None:
    (result,) = load_all([DATA / "py311.json"])
    chart = svgcharts.bar_chart([result], "pingpong", "s", "s", "")
    assert chart is not None
    page = svgcharts.render(chart)
    assert untitled_marks(page) == 0
    broken = re.sub(r"<title>[^<]*</title></rect>", "</rect>", page, count=1)
    assert untitled_marks(broken) == 1


def test_cost_grid_compares_what_a_sleep_fan_out_adds_to_the_waits() -> None:
    """The makespan of a sleep fan-out holds the sleep itself, the same for every model; the
    cost table compares the overhead per task, (makespan - ideal) / N, as the summary does."""
    (result,) = load_all([DATA / "fan_out.json"])
    grid = overview.cost_grid(result)
    assert grid is not None
    sleep = next(row for row in grid.rows if "sleep" in row.row.label)
    entries = {entry.model: entry for entry in result.entries if entry.params == sleep.row.params}
    added = {model: findings.overhead_mean(entry) for model, entry in entries.items()}
    assert all(value is not None and value > 0 for value in added.values())
    generators, serial = added["generators"], added["serial"]
    assert generators is not None and serial is not None
    assert sleep.cells["generators"].vs_serial == pytest.approx(generators / serial)
    makespans = entries["generators"].mean / entries["serial"].mean
    assert sleep.cells["generators"].vs_serial != pytest.approx(makespans)
    assert sleep.best_model == "generators"
    assert sleep.cells["generators"].short.startswith("+")
    cpu = next(row for row in grid.rows if "cpu" in row.row.label)
    assert not cpu.cells["generators"].short.startswith("+")
