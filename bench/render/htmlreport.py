"""The report of result files: DIR/index.html, DIR/summary.md and every chart as
DIR/<chart>.png and DIR/<chart>.svg (matplotlib, for documents and pull requests).

index.html is one self-contained page that answers first: an overview table of each model's cost
against the serial baseline and the best model of each cell (with several files: of each later
file's ratio to the first, and the verdict), then the few statements that matter most
(``bench.analysis.overview``), then charts drawn as inline SVG (``bench.render.svgcharts``: a value
on hover,
models shown and hidden from the legend), and below, collapsed, every statement, the tables,
the environment and the gaps. Latency percentiles, sweeps and memory slopes get their tables and
charts when the files hold them, and rows measured in interleaved rounds a table of their
within-row ratios (``bench.analysis.paired``).

The report is built in a temporary directory beside DIR and renamed into place at the end, so
a failure half-way leaves nothing behind and never damages an existing report. The page refers
to nothing outside itself: no network, no files, only in-page anchors, its inline style and
its inline script.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.analysis import comparison, findings, overview, paired, variants
from bench.analysis.findings import FindingGroup, Row, Table
from bench.render import charts, markdownreport, svgcharts
from bench.render.compare import RELATIVE_NOTE, RELATIVE_TITLE, machine_warning
from bench.render.pageassets import SCRIPT, STYLE
from bench.results.schema import ResultSet

T = TypeVar("T")

# What an existing directory may hold for --replace to treat it as an earlier report.
REPORT_SUFFIXES = frozenset({".html", ".md", ".png", ".svg"})


class ReportError(Exception):
    """The report cannot be written; the message is one line naming the problem."""


@dataclass(frozen=True)
class Content:
    """Everything both pages show, computed before anything is written."""

    title: str
    results: tuple[ResultSet, ...]
    groups: tuple[FindingGroup, ...]
    tables: tuple[Table, ...]
    environment: Table
    gaps: Table | None
    comparison: comparison.Comparison | None
    costs: tuple[overview.CostGrid, ...] = ()
    changes: tuple[overview.ChangeGrid, ...] = ()
    headlines: tuple[overview.Headline, ...] = ()
    # The machines' calibrations differ: the one-line warning and the grids relative to serial.
    machines: str | None = None
    normalised: tuple[overview.ChangeGrid, ...] = ()


def check_output(directory: Path, replace: bool) -> None:
    """Refuse an output directory the report may not use, before any input is read."""
    # Missing parent directories are created when the report is written; the nearest one
    # that exists must be a directory this process can write in.
    parent = directory.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ReportError(f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write in {parent}: permission denied")
    if not directory.exists() and not directory.is_symlink():
        return
    if directory.is_symlink() or not directory.is_dir():
        raise ReportError(f"{directory} exists and is not a directory")
    contents = list(directory.iterdir())
    if not contents:
        return
    if not replace:
        raise ReportError(
            f"{directory} exists and is not empty; choose another directory or pass --replace"
        )
    if not _looks_like_report(contents):
        raise ReportError(
            f"{directory} is not a report (it holds more than index.html, summary.md and "
            "charts); refusing to replace it"
        )


def _looks_like_report(contents: Sequence[Path]) -> bool:
    names = {path.name for path in contents}
    return "index.html" in names and all(
        path.is_file() and not path.is_symlink() and path.suffix in REPORT_SUFFIXES
        for path in contents
    )


def check_inputs(results: Sequence[ResultSet]) -> None:
    """Several files must each share at least one benchmark with the first."""
    base = results[0]
    base_keys = {entry.key for entry in base.entries}
    for result in results[1:]:
        if not base_keys & {entry.key for entry in result.entries}:
            raise ReportError(
                f"{result.path} has no benchmark in common with {base.path} (the first file)"
            )


def content(
    results: Sequence[ResultSet],
    *,
    title: str,
    alpha: float = 0.05,
    force: bool = False,
) -> Content:
    check_inputs(results)
    compared = None
    if len(results) > 1:
        options = comparison.Options(alpha=alpha, skip_unit_mismatch=True, force=force)
        try:
            compared = comparison.compare(results, options)
        except comparison.ComparisonError as exc:
            raise ReportError(str(exc)) from None
    groups = [
        FindingGroup(
            f"{result.label} ({result.path.name})" if len(results) > 1 else result.path.name,
            (*findings.file_findings(result), *variants.variant_findings(result)),
        )
        for result in results
    ]
    if compared is not None:
        groups.append(
            FindingGroup(
                f"Changes against {compared.base.label}",
                tuple(findings.change_findings(compared)),
            )
        )
    tables = [
        findings.means_table(results),
        paired.ratio_table(results),
        findings.comparison_table(compared) if compared is not None else None,
        findings.latency_table(results),
        findings.sweep_table(results),
        findings.slope_table(results),
        findings.cpu_table(results),
        findings.switches_table(results),
        findings.foreign_table(results),
    ]
    return Content(
        title=title,
        results=tuple(results),
        groups=tuple(groups),
        tables=tuple(table for table in tables if table is not None),
        environment=findings.environment_table(results),
        gaps=findings.gaps_table(results),
        comparison=compared,
        costs=tuple(grid for result in results if (grid := overview.cost_grid(result))),
        changes=tuple(overview.change_grids(compared)) if compared is not None else (),
        headlines=tuple(overview.headlines(results, compared)),
        machines=machine_warning(compared) if compared is not None else None,
        normalised=tuple(overview.normalised_grids(compared)) if compared is not None else (),
    )


# --- HTML -------------------------------------------------------------------------------------

# Hue of a cost cell: green at the row's best, through yellow, to red at this many times it.
WORST_RATIO = 100.0
GOOD_HUE = 130.0
# Hue of a change: green better, red worse, grey-blue not significant or not testable.
CHANGE_HUES = {"improved": 130.0, "regressed": 0.0, "same": 210.0, "untested": 210.0}
VERDICT_WORDS = {"improved": "better", "regressed": "worse", "same": "same", "untested": "untested"}
# Tables with more rows than this start collapsed.
OPEN_TABLE_ROWS = 12


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def html_table(table: Table, highlight: frozenset[str] = frozenset()) -> str:
    """A table; rows whose first cell is in ``highlight`` are marked (differing values)."""
    parts = []
    if table.note:
        parts.append(f'<p class="note">{_esc(table.note)}</p>')
    parts.append('<div class="scroll"><table>')
    parts.append("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in table.header))
    parts.append("</tr></thead><tbody>")
    for row in table.rows:
        marker = ' class="differs"' if row and row[0] in highlight else ""
        parts.append(f"<tr{marker}>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>")
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


def _collapsible(anchor: str, title: str, body: str, *, open_: bool = False) -> str:
    return (
        f'<details id="{_esc(anchor)}"{" open" if open_ else ""}>'
        f"<summary>{_esc(title)}</summary>\n{body}\n</details>"
    )


def multiple(ratio: float) -> str:
    """A cost multiple: 675x, 7.2x, 1.06x, and below 1 two significant digits (0.53x, 0.0021x),
    so that a model hundreds of times cheaper than serial does not read 0.00x."""
    if ratio >= 1 or ratio <= 0:
        return findings.times(ratio)
    digits = max(2, 1 - math.floor(math.log10(ratio)))
    return f"{ratio:.{digits}f}{findings.TIMES}"


def cost_hue(vs_best: float) -> float:
    """Green at the best, red at ``WORST_RATIO`` times it and beyond (log scale)."""
    fraction = min(1.0, math.log10(max(vs_best, 1.0)) / math.log10(WORST_RATIO))
    return round(GOOD_HUE * (1.0 - fraction))


def _model_header(models: Sequence[str], colours: Mapping[str, str]) -> str:
    return "".join(
        f'<th class="model" style="--c:{svgcharts.color(m, colours)}">{_esc(m)}</th>'
        for m in models
    )


def _row_label(row: findings.Row, first_of_workload: bool) -> str:
    """A row's label: the workload named once, on the first row of its group."""
    params = _esc(findings.short_label(row, size_only=True))
    if first_of_workload:
        return f'<td class="label first"><b>{_esc(row.workload)}</b> {params}</td>'
    return f'<td class="label">{params}</td>'


