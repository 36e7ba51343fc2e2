"""The concbench runner (entry point ``python -m runners.run``): every model x workload cell of
the matrix, in one pyperf result file.

Three kinds of process run this module. The runner the user started (``runners.campaign``)
plans the cells and starts one supervised process per cell, so that a hang, a crash or a leaked
process costs one cell, not the run. A cell process (``--cell``, ``runners.cell_process``) holds
the cell's pyperf.Runner, whose workers are the third kind: they re-execute this module with
the same ``--cell`` and run the measured part.
"""

from __future__ import annotations

import sys

from bench.measure import mpcontext
from bench.registry import RegistryError
from bench.results.schema import ResultFileError
from runners.cell_process import run_cell_process
from runners.options import UsageError, check_args, make_runner, parse_args


def main() -> int:
    argv = sys.argv[1:]
    runner = make_runner()
    try:
        args = parse_args(runner, argv)
        check_args(args)
        mpcontext.set_start_method(args.start_method)
        if args.cell is not None:
            return run_cell_process(runner, args)
        # Imported by the runner the user started only: pyperf's workers, started once per
        # round of every cell, would pay for the planning, the summary and the result files.
        if args.list:
            from runners.listing import list_matrix

            list_matrix(args.matrix or "default")
            return 0
        from runners.campaign import run_conductor

        return run_conductor(args, argv)
    except (UsageError, ResultFileError, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
