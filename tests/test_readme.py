"""The README's generated blocks are exactly what their commands print, and the generator's
marker handling and bad input."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench.analysis import findings
from bench.commands.cli import run_command
from bench.render import readmegen
from bench.results.schema import load, load_all
from bench.units import format_duration
from tests.test_freethreading import three_files, write_three

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme.py"
DATA = Path(__file__).resolve().parent / "data"
SMALL = "tests/data/py311_latency.json"
# Read independently of the module under test, so that a parser that misses a block is caught.
START_LINE = re.compile(r"^<!-- generated: (.*) -->$", re.MULTILINE)


def run_script(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """What scripts/readme.py does with these arguments, in this process (a subprocess each
    would be most of the time of these tests); the README's own commands run as programs."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = run_command("readme", list(args))
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return subprocess.CompletedProcess([str(SCRIPT), *args], status, out.getvalue(), err.getvalue())


def stale_blocks(text: str) -> list[str]:
    """The blocks of ``text`` whose content differs from what their marker's command prints
    when run from the repository's root; a command that fails counts as differing."""
    commands = START_LINE.findall(text)
    blocks = readmegen.find_blocks(text)
    assert len(blocks) == len(commands), "a marker the generator does not see"
    stale = []
    for block, command in zip(blocks, commands, strict=True):
        words = shlex.split(command)
        assert words[0] == "python", command
        printed = subprocess.run(
            [sys.executable, *words[1:]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=50,
        )
        if printed.returncode != 0 or printed.stdout != readmegen.block_text(text, block):
            stale.append(command)
    return stale


@pytest.mark.slow(seconds=3)
def test_readme_blocks_are_what_their_commands_print() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {block.section for block in readmegen.find_blocks(text)} == set(readmegen.SECTION_NAMES)
    stale = stale_blocks(text)
    assert not stale, (
        "README blocks out of date; regenerate with "
        "python scripts/readme.py <file> --write README.md: " + "; ".join(stale)
    )


@pytest.mark.slow
def test_a_changed_number_in_a_block_is_caught() -> None:
    printed = run_script(SMALL, "--section", "environment").stdout
    marker = readmegen.start_marker(SMALL, "environment")
    honest = f"Prose.\n\n{marker}\n{printed}{readmegen.END_MARKER}\n"
    assert stale_blocks(honest) == []
    tampered = honest.replace("41 cells measured", "42 cells measured")
    assert tampered != honest
    assert stale_blocks(tampered) == [readmegen.command(SMALL, "environment")]


# --- marker handling --------------------------------------------------------------------------


def page(body: str) -> str:
    return f"# Title\n\nProse before.\n\n{body}\nProse after, 42 words.\n"


def test_printed_sections_are_blocks_that_regenerate_to_themselves() -> None:
    result = load(ROOT / SMALL)
    text = page(readmegen.render_all(result, SMALL))
    blocks = readmegen.find_blocks(text)
    assert [block.section for block in blocks] == list(readmegen.SECTIONS)
    assert {block.file for block in blocks} == {SMALL}
    for block in blocks:
        assert readmegen.block_text(text, block) == readmegen.render(result, block.section)
    assert readmegen.replace_blocks(text, result, SMALL) == text


def test_replacing_rewrites_the_blocks_and_their_markers_only() -> None:
    result = load(ROOT / SMALL)
    old = "results/old.json"
    stale = page(
        f"{readmegen.start_marker(old, 'numbers')}\n| an | old | table |\n{readmegen.END_MARKER}\n"
        f"\nBetween.\n\n{readmegen.start_marker(old, 'environment')}\n{readmegen.END_MARKER}\n"
    )
    updated = readmegen.replace_blocks(stale, result, SMALL)
    assert "old" not in updated
    assert updated.startswith("# Title\n\nProse before.\n\n")
    assert "\nBetween.\n" in updated
    assert updated.endswith("\nProse after, 42 words.\n")
    blocks = readmegen.find_blocks(updated)
    assert [(b.file, b.section) for b in blocks] == [(SMALL, "numbers"), (SMALL, "environment")]
    assert readmegen.block_text(updated, blocks[0]) == readmegen.render(result, "numbers")
    assert readmegen.block_text(updated, blocks[1]) == readmegen.render(result, "environment")


END = readmegen.END_MARKER
START = readmegen.start_marker(SMALL, "numbers")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# No markers\n", "has no generated block"),
        (f"{START}\ntable\n", "without '<!-- end generated -->'"),
        (f"text\n{END}\n", "without a block to end"),
        (f"{START}\n{START}\n{END}\n{END}\n", "opened inside the one at line 1"),
        (
            f"<!-- generated: python scripts/other.py {SMALL} --section numbers -->\n{END}\n",
            "must be",
        ),
        (f"<!-- generated: python scripts/readme.py {SMALL} --section nope -->\n{END}\n", "'nope'"),
        ("<!-- generated python scripts/readme.py x -->\n", "malformed"),
        ("<!-- generated: python scripts/readme.py 'x --section numbers -->\n", "cannot parse"),
    ],
)
def test_misplaced_or_malformed_markers_are_errors(text: str, message: str) -> None:
    with pytest.raises(readmegen.ReadmeError, match=re.escape(message)):
        readmegen.find_blocks(text)