def _grid_table(
    kind: str,
    models: Sequence[str],
    rows: Sequence[tuple[Row, Mapping[str, T]]],
    cell_html: Callable[[str, T], str],
    colours: Mapping[str, str],
) -> str:
    """A models x cells table: one row per parameter set, the workload named on its first row,
    ``cell_html`` for every cell the row has and the missing mark elsewhere; each model's
    header in its colour."""
    out = [
        f'<div class="scroll"><table class="grid {kind}">',
        f"<thead><tr><th>cell</th>{_model_header(models, colours)}</tr></thead>",
        "<tbody>",
    ]
    previous = ""
    for row, cells_of in rows:
        cells = [_row_label(row, row.workload != previous)]
        previous = row.workload
        for model in models:
            value = cells_of.get(model)
            if value is None:
                cells.append(f'<td class="none">{findings.MISSING}</td>')
            else:
                cells.append(cell_html(model, value))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _cost_cell(model: str, cost: overview.Cost) -> str:
    if cost.vs_serial is not None:
        ratio = f"<b>{_esc(multiple(cost.vs_serial))}</b>"
    else:
        ratio = f"<b><i>{_esc(multiple(cost.vs_best))}</i></b>"
    css = "cost best" if cost.best else "cost"
    return (
        f'<td class="{css}" style="--h:{cost_hue(cost.vs_best):g}" '
        f'title="{_esc(cost.detail)}" data-model="{_esc(model)}">{ratio}'
        f"<small>{_esc(cost.short)}</small></td>"
    )


