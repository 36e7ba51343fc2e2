"""The runner's command line: pyperf's options plus concbench's, parsed by one pyperf.Runner.

Three kinds of process parse it: the runner the user started, the process it starts for each
cell (``--cell``), and pyperf's workers. Options that choose cells or the output file matter to
the runner only; ``cell_argv`` builds a cell process's command from the user's pyperf options.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from typing import NoReturn

import pyperf

from bench.measure import mpcontext
from bench.measure.environment import forwarded_environ
from bench.registry import RegistryError, model_names, workload_names
from bench.results import gil
from bench.spec.cpulist import parse_cpu_list
from bench.spec.precision import PRECISION_TARGET
from bench.spec.workloads import MATRICES, SPECS, SWEEP_MATRICES, Spec, SpecError

DEFAULT_PROCESSES = 12
# The workloads of the sweep matrix, for --sweep's help.
_SWEPT = tuple(dict.fromkeys(spec.workload for spec, _scope in MATRICES["sweep"]))
DEFAULT_VALUES = 3
# 50 ms per value (pyperf's default is 100 ms): a cell's precision comes from its rounds, one
# worker process each, whose start-up would otherwise be under half of what each round costs;
# 50 ms still spans a dozen scheduler ticks, and the clock resolves it to a few nanoseconds.
DEFAULT_MIN_TIME = 0.05
DEFAULT_CELL_TIMEOUT = 300.0
MAX_CELL_TIMEOUT = 7 * 24 * 3600.0
MAX_MEMORY_SAMPLES = 1000
# A sweep's cell makes about 20 runs with --fast (6 workers x (1 warm-up + 2 values), the
# calibration, the profile pass), twice that without: 2 s per run keeps a cell near a minute.
DEFAULT_SWEEP_RUN_LIMIT = 2.0

# Options of the runner alone (what to run, where results go), never passed to a cell process;
# True when the option takes a value.
RESULT_FILE_OPTIONS = {"-o": True, "--output": True, "--append": True, "--resume": True}
RUNNER_ONLY = {
    **RESULT_FILE_OPTIONS,
    "--models": True, "--workloads": True, "--matrix": True, "--spec": True,
    "--list": False, "--cell-timeout": True, "--sweep": False, "--sweep-run-limit": True,
    "--precision": True, "--min-rounds": True, "--max-rounds": True, "--cell-budget": True,
}  # fmt: skip
# A timed cell's rounds: at least this many; at most twice pyperf's process count (24, 12 with
# --fast, 48 with --rigorous); a time budget per cell, in seconds, by pyperf's mode. With --fast
# the default matrix's 80-odd timed cells fit the 5-minute run with their probes.
DEFAULT_MIN_ROUNDS = 3
CELL_BUDGET = {"fast": 1.5, "default": 8.0, "rigorous": 30.0}


class UsageError(Exception):
    pass


def _names(text: str) -> list[str]:
    """Comma-separated names; a comma inside brackets belongs to a variant's name
    (``asyncio,threads[executor=pool,workers=4]`` is two models)."""
    names, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    names.append(current)
    return [name.strip() for name in names if name.strip()]


def _one_line_error(message: str) -> NoReturn:
    # argparse prints the usage and the message on two lines; one line names the problem.
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _worker_args(cmd: list[str], args: argparse.Namespace) -> None:
    # A pyperf worker of a cell process runs that cell: pass it on, with the start method.
    cmd.extend(("--cell", args.cell, "--start-method", args.start_method))


def make_runner() -> pyperf.Runner:
    # 12 worker processes x 3 values by default (pyperf's own default is 20 x 3): --fast halves
    # them and --rigorous doubles them, so the whole matrix fits the time budget with --fast.
    runner = pyperf.Runner(
        processes=DEFAULT_PROCESSES,
        values=DEFAULT_VALUES,
        min_time=DEFAULT_MIN_TIME,
        program_args=("-m", "runners.run"),
        add_cmdline_args=_worker_args,
        # Each worker reads the GIL right after its runs (bench.results.gil): the build alone does
        # not say whether a library turned the GIL back on.
        hooks=[gil.GIL_HOOK],
    )
    parser = runner.argparser
    parser.description = (
        "Run the benchmark matrix under pyperf and write a result file (concbench run is the "
        "same). tox -e bench adds pyperf's --fast, tox -e sweep --fast --sweep: give them for "
        "the same run."
    )
    parser.allow_abbrev = False  # an abbreviation must not silently pick an option
    parser.error = _one_line_error
    group = parser.add_argument_group("concbench")
    group.add_argument(
        "--models", type=_names, default=None, help="comma-separated models (default: all)"
    )
    group.add_argument(
        "--workloads", type=_names, default=None, help="comma-separated workloads (default: all)"
    )
    group.add_argument(
        "--matrix",
        choices=sorted(MATRICES),
        default=None,
        help="parameter sets to run: default; smoke (tiny sizes for testing the pipeline); "
        "sweep (see --sweep); sweep-smoke (the sweep at tiny sizes)",
    )
    group.add_argument(
        "--spec",
        action="append",
        default=None,
        metavar="WORKLOAD:K=V,...",
        help="run this parameter set instead of the matrix (repeatable); parameters not given "
        "take the spec's defaults, e.g. --spec producer_consumer:producers=8,consumers=8",
    )
    group.add_argument(
        "--sweep",
        action="store_true",
        help=f"scaling sweep: {', '.join(_SWEPT)} over a range of task counts, each "
        "model's sizes in ascending order, stopping where it cannot go on (same as --matrix "
        "sweep); prints where each model stops scaling and the fitted bytes per task",
    )
    group.add_argument(
        "--sweep-run-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"in a sweep, skip a size when one run of it would take longer, projected from the "
        f"largest size measured (default {DEFAULT_SWEEP_RUN_LIMIT:g} s: a cell makes about 20 "
        f"runs with --fast, so this keeps each cell near a minute; a memory run, made only "
        f"--memory-samples times, may take 10 times as long)",
    )
    group.add_argument(
        "--list", action="store_true", help="list models, workloads and availability, then exit"
    )
    group.add_argument(
        "--start-method",
        default=mpcontext.default_method(),
        help=f"multiprocessing start method of the processes model "
        f"(default: {mpcontext.default_method()}; "
        f"here: {', '.join(mpcontext.available_methods())})",
    )
    group.add_argument(
        "--memory-samples",
        type=int,
        default=None,
        help="fresh processes per memory cell (default 5; 3 with --fast, 10 with --rigorous)",
    )
    group.add_argument(
        "--no-profile", action="store_true", help="skip the CPU/context-switch profile pass"
    )
    group.add_argument(
        "--no-latency",
        action="store_true",
        help="skip the latency pass (per-switch, per-item and per-task percentiles of "
        "pingpong, producer_consumer and fan_out)",
    )
    group.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"stop a cell that runs longer, kill its processes, record it as failed and go on "
        f"(default {DEFAULT_CELL_TIMEOUT:g} s; twice that with --rigorous)",
    )
    group.add_argument(
        "--resume",
        metavar="FILE",
        default=None,
        help="continue an interrupted run: measure only the cells FILE does not hold yet, into "
        "FILE (refused when this environment differs from the one that wrote it)",
    )
    group.add_argument(
        "--precision",
        type=float,
        default=PRECISION_TARGET,
        metavar="FRACTION",
        help=f"a timed cell adds rounds until the 95%% confidence interval of its mean is "
        f"within this fraction of the mean (default {PRECISION_TARGET:g}, i.e. ±"
        f"{PRECISION_TARGET * 100:g}%%), or until its --cell-budget or --max-rounds is spent",
    )
    group.add_argument(
        "--min-rounds",
        type=int,
        default=DEFAULT_MIN_ROUNDS,
        help=f"rounds every timed cell makes, whatever its precision (default "
        f"{DEFAULT_MIN_ROUNDS}); a round is one pyperf worker per model of the row",
    )
    group.add_argument(
        "--max-rounds",
        type=int,
        default=None,
        help="rounds a timed cell makes at most (default: twice pyperf's --processes: 24, 12 "
        "with --fast, 48 with --rigorous)",
    )
    group.add_argument(
        "--cell-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"wall time a timed cell's rounds may take before it stops short of --precision "
        f"(default {CELL_BUDGET['default']:g} s; {CELL_BUDGET['fast']:g} s with --fast, "
        f"{CELL_BUDGET['rigorous']:g} s with --rigorous)",
    )
    # Internal: the runner starts one process per cell with these.
    group.add_argument("--cell", default=None, help=argparse.SUPPRESS)
    group.add_argument("--result-fd", type=int, default=None, help=argparse.SUPPRESS)
    # Internal: a round's worker tags its run with these (``runners.rounds``).
    group.add_argument("--round", type=int, default=None, help=argparse.SUPPRESS)
    group.add_argument("--round-position", type=int, default=None, help=argparse.SUPPRESS)
    group.add_argument("--rounds-session", default=None, help=argparse.SUPPRESS)
    return runner


def parse_args(runner: pyperf.Runner, argv: list[str]) -> argparse.Namespace:
    """pyperf's parsing, with the result file options taken out first: this runner writes the
    file itself (pyperf would refuse an existing file with exit status 1 before we could)."""
    targets = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    targets.add_argument("-o", "--output", default=None)
    targets.add_argument("--append", default=None)
    targets.error = _one_line_error  # type: ignore[method-assign]
    chosen, rest = targets.parse_known_args(argv)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            args: argparse.Namespace = runner.parse_args(rest)
    except SystemExit as exc:
        if exc.code == 2:  # argparse has printed its one-line error already
            raise
        if exc.code in (0, None):  # --help: the help is output, not an error
            sys.stdout.write(captured.getvalue())
            raise
        message = captured.getvalue().strip().removeprefix("ERROR: ")
        raise UsageError(message or f"invalid arguments (exit status {exc.code})") from None
    args.output, args.append = chosen.output, chosen.append
    return args


def _resolve(requested: list[str] | None, valid: list[str], kind: str) -> list[str]:
    """The requested names (all when none were given), or a UsageError naming the valid ones."""
    names = valid if requested is None else requested
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        problem = f"unknown {kind} {unknown[0]!r}" if unknown else f"no {kind} selected"
        raise UsageError(f"{problem}; valid: {', '.join(valid)}")
    return names


def parse_spec(text: str) -> Spec:
    """``WORKLOAD:k=v,...`` -> a validated spec, or a UsageError naming the problem."""
    workload, sep, params = text.partition(":")
    if workload not in SPECS:
        raise UsageError(
            f"--spec {text!r}: unknown workload {workload!r}; valid: {', '.join(SPECS)}"
        )
    if not sep:
        params = ""
    try:
        return SPECS[workload].from_params(params)
    except SpecError as exc:
        raise UsageError(f"--spec {text!r}: {exc}") from None


def check_args(args: argparse.Namespace) -> None:
    """Validate what pyperf's parser cannot; resolve names. Raises UsageError."""
    _resolve([args.start_method], mpcontext.available_methods(), "start method")
    if args.memory_samples is not None and not 1 <= args.memory_samples <= MAX_MEMORY_SAMPLES:
        raise UsageError(f"--memory-samples must be from 1 to {MAX_MEMORY_SAMPLES}")
    for option in ("track_memory", "tracemalloc", "compare_to"):
        if getattr(args, option, None):
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is not supported: memory is measured by the memory workload")
    # pyperf hands workers only a few variables; add those that change what a worker measures.
    args.inherit_environ = sorted({*(args.inherit_environ or ()), *forwarded_environ()})
    # pyperf hands its own --hook options on to the workers.
    args.hook = sorted({*(args.hook or ()), gil.HOOK_NAME})
    if args.cell is not None:
        return
    try:
        # The runner the user started only: listing the names parses every model's source.
        valid_models = model_names()
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    # A model named by --models is reported even where it cannot run (a GIL-on twin on a build
    # with a GIL); the run of every model leaves such twins out without a word.
    args.models_named = args.models is not None
    args.models = _resolve(args.models, valid_models, "model")
    args.workloads = _resolve(args.workloads, workload_names(), "workload")
    timeout = args.cell_timeout
    if timeout is not None and not 0 < timeout <= MAX_CELL_TIMEOUT:
        raise UsageError(f"--cell-timeout must be more than 0 and at most {MAX_CELL_TIMEOUT:g} s")
    if args.cell_timeout is None:
        args.cell_timeout = DEFAULT_CELL_TIMEOUT * (2 if args.rigorous else 1)
    _check_sampling(args)
    _check_affinity(args)
    if args.spec and args.matrix is not None:
        raise UsageError("--spec replaces the matrix: give --spec or --matrix, not both")
    _check_sweep(args)
    args.specs = [parse_spec(text) for text in args.spec or ()]
    if args.matrix is None:
        args.matrix = "default"
    targets = [flag for flag, value in (
        ("-o", args.output), ("--append", args.append), ("--resume", args.resume)
    ) if value]  # fmt: skip
    if len(targets) > 1:
        raise UsageError(f"{' and '.join(targets)} exclude each other: give one result file")


