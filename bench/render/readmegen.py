"""The README's generated sections: rendered from one result file with the report's tables and
statements, and written between markers that name the command which prints them, so that a test
can rerun that command and compare.

A block in the README::

    <!-- generated: python scripts/readme.py results/baselines/X.json --section numbers -->
    ...exactly what that command prints...
    <!-- end generated -->
"""

from __future__ import annotations

import math
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from bench.analysis import findings, variants
from bench.analysis.findings import Table
from bench.render import markdownreport
from bench.results.schema import Entry, ResultSet
from bench.spec.workloads import LATENCY_WORKLOADS, FanOut, Memory, Spawn
from bench.units import format_duration

SCRIPT = "scripts/readme.py"
START_PATTERN = re.compile(r"^<!-- generated: (?P<command>.*) -->$")
END_MARKER = "<!-- end generated -->"

# Statement topics as headings, in this order; topics added later follow under their own name.
# A workload's statements have the workload's name as their topic.
TOPIC_TITLES = {
    "switch": "Switches",
    Memory.workload: "Memory",
    Spawn.workload: "Starting tasks",
    "tail": "Tail latency",
    "winner": "Best model per cell",
    "parallel": "Parallelism",
    FanOut.workload: "What a fan-out adds to its waits",
    "scaling": "Scaling",
    "gaps": "Gaps",
    variants.TOPIC: "What each variant changes against its base model",
}

# (label, environment key) of the environment line, in reading order; missing keys are left out.
ENVIRONMENT_LINE = (
    ("host", "hostname"),
    ("CPU", "cpu_model_name"),
    ("CPUs", "cpu_count"),
    ("OS", "platform"),
    ("Python", "python_build"),
    ("GIL", "python_gil"),
    ("pyperf", "pyperf_version"),
    ("greenlet", "greenlet_version"),
    ("gevent", "gevent_version"),
    ("uvloop", "uvloop_version"),
    ("trio", "trio_version"),
    ("anyio", "anyio_version"),
    ("psutil", "psutil_version"),
    ("start method", "mp_start_method"),
    ("command", "command"),
    ("settings", "measurement"),
)


class ReadmeError(Exception):
    """Bad input for the generator; the message is one line."""


@dataclass(frozen=True)
class Block:
    """A generated block: its marker lines' indices and what the start marker names."""

    start: int
    end: int
    file: str
    section: str


def environment_section(result: ResultSet) -> str:
    """One line: the machine, interpreter, libraries and settings the file records, and how many
    cells it holds."""
    parts = []
    for label, key in ENVIRONMENT_LINE:
        value = result.environment.get(key)
        text = " ".join(str(value).split()) if value is not None else ""
        if text:
            parts.append(f"{label} `{text}`")
    failed = sum(1 for gap in result.gaps if gap.status == "failed")
    skipped = sum(1 for gap in result.gaps if gap.status == "skipped")
    cells = f"{len(findings.suite_entries(result))} cells measured, {failed} failed, "
    cells += f"{skipped} skipped" + (", the run was interrupted" if result.interrupted else "")
    return f"Recorded in `{result.path.name}`: " + ", ".join(parts) + f"; {cells}.\n"


def _percentile(entry: Entry, name: str) -> float | None:
    value = getattr(entry.latency, name, None)
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _latency_cell(entry: Entry | None) -> str:
    if entry is None:
        return findings.MISSING
    p50, p99 = _percentile(entry, "p50"), _percentile(entry, "p99")
    if p50 is None or p99 is None:
        return findings.MISSING
    return f"{format_duration(p50)} / {format_duration(p99)}"


def plain_models(result: ResultSet) -> ResultSet:
    """The file with the cells of plain models only: a column per variant would make the table
    too wide to read; what each variant changes is stated in the statements section."""
    return replace(
        result,
        entries=tuple(entry for entry in result.entries if not entry.model_facts.variant),
        gaps=tuple(gap for gap in result.gaps if not gap.model_facts.variant),
    )


def numbers_table(result: ResultSet) -> Table:
    """The report's table of means for the plain models, with each latency workload's row
    followed by a row of the latency pass's p50 / p99."""
    result = plain_models(result)
    means = findings.means_table([result])
    if means is None:
        raise ReadmeError(f"{result.path}: holds no measured cell of the suite")
    by_label = {row.label: row for row in findings.rows([result])}
    cells = findings.grid(result)
    model_names = means.header[1:]
    body: list[tuple[str, ...]] = []
    for line in means.rows:
        body.append(line)
        row = by_label.get(line[0])
        if row is None or row.workload not in LATENCY_WORKLOADS:
            continue
        texts = tuple(_latency_cell(cells.get((row, model))) for model in model_names)
        if any(text != findings.MISSING for text in texts):
            body.append((f"{row.label}, latency p50 / p99", *texts))
    note = (
        f"{means.note} Latency rows: the median and 99th percentile of the latency pass (see "
        "[Tail latency](#tail-latency)). Plain models only: what each variant changes against "
        "its base model is stated below."
    )
    return Table(means.title, means.header, tuple(body), means.anchor, note)


