"""The concbench pyperf runner (entry point ``python -m runners.run``): every model x workload
cell of the matrix, in one result file.

One pyperf.Runner drives everything. Timed cells go through ``Runner.bench_time_func``: pyperf
re-executes this module in fresh worker processes, each of which builds the same cell list and
runs only the cell pyperf asks for. Memory cells and the profile pass need processes of their
own (``runners.probe``); the manager runs those and adds the results to the same pyperf file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pyperf

from bench import mpcontext
from bench.cells import Cell, plan, run_cell
from bench.environment import environment_metadata, forwarded_environ
from bench.meters import Clock
from bench.proctree import tree_rss
from bench.registry import Model, all_models, get_model, model_names, workload_names
from bench.storage import ResultFile, StorageError, default_output
from bench.summary import Gap, render_all
from bench.workloads import MATRICES, SPECS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROCESSES = 12
DEFAULT_VALUES = 3
PROBE_TIMEOUT = 600.0
RSS_SAMPLE_INTERVAL = 0.01


class UsageError(Exception):
    pass


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _worker_args(cmd: list[str], args: argparse.Namespace) -> None:
    # Workers must rebuild exactly the manager's cell list: pass the resolved names, not the
    # user's request, so a worker never re-checks availability or sees a different matrix.
    cmd.extend(
        (
            "--models", ",".join(args.models),
            "--workloads", ",".join(args.workloads),
            "--start-method", args.start_method,
            "--matrix", args.matrix,
        )
    )  # fmt: skip


def make_runner() -> pyperf.Runner:
    # 12 worker processes x 3 values by default (pyperf's own default is 20 x 3): --fast halves
    # them and --rigorous doubles them, so the whole matrix fits the time budget with --fast.
    runner = pyperf.Runner(
        processes=DEFAULT_PROCESSES,
        values=DEFAULT_VALUES,
        program_args=("-m", "runners.run"),
        add_cmdline_args=_worker_args,
    )
    group = runner.argparser.add_argument_group("concbench")
    group.add_argument(
        "--models", type=_names, default=None, help="comma-separated models (default: all)"
    )
    group.add_argument(
        "--workloads", type=_names, default=None, help="comma-separated workloads (default: all)"
    )
    group.add_argument(
        "--matrix",
        choices=sorted(MATRICES),
        default="default",
        help="parameter sets to run: default, or smoke (tiny sizes for testing the pipeline)",
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
    return runner


def _resolve(requested: list[str] | None, valid: list[str], kind: str) -> list[str]:
    """The requested names (all when none were given), or a UsageError naming the valid ones."""
    names = valid if requested is None else requested
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        problem = f"unknown {kind} {unknown[0]!r}" if unknown else f"no {kind} selected"
        raise UsageError(f"{problem}; valid: {', '.join(valid)}")
    return names


def _check_args(args: argparse.Namespace) -> None:
    models = _resolve(args.models, model_names(), "model")
    workloads = _resolve(args.workloads, workload_names(), "workload")
    _resolve([args.start_method], mpcontext.available_methods(), "start method")
    if args.memory_samples is not None and args.memory_samples < 1:
        raise UsageError("--memory-samples must be at least 1")
    for option in ("track_memory", "tracemalloc", "compare_to"):
        if getattr(args, option, None):
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is not supported: memory is measured by the memory workload")
    args.models = models
    args.workloads = workloads
    # pyperf hands workers only a few variables; add those that change what a worker measures.
    args.inherit_environ = sorted({*(args.inherit_environ or ()), *forwarded_environ()})


def time_cell(loops: int, cell: Cell) -> float:
    """pyperf's time function: ``loops`` verified runs, summing only their measured regions."""
    total = 0.0
    for _ in range(loops):
        clock = Clock()
        run_cell(cell, clock)
        total += clock.elapsed
    return total


def bench_cell(runner: pyperf.Runner, cell: Cell, start_method: str) -> pyperf.Benchmark | None:
    """Hand a timed cell to pyperf: in the manager this measures it in workers and returns the
    benchmark; in a worker it runs only if it is the task pyperf sent the worker for."""
    return runner.bench_time_func(
        cell.name,
        time_cell,
        cell,
        inner_loops=cell.spec.ops,
        metadata={**cell.metadata(), **environment_metadata(start_method)},
    )


