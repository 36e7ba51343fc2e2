"""The report page's charts: inline SVG drawn here, no library, no network.

Every chart is a ``Chart`` of panels, each panel one small SVG of fixed pixel size (scaled down,
never up, on a narrow screen), so its text stays at the page's reading size and nothing is
clipped: titles and legends are HTML around the SVG and wrap like any text. Every point and bar
carries a ``<title>`` with its value (the page shows it on hover), every series a
``data-series`` naming its model, so that the legend's buttons can hide and show it.

Colours are the models' colours of ``bench.render.charts.model_color`` (the PNG and SVG files
beside the
page use the same), so a model has one colour in the table and in every chart. A panel has at
most one line per model: with several files, line charts get one panel per file (the
comparison's ratios chart sets the files against each other). The PNG and SVG files that
matplotlib draws beside the page are unchanged; the page's charts are drawn from the same rows.

A latency distribution is drawn as a line per model (1 - F against latency, log-log); points
with values are only its percentiles (p50 .. p99.9), so a page of many cells stays small.
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.analysis import findings, overview, sweep
from bench.analysis.comparison import Comparison
from bench.analysis.findings import Row, grid, model_colours, model_order, rows
from bench.render import charts
from bench.results.schema import Entry, ModelFacts, ResultSet
from bench.spec.workloads import (
    LATENCY_WORKLOADS,
    SPECS,
    TIME_SWEEP_WORKLOADS,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spawn,
)
from bench.units import format_bytes, format_duration, format_rate

# Panel sizes in CSS pixels: two panels side by side in the page's main column at 1366 px.
WIDTH = 460
HEIGHT = 280
WIDE = 940
MARGIN_LEFT = 64
MARGIN_RIGHT = 18
MARGIN_TOP = 22
MARGIN_BOTTOM = 44
BAR_HEIGHT = 18
BAR_GAP = 6
BAR_LABEL_WIDTH = 96
VALUE_TEXT_WIDTH = 70
RATIO_ROW = 20
MAX_LATENCY_PANELS = charts.MAX_LATENCY_PANELS
TIMES = "\N{MULTIPLICATION SIGN}"
OTHER = "other benchmarks"
PERCENTILE_NAMES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"))


def color(model: str, colours: Mapping[str, str]) -> str:
    """The model's colour as CSS hex: as its cells record it (``colours``, which the PNG charts
    use too), else as its name says (``ModelFacts.for_name``)."""
    return colours.get(model) or ModelFacts.for_name(model).colour


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Series:
    model: str
    points: tuple[Point, ...]
    # A distribution: the line carries the shape, ``marks`` the values a reader hovers.
    marks: tuple[Point, ...] = ()
    unreached: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class LinePanel:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    x_text: Callable[[float], str]
    y_text: Callable[[float], str]
    # Named x positions 0, 1, ... instead of a log axis.
    categories: tuple[str, ...] = ()
    levels: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Bar:
    model: str
    label: str
    value: float
    tip: str
    text: str
    low: float | None = None
    high: float | None = None
    # A later file's bar, drawn lighter beside the first file's.
    later: bool = False


@dataclass(frozen=True)
class BarPanel:
    title: str
    x_label: str
    bars: tuple[Bar, ...]
    x_text: Callable[[float], str]


@dataclass(frozen=True)
class RatioPanel:
    """Ratios against the base file, centred at 1 on a log axis: one row per benchmark."""

    title: str
    rows: tuple[tuple[str, str, float, tuple[float, float] | None, bool, str], ...]


Panel = LinePanel | BarPanel | RatioPanel


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    caption: str
    panels: tuple[Panel, ...]
    models: tuple[str, ...] = field(default=())
    # Each model's colour (``color``).
    colours: Mapping[str, str] = field(default_factory=dict)


# --- axes -------------------------------------------------------------------------------------


def log_ticks(low: float, high: float) -> tuple[float, float, list[float]]:
    """Axis limits spanning whole decades around ``low``..``high`` and the ticks to label:
    every decade, with 2 and 5 between when there are few, every other one when many."""
    low_exp = math.floor(math.log10(low))
    high_exp = math.ceil(math.log10(high))
    if high_exp <= low_exp:
        high_exp = low_exp + 1
    decades = [10.0**e for e in range(low_exp, high_exp + 1)]
    if len(decades) <= 2:
        ticks = [d * m for d in decades for m in (1, 2, 5) if d * m <= decades[-1]]
    elif len(decades) > 7:
        ticks = decades[:: math.ceil(len(decades) / 6)]
    else:
        ticks = decades
    return decades[0], decades[-1], ticks


class Scale:
    """A log scale from data to pixels."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.high = math.log10(low), math.log10(high)
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        fraction = (math.log10(value) - self.low) / (self.high - self.low)
        return self.start + fraction * (self.end - self.start)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def text_width(text: str, size: float = 11.0) -> float:
    """A generous estimate of the width of ``text`` in the page's sans-serif font, in pixels:
    enough to keep a label inside its SVG, which clips what overflows."""
    return len(text) * size * 0.62