def test_a_path_with_a_space_survives_the_marker() -> None:
    text = f"{readmegen.start_marker('my results/x.json', 'numbers')}\n{END}\n"
    assert readmegen.find_blocks(text)[0].file == "my results/x.json"


def test_marker_path_is_relative_to_the_readme_when_below_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    assert readmegen.marker_path(tmp_path / "results" / "x.json", readme) == "results/x.json"
    assert readmegen.marker_path(Path("/elsewhere/x.json"), readme) == "/elsewhere/x.json"


# --- what the sections hold -------------------------------------------------------------------


def test_each_latency_row_follows_its_means_row() -> None:
    result = load(ROOT / SMALL)
    table = readmegen.numbers_table(result)
    labels = [line[0] for line in table.rows]
    pingpong = next(label for label in labels if label.startswith("pingpong"))
    assert labels[labels.index(pingpong) + 1] == f"{pingpong}, latency p50 / p99"
    latency = table.rows[labels.index(pingpong) + 1]
    serial = next(e for e in result.entries if e.workload == "pingpong" and e.model == "serial")
    assert serial.latency is not None
    assert serial.latency.p50 is not None and serial.latency.p99 is not None
    column = table.header.index("serial")
    assert latency[column] == (
        f"{format_duration(serial.latency.p50)} / {format_duration(serial.latency.p99)}"
    )
    # Memory and spawn have no latency pass, so no latency row.
    assert not any(label.startswith(("memory", "spawn")) and "latency" in label for label in labels)


def test_a_cell_without_a_latency_record_shows_missing() -> None:
    result = load(ROOT / SMALL)
    entries = tuple(
        replace(e, latency=None) if e.workload == "pingpong" and e.model == "threads" else e
        for e in result.entries
    )
    table = readmegen.numbers_table(replace(result, entries=entries))
    row = next(
        line for line in table.rows if line[0].startswith("pingpong") and "latency" in line[0]
    )
    assert row[table.header.index("threads")] == findings.MISSING
    assert row[table.header.index("serial")] != findings.MISSING


def test_environment_line_counts_cells_and_gaps() -> None:
    result = load(DATA / "py311_gaps.json")
    line = readmegen.environment_section(result)
    assert line.count("\n") == 1
    measured = len(findings.suite_entries(result))
    assert f"; {measured} cells measured, 1 failed, 1 skipped." in line
    assert "Python `CPython 3.11.7 (shared)`" in line


def test_statements_are_the_findings_and_new_topics_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = load(ROOT / SMALL)
    found = findings.file_findings(result)
    text = readmegen.statements_section(result)
    assert [line[2:] for line in text.splitlines() if line.startswith("- ")] == [
        f.text for f in sorted(found, key=lambda f: list(readmegen.TOPIC_TITLES).index(f.topic))
    ]
    extra = findings.Finding("overhead", "A model adds 2 µs per task.")
    monkeypatch.setattr(findings, "file_findings", lambda _result: [*found, extra])
    assert readmegen.statements_section(result).endswith(
        "**overhead**\n\n- A model adds 2 µs per task.\n"
    )


# --- the command line -------------------------------------------------------------------------


