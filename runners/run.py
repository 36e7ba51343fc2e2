"""Run the benchmark matrix under pyperf: ``python -m runners.run [options]``.

See ``runners.roles`` for what it does and ``--help`` for the options.
"""

import sys


def main() -> int:
    # Imported here, not at module level: spawn and forkserver children re-import the main
    # module, and must not pay for pyperf, psutil and the harness; that cost would show up in
    # the processes model's spawn and memory numbers.
    from runners.roles import main as manager_main

    return manager_main()


if __name__ == "__main__":
    sys.exit(main())
