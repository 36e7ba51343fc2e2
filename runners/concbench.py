"""The ``concbench`` command: the suite's tools behind one name, each doing what its tox
environment does.

    concbench run [OPTIONS]             python -m runners.run (tox -e bench adds --fast)
    concbench list [--matrix NAME]      python -m runners.run --list
    concbench compare BASE NEW...       scripts/compare.py (tox -e compare)
    concbench report FILE... -o DIR     scripts/report.py (tox -e report)
    concbench readme FILE               scripts/readme.py

It lives in runners/ because ``run`` and ``list`` need the runner; bench/ never imports runners/.
Each command imports what it needs only once chosen: ``compare`` must not load pyperf's runner,
psutil or the model registry, and the runner's own start-up stays what ``python -m runners.run``
pays.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence

PROG = "concbench"

RUN_HELP = (
    "run the benchmark matrix and write a result file: python -m runners.run, same options "
    "(pyperf's too); tox -e bench adds --fast, so `concbench run --fast` is its run, and "
    "`concbench run --fast --sweep` that of tox -e sweep"
)

COMMAND_HELP = {
    "run": RUN_HELP,
    "list": "the models with their availability, and the matrix: python -m runners.run --list",
    "compare": "compare result files: significance, ratios, a regression gate (tox -e compare)",
    "report": "charts, an HTML page and a Markdown summary of result files (tox -e report)",
    "readme": "the README's generated sections from a result file, printed or rewritten",
}


def usage() -> str:
    commands = [
        textwrap.fill(text, width=100, initial_indent=f"  {name:<8} ", subsequent_indent=" " * 11)
        for name, text in COMMAND_HELP.items()
    ]
    return "\n".join(
        [
            f"usage: {PROG} COMMAND [OPTIONS]",
            "",
            "The same concurrency workloads, run by every concurrency model, measured by pyperf.",
            "",
            "commands:",
            *commands,
            "",
            f"`{PROG} COMMAND --help` describes a command and its options.",
            "",
        ]
    )


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _run(argv: list[str], prog: str) -> int:
    from runners.run import main as run_main

    return run_main(argv, prog=prog)


def _list(argv: list[str], prog: str) -> int:
    from bench.commands.cli import OneLineParser
    from bench.spec.workloads import MATRICES

    parser = OneLineParser(prog=prog, description=COMMAND_HELP["list"])
    parser.add_argument(
        "--matrix",
        choices=sorted(MATRICES),
        default=None,
        help="the matrix whose parameter sets to list (default: default)",
    )
    args = parser.parse_args(argv)
    matrix = [] if args.matrix is None else ["--matrix", args.matrix]
    return _run(["--list", *matrix], prog)


def _tool(name: str) -> Callable[[list[str], str], int]:
    def run_tool(argv: list[str], prog: str) -> int:
        from bench.commands.cli import run_command

        return run_command(name, argv, prog)

    return run_tool


COMMANDS: dict[str, Callable[[list[str], str], int]] = {
    "run": _run,
    "list": _list,
    "compare": _tool("compare"),
    "report": _tool("report"),
    "readme": _tool("readme"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return _fail(f"no command given; valid: {', '.join(COMMANDS)} ({PROG} --help says more)")
    command, rest = args[0], args[1:]
    if command in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    if command == "--version":
        from bench import __version__

        print(f"{PROG} {__version__}")
        return 0
    if command not in COMMANDS:
        return _fail(f"unknown command {command!r}; valid: {', '.join(COMMANDS)}")
    return COMMANDS[command](rest, f"{PROG} {command}")


if __name__ == "__main__":
    sys.exit(main())
