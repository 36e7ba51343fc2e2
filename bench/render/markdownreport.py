"""summary.md of a report: the tables and statements of index.html as GitHub Markdown, with links
to the PNG charts beside it."""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis.findings import FindingGroup, Table
from bench.analysis.overview import ChangeGrid
from bench.render.charts import Chart
from bench.render.compare import RELATIVE_NOTE, RELATIVE_TITLE
from bench.results.schema import ResultSet


def escape(text: str) -> str:
    """Cell text that cannot end a table cell or start Markdown syntax."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(block: Table) -> list[str]:
    lines = [f"### {block.title}", ""]
    if block.note:
        lines += [block.note, ""]
    lines.append("| " + " | ".join(escape(cell) for cell in block.header) + " |")
    lines.append("| " + " | ".join("---" for _ in block.header) + " |")
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in block.rows]
    return [*lines, ""]


def _change_grid(grid: ChangeGrid) -> list[str]:
    """A grid of changes as a table: a row per cell, a column per model (ratio and verdict)."""
    lines = [grid.summary, "", "| cell | " + " | ".join(grid.models) + " |"]
    lines.append("| --- |" + " ---: |" * len(grid.models))
    for change_row in grid.rows:
        cells = [
            f"{cell.text} {cell.verdict}" if (cell := change_row.cells.get(model)) else "-"
            for model in grid.models
        ]
        texts = (change_row.row.label, *cells)
        lines.append("| " + " | ".join(escape(text) for text in texts) + " |")
    return [*lines, ""]


def render(
    *,
    title: str,
    results: Sequence[ResultSet],
    groups: Sequence[FindingGroup],
    charts: Sequence[Chart],
    tables: Sequence[Table],
    environment: Table,
    gaps: Table | None,
    machines: str | None = None,
    normalised: Sequence[ChangeGrid] = (),
) -> str:
    lines = [f"# {title}", ""]
    if machines:
        lines += [f"> **WARNING: {escape(machines)}**", ""]
    lines += [f"- **{r.label}**: `{r.path.name}`, {len(r.entries)} benchmarks" for r in results]
    if normalised:
        lines += ["", f"## {RELATIVE_TITLE}", "", RELATIVE_NOTE, ""]
        for grid in normalised:
            lines += _change_grid(grid)
    lines += ["", "## What the numbers say", ""]
    for group in groups:
        lines += [f"### {group.title}", ""]
        lines += [f"- {finding.text}" for finding in group.findings] or ["- (nothing to say)"]
        lines.append("")
    if charts:
        lines += ["## Charts", ""]
        for chart in charts:
            lines += [
                f"### {chart.title}",
                "",
                f"![{chart.title}]({chart.name}.png)",
                "",
                f"{chart.caption} Vector version: [{chart.name}.svg]({chart.name}.svg).",
                "",
            ]
    lines += ["## Tables", ""]
    for block in tables:
        lines += table(block)
    lines += ["## Environment", ""]
    lines += table(environment)
    lines += ["## Gaps", ""]
    lines += table(gaps) if gaps else ["No cell failed or was skipped.", ""]
    return "\n".join(lines).rstrip() + "\n"