def cost_table(grid: overview.CostGrid) -> str:
    rows = [(row.row, row.cells) for row in grid.rows]
    return _grid_table("cost-grid", grid.models, rows, _cost_cell, grid.colours)


def _cost_legend() -> str:
    steps = [1.0, 2.0, 5.0, 20.0, WORST_RATIO]
    names = [
        "best",
        *(findings.times(step) for step in steps[1:-1]),
        f"{findings.times(WORST_RATIO)}+",
    ]
    swatches = "".join(
        f'<span class="step" style="--h:{cost_hue(step):g}">{_esc(name)}</span>'
        for step, name in zip(steps, names, strict=True)
    )
    return (
        '<div class="scale">Colour: cost against the best model of the row (framed; serial '
        f"excluded): {swatches}</div>"
        '<p class="note">A cell: the model\'s cost (time per switch, item or task; bytes per '
        "parked task; for a sleep or echo fan-out, what the model adds per task to the waits, "
        "+X) as a multiple of the serial baseline, and the value (producer_consumer in "
        "items/s). <i>Underlined</i>: no serial cell in the row, a multiple of the row's best. "
        f"Hover a cell for both multiples and the spread; {findings.MISSING} = not measured.</p>"
    )


def _change_cell(model: str, cell: overview.ChangeCell) -> str:
    strength = 0.0 if cell.ratio is None else min(1.0, abs(math.log10(cell.ratio)) / 0.3)
    hue = CHANGE_HUES[cell.verdict]
    saturation = 25 + 55 * strength if cell.verdict in ("improved", "regressed") else 10
    return (
        f'<td class="cost {cell.verdict}" style="--h:{hue:g};--cell-s:{saturation:.0f}%" '
        f'title="{_esc(cell.detail)}" data-model="{_esc(model)}"><b>{_esc(cell.text)}</b>'
        f"<small>{_esc(VERDICT_WORDS[cell.verdict])}</small></td>"
    )


def change_table(grid: overview.ChangeGrid) -> str:
    rows = [(row.row, row.cells) for row in grid.rows]
    return _grid_table("change-grid", grid.models, rows, _change_cell, grid.colours)


def _change_legend(page: Content) -> str:
    assert page.comparison is not None
    options = page.comparison.options
    base = _esc(page.comparison.base.label)
    return (
        f'<p class="note">Each cell: mean in the later file / mean in {base} '
        "(time or bytes per operation, so below 1 is better; a sleep or echo fan-out on what "
        "the model adds to the waits), then the verdict: better or worse when significant "
        f"(Mann-Whitney U, p &lt; {options.alpha:g}) and at least {options.min_change_pct:g}% "
        "apart; green better, red worse, the deeper the larger; grey: no significant change or "
        "too few values to test. Hover a cell for both means, the 95% interval and p.</p>"
    )