def _inside(x: float, text: str, width: float, size: float = 11.0) -> float:
    """The centre of a centred label moved so that it stays within 0..width."""
    half = text_width(text, size) / 2
    return min(max(x, half + 1), width - half - 1)


def _text(x: float, y: float, text: str, css: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" class="{css}" text-anchor="{anchor}">'
        f"{_esc(text)}</text>"
    )


def _svg(width: float, height: float, label: str, body: Sequence[str]) -> str:
    return (
        f'<svg class="plot" viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" '
        f'height="{_num(height)}" role="img" aria-label="{_esc(label)}">' + "".join(body) + "</svg>"
    )


def _positive(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and v > 0 and math.isfinite(v)]


# --- rendering --------------------------------------------------------------------------------


def render_line_panel(panel: LinePanel, colours: Mapping[str, str]) -> str:
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    ys = _positive(
        [v for s in panel.series for p in (*s.points, *s.marks) for v in (p.y, p.low, p.high)]
    )
    y_low, y_high, y_ticks = log_ticks(min(ys), max(ys))
    y_of = Scale(y_low, y_high, bottom, top)
    body = [
        f'<rect class="frame" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>'
    ]
    for tick in y_ticks:
        y = y_of(tick)
        body.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{_num(y)}" y2="{_num(y)}"/>')
        body.append(_text(left - 5, y + 4, panel.y_text(tick), "tick", "end"))
    if panel.categories:
        count = len(panel.categories)
        step = (right - left) / count

        def x_of(value: float) -> float:
            return left + step * (value + 0.5)

        for index, name in enumerate(panel.categories):
            body.append(_text(_inside(x_of(index), name, WIDTH), bottom + 16, name, "tick"))
    else:
        xs = _positive([p.x for s in panel.series for p in (*s.points, *s.marks)])
        xs += [x for s in panel.series for x, _reason in s.unreached]
        x_low, x_high, x_ticks = log_ticks(min(xs), max(xs))
        x_of = Scale(x_low, x_high, left, right)
        for tick in x_ticks:
            x = x_of(tick)
            body.append(
                f'<line class="grid" x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{bottom}"/>'
            )
            label = panel.x_text(tick)
            body.append(_text(_inside(x, label, WIDTH), bottom + 16, label, "tick"))
    for level, name in panel.levels:
        if y_low <= level <= y_high:
            y = y_of(level)
            body.append(
                f'<line class="level" x1="{left}" x2="{right}" y1="{_num(y)}" y2="{_num(y)}"/>'
            )
            body.append(_text(right - 3, y - 3, name, "level-text", "end"))
    body.append(_text((left + right) / 2, HEIGHT - 8, panel.x_label, "axis"))
    body.append(_text(4, 14, panel.y_label, "axis", "start"))
    for series in panel.series:
        hue = color(series.model, colours)
        parts = [f'<g class="series" data-series="{_esc(series.model)}" style="--c:{hue}">']
        line = [p for p in series.points if p.y > 0]
        if len(line) > 1:
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{_num(x_of(p.x))},{_num(y_of(p.y))}"
                for i, p in enumerate(line)
            )
            parts.append(
                f'<path class="line" d="{path}"><title>{_esc(series.model)}</title></path>'
            )
        dots = series.marks or tuple(line)
        for point in dots:
            x, y = x_of(point.x), y_of(point.y)
            if point.low is not None and point.high is not None and point.low > 0:
                parts.append(
                    f'<line class="whisker" x1="{_num(x)}" x2="{_num(x)}" '
                    f'y1="{_num(y_of(point.low))}" y2="{_num(y_of(point.high))}"/>'
                )
            parts.append(
                f'<circle class="dot" cx="{_num(x)}" cy="{_num(y)}" r="4">'
                f"<title>{_esc(point.tip)}</title></circle>"
            )
        for size, reason in series.unreached:
            x = x_of(size)
            parts.append(
                f'<path class="cross" d="M{_num(x - 5)},{top + 1}l10,10m0,-10l-10,10">'
                f"<title>{_esc(f'{series.model}: N={size:,.0f} not reached ({reason})')}</title>"
                "</path>"
            )
        parts.append("</g>")
        body.append("".join(parts))
    return _svg(WIDTH, HEIGHT, panel.title, body)


