"""What the command-line tools share: usage errors in one line, exit status 2, bounded numeric
options, and running a command whose dependencies may be missing."""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

# The commands in this package (each a module with ``main(argv, *, prog)``), and how to install
# what a command needs when a dependency is missing.
INSTALL_HINTS = {
    "compare": "run tox -e compare, or pip install -e . first",
    "report": "run tox -e report, or pip install -e . first",
    "readme": "pip install -e '.[report]' first",
    "screenshot": "pip install -e '.[test]' first",
}


def fail(prog: str, message: str) -> NoReturn:
    """Bad input: one line on stderr, exit status 2."""
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, and an unknown option names the valid ones.
    Abbreviations are off: a shortened option must not silently pick another."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            options = sorted(
                {opt for action in self._actions for opt in action.option_strings if "--" in opt}
            )
            message += f" (valid options: {', '.join(options)})"
        fail(self.prog, message)


def bounded_number(
    low: float, high: float, what: str, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high], either end open on request."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above_low = low < value if low_open else low <= value
        below_high = value < high if high_open else value <= high
        if not (math.isfinite(value) and above_low and below_high):
            opening = "above" if low_open else "from"
            closing = "below" if high_open else "to"
            raise argparse.ArgumentTypeError(
                f"must be a number {opening} {low:g} {closing} {high:g} ({what}), got {text!r}"
            )
        return value

    return parse


def run_command(name: str, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the command ``bench.commands.<name>``: imported here, so that a dependency that is not
    installed is one line on stderr and exit status 2, not a traceback."""
    prog = prog or name
    try:
        module = importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] == "bench":
            raise  # a module of this project is missing: a bug, not an installation problem
        fail(prog, f"{missing.name} is not installed; {INSTALL_HINTS[name]}")
    main: Callable[..., int] = module.main
    return main(argv, prog=prog)
