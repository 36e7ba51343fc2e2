"""``concbench compare`` (and ``scripts/compare.py``): compare pyperf result files; the first is
the base, every other file is compared with it.

Exit status: 0 done; 1 --fail-above (or --fail-above-p99) found a significant regression (the
report is still printed); 2 bad input (a one-line error on stderr and nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.analysis.comparison import (
    DEFAULT_CALIBRATION_THRESHOLD_PCT,
    ComparisonError,
    Options,
    compare,
)
from bench.commands.cli import OneLineParser, bounded_number, fail
from bench.render.compare import (
    FORMATS,
    TEST_NAME,
    latency_regression_text,
    plural,
    regression_text,
    render,
)
from bench.results.schema import ResultFileError, load_all

PROG = "compare"
PERCENT_LIMIT = 1000.0
ALPHA_LIMIT = 0.2
BOOTSTRAP_LIMIT = 100_000
# The formats that show each ratio's bootstrap interval.
INTERVAL_FORMATS = ("csv", "json")

DESCRIPTION = f"""\
Compare pyperf result files (concbench's or any other pyperf JSON, also .json.gz). BASE is
compared with every NEW file: benchmarks match by name (and by workload/params/model metadata
for concbench files); each one gets its values in human units, the ratio new mean / base mean,
and a two-sided {TEST_NAME} test, valid for unequal sample sizes. Lower is better for every
unit (time, bytes, and by pyperf's convention any other unit). producer_consumer values are
shown as items/s, but their ratio is of the time per item, like every other timed benchmark.
Benchmarks whose files both carry latency records (the latency pass of pingpong,
producer_consumer and fan_out) also get their p50, p90, p99 and p99.9 and the p99 ratio, tested
on the runs' p99 values."""

EPILOG = """\
verdicts: faster/slower (time), smaller/larger (bytes), lower/higher (other units); "no change"
  when the change is below --min-change, however significant; "not significant" when p >= alpha;
  "too few values" when even completely separated samples of these sizes could not reach alpha;
  "cannot test (n=1)" when a side has a single value.
units: a benchmark whose unit differs between files stops the whole comparison (exit 2), since
  a regression gate should not pass on a half-done comparison; --skip-unit-mismatch leaves such
  benchmarks out (listed) and compares the rest.
spec_version: files from different workload spec versions measure different work; they are
  refused (exit 2) unless --force, which compares them under a loud warning.
gate: --fail-above counts a benchmark only when its verdict is slower/larger/higher (significant
  and at least --min-change) and its change exceeds PCT; it judges the raw values, or with
  --normalise those relative to serial, and its line says which. Benchmarks too small to test
  are counted in a note on stderr, since the gate cannot see a regression in them. It judges
  means only;
  --fail-above-p99 gates the p99 latency the same way (significance on the runs' p99 values:
  a latency pass of 3 runs a side cannot reach p < 0.05, and says "too few runs").
machines: a run records its machine's calibration (ns per iteration of a fixed reference
  loop). When a file's differs from the base's by more than --calibration-threshold, the output
  opens with "the machines differ: the calibration loop is 1.80x slower in B than in A" (or,
  when the files' interpreters differ, whose own speed the loop measures too, "the machines or
  the interpreters differ: ...", naming both builds), and
  adds a section "relative to serial in the same file": each time benchmark divided by its own
  file's serial baseline for the same cell, a dimensionless figure that survives a change of
  machine. --normalise adds it whatever the calibrations; files without one never warn.
exit status: 0 done; 1 --fail-above or --fail-above-p99 found a significant regression (named on
  stderr, one line each; the report is still written); 2 bad input: a one-line error, nothing
  written."""


def _resamples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= BOOTSTRAP_LIMIT:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 (off) to {BOOTSTRAP_LIMIT:,}, got {text!r}"
        )
    return value


def _labels(text: str) -> list[str]:
    labels = [label.strip() for label in text.split(",")]
    if not all(labels):
        raise argparse.ArgumentTypeError(f"must be comma-separated non-empty labels, got {text!r}")
    return labels


def build_parser(prog: str = PROG) -> OneLineParser:
    parser = OneLineParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", metavar="BASE", type=Path, help="the base result file")
    parser.add_argument(
        "new", metavar="NEW", type=Path, nargs="+", help="result files compared with BASE"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (aligned columns, default), markdown (GitHub tables for a pull request), "
        "csv (one row per benchmark and file, raw numbers), json (versioned schema)",
    )
    parser.add_argument(
        "--alpha",
        type=bounded_number(0, ALPHA_LIMIT, "significance level", low_open=True),
        default=0.05,
        help=f"significance level of the test, above 0 up to {ALPHA_LIMIT:g} (default 0.05)",
    )
    parser.add_argument(
        "--min-change",
        metavar="PCT",
        type=bounded_number(0, PERCENT_LIMIT, "percent"),
        default=1.0,
        help="a change smaller than PCT percent (0 to 1000) counts as no change (default 1)",
    )
    parser.add_argument(
        "--fail-above",
        metavar="PCT",
        type=bounded_number(0, PERCENT_LIMIT, "percent"),
        help="exit 1 when a benchmark got significantly worse by more than PCT percent (0 to 1000)",
    )
    parser.add_argument(
        "--fail-above-p99",
        metavar="PCT",
        type=bounded_number(0, PERCENT_LIMIT, "percent"),
        help="exit 1 when a benchmark's p99 latency got significantly higher by more than PCT "
        "percent (0 to 1000); off by default, --fail-above judges means only",
    )
    parser.add_argument(
        "--calibration-threshold",
        metavar="PCT",
        type=bounded_number(0, PERCENT_LIMIT, "percent"),
        default=DEFAULT_CALIBRATION_THRESHOLD_PCT,
        help="say that the machines differ when two files' calibrations differ by more than PCT "
        f"percent (default {DEFAULT_CALIBRATION_THRESHOLD_PCT:g}: one machine's calibration "
        "varies by about 4%% from run to run)",
    )
    parser.add_argument(
        "--normalise",
        action="store_true",
        help="add the comparison relative to serial in the same file even when the "
        "calibrations agree, and let --fail-above judge it instead of the raw values",
    )
    parser.add_argument(
        "--labels",
        type=_labels,
        help="comma-separated labels for the files, in order (default: Python version when "
        "those differ, else the file name)",
    )
    parser.add_argument(
        "--bootstrap",
        metavar="N",
        type=_resamples,
        default=1000,
        help="bootstrap resamples for the 95%% confidence interval of each ratio, shown in csv "
        "and json (seeded, deterministic; 0 turns it off; default 1000)",
    )
    parser.add_argument(
        "--skip-unit-mismatch",
        action="store_true",
        help="leave out benchmarks whose unit differs between files instead of refusing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare files of different spec versions (their workloads differ)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="write to FILE instead of stdout (atomically; never over an existing file)",
    )
    return parser


def write_new_file(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file and link it into place: readers never see a partial
    file, and an existing file is never replaced."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    paths = [args.base, *args.new]
    if args.labels is not None and len(args.labels) != len(paths):
        fail(prog, f"--labels: {len(args.labels)} labels given for {len(paths)} files")
    if args.labels is not None and len(set(args.labels)) != len(args.labels):
        fail(prog, f"--labels: labels must be unique, got {', '.join(args.labels)}")
    output: Path | None = args.output
    if output is not None:
        if output.exists() or output.is_symlink():
            fail(prog, f"{output} already exists; choose another output file")
        if not output.parent.is_dir():
            fail(prog, f"{output}: directory {output.parent} does not exist")
    options = Options(
        alpha=args.alpha,
        min_change_pct=args.min_change,
        # Only csv and json show the intervals: for text and Markdown the bootstrap would be
        # most of the run's time, spent on numbers nobody sees.
        bootstrap_resamples=args.bootstrap if args.format in INTERVAL_FORMATS else 0,
        skip_unit_mismatch=args.skip_unit_mismatch,
        force=args.force,
        calibration_threshold_pct=args.calibration_threshold,
        normalise=args.normalise,
    )
    try:
        comparison = compare(load_all(paths, args.labels), options)
    except (ResultFileError, ComparisonError) as exc:
        fail(prog, str(exc))
    text = render(comparison, args.format, args.fail_above, args.fail_above_p99)
    if output is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (``| head``) went away: say nothing more, and let the flush at exit
            # write into nothing instead of raising again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    else:
        try:
            write_new_file(output, text)
        except FileExistsError:
            fail(prog, f"{output} already exists; choose another output file")
        except OSError as exc:
            fail(prog, f"cannot write {output}: {exc.strerror or exc}")
    failed = False
    if args.fail_above is not None:
        regressions = comparison.regressions(args.fail_above)
        for regression in regressions:
            print(f"{prog}: regression: {regression_text(regression)}", file=sys.stderr)
        untested = comparison.untested()
        if untested:
            print(
                f"{prog}: note: {plural(len(untested), 'comparison')} had too few values to "
                "test; --fail-above cannot see a regression there",
                file=sys.stderr,
            )
        failed = bool(regressions)
    if args.fail_above_p99 is not None:
        latency_regressions = comparison.latency_regressions(args.fail_above_p99)
        for latency_regression in latency_regressions:
            print(
                f"{prog}: regression: {latency_regression_text(latency_regression)}",
                file=sys.stderr,
            )
        latency_untested = comparison.latency_untested()
        if latency_untested:
            print(
                f"{prog}: note: {plural(len(latency_untested), 'p99 comparison')} had too few "
                "runs (or no per-run values) to test; --fail-above-p99 cannot see a regression "
                "there",
                file=sys.stderr,
            )
        if not any(row.latency_compared for row in comparison.rows):
            print(
                f"{prog}: note: no benchmark has latency records in the base and another "
                "file; --fail-above-p99 checked nothing",
                file=sys.stderr,
            )
        failed = failed or bool(latency_regressions)
    return 1 if failed else 0
