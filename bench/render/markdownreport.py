"""summary.md of a report: the tables and statements of index.html as GitHub Markdown, with links
to the PNG charts beside it."""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis.findings import FindingGroup, Table
from bench.render.charts import Chart
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


def render(
    *,
    title: str,
    results: Sequence[ResultSet],
    groups: Sequence[FindingGroup],
    charts: Sequence[Chart],
    tables: Sequence[Table],
    environment: Table,
    gaps: Table | None,
) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- **{r.label}**: `{r.path.name}`, {len(r.entries)} benchmarks" for r in results]
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
