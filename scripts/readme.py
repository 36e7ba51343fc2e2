"""``concbench readme`` from a checkout: render the README's generated sections."""

import sys
from pathlib import Path

try:
    import bench  # noqa: F401 (only probes whether the package is importable)
except ImportError:  # run as ``python scripts/readme.py`` from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.commands.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("readme"))
