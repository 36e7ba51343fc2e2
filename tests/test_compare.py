"""The compare command on the stored files in tests/data, and the comparison library on the same
files: verdicts, direction words, unit refusal, the --fail-above gate, every output format, and
bad input (one line, exit status 2, nothing written). The command runs in this process, as
scripts/compare.py runs it (a subprocess each would be most of this module's time); a few tests
run the script itself."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.analysis.comparison import ComparisonError, Options, compare, judge, judge_latency
from bench.commands.cli import run_command
from bench.results.schema import load_all

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SCRIPT = ROOT / "scripts" / "compare.py"

PY311 = DATA / "py311.json"
PY313 = DATA / "py313.json"
REGRESSED = DATA / "py311_regressed.json"
UNITS = DATA / "py311_units.json"
GAPS = DATA / "py311_gaps.json"
SINGLE = DATA / "py311_single.json"
FOREIGN = DATA / "foreign_timeit.json"
FOREIGN_SLOWER = DATA / "foreign_timeit_slower.json"


def run(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """What scripts/compare.py does with these arguments, in this process."""
    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = run_command("compare", argv)
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())


def script(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=50,
        check=False,
    )


def json_output(*args: object) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def changes_by_benchmark(document: dict[str, Any], index: int = 0) -> dict[str, dict[str, Any]]:
    """The compared benchmarks' changes (rows of benchmarks only some files have are left out)."""
    return {
        row["benchmark"]: row["changes"][index]
        for row in document["benchmarks"]
        if row["changes"][index] is not None
    }


def variant(tmp_path: Path, source: Path, name: str, edit: Any) -> Path:
    """A copy of ``source`` changed by ``edit(document)``."""
    data = json.loads(source.read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# -- verdicts -------------------------------------------------------------------------------------


def test_same_file_twice_is_no_change_everywhere() -> None:
    document = json_output(PY311, PY311)
    statuses = {change["status"] for change in changes_by_benchmark(document).values()}
    assert statuses == {"no_change"}
    assert document["environment_differences"] == []
    assert all(mean["ratio"] == pytest.approx(1.0) for mean in document["geometric_means"])
    text = run(PY311, PY311)
    assert text.returncode == 0
    assert "41 no change" in text.stdout


def test_known_regression_and_improvement() -> None:
    changes = changes_by_benchmark(json_output(PY311, REGRESSED))
    slower = changes["pingpong[rounds=5]/greenlet"]
    assert slower["status"] == "regressed"
    assert slower["verdict"] == "slower"
    assert slower["ratio"] == pytest.approx(1.3)
    assert slower["change_pct"] == pytest.approx(30.0)
    assert slower["p_value"] < 0.001
    assert slower["test"] == "mann-whitney-u-exact"
    assert slower["ci"][0] < 1.3 < slower["ci"][1]
    faster = changes["spawn[tasks=5]/gevent"]
    assert (faster["status"], faster["verdict"]) == ("improved", "faster")
    assert faster["ratio"] == pytest.approx(0.7)
    nudged = changes["pingpong[rounds=5]/serial"]
    assert (nudged["status"], nudged["verdict"]) == ("no_change", "no change")
    memory = changes["memory[tasks=5]/threads"]
    assert memory["status"] == "too_few_values"
    assert memory["verdict"] == "too few values to test (n=3 vs 3: p >= 0.1)"
    assert memory["min_p_value"] == pytest.approx(0.1)


def test_min_change_can_turn_a_regression_into_no_change() -> None:
    changes = changes_by_benchmark(json_output(PY311, REGRESSED, "--min-change", "35"))
    assert changes["pingpong[rounds=5]/greenlet"]["status"] == "no_change"
    strict = changes_by_benchmark(json_output(PY311, REGRESSED, "--min-change", "0.1"))
    assert strict["pingpong[rounds=5]/serial"]["status"] in ("regressed", "not_significant")


def test_direction_words_per_unit(tmp_path: Path) -> None:
    options = Options(bootstrap_resamples=0)
    base, more = [1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 1.9, 2.0, 2.05]
    assert judge(base, more, "second", "b", options).verdict == "slower"
    assert judge(more, base, "second", "b", options).verdict == "faster"
    assert judge(base, more, "byte", "b", options).verdict == "larger"
    assert judge(more, base, "byte", "b", options).verdict == "smaller"
    assert judge(base, more, "integer", "b", options).verdict == "higher"
    assert judge(more, base, "integer", "b", options).verdict == "lower"


def test_foreign_unit_uses_neutral_words(tmp_path: Path) -> None:
    def to_integer(data: dict[str, Any]) -> None:
        # A file of one benchmark keeps all metadata, the unit too, at the top level.
        data["metadata"]["unit"] = "integer"

    base = variant(tmp_path, FOREIGN, "base.json", to_integer)
    new = variant(tmp_path, FOREIGN_SLOWER, "new.json", to_integer)
    (change,) = changes_by_benchmark(json_output(base, new)).values()
    assert change["verdict"] == "higher"


def test_cannot_test_a_single_value() -> None:
    changes = changes_by_benchmark(json_output(PY311, SINGLE))
    verdicts = {change["verdict"] for change in changes.values()}
    assert "cannot test (n=1)" in verdicts
    assert {change["status"] for change in changes.values()} <= {"untestable", "no_change"}
    assert all(change["p_value"] is None for change in changes.values())


def test_benchmarks_missing_from_a_file_are_listed_by_where_they_are() -> None:
    out = run(PY311, SINGLE).stdout
    assert "Only in some files:\n  in py311, not in py311_single (28 benchmarks):\n" in out
    assert "    spawn[tasks=5]/gevent\n" in out
    assert not any(line.startswith("spawn N=5") for line in out.splitlines())


def test_interrupted_run_is_flagged(tmp_path: Path) -> None:
    def interrupt(data: dict[str, Any]) -> None:
        data["concbench"]["interrupted"] = True

    partial = variant(tmp_path, GAPS, "partial.json", interrupt)
    out = run(PY311, partial).stdout
    assert "WARNING: the run of partial was interrupted; it is incomplete." in out


def test_bootstrap_can_be_turned_off() -> None:
    changes = changes_by_benchmark(json_output(PY311, REGRESSED, "--bootstrap", "0"))
    assert all(change["ci"] is None for change in changes.values())
    assert changes["pingpong[rounds=5]/greenlet"]["status"] == "regressed"


def test_two_python_versions_text() -> None:
    result = run(PY311, PY313)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Mann-Whitney U" in out
    assert "Environment differences:" in out
    assert "python_version" in out
    assert "items/s" in out and "KiB" in out
    assert "(base)" in out
    assert "Geometric mean of the ratios:" in out
    assert "workload pingpong" in out and "model greenlet" in out
    assert any(word in out for word in ("faster", "slower"))
    assert result.stderr == ""


def test_foreign_files_compare_by_name() -> None:
    result = run(FOREIGN, FOREIGN_SLOWER)
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("sum_range")]
    assert "1.50x" in row and "+50.0%" in row and "slower" in row