def render_bar_panel(panel: BarPanel, colours: Mapping[str, str]) -> str:
    several = len({bar.label for bar in panel.bars}) > 1
    label_width = BAR_LABEL_WIDTH + (64 if several else 0)
    left, right = label_width, WIDTH - VALUE_TEXT_WIDTH
    top = MARGIN_TOP
    height = top + len(panel.bars) * (BAR_HEIGHT + BAR_GAP) + MARGIN_BOTTOM - 8
    bottom = height - MARGIN_BOTTOM + 8
    values = _positive([v for bar in panel.bars for v in (bar.value, bar.low, bar.high)])
    low, high, ticks = log_ticks(min(values) / 1.5, max(values))
    x_of = Scale(low, high, left, right)
    body = []
    for tick in ticks:
        x = x_of(tick)
        body.append(f'<line class="grid" x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{bottom}"/>')
        label = panel.x_text(tick)
        body.append(_text(_inside(x, label, WIDTH), bottom + 16, label, "tick"))
    body.append(_text((left + right) / 2, height - 8, panel.x_label, "axis"))
    for index, bar in enumerate(panel.bars):
        y = top + index * (BAR_HEIGHT + BAR_GAP)
        end = x_of(bar.value)
        name = f"{bar.model} {bar.label}" if several else bar.model
        body.append(
            f'<g class="series" data-series="{_esc(bar.model)}" '
            f'style="--c:{color(bar.model, colours)}">'
            + _text(left - 6, y + BAR_HEIGHT - 5, name, "bar-label", "end")
            + f'<rect class="bar{" later" if bar.later else ""}" x="{left}" '
            f'y="{_num(y)}" width="{_num(max(1.0, end - left))}" height="{BAR_HEIGHT}">'
            f"<title>{_esc(bar.tip)}</title></rect>"
            + (
                f'<line class="whisker" x1="{_num(x_of(bar.low))}" x2="{_num(x_of(bar.high))}" '
                f'y1="{_num(y + BAR_HEIGHT / 2)}" y2="{_num(y + BAR_HEIGHT / 2)}"/>'
                if bar.low and bar.high
                else ""
            )
            + _bar_value(x_of(bar.high or bar.value) + 5, end, y + BAR_HEIGHT - 5, bar.text)
            + "</g>"
        )
    body.append(f'<line class="axis-line" x1="{left}" x2="{left}" y1="{top - 4}" y2="{bottom}"/>')
    return _svg(WIDTH, height, panel.title, body)


def _bar_value(after: float, end: float, y: float, text: str) -> str:
    """A bar's value after its end, or inside it when the panel has no room left."""
    if after + text_width(text) <= WIDTH - 2:
        return _text(after, y, text, "value", "start")
    return _text(end - 5, y, text, "value inside", "end")


