"""``concbench report`` (and ``scripts/report.py``): charts (PNG and SVG), a self-contained HTML
page and a Markdown summary of pyperf result files in one output directory. With several files the
first is the base of the comparison.

Exit status: 0 written; 2 bad input or an unusable output directory (a one-line error on stderr,
nothing written).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bench.commands.cli import OneLineParser, bounded_number, fail
from bench.results.schema import ResultFileError, load_all

PROG = "report"
ALPHA_LIMIT = 0.2

DESCRIPTION = """\
Write a report of concbench result files (or any pyperf JSON, also .json.gz) into DIR:
index.html (one self-contained page that opens with each model's cost against the serial
baseline, or with several files what changed, and the statements that matter most; then
interactive SVG charts, every statement, the tables, the environment and failed and skipped
cells), summary.md (the tables and statements in Markdown) and every chart as DIR/<chart>.png
and DIR/<chart>.svg. With several files, they are
shown side by side and each is compared with the first (ratios, Mann-Whitney U significance)."""

EPILOG = """\
DIR must not exist, or be empty; --replace replaces an earlier report (a directory holding only
index.html, summary.md and charts). The report is built beside DIR and renamed into place, so an
error leaves nothing behind.
exit status: 0 written; 2 bad input (a one-line error, nothing written)."""


def page_title(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return " ".join(text.split())


def parser(prog: str = PROG) -> OneLineParser:
    result = OneLineParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument(
        "files", nargs="+", metavar="FILE.json", help="result files; the first is the base"
    )
    result.add_argument(
        "-o", "--output", required=True, type=Path, metavar="DIR", help="output directory"
    )
    result.add_argument(
        "--replace", action="store_true", help="replace DIR when it holds an earlier report"
    )
    result.add_argument("--title", type=page_title, default="concbench report", help="page title")
    result.add_argument(
        "--alpha",
        type=bounded_number(0, ALPHA_LIMIT, "significance level", low_open=True),
        default=0.05,
        help="significance level of the comparison (default 0.05)",
    )
    result.add_argument(
        "--force",
        action="store_true",
        help="compare files of different workload spec versions (their work differs)",
    )
    return result


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    paths = [Path(name) for name in args.files]
    seen: dict[Path, str] = {}
    for path, name in zip(paths, args.files, strict=True):
        key = path.resolve()
        if key in seen:
            fail(prog, f"{name} is given twice (as {seen[key]} too)")
        seen[key] = name
    output: Path = args.output
    try:
        results = load_all(paths)
    except ResultFileError as exc:
        fail(prog, str(exc))
    try:
        # Imported once the inputs are known to be good: matplotlib takes a while to import, and
        # it is an optional dependency (the "report" extra), so say so instead of a traceback.
        from bench.render import htmlreport
    except ImportError as exc:
        fail(prog, f"{exc}; install the report extra: pip install 'concbench[report]'")
    try:
        htmlreport.check_output(output, args.replace)
        page = htmlreport.content(results, title=args.title, alpha=args.alpha, force=args.force)
        built = htmlreport.write(page, output, args.replace)
    except htmlreport.ReportError as exc:
        fail(prog, str(exc))
    print(f"{prog}: wrote {output / 'index.html'}, {output / 'summary.md'} and {len(built)} charts")
    return 0