def test_three_files() -> None:
    document = json_output(PY311, PY313, REGRESSED)
    assert [f["label"] for f in document["files"]] == ["py311", "py313", "py311_regressed"]
    row = next(r for r in document["benchmarks"] if r["benchmark"] == "pingpong[rounds=5]/greenlet")
    assert len(row["results"]) == 3 and len(row["changes"]) == 2
    assert row["changes"][1]["status"] == "regressed"
    text = run(PY311, PY313, REGRESSED).stdout
    assert "verdict py313" in text and "verdict py311_regressed" in text


def test_labels_option() -> None:
    document = json_output(PY311, PY313, "--labels", "old,new")
    assert document["base"] == "old"
    assert [f["label"] for f in document["files"]] == ["old", "new"]


# -- gaps, missing benchmarks, units, spec versions -----------------------------------------------


def test_gaps_and_benchmarks_only_in_some_files() -> None:
    result = run(PY311, GAPS)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Only in some files:" not in out  # every absence has its reason below
    assert "Cells without a result:" in out
    assert (
        "py311_gaps: pingpong[rounds=5]/processes: failed: CellError: processes reported 9 "
        "operations, the spec says 10"
    ) in out
    assert "py311_gaps: memory[tasks=5]/gevent: skipped: unavailable: No module" in out
    assert not any(line.startswith("pingpong rounds=5 / processes") for line in out.splitlines())
    document = json_output(PY311, GAPS)
    assert {gap["status"] for gap in document["gaps"]} == {"failed", "skipped"}
    assert len(document["only_in_some_files"]) == 2


def test_unit_mismatch_refuses_the_whole_comparison() -> None:
    result = run(PY311, UNITS)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "spawn[tasks=5]/asyncio" in result.stderr
    assert "'second' in py311, 'byte' in py311_units" in result.stderr


def test_skip_unit_mismatch_compares_the_rest() -> None:
    result = run(PY311, UNITS, "--skip-unit-mismatch")
    assert result.returncode == 0, result.stderr
    assert "Not compared, units differ: spawn[tasks=5]/asyncio" in result.stdout
    document = json_output(PY311, UNITS, "--skip-unit-mismatch")
    assert "spawn[tasks=5]/asyncio" not in changes_by_benchmark(document)
    assert document["unit_mismatches_skipped"][0]["units"] == {
        "py311": "second",
        "py311_units": "byte",
    }


def test_spec_version_difference_is_refused_unless_forced(tmp_path: Path) -> None:
    def bump(data: dict[str, Any]) -> None:
        data["metadata"]["spec_version"] = 2

    newer = variant(tmp_path, PY311, "spec2.json", bump)
    refused = run(PY311, newer)
    assert refused.returncode == 2
    assert "spec_version differs" in refused.stderr and "--force" in refused.stderr
    forced = run(PY311, newer, "--force")
    assert forced.returncode == 0
    assert "NOT comparable" in forced.stdout
    assert "spec_version" in forced.stdout


def test_gzip_input(tmp_path: Path) -> None:
    packed = tmp_path / "py313.json.gz"
    packed.write_bytes(gzip.compress(PY313.read_bytes()))
    assert run(PY311, packed).stdout.replace(str(packed), "X") == run(PY311, PY313).stdout.replace(
        str(PY313), "X"
    )


# -- the regression gate --------------------------------------------------------------------------


def test_fail_above_names_the_regression_and_exits_one() -> None:
    result = script(PY311, REGRESSED, "--fail-above", "10")
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert errors[0] == (
        "compare: regression: pingpong[rounds=5]/greenlet: 30.0% slower in py311_regressed "
        "than in py311 (p<0.0001)"
    )
    assert any("too few values" in line for line in errors[1:])
    assert "Regression gate (--fail-above 10%, judged on raw values): FAILED" in result.stdout
    assert "pingpong rounds=5 / greenlet" in result.stdout  # the table still prints


def test_fail_above_passes_below_the_threshold_and_without_regressions() -> None:
    assert run(PY311, REGRESSED, "--fail-above", "40").returncode == 0
    assert run(PY311, PY311, "--fail-above", "0").returncode == 0
    assert run(PY311, REGRESSED).returncode == 0  # no gate without the option