def _files_list(page: Content) -> str:
    items = []
    for result in page.results:
        python = result.environment.get("python_build") or result.environment.get(
            "python_version", "unknown Python"
        )
        host = result.environment.get("hostname", "unknown host")
        items.append(
            f"<li><strong>{_esc(result.label)}</strong>: {_esc(result.path.name)}, "
            f"{len(result.entries)} benchmarks, {_esc(python)} on {_esc(host)}</li>"
        )
    return '<ul class="files">' + "".join(items) + "</ul>"


def _overview(page: Content) -> list[str]:
    out = ['<section id="overview">']
    if page.machines:
        out.append(f'<p class="machines"><strong>WARNING: {_esc(page.machines)}</strong></p>')
    if page.changes:
        out.append("<h2>What changed</h2>")
        for grid in page.changes:
            out.append(f"<p><strong>{_esc(grid.summary)}</strong></p>")
            out.append(change_table(grid))
        out.append(_change_legend(page))
        if page.normalised:
            out.append(f"<h3>{_esc(RELATIVE_TITLE)}</h3>")
            out.append(f'<p class="note">{_esc(RELATIVE_NOTE)}</p>')
            for grid in page.normalised:
                out.append(f"<p><strong>{_esc(grid.summary)}</strong></p>")
                out.append(change_table(grid))
    elif page.costs:
        out.append("<h2>Cost per model, against the serial baseline</h2>")
        out.append(cost_table(page.costs[0]))
        out.append(_cost_legend())
    else:
        out.append("<h2>Overview</h2><p>No benchmark of the suite to set side by side.</p>")
    out.append("</section>")
    out.append('<section id="findings"><h2>What matters most</h2>')
    if page.headlines:
        out.append('<ol class="headlines">')
        out += [f"<li>{_esc(headline.text)}</li>" for headline in page.headlines]
        out.append("</ol>")
        out.append(
            '<p class="note">Ranked by how far each is from what one would assume without '
            "the data: models doing the same work costing the same, a tail about twice the "
            "median, a file measuring what the first did. Every statement is under "
            '<a href="#statements">All statements</a>.</p>'
        )
    else:
        out.append("<p>The data supports no statement here.</p>")
    out.append("</section>")
    return out