def render_ratio_panel(panel: RatioPanel, colours: Mapping[str, str]) -> str:
    label_width = 300
    left, right = label_width, WIDE - 80
    top = MARGIN_TOP
    height = top + len(panel.rows) * RATIO_ROW + MARGIN_BOTTOM
    bottom = height - MARGIN_BOTTOM
    spread = [v for _l, _m, r, ci, _s, _t in panel.rows for v in (r, *(ci or ())) if v > 0]
    reach = max([abs(math.log10(v)) for v in spread] + [math.log10(1.25)])
    low, high = 10**-reach, 10**reach
    ticks = [
        t
        for t in (0.1, 0.2, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 5.0, 10.0)
        if low <= t <= high
    ]
    if reach > 1.05:
        _a, _b, ticks = log_ticks(low, high)
        low, high = _a, _b
    x_of = Scale(low, high, left, right)
    body = []
    for tick in ticks:
        x = x_of(tick)
        css = "level" if tick == 1.0 else "grid"
        body.append(f'<line class="{css}" x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{bottom}"/>')
        body.append(_text(x, bottom + 16, f"{tick:g}", "tick"))
    body.append(_text((left + right) / 2, height - 8, "ratio to the base file (log scale)", "axis"))
    for index, (label, model, ratio, ci, significant, tip) in enumerate(panel.rows):
        y = top + index * RATIO_ROW + RATIO_ROW / 2
        parts = [
            f'<g class="series" data-series="{_esc(model)}" style="--c:{color(model, colours)}">',
            _text(left - 8, y + 4, label, "bar-label", "end"),
        ]
        if ci is not None and ci[0] > 0:
            parts.append(
                f'<line class="whisker" x1="{_num(x_of(max(ci[0], low)))}" '
                f'x2="{_num(x_of(min(ci[1], high)))}" y1="{_num(y)}" y2="{_num(y)}"/>'
            )
        shape = "dot" if significant else "dot hollow"
        parts.append(
            f'<circle class="{shape}" cx="{_num(x_of(min(max(ratio, low), high)))}" '
            f'cy="{_num(y)}" r="5"><title>{_esc(tip)}</title></circle>'
        )
        parts.append(_text(right + 8, y + 4, f"{ratio:.3f}", "value", "start"))
        body.append("".join(parts) + "</g>")
    return _svg(WIDE, height, panel.title, body)


def render_panel(panel: Panel, colours: Mapping[str, str]) -> str:
    if isinstance(panel, LinePanel):
        return render_line_panel(panel, colours)
    if isinstance(panel, BarPanel):
        return render_bar_panel(panel, colours)
    return render_ratio_panel(panel, colours)


def render(chart: Chart) -> str:
    """The chart as an HTML ``<figure>``: title, legend buttons, panels, caption."""
    out = [f'<figure class="chart" id="chart-{_esc(chart.name)}">']
    out.append(f"<h3>{_esc(chart.title)}</h3>")
    if len(chart.models) > 1:
        out.append('<div class="legend" role="group" aria-label="show or hide a model">')
        out += [
            f'<button type="button" class="key" data-series="{_esc(model)}" '
            f'aria-pressed="true"><span class="swatch" '
            f'style="background:{color(model, chart.colours)}">'
            f"</span>{_esc(model)}</button>"
            for model in chart.models
        ]
        out.append("</div>")
    wide = any(isinstance(panel, RatioPanel) for panel in chart.panels)
    out.append(f'<div class="panels{" wide" if wide else ""}">')
    for panel in chart.panels:
        out.append(
            f'<div class="panel"><div class="panel-title">{_esc(panel.title)}</div>'
            f"{render_panel(panel, chart.colours)}</div>"
        )
    out.append("</div>")
    out.append(f"<figcaption>{_esc(chart.caption)}</figcaption>")
    out.append("</figure>")
    return "\n".join(out)


# --- charts from result files -----------------------------------------------------------------


def _duration_tick(value: float) -> str:
    return format_duration(value).replace(".00 ", " ").replace(".0 ", " ")


def _bytes_tick(value: float) -> str:
    return format_bytes(value).replace(".00 ", " ").replace(".0 ", " ")


def _rate_tick(value: float) -> str:
    """1k, 20k, 1.5M: the axis label says what per second."""
    return charts.plain_number(value)


def _count_tick(value: float) -> str:
    return charts.plain_number(value)


def _fraction_tick(value: float) -> str:
    return f"{value:g}"


def _suffix(results: Sequence[ResultSet], result: ResultSet) -> str:
    return f" \N{EM DASH} {result.label}" if len(results) > 1 else ""


