"""``concbench readme`` (and ``scripts/readme.py``): render the README's generated sections from
one result file.

    python scripts/readme.py FILE.json                       # every section, inside its markers
    python scripts/readme.py FILE.json --section numbers     # one section, as a block holds it
    python scripts/readme.py FILE.json --write README.md     # replace the README's blocks

Exit status: 0 done; 2 bad input (a one-line error on stderr, nothing written).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from bench.commands.cli import OneLineParser, fail
from bench.render import readmegen
from bench.results.schema import ResultFileError, load

PROG = "readme"

DESCRIPTION = """\
Print the README's generated sections (the environment line, the table of means and latency
percentiles, the computed statements) rendered from a concbench result file, or replace the
generated blocks of a README with them. A block is marked
'<!-- generated: python scripts/readme.py FILE --section NAME -->' ... '<!-- end generated -->'
and holds exactly what that command prints."""


def parser(prog: str = PROG) -> OneLineParser:
    result = OneLineParser(prog=prog, description=DESCRIPTION)
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


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
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
            fail(prog, f"cannot read {readme}: {exc}")
        file = readmegen.marker_path(Path(args.file), readme)
        updated = readmegen.replace_blocks(text, result, file, name=str(readme))
        if updated != text:
            readmegen.write_atomically(readme, updated)
    except (ResultFileError, readmegen.ReadmeError) as exc:
        fail(prog, str(exc))
    except OSError as exc:
        fail(prog, f"cannot write {args.write}: {exc}")
    blocks = len(readmegen.find_blocks(updated, str(readme)))
    state = "rewrote" if updated != text else "left unchanged (already current)"
    print(f"{prog}: {state} {blocks} generated blocks of {readme} from {file}")
    return 0
