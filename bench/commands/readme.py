"""``concbench readme`` (and ``scripts/readme.py``): render the README's generated sections from
one result file, or the multi-file sections (the free-threaded comparison) from several.

    python scripts/readme.py FILE.json                       # every section, inside its markers
    python scripts/readme.py FILE.json --section numbers     # one section, as a block holds it
    python scripts/readme.py FILE.json --write README.md     # replace the README's blocks
    python scripts/readme.py A.json B.json C.json --section freethreaded

Exit status: 0 done; 2 bad input (a one-line error on stderr, nothing written).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.commands.cli import OneLineParser, fail
from bench.render import readmegen
from bench.results.schema import ResultFileError, ResultSet, load_all

PROG = "readme"

DESCRIPTION = """\
Print the README's generated sections (the environment line, the table of means and latency
percentiles, the computed statements) rendered from a concbench result file, or with several
files the sections that compare them (freethreaded: the key cells of each build side by side,
the first file the base), or replace the generated blocks of a README with them. A block is
marked '<!-- generated: python scripts/readme.py FILE... --section NAME -->' ...
'<!-- end generated -->' and holds exactly what that command prints. --write renders the blocks
of the sections the given files fill from them, and every other block from the files its own
marker names (relative to the README's directory)."""


def parser(prog: str = PROG) -> OneLineParser:
    result = OneLineParser(prog=prog, description=DESCRIPTION)
    result.add_argument(
        "files",
        nargs="+",
        metavar="FILE.json",
        help="a concbench result file; several for a multi-file section, the first the base",
    )
    action = result.add_mutually_exclusive_group()
    action.add_argument(
        "--section", choices=list(readmegen.SECTION_NAMES), help="print only this section"
    )
    action.add_argument(
        "--write",
        type=Path,
        metavar="README.md",
        help="replace every generated block of this file, atomically",
    )
    return result


def marked_loader(readme: Path) -> Callable[[readmegen.Block], list[ResultSet]]:
    """Reads the files a block's marker names, as its command would from the README's
    directory; each list of files once."""
    loaded: dict[tuple[str, ...], list[ResultSet]] = {}

    def load_marked(block: readmegen.Block) -> list[ResultSet]:
        if block.files not in loaded:
            paths = [readme.parent / file for file in block.files]
            try:
                loaded[block.files] = load_all(paths)
            except ResultFileError as exc:
                raise readmegen.ReadmeError(f"{readme}:{block.start + 1}: {exc}") from None
        return loaded[block.files]

    return load_marked


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    files: list[str] = args.files
    try:
        results = load_all(files)
        if args.section is not None:
            sys.stdout.write(readmegen.render(results, args.section))
            return 0
        if args.write is None:
            sys.stdout.write(readmegen.render_all(results, files))
            return 0
        readme: Path = args.write
        try:
            text = readme.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(prog, f"cannot read {readme}: {exc}")
        names = [readmegen.marker_path(Path(file), readme) for file in files]
        updated = readmegen.replace_blocks(
            text, results, names, name=str(readme), marked=marked_loader(readme)
        )
        if updated != text:
            readmegen.write_atomically(readme, updated)
    except (ResultFileError, readmegen.ReadmeError) as exc:
        fail(prog, str(exc))
    except OSError as exc:
        fail(prog, f"cannot write {args.write}: {exc}")
    blocks = len(readmegen.find_blocks(updated, str(readme)))
    state = "rewrote" if updated != text else "left unchanged (already current)"
    print(f"{prog}: {state} {blocks} generated blocks of {readme} from {' '.join(names)}")
    return 0