def _spread(entry: Entry) -> tuple[float, float]:
    return min(entry.values), max(entry.values)


def bar_chart(
    results: Sequence[ResultSet], workload: str, name: str, title: str, caption: str
) -> Chart | None:
    """Horizontal bars per model (one per file) on a log axis, a panel per parameter set."""
    panels = []
    for row in rows(results, workload):
        bars = []
        for model in findings.models(results, row):
            for result in results:
                entry = grid(result).get((row, model))
                if entry is None or entry.mean <= 0:
                    continue
                low, high = _spread(entry)
                value = findings.show_entry(entry)
                bars.append(
                    Bar(
                        model,
                        result.label,
                        entry.mean,
                        f"{model}{_suffix(results, result)}: {value}"
                        f"{findings.spread_percent(entry)} (min {_show(entry, low)}, "
                        f"max {_show(entry, high)})",
                        value,
                        low if low > 0 else None,
                        high if low > 0 else None,
                        later=result is not results[0],
                    )
                )
        if bars:
            x_text = _bytes_tick if SPECS[workload].unit == "byte" else _duration_tick
            panels.append(BarPanel(row.label, findings.unit_word(workload), tuple(bars), x_text))
    if not panels:
        return None
    return _chart(name, title, caption, panels, results)


def _show(entry: Entry, value: float) -> str:
    return findings.show_value(entry.workload, entry.unit, value)


def _chart(
    name: str, title: str, caption: str, panels: Sequence[Panel], results: Sequence[ResultSet]
) -> Chart:
    """A chart of ``panels`` with its models in their order and colours."""
    models = _models_of(panels, results)
    return Chart(name, title, caption, tuple(panels), models, model_colours(models, results))


def _models_of(panels: Sequence[Panel], results: Sequence[ResultSet]) -> tuple[str, ...]:
    found: list[str] = []
    for panel in panels:
        if isinstance(panel, BarPanel):
            found += [bar.model for bar in panel.bars]
        elif isinstance(panel, LinePanel):
            found += [series.model for series in panel.series]
        else:
            found += [model for _l, model, *_rest in panel.rows]
    return tuple(model_order(found, results))


def _sweep_sizes(results: Sequence[ResultSet], workload: str) -> set[Row]:
    """Rows that a sweep chart draws already."""
    drawn = set()
    for result in results:
        for series in findings.sweeps(result):
            if series.workload == workload:
                drawn |= {Row(workload, findings.series_params(series, s)) for s in series.sizes}
    return drawn


def throughput_chart(
    results: Sequence[ResultSet],
    workload: str,
    *,
    name: str,
    title: str,
    caption: str,
    value: Callable[[Entry], tuple[float, float, float] | None],
    value_text: Callable[[float], str],
    y_label: str,
    tick_text: Callable[[float], str] | None = None,
    include: Callable[[Row], bool] = lambda row: True,
) -> Chart | None:
    """Per set of fixed parameters (and file), a line per model against the size; a panel
    with a single size is bars, not a column of dots."""
    vary = sweep.size_parameters(workload)
    swept = _sweep_sizes(results, workload)
    groups: dict[str, list[Row]] = {}
    for row in rows(results, workload):
        if row in swept or not include(row):
            continue
        split = sweep.split_params(row.workload, row.params)
        fixed = split[0] if split else row.params
        groups.setdefault(fixed, []).append(row)
    panels: list[Panel] = []
    for group_rows in groups.values():
        sizes = sorted({_size(row) for row in group_rows})
        for result in results:
            cells = grid(result)
            label = _panel_label(group_rows[0], vary) + _suffix(results, result)
            if len(sizes) == 1:
                bars = []
                for model in findings.models([result], group_rows[0]):
                    entry = cells.get((group_rows[0], model))
                    shown = None if entry is None else value(entry)
                    if entry is None or shown is None:
                        continue
                    centre, low, high = shown
                    text = value_text(centre)
                    bars.append(
                        Bar(model, result.label, centre, f"{model}: {text}", text, low, high)
                    )
                if bars:
                    panels.append(
                        BarPanel(
                            _single(group_rows[0]) + label,
                            y_label,
                            tuple(bars),
                            tick_text or value_text,
                        )
                    )
                continue
            series = []
            for model in findings.models([result]):
                points = []
                for row in sorted(group_rows, key=_size):
                    entry = cells.get((row, model))
                    shown = None if entry is None else value(entry)
                    if shown is None:
                        continue
                    centre, low, high = shown
                    points.append(
                        Point(
                            float(_size(row)),
                            centre,
                            f"{model}, {row.label}: {value_text(centre)}",
                            low,
                            high,
                        )
                    )
                if points:
                    series.append(Series(model, tuple(points)))
            if series:
                panels.append(
                    LinePanel(
                        label,
                        _size_label(workload),
                        y_label,
                        tuple(series),
                        _count_tick,
                        tick_text or value_text,
                    )
                )
    if not panels:
        return None
    return _chart(name, title, caption, panels, results)


