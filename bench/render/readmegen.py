"""The README's generated sections: rendered from one result file with the report's tables and
statements, or from several (``MULTI_SECTIONS``: the free-threaded comparison, the first file
its base), and written between markers that name the command which prints them, so that a test
can rerun that command and compare.

Blocks in the README::

    <!-- generated: python scripts/readme.py results/baselines/X.json --section numbers -->
    ...exactly what that command prints...
    <!-- end generated -->
    <!-- generated: python scripts/readme.py A.json B.json C.json --section freethreaded -->
    ...
    <!-- end generated -->

Rewriting a README renders the blocks of the sections the given files fill (one file: the
single-file sections; several: the multi-file ones) from them, and every other block from the
files its own marker names, so that blocks of different files coexist.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.analysis import findings, freethreading, variants
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
    freethreading.TOPIC: "Parallel speedup over serial",
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
    files: tuple[str, ...]
    section: str

    @property
    def file(self) -> str:
        """The block's first file: the only one of a single-file section, else the base."""
        return self.files[0]


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


# How a heading names the statements of the free-threaded section, in this order.
FREETHREADED_TOPICS = {
    freethreading.TOPIC: "Parallel speedup over serial, file by file",
    freethreading.COST_TOPIC: "Single-thread cost of the build",
    freethreading.MISSING_TOPIC: "Numbers not measured",
}


def freethreaded_section(results: Sequence[ResultSet]) -> str:
    """Free-threaded Python from several files, the first the base: the key cells and the
    speedups over serial side by side, then the speedup statements of each file, the
    single-thread cost of each build against the first, and why a number is missing."""
    tables = [
        table
        for table in (freethreading.key_table(results), freethreading.speedup_table(results))
        if table is not None
    ]
    if not tables:
        names = ", ".join(result.path.name for result in results)
        raise ReadmeError(f"{names}: no key cell of the free-threaded comparison in these files")
    lines = [line for table in tables for line in markdownreport.table(table)]
    grouped: dict[str, list[str]] = {}
    statements = [
        *freethreading.comparison_findings(results),
        *freethreading.missing_findings(results),
    ]
    for finding in statements:
        grouped.setdefault(finding.topic, []).append(finding.text)
    for topic, title in FREETHREADED_TOPICS.items():
        if topic in grouped:
            lines += [f"**{title}**", "", *(f"- {text}" for text in grouped[topic]), ""]
    return "\n".join(lines).rstrip() + "\n"


# Sections rendered from one file, and from several (at least ``MIN_FILES``, the first the base).
SECTIONS: Mapping[str, Callable[[ResultSet], str]] = {
    "environment": environment_section,
    "numbers": numbers_section,
    "statements": statements_section,
}
MULTI_SECTIONS: Mapping[str, Callable[[Sequence[ResultSet]], str]] = {
    "freethreaded": freethreaded_section,
}
SECTION_NAMES = (*SECTIONS, *MULTI_SECTIONS)
MIN_FILES = 2


def sections_for(count: int) -> tuple[str, ...]:
    """The sections rendered from ``count`` files."""
    return tuple(SECTIONS) if count == 1 else tuple(MULTI_SECTIONS)


def check_suite_file(result: ResultSet) -> None:
    if not findings.suite_entries(result):
        raise ReadmeError(f"{result.path}: not a concbench result file (no benchmark of the suite)")


def check_section(section: str, count: int) -> None:
    """That ``section`` exists and is rendered from ``count`` files."""
    if section not in SECTION_NAMES:
        raise ReadmeError(f"unknown section {section!r} (valid: {', '.join(SECTION_NAMES)})")
    if section in SECTIONS and count != 1:
        raise ReadmeError(f"section {section} is rendered from one file, got {count}")
    if section in MULTI_SECTIONS and count < MIN_FILES:
        raise ReadmeError(f"section {section} needs at least {MIN_FILES} files, got {count}")


