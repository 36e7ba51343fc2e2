"""Render the README's generated sections from one result file.

    python scripts/readme.py FILE.json                       # every section, inside its markers
    python scripts/readme.py FILE.json --section numbers     # one section, as a block holds it
    python scripts/readme.py FILE.json --write README.md     # replace the README's blocks

Exit status: 0 done; 2 bad input (a one-line error on stderr, nothing written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

try:
    import bench  # noqa: F401 (only probes whether the package is importable)
except ImportError:  # run as ``python scripts/readme.py`` from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from bench.commands import cli
    from bench.commands.cli import OneLineParser
    from bench.render import readmegen
    from bench.results.resultfiles import ResultFileError, load
except ModuleNotFoundError as missing:  # a dependency of the project is not installed
    print(
        f"readme: error: {missing.name} is not installed; pip install -e '.[report]' first",
        file=sys.stderr,
    )
    sys.exit(2)

PROG = "readme"

DESCRIPTION = """\
Print the README's generated sections (the environment line, the table of means and latency
percentiles, the computed statements) rendered from a concbench result file, or replace the
generated blocks of a README with them. A block is marked
'<!-- generated: python scripts/readme.py FILE --section NAME -->' ... '<!-- end generated -->'
and holds exactly what that command prints."""


def fail(message: str) -> NoReturn:
    cli.fail(PROG, message)


def parser() -> OneLineParser:
    result = OneLineParser(prog=PROG, description=DESCRIPTION)
    result.add_argument("file", metavar="FILE.json", help="a concbench result file")
    action = result.add_mutually_exclusive_group()
    action.add_argument(
        "--section", choices=list(readmegen.SECTIONS), help="print only this section"
    )
    action.add_argument(
        "--write",
        type=Path,
        metavar="README.md",
        help="replace every generated block of this file, atomically",
    )
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = load(args.file)
        if args.section is not None:
            sys.stdout.write(readmegen.render(result, args.section))
            return 0
        if args.write is None:
            sys.stdout.write(readmegen.render_all(result, args.file))
            return 0
        readme: Path = args.write
        try:
            text = readme.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {readme}: {exc}")
        file = readmegen.marker_path(Path(args.file), readme)
        updated = readmegen.replace_blocks(text, result, file, name=str(readme))
        if updated != text:
            readmegen.write_atomically(readme, updated)
    except (ResultFileError, readmegen.ReadmeError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {args.write}: {exc}")
    blocks = len(readmegen.find_blocks(updated, str(readme)))
    state = "rewrote" if updated != text else "left unchanged (already current)"
    print(f"{PROG}: {state} {blocks} generated blocks of {readme} from {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