def render_html(page: Content, chart_files: Sequence[Path] = ()) -> str:
    """The page; ``chart_files`` are the PNG charts written beside it (named in its footer)."""
    figures = svgcharts.build(page.results, page.comparison)
    contents: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("overview", "What changed" if page.changes else "Overview", []),
        ("findings", "What matters most", []),
    ]
    if figures:
        contents.append(
            ("charts", "Charts", [(f"chart-{chart.name}", chart.title) for chart in figures])
        )
    if len(page.costs) > 1 or page.changes:
        contents.append(("costs", "Cost per model", []))
    contents += [
        ("statements", "All statements", []),
        ("tables", "Tables", [(table.anchor, table.title) for table in page.tables]),
        ("environment-section", "Environment", []),
        ("gaps-section", "Gaps", []),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(page.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        '<div class="layout">',
        '<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>',
    ]
    for anchor, title, children in contents:
        out.append(f'<li><a href="#{_esc(anchor)}">{_esc(title)}</a>')
        if children:
            out.append(
                "<ol>"
                + "".join(f'<li><a href="#{_esc(a)}">{_esc(t)}</a></li>' for a, t in children)
                + "</ol>"
            )
        out.append("</li>")
    out += ["</ol></nav>", "<main>", f"<h1>{_esc(page.title)}</h1>", _files_list(page)]
    out += _overview(page)
    if figures:
        out.append('<section id="charts"><h2>Charts</h2>')
        out.append(
            '<p class="note">Hover a point or bar for its value; click a model in a legend to '
            "hide or show it.</p>"
        )
        out += [svgcharts.render(chart) for chart in figures]
        out.append("</section>")
    if len(page.costs) > 1 or page.changes:
        out.append('<section id="costs"><h2>Cost per model</h2>')
        for grid in page.costs:
            out.append(
                _collapsible(f"costs-{findings.slug(grid.label)}", grid.label, cost_table(grid))
            )
        out.append(_cost_legend())
        out.append("</section>")
    out.append('<section id="statements"><h2>All statements</h2>')
    for group in page.groups:
        if group.findings:
            body = "<ul>" + "".join(f"<li>{_esc(f.text)}</li>" for f in group.findings) + "</ul>"
        else:
            body = "<p>The data supports no statement here.</p>"
        out.append(_collapsible(f"statements-{findings.slug(group.title)}", group.title, body))
    out.append("</section>")
    out.append('<section id="tables"><h2>Tables</h2>')
    for table in page.tables:
        out.append(
            _collapsible(
                table.anchor,
                f"{table.title} ({len(table.rows)} rows)",
                html_table(table),
                open_=len(table.rows) <= OPEN_TABLE_ROWS,
            )
        )
    out.append("</section>")
    out.append('<section id="environment-section"><h2>Environment</h2>')
    differing = frozenset(findings.differing_environment_keys(page.results))
    note = ""
    if differing:
        note = (
            '<p class="note">Highlighted: values that differ between the files '
            f"({_esc(', '.join(sorted(differing)))}).</p>"
        )
    out.append(
        _collapsible(
            page.environment.anchor,
            page.environment.title,
            note + html_table(page.environment, differing),
            open_=bool(differing),
        )
    )
    out.append("</section>")
    out.append('<section id="gaps-section"><h2>Gaps</h2>')
    if page.gaps is not None:
        out.append(
            _collapsible(
                page.gaps.anchor,
                f"{page.gaps.title} ({len(page.gaps.rows)} cells)",
                html_table(page.gaps),
                open_=len(page.gaps.rows) <= OPEN_TABLE_ROWS,
            )
        )
    else:
        out.append('<p id="gaps-none">No cell failed or was skipped.</p>')
    out.append("</section>")
    if chart_files:
        names = ", ".join(f"{path.stem}.png/.svg" for path in chart_files)
        out.append(
            '<p class="note">Beside this page, the charts as PNG and SVG files for documents '
            f"and pull requests: {_esc(names)}.</p>"
        )
    out += ["</main>", "</div>", f"<script>{SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


# --- writing ----------------------------------------------------------------------------------


def render_summary(page: Content, drawn: Sequence[charts.Chart] = ()) -> str:
    """The page as Markdown (summary.md), linking the PNG charts ``drawn`` beside it."""
    return markdownreport.render(
        title=page.title,
        results=page.results,
        groups=page.groups,
        charts=drawn,
        tables=page.tables,
        environment=page.environment,
        gaps=page.gaps,
        machines=page.machines,
        normalised=page.normalised,
    )


def write(page: Content, directory: Path, replace: bool) -> list[charts.Chart]:
    """Build the whole report beside ``directory``, then move it into place."""
    check_output(directory, replace)
    created = _make_parents(directory.parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    except OSError as exc:
        _remove_parents(created)
        raise ReportError(f"cannot create a directory in {directory.parent}: {exc}") from None
    published = False
    try:
        built = charts.build(page.results, page.comparison)
        pngs = charts.save_all(built, staging)
        (staging / "index.html").write_text(render_html(page, pngs), encoding="utf-8")
        (staging / "summary.md").write_text(render_summary(page, built), encoding="utf-8")
        staging.chmod(0o755)
        _publish(staging, directory)
        published = True
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        if not published:
            _remove_parents(created)
    return built


def _make_parents(parent: Path) -> list[Path]:
    """Create the missing directories above the report; the ones created, outermost first."""
    missing = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    missing.reverse()
    try:
        for path in missing:
            path.mkdir()
    except OSError as exc:
        _remove_parents([path for path in missing if path.exists()])
        raise ReportError(f"cannot create {exc.filename}: {exc.strerror or exc}") from None
    return missing


def _remove_parents(created: list[Path]) -> None:
    """Undo ``_make_parents`` after a failure, so a failed report leaves nothing behind."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()


def _publish(staging: Path, directory: Path) -> None:
    """Rename the finished report into place; an old report is moved aside first and removed
    only once the new one is in place."""
    if not directory.exists():
        staging.rename(directory)
        return
    if not any(directory.iterdir()):
        directory.rmdir()
        staging.rename(directory)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
    old.rmdir()
    directory.rename(old)
    try:
        staging.rename(directory)
    except OSError:
        old.rename(directory)
        raise
    shutil.rmtree(old)