def _size(row: Row) -> int:
    split = sweep.split_params(row.workload, row.params)
    return split[1] if split else 0


def _single(row: Row) -> str:
    """The size of a panel that has one, as the row label shows it: "N=100: "."""
    spec = row.spec
    if spec is None:
        return ""
    vary = sweep.size_parameters(row.workload)
    return " ".join(text for name, text in spec.short_parts() if name in vary) + ": "


def _panel_label(row: Row, vary: Sequence[str]) -> str:
    """The row label without its size: what a panel's rows share."""
    spec = row.spec
    return (spec.short_params(omit=vary) if spec is not None else row.params) or row.workload


def _size_label(workload: str) -> str:
    return charts.size_axis_label(workload)


def _rate(entry: Entry) -> tuple[float, float, float] | None:
    if entry.mean <= 0 or min(entry.values) <= 0:
        return None
    return 1.0 / entry.mean, 1.0 / max(entry.values), 1.0 / min(entry.values)


def _overhead(entry: Entry) -> tuple[float, float, float] | None:
    bound = findings.fan_out_bound(entry)
    values = findings.overhead_values(entry)
    if bound is None or not bound.ideal_per_task or values is None:
        return None
    mean = statistics.fmean(values)
    if mean <= 0:
        return None
    low = min(values)
    return mean, low if low > 0 else mean, max(values)


def latency_chart(results: Sequence[ResultSet], workload: str) -> Chart | None:
    """Per parameter set (and file), 1 - F against latency, log-log, a line per model; the
    percentiles are the points a reader hovers."""
    panel_rows = [
        row
        for row in rows(results, workload)
        if any(
            entry.latency is not None and entry.latency.quantiles
            for result in results
            for (r, _m), entry in grid(result).items()
            if r == row
        )
    ]
    if not panel_rows:
        return None
    left_out = len(panel_rows) - MAX_LATENCY_PANELS
    panels: list[Panel] = []
    what = ""
    for row in panel_rows[:MAX_LATENCY_PANELS]:
        for result in results:
            series = []
            for model in findings.models([result], row):
                entry = grid(result).get((row, model))
                record = None if entry is None else entry.latency
                if record is None or not record.quantiles:
                    continue
                what = record.what.split(":", 1)[0].strip()
                line = tuple(
                    Point(value, round(1.0 - q, 9), "")
                    for q, value in record.quantiles
                    if q < 1.0 and value > 0
                )
                marks = tuple(
                    Point(
                        value,
                        level,
                        f"{model}, {row.label}: {name} = {format_duration(value)}",
                    )
                    for (attribute, name), level in zip(
                        PERCENTILE_NAMES, (0.5, 0.1, 0.01, 0.001), strict=True
                    )
                    if (value := record.percentile(attribute)) is not None and value > 0
                )
                if line:
                    series.append(Series(model, line, marks))
            if series:
                panels.append(
                    LinePanel(
                        findings.short_label(row, size_only=True) + _suffix(results, result),
                        "latency (log scale)",
                        "fraction slower (1 \N{MINUS SIGN} F)",
                        tuple(series),
                        _duration_tick,
                        _fraction_tick,
                        levels=((0.5, "p50"), (0.01, "p99"), (0.001, "p99.9")),
                    )
                )
    if not panels:
        return None
    caption = (
        f"From the latency pass ({what}): the fraction of samples slower than each latency, "
        "log-log, so the tail is as readable as the median; one line per model, one panel per "
        "parameter set" + (" and file" if len(results) > 1 else "") + ". Points: the median "
        "over the pass's runs of p50, p90, p99 and p99.9. Samples at or below zero (below the "
        "timer's cost) are not drawn."
    )
    if left_out > 0:
        caption += f" {left_out} more parameter sets are in the latency table."
    return _chart(
        f"latency_{workload}", f"Latency distribution of {workload}", caption, panels, results
    )