def _check_affinity(args: argparse.Namespace) -> None:
    """The CPUs of ``--affinity`` exist for this process, where the system can pin at all: the
    workers would otherwise fail one by one, or pyperf would ignore the option silently."""
    if not args.affinity:
        return
    if not hasattr(os, "sched_setaffinity"):
        raise UsageError("--affinity needs a system that can pin processes to CPUs (Linux)")
    try:
        cpus = parse_cpu_list(args.affinity)
    except ValueError as exc:
        raise UsageError(f"--affinity: {exc}") from None
    usable = os.sched_getaffinity(0)
    if not cpus <= usable:
        missing = ",".join(str(cpu) for cpu in sorted(cpus - usable))
        raise UsageError(
            f"--affinity: CPU {missing} is not usable here (usable: "
            f"{','.join(str(cpu) for cpu in sorted(usable))})"
        )


def _check_sampling(args: argparse.Namespace) -> None:
    if not 0 < args.precision < 1:
        raise UsageError(f"--precision must be a fraction between 0 and 1, got {args.precision:g}")
    if args.min_rounds < 1:
        raise UsageError(f"--min-rounds must be at least 1, got {args.min_rounds}")
    if args.max_rounds is None:
        args.max_rounds = max(2 * args.processes, args.min_rounds)
    if args.max_rounds < args.min_rounds:
        raise UsageError(
            f"--max-rounds ({args.max_rounds}) must be at least --min-rounds ({args.min_rounds})"
        )
    mode = "rigorous" if args.rigorous else "fast" if args.fast else "default"
    if args.cell_budget is None:
        args.cell_budget = CELL_BUDGET[mode]
    if not 0 < args.cell_budget <= MAX_CELL_TIMEOUT:
        raise UsageError(f"--cell-budget must be more than 0 and at most {MAX_CELL_TIMEOUT:g} s")


