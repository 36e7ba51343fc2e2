"""Run the benchmark matrix under pyperf: ``python -m runners.run [options]`` (or ``concbench
run``).

See ``runners.roles`` for what it does and ``--help`` for the options. pyperf's workers and the
cell processes re-execute ``-m runners.run``, whichever command started the run.
"""

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    if argv is not None:
        # The runner parses sys.argv, and argparse names the program after sys.argv[0].
        sys.argv = [prog or sys.argv[0], *argv]
    # Imported here, not at module level: spawn and forkserver children re-import the main
    # module, and must not pay for pyperf, psutil and the harness; that cost would show up in
    # the processes model's spawn and memory numbers.
    from runners.roles import main as manager_main

    return manager_main()


if __name__ == "__main__":
    sys.exit(main())
