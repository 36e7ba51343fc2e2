"""Render measured cells as terminal tables: one row per workload and parameter set, one column
per model, values in human units."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import pyperf

from bench.cells import PREFERRED_ORDER
from bench.storage import CellGap
from bench.workloads import SPECS, Spec

# What a table shows where a cell has no number.
GAP_TEXT = {"failed": "FAILED", "skipped": "skipped"}


def format_duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return _three_digits(seconds / scale) + " " + unit
    raise AssertionError("unreachable")


def format_rate(per_second: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_second >= scale:
            return _three_digits(per_second / scale) + " " + unit
    return _three_digits(per_second)


def format_bytes(size: float) -> str:
    if abs(size) >= 1024 * 1024:
        return _three_digits(size / (1024 * 1024)) + " MiB"
    return _three_digits(size / 1024) + " KiB"


def _three_digits(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def short_params(spec: Spec) -> str:
    """A compact row label; the full canonical params stay in the result file."""
    p = spec.__dict__
    if spec.workload == "producer_consumer":
        work = "cpu" if p["work"] == "cpu" else "no work"
        return f"P={p['producers']} C={p['consumers']} Q={p['capacity']} M={p['items']} {work}"
    if spec.workload == "fan_out":
        if p["work"] == "echo":
            return (
                f"N={p['tasks']} echo D={p['delay_ms']:g} ms {p['request_bytes']} B "
                f"connect={p['connect']}"
            )
        work = f"sleep {p['delay_ms']:g} ms" if p["work"] == "sleep" else "cpu"
        return f"N={p['tasks']} {work}"
    if spec.workload == "pingpong":
        return f"rounds={p['rounds']}"
    return f"N={p['tasks']}"


def value_kind(workload: str) -> tuple[str, Callable[[float], str]]:
    """Column unit and formatter of a workload's mean value."""
    if workload == "producer_consumer":
        return "items/s", lambda mean: format_rate(1.0 / mean)
    if SPECS[workload].unit == "byte":
        return "per task", format_bytes
    if workload == "pingpong":
        return "per switch", format_duration
    return "per task", format_duration


def _spread(bench: pyperf.Benchmark) -> str:
    if bench.get_nvalue() < 2:
        return ""
    return f" ±{100 * bench.stdev() / bench.mean():.0f}%"


def _model_order(models: Iterable[str]) -> list[str]:
    rank = {name: index for index, name in enumerate(PREFERRED_ORDER)}
    return sorted(set(models), key=lambda name: (rank.get(name, len(rank)), name))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = (c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
        return "  ".join(cells).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def _rows(benchmarks: list[pyperf.Benchmark], gaps: list[CellGap]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for workload, params in [
        (b.get_metadata()["workload"], b.get_metadata()["params"]) for b in benchmarks
    ] + [(g.workload, g.params) for g in gaps]:
        if (workload, params) not in keys:
            keys.append((workload, params))
    order = {name: index for index, name in enumerate(SPECS)}
    return sorted(keys, key=lambda key: order.get(key[0], len(order)))


def render(
    benchmarks: list[pyperf.Benchmark],
    gaps: list[CellGap],
    cell_text: Callable[[pyperf.Benchmark], str] | None = None,
    title: str = "",
) -> list[str]:
    """One table; ``cell_text`` picks what each benchmark shows (default: its mean and spread)."""
    by_key = {}
    for bench in benchmarks:
        meta = bench.get_metadata()
        by_key[meta["workload"], meta["params"], meta["model"]] = bench
    gap_text = {(g.workload, g.params, g.model): GAP_TEXT[g.status] for g in gaps}
    models = _model_order([key[2] for key in by_key] + [g.model for g in gaps])
    rows = []
    for workload, params in _rows(benchmarks, gaps):
        spec = SPECS[workload].from_params(params)
        unit, fmt = value_kind(workload)
        label = f"{workload} {short_params(spec)}"
        if cell_text is None:
            label += f" [{unit}]"
        row = [label]
        for model in models:
            bench = by_key.get((workload, params, model))
            if bench is not None:
                row.append(cell_text(bench) if cell_text else fmt(bench.mean()) + _spread(bench))
            else:
                row.append(gap_text.get((workload, params, model), "·"))
        rows.append(row)
    if not rows:
        return []
    lines = [title] if title else []
    return lines + _table(["cell", *models], rows)


def _profile_text(key: str, fmt: Callable[[float], str]) -> Callable[[pyperf.Benchmark], str]:
    def text(bench: pyperf.Benchmark) -> str:
        value = bench.get_metadata().get(key)
        return fmt(float(value)) if value is not None else "·"

    return text


def _latency_text(bench: pyperf.Benchmark) -> str:
    meta = bench.get_metadata()
    if "latency_p50" not in meta or "latency_p99" not in meta:
        return "·"
    return (
        f"{format_duration(float(meta['latency_p50']))} / "
        f"{format_duration(float(meta['latency_p99']))}"
    )


def render_all(benchmarks: list[pyperf.Benchmark], gaps: list[CellGap]) -> str:
    timed = [b for b in benchmarks if b.get_unit() == "second"]
    lines = render(benchmarks, gaps, title="Mean of all values (± standard deviation as % of mean)")
    with_latency = [b for b in timed if "latency_p99" in b.get_metadata()]
    if with_latency:
        latency_title = (
            "Latency p50 / p99 (latency pass: pingpong one-way switch, producer_consumer put to "
            "get, fan_out fan-out start to result; timer cost subtracted)"
        )
        lines += ["", *render(with_latency, [], _latency_text, title=latency_title)]
    if any("cpu_per_op" in b.get_metadata() for b in timed):
        cpu = _profile_text("cpu_per_op", format_duration)
        switches = _profile_text("ctx_switches_per_op", lambda v: f"{v:.3g}")
        cpu_title = "CPU time per operation, user + system, whole process tree (profile pass)"
        switch_title = "Context switches per operation, voluntary + involuntary (profile pass)"
        lines += ["", *render(timed, [], cpu, title=cpu_title)]
        lines += ["", *render(timed, [], switches, title=switch_title)]
    legend = (
        "· = not run: the model has no such workload, or the cell is not in the matrix (the "
        "default matrix runs its largest sizes on the lightweight models only, and 100-task "
        "memory on the others)"
    )
    return "\n".join([*lines, "", legend])