def _check_sweep(args: argparse.Namespace) -> None:
    if args.sweep and (args.spec or args.matrix is not None):
        given = "--spec" if args.spec else "--matrix"
        raise UsageError(f"--sweep runs the sweep matrix: give --sweep or {given}, not both")
    if args.sweep:
        args.matrix = "sweep"
    limit = args.sweep_run_limit
    if limit is not None and args.matrix not in SWEEP_MATRICES:
        raise UsageError("--sweep-run-limit applies to sweeps only: add --sweep")
    if limit is not None and not 0 < limit <= MAX_CELL_TIMEOUT:
        raise UsageError(
            f"--sweep-run-limit must be more than 0 and at most {MAX_CELL_TIMEOUT:g} s"
        )
    if limit is None:
        args.sweep_run_limit = DEFAULT_SWEEP_RUN_LIMIT


def drop_options(argv: list[str], options: dict[str, bool]) -> list[str]:
    """``argv`` without the given options; ``options`` maps each flag to whether it takes a
    value. ``--flag value``, ``--flag=value`` and ``-oFILE`` are all recognised."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        flag, has_value, _ = arg.partition("=")
        if flag in options:
            skip = options[flag] and not has_value
            continue
        if "-o" in options and flag.startswith("-o") and not flag.startswith("--"):
            continue
        kept.append(arg)
    return kept


def cell_argv(argv: list[str], args: argparse.Namespace, cell_name: str) -> list[str]:
    """The command of the process that measures one cell: the user's pyperf options as given,
    concbench's per-cell options, without the runner's own (file, selection, time limit)."""
    passed = drop_options(argv, RUNNER_ONLY)
    if not (args.quiet or args.verbose):
        # pyperf's "the benchmark result may be unstable" and its progress dots: the summary's
        # precision section reports what the warning says, once per cell, and the runner's
        # progress line replaces the dots. Errors go to stderr whatever the mode.
        passed.append("--quiet")
    passed += ["--cell", cell_name, "--start-method", args.start_method]
    return [sys.executable, "-m", "runners.run", *passed]