def sweep_chart(results: Sequence[ResultSet], workload: str) -> Chart | None:
    per = findings.operation_word(workload)
    panels: list[Panel] = []
    for result in results:
        by_fixed: dict[str, list[sweep.Series]] = {}
        for series in findings.sweeps(result):
            if series.workload == workload:
                by_fixed.setdefault(series.fixed, []).append(series)
        for group in by_fixed.values():
            drawn = []
            for series in group:
                points = tuple(
                    Point(
                        float(size),
                        value,
                        f"{series.model}, N={size:,}: {format_duration(value)} per {per}",
                    )
                    for size, value in zip(series.sizes, series.values, strict=True)
                    if value > 0
                )
                if points or series.unreached:
                    unreached = tuple((float(size), reason) for size, reason in series.unreached)
                    drawn.append(Series(series.model, points, (), unreached))
            if any(s.points for s in drawn):
                label = findings.sweep_label(group[0]).removeprefix(workload).strip()
                panels.append(
                    LinePanel(
                        (label or workload) + _suffix(results, result),
                        _size_label(workload),
                        f"time per {per}",
                        tuple(drawn),
                        _count_tick,
                        _duration_tick,
                    )
                )
    if not panels:
        return None
    caption = (
        f"Mean time per {per} against N, log-log, one line per model. Crosses on the top edge: "
        "sizes a model could not reach (hover for the reason; all are in the Sweeps table)."
    )
    return _chart(f"sweep_{workload}", f"{workload} sweep", caption, panels, results)


def memory_slope_chart(results: Sequence[ResultSet]) -> Chart | None:
    panels: list[Panel] = []
    for result in results:
        fits = {item.model: item.fit for item in findings.memory_fits(result)}
        if not fits:
            continue
        series = []
        for model, fit in fits.items():
            by_size: dict[float, list[float]] = {}
            for (row, cell_model), entry in grid(result).items():
                if row.workload == Memory.workload and cell_model == model:
                    for x, y in findings.memory_points(entry):
                        by_size.setdefault(x, []).append(y)
            points = tuple(
                Point(
                    x,
                    statistics.fmean(ys),
                    f"{model}, N={x:,.0f}: {format_bytes(statistics.fmean(ys))} in all "
                    f"({len(ys)} runs); fitted slope {format_bytes(fit.slope)} per task, "
                    f"R\N{SUPERSCRIPT TWO} = {fit.r_squared:.4f}",
                    min(ys),
                    max(ys),
                )
                for x, ys in sorted(by_size.items())
                if statistics.fmean(ys) > 0
            )
            if points:
                series.append(Series(model, points))
        if series:
            panels.append(
                LinePanel(
                    "total bytes of the parked tasks" + _suffix(results, result),
                    "N parked tasks (log scale)",
                    "bytes in all",
                    tuple(series),
                    _count_tick,
                    _bytes_tick,
                )
            )
    if not panels:
        return None
    caption = (
        "Total bytes all parked tasks add, mean over the runs at each N (whiskers: min to max), "
        "log-log; hover a point for the fitted slope, the memory per parked task without the "
        "fixed overhead (all fits are in the Memory slope table)."
    )
    return _chart("memory_slope", "Memory against N", caption, panels, results)