def test_the_gate_follows_the_direction() -> None:
    # Swapping base and new turns the 30% regression into an improvement.
    result = run(REGRESSED, PY311, "--fail-above", "5")
    assert result.returncode == 1  # the x0.7 spawn cell is now a 43% regression
    assert "spawn[tasks=5]/gevent" in result.stderr
    assert "greenlet" not in result.stderr


def test_gate_in_json() -> None:
    result = run(PY311, REGRESSED, "--fail-above", "10", "--format", "json")
    assert result.returncode == 1
    gate = json.loads(result.stdout)["gate"]
    assert gate["passed"] is False
    assert [r["benchmark"] for r in gate["regressions"]] == ["pingpong[rounds=5]/greenlet"]


# -- formats --------------------------------------------------------------------------------------


def table_rows(markdown: str) -> list[list[str]]:
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = line.replace("\\|", "").strip("|").split("|")
            rows.append([cell.strip() for cell in cells])
    return rows


def test_markdown_tables_are_well_formed() -> None:
    result = run(PY311, PY313, "--format", "markdown")
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("### Benchmark comparison")
    blocks = [b for b in out.split("\n\n") if b.startswith("|")]
    assert len(blocks) == 3  # environment, benchmarks, geometric means
    for block in blocks:
        rows = table_rows(block)
        assert len({len(row) for row in rows}) == 1, block
        assert set(rows[1][0]) <= {"-", ":"}
    assert "| `pingpong rounds=5 / greenlet` |" in out


def test_csv_has_a_row_per_benchmark_and_file() -> None:
    result = run(PY311, GAPS, "--format", "csv")
    assert result.returncode == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    base_rows = [row for row in rows if row["role"] == "base"]
    assert len(rows) == 2 * len(base_rows)
    failed = next(
        r for r in rows if r["benchmark"] == "pingpong[rounds=5]/processes" and r["role"] == "new"
    )
    assert failed["status"] == "failed" and failed["verdict"].startswith("CellError")
    compared = next(r for r in rows if r["role"] == "new" and r["status"] == "no_change")
    assert float(compared["ratio"]) == pytest.approx(1.0)
    assert compared["test"].startswith("mann-whitney-u")
    assert float(compared["mean"]) > 0


def test_json_schema() -> None:
    document = json_output(PY311, PY313)
    assert (document["schema"], document["schema_version"]) == ("concbench-compare", 1)
    assert document["test"]["name"] == "Mann-Whitney U"
    assert document["min_change_pct"] == 1.0
    assert document["gate"] is None
    row = document["benchmarks"][0]
    assert set(row) >= {"benchmark", "workload", "params", "model", "unit", "results", "changes"}
    keys = {"python_version", "python_build"}
    assert keys <= {difference["key"] for difference in document["environment_differences"]}


def test_output_file_is_written_once(tmp_path: Path) -> None:
    target = tmp_path / "comparison.md"
    result = run(PY311, PY313, "--format", "markdown", "-o", target)
    assert result.returncode == 0 and result.stdout == ""
    assert target.read_text().startswith("### Benchmark comparison")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comparison.md"]


# -- bad input ------------------------------------------------------------------------------------

EXISTING_CONTENT = "keep me\n"

BAD_INPUTS: list[tuple[str, list[object], str]] = [
    ("missing file", [PY311, DATA / "nope.json"], "nope.json: no such file"),
    ("empty file", [PY311, DATA / "empty.json"], "empty.json: file is empty"),
    ("truncated file", [DATA / "truncated.json", PY311], "truncated.json: truncated JSON"),
    ("not pyperf", [PY311, DATA / "not_pyperf.json"], "not a pyperf result file"),
    ("directory", [PY311, DATA], "is a directory"),
    ("nothing in common", [PY311, FOREIGN], "have no benchmark in common"),
    ("unit mismatch", [PY311, UNITS], "has different units"),
    ("one file", [PY311], "the following arguments are required: NEW"),
    ("no file", [], "the following arguments are required: BASE, NEW"),
    ("format", [PY311, PY313, "--format", "html"], "invalid choice: 'html' (choose from"),
    ("negative min-change", [PY311, PY313, "--min-change", "-1"], "from 0 to 1000 (percent)"),
    ("nan min-change", [PY311, PY313, "--min-change", "nan"], "got 'nan'"),
    ("absurd min-change", [PY311, PY313, "--min-change", "5000"], "from 0 to 1000"),
    ("negative fail-above", [PY311, PY313, "--fail-above=-3"], "--fail-above: must be"),
    ("word fail-above", [PY311, PY313, "--fail-above", "ten"], "got 'ten'"),
    ("zero alpha", [PY311, PY313, "--alpha", "0"], "above 0 to 0.2 (significance level)"),
    ("absurd alpha", [PY311, PY313, "--alpha", "0.9"], "above 0 to 0.2"),
    ("negative bootstrap", [PY311, PY313, "--bootstrap", "-5"], "from 0 (off) to 100,000"),
    ("label count", [PY311, PY313, "--labels", "a"], "1 labels given for 2 files"),
    ("label repeat", [PY311, PY313, "--labels", "a,a"], "labels must be unique"),
    ("empty label", [PY311, PY313, "--labels", "a,"], "non-empty labels"),
    ("unknown option", [PY311, PY313, "--frobnicate"], "valid options: --alpha"),
    ("abbreviation", [PY311, PY313, "--form", "csv"], "unrecognized arguments: --form"),
]