def register_timed_cells(runner: pyperf.Runner, cells: list[Cell], start_method: str) -> None:
    """The worker side: register every timed cell in order; pyperf runs the one it was sent for."""
    for cell in cells:
        if cell.spec.unit == "second":
            bench_cell(runner, cell, start_method)


def list_matrix(matrix: str) -> None:
    print("models:")
    for model in all_models():
        reason = model.unavailable_reason()
        state = f"unavailable: {reason}" if reason else "available"
        kind = "lightweight" if model.lightweight else "heavyweight"
        supported = [w for w in workload_names() if model.supports(w)]
        print(f"  {model.name:<11} {kind:<11} {state}; workloads: {', '.join(supported)}")
    print("workloads:")
    cells = plan(all_models(), workload_names(), MATRICES[matrix])
    for workload in workload_names():
        specs = list(dict.fromkeys(c.spec for c in cells if c.spec.workload == workload))
        print(f"  {workload}: {SPECS[workload].metric}")
        for spec in specs:
            models = [c.model.name for c in cells if c.spec == spec]
            print(f"    {spec.params}  ({len(models)} models)")
    print(f"start methods: {', '.join(mpcontext.available_methods())}")


class Probe:
    """Runs ``runners.probe`` in a fresh process and samples its process tree's RSS meanwhile."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = [sys.executable, "-m", "runners.probe", *argv]
        self.peak_rss = 0

    def _sample(self, proc: subprocess.Popen[str], done: threading.Event) -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.wait(RSS_SAMPLE_INTERVAL):
            self.peak_rss = max(self.peak_rss, tree_rss(root))

    def run(self) -> str:
        proc = subprocess.Popen(
            self.argv,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        done = threading.Event()
        sampler = threading.Thread(target=self._sample, args=(proc, done), daemon=True)
        sampler.start()
        try:
            out, err = proc.communicate(timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeError(f"probe timed out after {PROBE_TIMEOUT:.0f} s") from None
        finally:
            done.set()
            sampler.join()
        if proc.returncode != 0:
            last = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise RuntimeError(last)
        return out


def _cell_argv(cell: Cell, kind: str, start_method: str) -> list[str]:
    return [
        kind,
        "--model", cell.model.name,
        "--workload", cell.spec.workload,
        "--params", cell.spec.params,
        "--start-method", start_method,
    ]  # fmt: skip


def profile_metadata(cell: Cell, start_method: str) -> dict[str, float | int]:
    probe = Probe(_cell_argv(cell, "profile", start_method))
    data = json.loads(probe.run())
    return {
        "cpu_user_per_op": data["cpu_user_per_op"],
        "cpu_system_per_op": data["cpu_system_per_op"],
        "cpu_per_op": data["cpu_user_per_op"] + data["cpu_system_per_op"],
        "ctx_voluntary_per_op": data["ctx_voluntary_per_op"],
        "ctx_involuntary_per_op": data["ctx_involuntary_per_op"],
        "ctx_switches_per_op": data["ctx_voluntary_per_op"] + data["ctx_involuntary_per_op"],
        "profile_runs": data["runs"],
        "profile_wall_per_op": data["wall_per_op"],
        "peak_rss_tree": max(probe.peak_rss, data["peak_rss_self"]),
    }


def measure_memory_cell(cell: Cell, samples: int, start_method: str) -> pyperf.Benchmark:
    bench: pyperf.Benchmark | None = None
    peak = 0
    for index in range(samples):
        probe = Probe(_cell_argv(cell, "memory", start_method))
        sample = pyperf.Benchmark.loads(probe.run())
        peak = max(peak, probe.peak_rss, int(sample.get_metadata().get("peak_rss_self", 0)))
        if bench is None:
            bench = sample
        else:
            bench.add_runs(sample)
        print("." if index + 1 < samples else ".\n", end="", flush=True)
    assert bench is not None
    bench.update_metadata({"peak_rss_tree": peak})
    return bench


def _memory_samples(args: argparse.Namespace) -> int:
    if args.memory_samples is not None:
        return int(args.memory_samples)
    if args.debug_single_value:
        return 1
    if args.fast:
        return 3
    return 10 if args.rigorous else 5


def _print_bench(bench: pyperf.Benchmark) -> None:
    mean = bench.format_value(bench.mean())
    spread = f" +- {bench.format_value(bench.stdev())}" if bench.get_nvalue() > 1 else ""
    print(f"{bench.get_name()}: Mean{' +- std dev' if spread else ''}: {mean}{spread}")


def run_manager(runner: pyperf.Runner, args: argparse.Namespace) -> int:
    requested = [get_model(name) for name in args.models]
    available: list[Model] = []
    gaps: list[Gap] = []
    for model in requested:
        reason = model.unavailable_reason()
        if reason is None:
            available.append(model)
        else:
            print(f"{model.name}: unavailable: {reason}")
    args.models = [model.name for model in available]

    cells = plan(available, args.workloads, MATRICES[args.matrix])
    unavailable_cells = plan(
        [m for m in requested if m not in available], args.workloads, MATRICES[args.matrix]
    )
    gaps += [
        Gap(c.spec.workload, c.spec.params, c.model.name, "unavailable") for c in unavailable_cells
    ]
    if not cells:
        print("error: no cell to run: every selected model is unavailable", file=sys.stderr)
        return 2

    # pyperf would write -o/--append itself after each timed cell; this runner writes instead,
    # so that memory cells and profile metadata land in the same file, atomically.
    appending = args.append is not None
    output = Path(args.append or args.output or default_output())
    args.output = args.append = None
    result_file = ResultFile(output)
    benchmarks: list[pyperf.Benchmark] = []
    try:
        if appending:
            result_file.adopt()
            try:
                benchmarks = list(pyperf.BenchmarkSuite.load(str(output)))
            except (ValueError, KeyError, TypeError) as exc:
                raise StorageError(f"{output} is not a pyperf result file ({exc})") from None
        else:
            result_file.claim()
    except (StorageError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    failures: list[tuple[Cell, str]] = []
    start_method = args.start_method
    for cell in cells:
        try:
            if cell.spec.unit == "second":
                bench = _run_timed(runner, cell, start_method)
                if not args.no_profile:
                    bench.update_metadata(profile_metadata(cell, start_method))
            else:
                bench = measure_memory_cell(cell, _memory_samples(args), start_method)
                _print_bench(bench)
        except (RuntimeError, ValueError) as exc:
            print(f"{cell.name}: FAILED: {exc}", file=sys.stderr)
            failures.append((cell, str(exc)))
            gaps.append(Gap(cell.spec.workload, cell.spec.params, cell.model.name, "FAILED"))
            continue
        _merge(benchmarks, bench)
        result_file.write(benchmarks)

    result_file.discard_if_empty()
    print()
    print(render_all(benchmarks, gaps))
    for cell, reason in failures:
        print(f"failed: {cell.name}: {reason}")
    if benchmarks:
        print(f"\nresults: {output}")
    return 1 if failures else 0


def _run_timed(runner: pyperf.Runner, cell: Cell, start_method: str) -> pyperf.Benchmark:
    task_before = runner._worker_task
    try:
        bench = bench_cell(runner, cell, start_method)
    except SystemExit as exc:
        if exc.code != 124:  # pyperf exits 124 when a worker exceeds --timeout
            raise
        runner._worker_task = task_before + 1
        raise RuntimeError("worker timed out (pyperf --timeout)") from None
    except RuntimeError:
        # pyperf counts tasks only on success; keep the count aligned with the workers' cell
        # list, or every later cell would run the wrong benchmark.
        runner._worker_task = task_before + 1
        raise
    if bench is None:
        raise RuntimeError("pyperf returned no result")
    return bench


def _merge(benchmarks: list[pyperf.Benchmark], bench: pyperf.Benchmark) -> None:
    for existing in benchmarks:
        if existing.get_name() == bench.get_name():
            existing.add_runs(bench)
            return
    benchmarks.append(bench)


def main() -> int:
    runner = make_runner()
    args = runner.parse_args()
    try:
        _check_args(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mpcontext.set_start_method(args.start_method)
    if args.list:
        list_matrix(args.matrix)
        return 0
    if args.worker:
        models = [get_model(name) for name in args.models]
        register_timed_cells(
            runner, plan(models, args.workloads, MATRICES[args.matrix]), args.start_method
        )
        return 0
    return run_manager(runner, args)