def ratio_chart(result: Comparison) -> Chart | None:
    panels: list[Panel] = []
    for index, label in enumerate(result.labels[1:]):
        by_workload: dict[
            str, list[tuple[str, str, float, tuple[float, float] | None, bool, str]]
        ] = {}
        for compared in result.rows:
            change = compared.changes[index]
            if change is None or change.ratio is None:
                continue
            # A foreign benchmark (not the suite's) is its name, in a series of its own.
            model = compared.model or OTHER
            row_label = compared.name
            if (
                compared.workload
                and compared.params
                and findings.spec_of(compared.workload, compared.params)
            ):
                row_label = findings.short_label(
                    Row(compared.workload, compared.params), size_only=True
                )
            tip = overview.change_detail(compared, index, result.base.label)
            significant = change.status in ("improved", "regressed")
            by_workload.setdefault(compared.workload or "other", []).append(
                (
                    row_label if model == OTHER else f"{row_label} \N{MIDDLE DOT} {model}",
                    model,
                    change.ratio,
                    change.ci,
                    significant,
                    tip,
                )
            )
        for workload, panel_rows in by_workload.items():
            panels.append(
                RatioPanel(f"{workload}: {label} / {result.base.label}", tuple(panel_rows))
            )
    if not panels:
        return None
    caption = (
        f"Per benchmark, mean of the file / mean of {result.base.label}, log scale centred at 1 "
        "(below 1: less time or memory). Filled: significant (Mann\N{EN DASH}Whitney U); hollow: "
        "not significant or not testable. Whiskers: 95% bootstrap interval of the ratio."
    )
    return _chart("ratios", "Ratios against the first file", caption, panels, result.files)


def build(results: Sequence[ResultSet], comparison: Comparison | None) -> list[Chart]:
    """Every chart the page shows, in its order."""
    several = len(results) > 1
    side = "; one bar per file" if several else ""
    whiskers = "whiskers: min to max of all values"
    built = [
        ratio_chart(comparison) if comparison is not None else None,
        bar_chart(
            results,
            PingPong.workload,
            "switch_latency",
            "Switch latency per model",
            f"pingpong: mean time per one-way switch, log scale; {whiskers}{side}.",
        ),
        throughput_chart(
            results,
            ProducerConsumer.workload,
            name="throughput_producer_consumer",
            title="producer_consumer throughput",
            caption="Items per second (1 / mean time per item) against P = C, one line per "
            "model, one panel per capacity, item count and work; log scale; whiskers: the rates "
            "of the slowest and fastest values. A single size is drawn as bars.",
            value=_rate,
            value_text=lambda v: f"{format_rate(v)} {ProducerConsumer.facts.rate_unit}",
            tick_text=_rate_tick,
            y_label=ProducerConsumer.facts.rate_unit,
        ),
        throughput_chart(
            results,
            FanOut.workload,
            name="throughput_fan_out",
            title="fan_out throughput",
            caption="Tasks per second (1 / mean time per task) against N, one line per model, "
            "one panel per kind of work; log scales; whiskers: the rates of the slowest and "
            "fastest values. A single size is drawn as bars.",
            value=_rate,
            value_text=lambda v: f"{format_rate(v)} {FanOut.facts.rate_unit}",
            tick_text=_rate_tick,
            y_label=FanOut.facts.rate_unit,
        ),
        throughput_chart(
            results,
            FanOut.workload,
            name="overhead_fan_out",
            title="fan_out overhead per task",
            caption="What each model adds to the waits the spec prescribes, (makespan - ideal "
            "makespan) / N, per sleep or echo fan-out with D > 0; the ideal is D when all tasks "
            "wait at once, ceil(N / W) x D for W workers, N x D one at a time. An overhead at "
            "or below zero is not drawn.",
            value=_overhead,
            value_text=_duration_tick,
            y_label="overhead per task",
        ),
        bar_chart(
            results,
            Memory.workload,
            "memory_per_task",
            "Memory per parked task",
            f"memory: bytes each parked task adds, log scale; {whiskers}{side}.",
        ),
        bar_chart(
            results,
            Spawn.workload,
            "spawn_cost",
            "Spawn cost per model",
            f"spawn: mean time to create, start and finish one task, log scale; {whiskers}{side}.",
        ),
        *(latency_chart(results, workload) for workload in LATENCY_WORKLOADS),
        *(sweep_chart(results, workload) for workload in TIME_SWEEP_WORKLOADS),
        memory_slope_chart(results),
    ]
    return [chart for chart in built if chart is not None]
