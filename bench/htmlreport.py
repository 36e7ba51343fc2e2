"""The report of result files: DIR/index.html (one self-contained page: the charts inline as
base64 PNG, the tables, the environment of each file, the gaps and "what the numbers say"),
DIR/summary.md and every chart as DIR/<chart>.png and DIR/<chart>.svg. Latency percentiles,
sweeps and memory slopes get their tables and charts when the files hold them.

The report is built in a temporary directory beside DIR and renamed into place at the end, so
a failure half-way leaves nothing behind and never damages an existing report. The page refers
to nothing outside itself: no network, no files, only data: URIs and in-page anchors.
"""

from __future__ import annotations

import base64
import contextlib
import html
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import charts, comparison, findings, markdownreport
from bench.findings import FindingGroup, Table
from bench.resultfiles import ResultSet

# What an existing directory may hold for --replace to treat it as an earlier report.
REPORT_SUFFIXES = frozenset({".html", ".md", ".png", ".svg"})

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
tr.differs td { background: #fff4d6; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.note { color: #555; font-size: 0.9em; }
li { margin-bottom: 0.3em; }
"""


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
            tuple(findings.file_findings(result)),
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
    )


# --- HTML -------------------------------------------------------------------------------------


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def html_table(table: Table, highlight: frozenset[str] = frozenset()) -> str:
    """A table; rows whose first cell is in ``highlight`` are marked (differing values)."""
    parts = [f'<h3 id="{_esc(table.anchor)}">{_esc(table.title)}</h3>']
    if table.note:
        parts.append(f'<p class="note">{_esc(table.note)}</p>')
    parts.append("<table>")
    parts.append("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in table.header))
    parts.append("</tr></thead><tbody>")
    for row in table.rows:
        marker = ' class="differs"' if row and row[0] in highlight else ""
        parts.append(f"<tr{marker}>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def render_html(page: Content, images: Sequence[tuple[charts.Chart, bytes]]) -> str:
    """The page; ``images`` are the charts with their PNG bytes, embedded as data: URIs."""
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
        f"<h1>{_esc(page.title)}</h1>",
        "<ul>",
    ]
    for result in page.results:
        python = result.environment.get("python_build") or result.environment.get(
            "python_version", "unknown Python"
        )
        host = result.environment.get("hostname", "unknown host")
        out.append(
            f"<li><strong>{_esc(result.label)}</strong>: {_esc(result.path.name)}, "
            f"{len(result.entries)} benchmarks, {_esc(python)} on {_esc(host)}</li>"
        )
    out.append("</ul>")
    sections = [("findings", "What the numbers say")]
    if images:
        sections.append(("charts", "Charts"))
    sections += [
        ("tables", "Tables"),
        ("environment-section", "Environment"),
        ("gaps-section", "Gaps"),
    ]
    out.append("<nav>" + "".join(f'<a href="#{a}">{_esc(t)}</a>' for a, t in sections) + "</nav>")
    out.append('<h2 id="findings">What the numbers say</h2>')
    for group in page.groups:
        out.append(f"<h3>{_esc(group.title)}</h3>")
        if group.findings:
            out.append("<ul>")
            out += [f"<li>{_esc(finding.text)}</li>" for finding in group.findings]
            out.append("</ul>")
        else:
            out.append("<p>The data supports no statement here.</p>")
    if images:
        out.append('<h2 id="charts">Charts</h2>')
        for chart, png in images:
            data = base64.b64encode(png).decode("ascii")
            out += [
                f'<figure id="chart-{_esc(chart.name)}">',
                f"<h3>{_esc(chart.title)}</h3>",
                f'<img src="data:image/png;base64,{data}" alt="{_esc(chart.title)}">',
                f"<figcaption>{_esc(chart.caption)} Files: {_esc(chart.name)}.png, "
                f"{_esc(chart.name)}.svg.</figcaption>",
                "</figure>",
            ]
    out.append('<h2 id="tables">Tables</h2>')
    out += [html_table(table) for table in page.tables]
    out.append('<h2 id="environment-section">Environment</h2>')
    differing = frozenset(findings.differing_environment_keys(page.results))
    if differing:
        out.append(
            '<p class="note">Highlighted: values that differ between the files '
            f"({_esc(', '.join(sorted(differing)))}).</p>"
        )
    out.append(html_table(page.environment, differing))
    out.append('<h2 id="gaps-section">Gaps</h2>')
    if page.gaps is not None:
        out.append(html_table(page.gaps))
    else:
        out.append('<p id="gaps-none">No cell failed or was skipped.</p>')
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# --- writing ----------------------------------------------------------------------------------


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
        images = [(chart, png.read_bytes()) for chart, png in zip(built, pngs, strict=True)]
        (staging / "index.html").write_text(render_html(page, images), encoding="utf-8")
        summary = markdownreport.render(
            title=page.title,
            results=page.results,
            groups=page.groups,
            charts=built,
            tables=page.tables,
            environment=page.environment,
            gaps=page.gaps,
        )
        (staging / "summary.md").write_text(summary, encoding="utf-8")
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