def numbers_section(result: ResultSet) -> str:
    return "\n".join(markdownreport.table(numbers_table(result))).rstrip() + "\n"


def statements_section(result: ResultSet) -> str:
    grouped: dict[str, list[str]] = {}
    for finding in [*findings.file_findings(result), *variants.variant_findings(result)]:
        grouped.setdefault(finding.topic, []).append(finding.text)
    if not grouped:
        raise ReadmeError(f"{result.path}: gives no statement to make")
    order = [topic for topic in TOPIC_TITLES if topic in grouped]
    order += [topic for topic in grouped if topic not in TOPIC_TITLES]
    lines: list[str] = []
    for topic in order:
        lines += [f"**{TOPIC_TITLES.get(topic, topic)}**", ""]
        lines += [f"- {text}" for text in grouped[topic]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


SECTIONS: Mapping[str, Callable[[ResultSet], str]] = {
    "environment": environment_section,
    "numbers": numbers_section,
    "statements": statements_section,
}


def check_suite_file(result: ResultSet) -> None:
    if not findings.suite_entries(result):
        raise ReadmeError(f"{result.path}: not a concbench result file (no benchmark of the suite)")


def render(result: ResultSet, section: str) -> str:
    check_suite_file(result)
    if section not in SECTIONS:
        raise ReadmeError(f"unknown section {section!r} (valid: {', '.join(SECTIONS)})")
    return SECTIONS[section](result)


def command(file: str, section: str) -> str:
    return f"python {SCRIPT} {shlex.quote(file)} --section {section}"


def start_marker(file: str, section: str) -> str:
    return f"<!-- generated: {command(file, section)} -->"


def render_all(result: ResultSet, file: str) -> str:
    """Every section inside its markers, ready to paste into a README."""
    return "\n".join(
        f"{start_marker(file, name)}\n{render(result, name)}{END_MARKER}\n" for name in SECTIONS
    )


def _parse_start(command_text: str, where: str) -> tuple[str, str]:
    try:
        words = shlex.split(command_text)
    except ValueError as exc:
        raise ReadmeError(f"{where}: cannot parse the marker's command ({exc})") from None
    if len(words) != 5 or words[:2] != ["python", SCRIPT] or words[3] != "--section":
        raise ReadmeError(
            f"{where}: the marker's command must be 'python {SCRIPT} FILE --section NAME'"
        )
    if words[4] not in SECTIONS:
        raise ReadmeError(f"{where}: unknown section {words[4]!r} (valid: {', '.join(SECTIONS)})")
    return words[2], words[4]


def find_blocks(text: str, name: str = "README") -> list[Block]:
    """The generated blocks of a Markdown text; a marker out of place is an error."""
    blocks = []
    open_at: tuple[int, str, str] | None = None
    for index, line in enumerate(text.splitlines()):
        where = f"{name}:{index + 1}"
        stripped = line.strip()
        match = START_PATTERN.match(stripped)
        if match:
            if open_at is not None:
                raise ReadmeError(
                    f"{where}: generated block opened inside the one at line {open_at[0] + 1}"
                )
            open_at = (index, *_parse_start(match["command"], where))
        elif stripped == END_MARKER:
            if open_at is None:
                raise ReadmeError(f"{where}: '{END_MARKER}' without a block to end")
            blocks.append(Block(open_at[0], index, open_at[1], open_at[2]))
            open_at = None
        elif stripped.startswith("<!-- generated"):
            raise ReadmeError(f"{where}: malformed generated-block marker: {stripped}")
    if open_at is not None:
        raise ReadmeError(f"{name}:{open_at[0] + 1}: generated block without '{END_MARKER}'")
    if not blocks:
        raise ReadmeError(f"{name}: has no generated block (no '<!-- generated: ...' marker)")
    return blocks


def block_text(text: str, block: Block) -> str:
    """What a block holds between its markers, each line with its newline."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[block.start + 1 : block.end])


def replace_blocks(text: str, result: ResultSet, file: str, name: str = "README") -> str:
    """The text with every generated block rendered anew from ``result``, its marker naming
    ``file``."""
    check_suite_file(result)
    blocks = find_blocks(text, name)
    lines = text.splitlines(keepends=True)
    pieces: list[str] = []
    done = 0
    for block in blocks:
        pieces += lines[done : block.start]
        pieces.append(start_marker(file, block.section) + "\n")
        pieces.append(render(result, block.section))
        pieces.append(lines[block.end])
        done = block.end + 1
    pieces += lines[done:]
    return "".join(pieces)


def marker_path(file: Path, readme: Path) -> str:
    """The file as the marker names it: relative to the README's directory, where the marker's
    command runs, when it lies below it."""
    try:
        return file.resolve().relative_to(readme.resolve().parent).as_posix()
    except ValueError:
        return file.as_posix()


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by a file holding ``text``: a reader sees the old or the new, never half."""
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