def test_write_replaces_the_blocks_and_says_so(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(page(f"{readmegen.start_marker('old.json', 'environment')}\n{END}\n"))
    done = run_script(SMALL, "--write", str(readme))
    assert done.returncode == 0, done.stderr
    assert "rewrote 1 generated blocks" in done.stdout
    text = readme.read_text()
    assert readmegen.find_blocks(text)[0].file == SMALL
    assert "41 cells measured" in text
    again = run_script(SMALL, "--write", str(readme))
    assert again.returncode == 0 and "already current" in again.stdout
    assert readme.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests/data/missing.json"], "no such file"),
        (["tests/data/foreign_timeit.json"], "not a concbench result file"),
        (["tests/data/not_pyperf.json"], "not_pyperf.json"),
        ([SMALL, "--section", "nope"], "invalid choice: 'nope'"),
        ([SMALL, "--section", "numbers", "--write", "README.md"], "not allowed with"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_script(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("readme: error: ")
    assert message in done.stderr


@pytest.mark.parametrize(
    ("readme_text", "data", "message"),
    [
        ("# A README without markers\n", SMALL, "has no generated block"),
        (f"{START}\nunfinished\n", SMALL, "without '<!-- end generated -->'"),
        (f"{START}\n{END}\n", "tests/data/foreign_timeit.json", "not a concbench result file"),
        (f"{START}\n{END}\n", "tests/data/missing.json", "no such file"),
    ],
)
def test_write_with_bad_input_writes_nothing(
    tmp_path: Path, readme_text: str, data: str, message: str
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(readme_text)
    done = run_script(data, "--write", str(readme))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert readme.read_text() == readme_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_write_to_a_missing_readme_is_one_line(tmp_path: Path) -> None:
    done = run_script(SMALL, "--write", str(tmp_path / "README.md"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot read" in done.stderr
    assert list(tmp_path.iterdir()) == []


# --- several files: the free-threaded section ---------------------------------------------------

FREETHREADED_HEADER = "| cell | model | 3.13.0 | 3.13.15t GIL off | 3.13.15t GIL on |"


def test_the_freethreaded_section_compares_the_files_it_is_given() -> None:
    text = readmegen.render(three_files(), "freethreaded")
    assert text.startswith("### Key cells on each build\n")
    assert FREETHREADED_HEADER in text
    for title in readmegen.FREETHREADED_TOPICS.values():
        assert f"\n**{title}**\n\n- " in text
    assert text.endswith(".\n") and "\n\n\n" not in text


def test_a_multi_file_marker_names_every_file_and_reads_back() -> None:
    marker = readmegen.start_marker(["a.json", "my b.json", "c.json"], "freethreaded")
    assert marker == (
        "<!-- generated: python scripts/readme.py a.json 'my b.json' c.json "
        "--section freethreaded -->"
    )
    (block,) = readmegen.find_blocks(f"{marker}\n{END}\n")
    assert (block.files, block.file, block.section) == (
        ("a.json", "my b.json", "c.json"), "a.json", "freethreaded"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("files", "section", "message"),
    [
        (["a.json"], "freethreaded", "section freethreaded needs at least 2 files, got 1"),
        (["a.json", "b.json"], "numbers", "section numbers is rendered from one file, got 2"),
    ],
)
def test_a_marker_naming_the_wrong_number_of_files_is_an_error(
    files: list[str], section: str, message: str
) -> None:
    text = f"Prose.\n{readmegen.start_marker(files, section)}\n{END}\n"
    with pytest.raises(readmegen.ReadmeError, match=re.escape(f"README:2: {message}")):
        readmegen.find_blocks(text)


def test_several_files_print_the_freethreaded_section(tmp_path: Path) -> None:
    files = [str(path) for path in write_three(tmp_path)]
    done = run_script(*files, "--section", "freethreaded")
    assert done.returncode == 0, done.stderr
    assert done.stdout == readmegen.render(load_all(files), "freethreaded")
    assert FREETHREADED_HEADER in done.stdout
    every = run_script(*files)
    assert every.returncode == 0, every.stderr
    marker = readmegen.start_marker(files, "freethreaded")
    assert every.stdout == f"{marker}\n{done.stdout}{END}\n"


@pytest.mark.slow(seconds=2)
def test_a_multi_file_block_is_what_its_command_prints(tmp_path: Path) -> None:
    files = [str(path) for path in write_three(tmp_path)]  # absolute: commands run from ROOT
    printed = run_script(*files, "--section", "freethreaded").stdout
    honest = f"Prose.\n\n{readmegen.start_marker(files, 'freethreaded')}\n{printed}{END}\n"
    assert stale_blocks(honest) == []
    tampered = honest.replace(f"(1.20{findings.TIMES})", f"(1.21{findings.TIMES})", 1)
    assert tampered != honest
    assert stale_blocks(tampered) == [readmegen.command(files, "freethreaded")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SMALL, "--section", "freethreaded"], "section freethreaded needs at least 2 files"),
        ([SMALL, SMALL, "--section", "numbers"], "section numbers is rendered from one file"),
        ([SMALL, "tests/data/missing.json", "--section", "freethreaded"], "no such file"),
        ([SMALL, "tests/data/foreign_timeit.json"], "not a concbench result file"),
    ],
)
def test_bad_input_with_several_files_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_script(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("readme: error: ")
    assert message in done.stderr


def _two_blocks(tmp_path: Path) -> tuple[Path, list[Path], list[str]]:
    """A README with a stale single-file block and a stale free-threaded block whose marker
    names three files below it."""
    paths = write_three(tmp_path / "results")
    names = [f"results/{path.name}" for path in paths]
    readme = tmp_path / "README.md"
    readme.write_text(
        page(
            f"{readmegen.start_marker('old.json', 'environment')}\n{END}\n\nBetween.\n\n"
            f"{readmegen.start_marker(names, 'freethreaded')}\n| a stale | table |\n{END}\n"
        )
    )
    return readme, paths, names


def test_write_renders_each_block_from_the_files_its_marker_names(tmp_path: Path) -> None:
    readme, paths, names = _two_blocks(tmp_path)
    small = str(ROOT / SMALL)  # not below the README: named as given, so absolute
    done = run_script(small, "--write", str(readme))
    assert done.returncode == 0, done.stderr
    assert "rewrote 2 generated blocks" in done.stdout
    text = readme.read_text()
    single, multi = readmegen.find_blocks(text)
    assert (single.files, multi.files) == ((small,), tuple(names))
    assert readmegen.block_text(text, single) == readmegen.render(load(ROOT / SMALL), "environment")
    assert readmegen.block_text(text, multi) == readmegen.render(load_all(paths), "freethreaded")
    assert "\nBetween.\n" in text and "stale" not in text
    # the three files rewrite the block they fill, named relative to the README: as it was
    again = run_script(*map(str, paths), "--write", str(readme))
    assert again.returncode == 0 and "already current" in again.stdout, again.stderr
    assert readme.read_text() == text
    # another base: the block names the files in their new order and compares with it
    swapped = [paths[1], paths[0], paths[2]]
    done = run_script(*map(str, swapped), "--write", str(readme))
    assert done.returncode == 0, done.stderr
    rewritten = readme.read_text()
    single_after, multi_after = readmegen.find_blocks(rewritten)
    assert multi_after.files == (names[1], names[0], names[2])
    assert readmegen.block_text(rewritten, single_after) == readmegen.block_text(text, single)
    assert "| cell | model | 3.13.15t GIL off | 3.13.0 | 3.13.15t GIL on |" in rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "results"]


def test_write_with_a_missing_file_of_another_block_writes_nothing(tmp_path: Path) -> None:
    readme, paths, _names = _two_blocks(tmp_path)
    before = readme.read_text()
    paths[2].unlink()
    done = run_script(SMALL, "--write", str(readme))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert f"{readme}:" in done.stderr and "c.json" in done.stderr
    assert readme.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "results"]


def test_write_needs_a_block_for_the_files_given(tmp_path: Path) -> None:
    paths = write_three(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(page(f"{START}\n{END}\n"))
    before = readme.read_text()
    done = run_script(*map(str, paths), "--write", str(readme))
    assert done.returncode == 2
    assert "has no generated block rendered from 3 files (sections: freethreaded)" in done.stderr
    assert readme.read_text() == before


def test_replacing_without_the_files_of_another_block_is_an_error() -> None:
    text = page(f"{START}\n{END}\n{readmegen.start_marker(['a.json', 'b.json'], 'freethreaded')}\n"
                f"{END}\n")  # fmt: skip
    with pytest.raises(readmegen.ReadmeError, match="the files its marker names"):
        readmegen.replace_blocks(text, load(ROOT / SMALL), SMALL)