@pytest.mark.parametrize(("case", "args", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input(tmp_path: Path, case: str, args: list[object], message: str) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text(EXISTING_CONTENT)
    target = tmp_path / "out.txt"
    result = run(*args, "-o", target, cwd=tmp_path)
    assert result.returncode == 2, (case, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("compare: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.txt"]
    assert existing.read_text() == EXISTING_CONTENT


@pytest.mark.parametrize(
    ("case", "output", "message"),
    [
        ("existing output", "existing.txt", "existing.txt already exists"),
        ("missing directory", "no/such/dir/out.txt", "does not exist"),
    ],
)
def test_bad_output_path(tmp_path: Path, case: str, output: str, message: str) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text(EXISTING_CONTENT)
    result = script(PY311, PY313, "-o", tmp_path / output)
    assert result.returncode == 2, case
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert existing.read_text() == EXISTING_CONTENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.txt"]


def test_library_errors_are_one_line() -> None:
    files = load_all([PY311, FOREIGN])
    with pytest.raises(ComparisonError, match="no benchmark in common") as caught:
        compare(files)
    assert "\n" not in str(caught.value)
    with pytest.raises(ComparisonError, match="at least two"):
        compare(files[:1])


# -- latency percentiles --------------------------------------------------------------------------

LATENCY_BASE = DATA / "py311_latency.json"
LATENCY_NEW = DATA / "py313_latency.json"
TAIL = "pingpong[rounds=5]/threads"


def latency_changes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        row["benchmark"]: row["latency_changes"][0]
        for row in document["benchmarks"]
        if row["latency_changes"] and row["latency_changes"][0] is not None
    }


def test_latency_verdicts_in_json() -> None:
    document = json_output(LATENCY_BASE, LATENCY_NEW)
    changes = latency_changes(document)
    assert changes[TAIL]["status"] == "regressed"
    assert changes[TAIL]["verdict"] == "higher"
    assert changes[TAIL]["runs"] == [5, 5]
    assert changes[TAIL]["ratio"] > 2
    few = changes["pingpong[rounds=5]/greenlet"]
    assert few["status"] == "too_few_values"
    assert few["verdict"] == "too few runs to test (n=5 vs 2: p >= 0.095)"
    assert changes["pingpong[rounds=5]/gevent"]["verdict"] == "cannot test (no per-run values)"
    assert changes["pingpong[rounds=5]/serial"]["status"] == "no_change"
    row = next(r for r in document["benchmarks"] if r["benchmark"] == TAIL)
    base = row["latency"][0]
    assert set(base) >= {"what", "unit", "timer_cost", "p50", "p90", "p99", "p99.9"}
    assert len(base["runs"]) == 5 and set(base["runs"][0]) == {
        "count",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
    }
    assert base["quantiles"][-1][0] == 1.0
    spawn = next(r for r in document["benchmarks"] if r["benchmark"] == "spawn[tasks=5]/threads")
    assert spawn["latency"] == [None, None] and spawn["latency_changes"] == [None]
    assert document["latency_gate"] is None


def test_latency_section_in_text() -> None:
    result = run(LATENCY_BASE, LATENCY_NEW)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    section = out[out.index("Latency percentiles (latency pass):") :]
    header = section.splitlines()[1].split()
    assert header[:9] == ["benchmark", "file", "p50", "p90", "p99", "p99.9", "runs", "batch", "p99"]
    threads = [line for line in section.splitlines() if "pingpong rounds=5 / threads" in line]
    assert len(threads) == 2
    assert "(base)" in threads[0] and threads[0].rstrip().endswith("base")
    assert threads[1].rstrip().endswith("higher")
    assert "too few runs to test (n=5 vs 2: p >= 0.095)" in section
    assert "producer_consumer: put to get" in section


def test_latency_section_in_markdown_is_well_formed() -> None:
    result = run(LATENCY_BASE, LATENCY_NEW, "--format", "markdown")
    assert result.returncode == 0
    out = result.stdout
    assert "**Latency percentiles** (latency pass)" in out
    block = out[out.index("**Latency percentiles**") :].split("\n\n")[1]
    rows = table_rows(block)
    assert rows[0][:6] == ["benchmark", "file", "p50", "p90", "p99", "p99.9"]
    assert len({len(row) for row in rows}) == 1
    assert any(row[0] == "`pingpong rounds=5 / threads`" and row[-1] == "higher" for row in rows)


def test_latency_columns_in_csv() -> None:
    result = run(LATENCY_BASE, LATENCY_NEW, "--format", "csv")
    assert result.returncode == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    new = next(r for r in rows if r["benchmark"] == TAIL and r["role"] == "new")
    base = next(r for r in rows if r["benchmark"] == TAIL and r["role"] == "base")
    assert new["latency_p99_status"] == "regressed"
    assert float(new["latency_p99_ratio"]) == pytest.approx(
        float(new["latency_p99"]) / float(base["latency_p99"])
    )
    assert base["latency_runs"] == "5" and base["latency_samples"] == "1000"
    assert base["latency_p99_status"] == ""
    assert float(base["latency_p50"]) < float(base["latency_p999"]) <= float(base["latency_max"])
    spawn = next(r for r in rows if r["benchmark"] == "spawn[tasks=5]/threads")
    assert spawn["latency_p99"] == ""


BATCH_CHANGED = "pingpong[rounds=5]/asyncio"  # batches of 2 rounds in the base, 4 in the new
SAME_BATCH = "pingpong[rounds=5]/greenlet"  # batches of 8 rounds in both
UNRESOLVED = "pingpong[rounds=5]/generators"  # below timer resolution in both


def test_p99s_below_timer_resolution_or_of_other_batches_are_not_compared() -> None:
    changes = latency_changes(json_output(LATENCY_BASE, LATENCY_NEW))
    unresolved = changes[UNRESOLVED]
    assert unresolved["status"] == "undefined" and unresolved["ratio"] is None
    assert unresolved["verdict"] == "cannot compare (below timer resolution in base and 3.13.0)"
    batches = changes[BATCH_CHANGED]
    assert batches["status"] == "undefined" and batches["ratio"] is None
    assert batches["verdict"] == "cannot compare (p99 of batches of 2 vs 4 rounds)"
    # Equal batches compare like any records.
    assert changes[SAME_BATCH]["status"] == "too_few_values"


def test_the_latency_judge_names_the_unresolved_side_and_refuses_other_batches() -> None:
    _base, new = load_all([LATENCY_BASE, LATENCY_NEW])
    entry = new.entry(TAIL)
    assert entry is not None and entry.latency is not None
    record = entry.latency
    options = Options()
    assert judge_latency(record, record, "new", options).status == "no_change"
    unresolved = replace(
        record, p50=None, p90=None, p99=None, p999=None, runs=(), quantiles=(), unresolved="why"
    )
    for one, other, where in ((unresolved, record, "base"), (record, unresolved, "new")):
        change = judge_latency(one, other, "new", options)
        assert change.verdict == f"cannot compare (below timer resolution in {where})"
        assert change.ratio is None and not change.significant
    # The same samples stamped in batches of another size: a p99 of other averages.
    other_batch = replace(record, batch=2)
    assert judge_latency(record, other_batch, "new", options).status == "undefined"


def test_an_unresolved_cell_shows_no_number_in_any_format() -> None:
    text = run(LATENCY_BASE, LATENCY_NEW).stdout
    section = text[text.index("Latency percentiles (latency pass):") :]
    lines = [line for line in section.splitlines() if "pingpong rounds=5 / generators" in line]
    assert len(lines) == 2
    for line in lines:
        assert "below timer resolution" in line and not re.search(r"\d [nµm]?s\b", line)
    assert "the batch \N{MULTIPLICATION SIGN} the median sample is under 20" in " ".join(
        section.split()
    )
    markdown = run(LATENCY_BASE, LATENCY_NEW, "--format", "markdown").stdout
    block = markdown[markdown.index("**Latency percentiles**") :].split("\n\n")[1]
    rows = table_rows(block)
    header = rows[0]
    generators = next(row for row in rows if row[0] == "`pingpong rounds=5 / generators`")
    assert generators[header.index("p50")] == "below timer resolution"
    assert generators[header.index("batch")] == "1"
    asyncio = [row for row in rows if row[0] == "`pingpong rounds=5 / asyncio`"]
    assert [row[header.index("batch")] for row in asyncio] == ["2", "4"]
    csv_out = run(LATENCY_BASE, LATENCY_NEW, "--format", "csv").stdout
    csv_rows = list(csv.DictReader(io.StringIO(csv_out)))
    base = next(r for r in csv_rows if r["benchmark"] == UNRESOLVED and r["role"] == "base")
    assert base["latency_unresolved"].startswith("median ") and float(base["latency_median"]) > 0
    assert [base[f"latency_{key}"] for key in ("p50", "p90", "p99", "p999", "max")] == [""] * 5
    assert base["latency_batch"] == "1" and base["latency_p99_status"] == ""
    document = json_output(LATENCY_BASE, LATENCY_NEW)
    row = next(r for r in document["benchmarks"] if r["benchmark"] == UNRESOLVED)
    record = row["latency"][0]
    assert record["resolved"] is False and record["unresolved"] == base["latency_unresolved"]
    assert record["p99"] is None and record["runs"] == [] and record["quantiles"] == []
    batched = next(r for r in document["benchmarks"] if r["benchmark"] == BATCH_CHANGED)
    assert [side["batch"] for side in batched["latency"]] == [2, 4]
    assert all(side["resolved"] for side in batched["latency"])


def test_old_files_have_no_latency_section() -> None:
    out = run(PY311, PY313).stdout
    assert "Latency percentiles" not in out
    document = json_output(PY311, PY313)
    assert all(row["latency"] == [None, None] for row in document["benchmarks"])


def test_fail_above_p99_is_an_explicit_opt_in() -> None:
    # --fail-above judges means only: these files' means are the same.
    assert run(LATENCY_BASE, LATENCY_BASE, "--fail-above", "10").returncode == 0
    gated = run(LATENCY_BASE, LATENCY_NEW, "--fail-above-p99", "50")
    assert gated.returncode == 1
    lines = gated.stderr.splitlines()
    assert lines[0].startswith(f"compare: regression: {TAIL}: p99 latency ")
    assert "higher in 3.13.0 than in 3.11.7 (p=0.00794, 5 vs 5 runs)" in lines[0]
    assert "2 p99 comparisons had too few runs" in gated.stderr
    assert "p99 latency gate (--fail-above-p99 50%): FAILED, 1 significantly higher" in gated.stdout
    assert run(LATENCY_BASE, LATENCY_NEW, "--fail-above-p99", "500").returncode == 0
    document = json.loads(
        run(LATENCY_BASE, LATENCY_NEW, "--fail-above-p99", "50", "--format", "json").stdout
    )
    assert document["latency_gate"]["passed"] is False
    assert [r["benchmark"] for r in document["latency_gate"]["regressions"]] == [TAIL]
    nothing = run(PY311, PY313, "--fail-above-p99", "10")
    assert nothing.returncode == 0
    assert "no benchmark has latency records" in nothing.stderr


def test_help_documents_the_p99_gate() -> None:
    out = script("--help").stdout
    assert "--fail-above-p99 PCT" in out
    assert "--fail-above judges means only" in " ".join(out.split())


# -- fan_out: the overhead per task ---------------------------------------------------------------

FAN_OUT = DATA / "fan_out.json"
FAN_OUT_NEW = DATA / "fan_out_new.json"
FAN_OUT_OLD = DATA / "fan_out_old.json"
FAN_SLEEP = "fan_out[tasks=100,work=sleep,delay_ms=1.0,cpu_iterations=100]"
FAN_CPU = "fan_out[tasks=100,work=cpu,delay_ms=1.0,cpu_iterations=100]"


def _fan_out_rows(*paths: Path) -> dict[str, Any]:
    return {row.key: row for row in compare(load_all(list(paths))).rows}


def test_a_fan_out_with_ideals_is_judged_on_its_overhead() -> None:
    rows = _fan_out_rows(FAN_OUT, FAN_OUT_NEW)
    asyncio = rows[f"{FAN_SLEEP}/asyncio"]
    assert asyncio.judged_on_overhead
    # what asyncio adds to the sleeps grew 1.5x, its makespan per task only 1.3x
    assert asyncio.changes[0].ratio == pytest.approx(1.5)
    assert asyncio.changes[0].status == "regressed"
    base, new = asyncio.sides
    assert base.mean == pytest.approx(15.1e-6) and base.ideal_per_task == pytest.approx(1e-5)
    assert new.mean + new.ideal_per_task == pytest.approx(32.65e-6)  # the makespan per task
    # each file subtracts its own ideal: 4 workers instead of 2 shorten the makespan, not what
    # the pool adds
    processes = rows[f"{FAN_SLEEP}/processes"]
    assert [side.ideal_per_task for side in processes.sides] == pytest.approx([5e-4, 2.5e-4])
    assert processes.changes[0].status == "no_change"


def test_an_overhead_at_or_below_zero_cannot_be_compared() -> None:
    generators = _fan_out_rows(FAN_OUT, FAN_OUT_NEW)[f"{FAN_SLEEP}/generators"]
    change = generators.changes[0]
    assert change.status == "undefined" and change.ratio is None
    assert change.verdict == "cannot compare (overhead <= 0)"


def test_cpu_fan_outs_and_old_files_are_judged_on_the_makespan() -> None:
    rows = _fan_out_rows(FAN_OUT, FAN_OUT_NEW)
    cpu = rows[f"{FAN_CPU}/asyncio"]
    assert not cpu.judged_on_overhead and cpu.sides[0].ideal_per_task is None
    assert cpu.changes[0].ratio == pytest.approx(1.3)
    # a file that records no ideal: every side on the makespan, as before
    for mixed in (_fan_out_rows(FAN_OUT_OLD, FAN_OUT_NEW), _fan_out_rows(FAN_OUT_NEW, FAN_OUT_OLD)):
        asyncio = mixed[f"{FAN_SLEEP}/asyncio"]
        assert not asyncio.judged_on_overhead
        assert {round(side.mean, 9) for side in asyncio.sides} == {25.1e-6, 32.65e-6}
        # below the ideal in the newer file, yet a makespan that compares
        assert mixed[f"{FAN_SLEEP}/generators"].changes[0].ratio is not None


def test_fan_out_overhead_in_text_csv_and_json() -> None:
    text = run(FAN_OUT, FAN_OUT_NEW).stdout
    row = next(line for line in text.splitlines() if "sleep 1 ms / asyncio" in line)
    assert "[overhead per task]" in row and "15.1 µs" in row and "22.7 µs" in row
    assert "1.50x" in row and "slower" in row
    row = next(line for line in text.splitlines() if "sleep 1 ms / generators" in line)
    assert "<= 0" in row and "cannot compare (overhead <= 0)" in row
    row = next(line for line in text.splitlines() if "N=100 cpu / asyncio" in line)
    assert "overhead" not in row and "1.30x" in row
    assert "judged on what the model adds to the waits" in " ".join(text.split())

    result = run(FAN_OUT, FAN_OUT_NEW, "--format", "csv")
    records = {(r["benchmark"], r["label"]): r for r in csv.DictReader(io.StringIO(result.stdout))}
    asyncio = records[f"{FAN_SLEEP}/asyncio", "fan_out_new"]
    assert asyncio["judged_on"] == "overhead"
    assert float(asyncio["mean"]) + float(asyncio["ideal_per_op"]) == pytest.approx(32.65e-6)
    cpu = records[f"{FAN_CPU}/asyncio", "fan_out"]
    assert cpu["judged_on"] == "value" and cpu["ideal_per_op"] == ""

    document = json_output(FAN_OUT, FAN_OUT_NEW)
    rows = {row["benchmark"]: row for row in document["benchmarks"]}
    assert rows[f"{FAN_SLEEP}/serial"]["judged_on"] == "overhead"
    serial = rows[f"{FAN_SLEEP}/serial"]["results"][0]
    assert serial["mean"] == pytest.approx(64e-6) and serial["ideal_per_op"] == pytest.approx(1e-3)
    assert rows[f"{FAN_CPU}/asyncio"]["judged_on"] == "value"


def test_the_gate_names_an_overhead_regression() -> None:
    result = run(FAN_OUT, FAN_OUT_NEW, "--fail-above", "40")
    assert result.returncode == 1
    assert f"{FAN_SLEEP}/asyncio: overhead per task 50.0% slower" in result.stderr
    # on the makespan per task the same change is 30%: an older file passes the same gate
    assert run(FAN_OUT_OLD, FAN_OUT_NEW, "--fail-above", "40").returncode == 0


# -- machines of different speed --------------------------------------------------------------

SLOWER_MACHINE = 1.8
GREENLET = "pingpong[rounds=5]/greenlet"
SPAWN_THREADS = "spawn[tasks=5]/threads"
MACHINES_DIFFER = "the machines differ: the calibration loop is 1.80x slower in B than in A"
# Two workloads with their serial cell, and one memory benchmark, which is never normalised.
CALIBRATION_CELLS = ("pingpong[rounds=5]/", "spawn[tasks=5]/", "memory[tasks=5]/greenlet")


def calibrated(
    tmp_path: Path,
    name: str,
    ns: float | None,
    factor: float = 1.0,
    *,
    version: int = 1,
    extra: dict[str, float] | None = None,
    drop: str | None = None,
    whole: bool = False,
) -> Path:
    """py311.json with a calibration record (none for ``ns=None``), every value times ``factor``
    (and the benchmarks of ``extra`` by their factor besides), ``drop`` left out. Only the
    ``CALIBRATION_CELLS`` unless ``whole``: each compare judges every benchmark twice (raw and
    relative to serial) with a bootstrap, so the whole file would make these tests slow."""

    def edit(document: dict[str, Any]) -> None:
        if ns is not None:
            environment = {"calibration_ns": ns, "calibration_version": version}
            document["concbench"] = {"version": 2, "environment": environment}
        document["benchmarks"] = [
            bench
            for bench in document["benchmarks"]
            if bench["metadata"]["name"] != drop
            and (whole or bench["metadata"]["name"].startswith(CALIBRATION_CELLS))
        ]
        for bench in document["benchmarks"]:
            scale = factor * (extra or {}).get(bench["metadata"]["name"], 1.0)
            for run_ in bench["runs"]:
                run_["values"] = [value * scale for value in run_.get("values", [])]

    return variant(tmp_path, PY311, name, edit)


def machine_pair(tmp_path: Path, **kwargs: Any) -> tuple[Path, Path]:
    """Two files whose calibrations and raw values differ 1.8x: one program, two machines."""
    return (
        calibrated(tmp_path, "a.json", 100.0),
        calibrated(tmp_path, "b.json", 100.0 * SLOWER_MACHINE, SLOWER_MACHINE, **kwargs),
    )


def test_a_slower_calibration_on_another_interpreter_does_not_blame_the_machine(
    tmp_path: Path,
) -> None:
    """The loop runs in each file's own interpreter: a free-threaded build 1.8x slower on the
    same machine must not read as a slower machine."""
    a, slower = machine_pair(tmp_path)

    def other_build(document: dict[str, Any]) -> None:
        build = "CPython 3.13.15 (free-threading)"
        document.setdefault("metadata", {})["python_build"] = build
        for bench in document["benchmarks"]:
            bench["metadata"]["python_build"] = build

    b = variant(tmp_path, slower, "b_ft.json", other_build)
    text = run(a, b, "--labels", "A,B")
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[0]
    assert first.startswith("WARNING: the machines or the interpreters differ: the calibration ")
    assert (
        "1.80x slower in B than in A (other interpreters: CPython 3.13.15 (free-threading) "
        in first
    )
    assert first.endswith(" against CPython 3.11.7 (shared))")
    assert "Relative to serial in the same file:" in text.stdout
    document = json_output(a, b, "--labels", "A,B")
    assert document["normalised"]["reason"] == "the machines or the interpreters differ"


def test_a_slower_machine_is_said_first_and_the_normalised_view_shows_no_change(
    tmp_path: Path,
) -> None:
    a, b = machine_pair(tmp_path)
    text = run(a, b, "--labels", "A,B")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"WARNING: {MACHINES_DIFFER}"
    assert "100.0 ns/iteration (loop v1)" in text.stdout
    assert "180.0 ns/iteration (loop v1)" in text.stdout
    assert "Relative to serial in the same file:" in text.stdout
    raw_greenlet = next(line for line in text.stdout.splitlines() if "/ greenlet" in line)
    assert "1.80x" in raw_greenlet and raw_greenlet.endswith("slower")
    markdown = run(a, b, "--labels", "A,B", "--format", "markdown")
    assert markdown.stdout.splitlines()[0] == f"> **WARNING: {MACHINES_DIFFER}**"
    assert "**Relative to serial in the same file**" in markdown.stdout

    document = json_output(a, b, "--labels", "A,B")
    assert [d["text"] for d in document["machine_differences"]] == ["1.80x slower in B than in A"]
    assert document["calibrations"]["B"] == {"ns_per_iteration": 180.0, "version": 1}
    raw = changes_by_benchmark(document)
    assert raw[GREENLET]["verdict"] == "slower"
    assert raw[GREENLET]["ratio"] == pytest.approx(SLOWER_MACHINE)
    normalised = document["normalised"]
    assert normalised["reason"] == "the machines differ"
    relative = {row["benchmark"]: row["changes"][0] for row in normalised["benchmarks"]}
    # every time benchmark but serial's own, and no memory (bytes do not scale with speed)
    assert sorted(relative) == sorted(
        f"{workload}/{model}"
        for workload in ("pingpong[rounds=5]", "spawn[tasks=5]")
        for model in ("processes", "threads", "asyncio", "gevent", "greenlet", "generators")
    )
    assert all(change["ratio"] == pytest.approx(1.0) for change in relative.values())
    assert {change["verdict"] for change in relative.values()} == {"no change"}
    assert normalised["not_normalisable"] == []

    rows = list(csv.DictReader(io.StringIO(run(a, b, "--format", "csv").stdout)))
    greenlet = next(r for r in rows if r["benchmark"] == GREENLET and r["role"] == "new")
    assert float(greenlet["relative_ratio"]) == pytest.approx(1.0)
    assert greenlet["relative_verdict"] == "no change"
    assert float(greenlet["calibration_ns"]) == 180.0


def test_the_normalised_view_still_sees_a_real_regression_and_the_gate_says_what_it_judged(
    tmp_path: Path,
) -> None:
    a, b = machine_pair(tmp_path, extra={GREENLET: 1.3})
    document = json_output(a, b, "--labels", "A,B")
    relative = {row["benchmark"]: row["changes"][0] for row in document["normalised"]["benchmarks"]}
    assert relative[GREENLET]["verdict"] == "slower"
    assert relative[GREENLET]["ratio"] == pytest.approx(1.3)
    assert relative["pingpong[rounds=5]/asyncio"]["verdict"] == "no change"

    raw_gate = run(a, b, "--labels", "A,B", "--fail-above", "10")
    assert raw_gate.returncode == 1
    assert "Regression gate (--fail-above 10%, judged on raw values): FAILED, 14" in (
        raw_gate.stdout
    )
    normalised_gate = run(a, b, "--labels", "A,B", "--fail-above", "10", "--normalise")
    assert normalised_gate.returncode == 1
    assert (
        "Regression gate (--fail-above 10%, judged on values relative to serial in the same "
        "file (--normalise)): FAILED, 1 significantly worse" in normalised_gate.stdout
    )
    assert normalised_gate.stderr.splitlines()[0] == (
        f"compare: regression: {GREENLET}: relative to serial 30.0% slower in B than in A "
        "(p<0.0001)"
    )
    gated_json = run(a, b, "--fail-above", "10", "--normalise", "--format", "json")
    gated = json.loads(gated_json.stdout)
    assert gated["gate"]["judged_on"] == "relative to serial"
    assert [r["benchmark"] for r in gated["gate"]["regressions"]] == [GREENLET]


def test_equal_calibrations_print_no_warning_unless_normalise_is_asked(tmp_path: Path) -> None:
    a = calibrated(tmp_path, "a.json", 100.0)
    b = calibrated(tmp_path, "b.json", 105.0, SLOWER_MACHINE)  # within the 10% threshold
    text = run(a, b, "--labels", "A,B")
    assert "machines differ" not in text.stdout
    assert "Relative to serial" not in text.stdout
    assert text.stdout.startswith("Comparison of 2 result files")
    assert "105.0 ns/iteration" in text.stdout  # the header still shows each calibration
    assert json_output(a, b)["normalised"] is None
    forced = json_output(a, b, "--normalise")
    assert forced["machine_differences"] == []
    assert forced["normalised"]["reason"] == "--normalise"
    # the threshold is an option: 5% is below this pair's difference
    assert run(a, b, "--labels", "A,B", "--calibration-threshold", "4").stdout.startswith(
        "WARNING: the machines differ: the calibration loop is 1.05x slower in B than in A"
    )
    bad = run(a, b, "--calibration-threshold", "-1")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1


def test_files_without_calibration_or_of_another_loop_version_print_no_warning(
    tmp_path: Path,
) -> None:
    a = calibrated(tmp_path, "a.json", None)
    b = calibrated(tmp_path, "b.json", None, SLOWER_MACHINE)
    assert [result.calibration for result in load_all([a, b])] == [None, None]
    text = run(a, b)
    assert text.returncode == 0
    assert "machines differ" not in text.stdout
    assert "ns/iteration" not in text.stdout
    # loads and compares as before
    whole = calibrated(tmp_path, "whole.json", None, whole=True)
    before = run(PY311, REGRESSED, "--labels", "X,Y").stdout
    assert before == run(whole, REGRESSED, "--labels", "X,Y").stdout.replace(str(whole), str(PY311))
    old_loop = calibrated(tmp_path, "old.json", 100.0, version=1)
    new_loop = calibrated(tmp_path, "new.json", 180.0, SLOWER_MACHINE, version=2)
    mixed = run(old_loop, new_loop, "--labels", "A,B")
    assert "machines differ" not in mixed.stdout
    assert "(loop v2)" in mixed.stdout


def test_a_benchmark_without_a_serial_baseline_is_listed_as_not_normalisable(
    tmp_path: Path,
) -> None:
    a, b = machine_pair(tmp_path, drop="spawn[tasks=5]/serial")
    document = json_output(a, b, "--labels", "A,B")
    missing = {
        entry["benchmark"]: entry["reason"] for entry in document["normalised"]["not_normalisable"]
    }
    assert missing[SPAWN_THREADS] == "no serial baseline in B"
    assert len(missing) == 6
    text = run(a, b, "--labels", "A,B").stdout
    assert "Not normalisable (6 benchmarks):" in text
    assert f"{SPAWN_THREADS}: no serial baseline in B" in text


@pytest.mark.parametrize("output_format", ["text", "markdown"])
def test_text_and_markdown_do_not_depend_on_the_bootstrap(output_format: str) -> None:
    """The compare command skips the bootstrap for the formats that show no interval; this is
    what makes that safe: with and without resamples, they render the same bytes."""
    from bench.render.compare import render

    results = load_all([DATA / "py311.json", DATA / "py311_regressed.json"])
    rendered = [
        render(compare(results, Options(bootstrap_resamples=resamples)), output_format, 5.0, 5.0)
        for resamples in (0, 200)
    ]
    assert rendered[0] == rendered[1]
    assert "regressed" in rendered[0] or "slower" in rendered[0]