def _results(results: ResultSet | Sequence[ResultSet]) -> tuple[ResultSet, ...]:
    return (results,) if isinstance(results, ResultSet) else tuple(results)


def _files(files: str | Sequence[str]) -> tuple[str, ...]:
    return (files,) if isinstance(files, str) else tuple(files)


def render(results: ResultSet | Sequence[ResultSet], section: str) -> str:
    """One section from one file or, for a multi-file section, several."""
    chosen = _results(results)
    for result in chosen:
        check_suite_file(result)
    check_section(section, len(chosen))
    if section in SECTIONS:
        return SECTIONS[section](chosen[0])
    return MULTI_SECTIONS[section](chosen)


def command(files: str | Sequence[str], section: str) -> str:
    names = " ".join(shlex.quote(file) for file in _files(files))
    return f"python {SCRIPT} {names} --section {section}"


def start_marker(files: str | Sequence[str], section: str) -> str:
    return f"<!-- generated: {command(files, section)} -->"


def render_all(results: ResultSet | Sequence[ResultSet], files: str | Sequence[str]) -> str:
    """Every section rendered from these files inside its markers, ready to paste into a
    README: the single-file sections from one file, the multi-file ones from several."""
    chosen = _results(results)
    return "\n".join(
        f"{start_marker(files, name)}\n{render(chosen, name)}{END_MARKER}\n"
        for name in sections_for(len(chosen))
    )


def _parse_start(command_text: str, where: str) -> tuple[tuple[str, ...], str]:
    try:
        words = shlex.split(command_text)
    except ValueError as exc:
        raise ReadmeError(f"{where}: cannot parse the marker's command ({exc})") from None
    if len(words) < 5 or words[:2] != ["python", SCRIPT] or words[-2] != "--section":
        raise ReadmeError(
            f"{where}: the marker's command must be 'python {SCRIPT} FILE... --section NAME'"
        )
    files, section = tuple(words[2:-2]), words[-1]
    try:
        check_section(section, len(files))
    except ReadmeError as exc:
        raise ReadmeError(f"{where}: {exc}") from None
    return files, section


def find_blocks(text: str, name: str = "README") -> list[Block]:
    """The generated blocks of a Markdown text; a marker out of place is an error."""
    blocks = []
    open_at: tuple[int, tuple[str, ...], str] | None = None
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


def replace_blocks(
    text: str,
    results: ResultSet | Sequence[ResultSet],
    files: str | Sequence[str],
    name: str = "README",
    marked: Callable[[Block], Sequence[ResultSet]] | None = None,
) -> str:
    """The text with every generated block rendered anew. A block of a section rendered from as
    many files as ``files`` (``sections_for``) is rendered from ``results``, its marker then
    naming ``files``; any other block from the files its own marker names, as ``marked`` reads
    them (without ``marked``, such a block is an error). At least one block must take
    ``files``."""
    chosen, names = _results(results), _files(files)
    for result in chosen:
        check_suite_file(result)
    blocks = find_blocks(text, name)
    given = sections_for(len(names))
    if not any(block.section in given for block in blocks):
        what = "one file" if len(names) == 1 else f"{len(names)} files"
        raise ReadmeError(
            f"{name}: has no generated block rendered from {what} (sections: {', '.join(given)})"
        )
    lines = text.splitlines(keepends=True)
    pieces: list[str] = []
    done = 0
    for block in blocks:
        pieces += lines[done : block.start]
        if block.section in given:
            pieces.append(start_marker(names, block.section) + "\n")
            pieces.append(render(chosen, block.section))
        elif marked is None:
            raise ReadmeError(
                f"{name}:{block.start + 1}: the block of {block.section} is rendered from "
                "the files its marker names, which are not given"
            )
        else:
            pieces.append(start_marker(block.files, block.section) + "\n")
            pieces.append(render(marked(block), block.section))
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
