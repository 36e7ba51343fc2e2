"""Fresh-process measurements for the runner: ``python -m runners.probe memory|profile|latency``.

See ``runners.probe_passes``.
"""

import sys


def main() -> int:
    # Imported here for the same reason as in runners.run: spawn and forkserver children
    # re-import the main module.
    from runners.probe_passes import main as probes_main

    return probes_main()


if __name__ == "__main__":
    sys.exit(main())
