"""Rebuild the result files in tests/data from raw suite runs and a pyperf timeit file.

Usage (see README.md in this directory for the runs that produce the inputs):

    python3.11 tests/data/make_data.py RAW_PY311.json RAW_PY313.json RAW_TIMEIT.json

Suite files are stored without warmups and calibration-only runs (compare and report use
neither) and compactly, to keep the directory small; everything else is as the runner wrote it.
The derived files change the 3.11 file in one documented way each.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

REGRESSED = "pingpong[rounds=5]/greenlet"  # values x1.3: a significant 30% regression
IMPROVED = "spawn[tasks=5]/gevent"  # values x0.7: a significant 30% improvement
NUDGED = "pingpong[rounds=5]/serial"  # values x1.005: below the default --min-change
MEMORY_SCALED = "memory[tasks=5]/threads"  # values x1.5, but 3 values a side: too few to test
UNIT_CHANGED = "spawn[tasks=5]/asyncio"  # unit 'byte' instead of 'second'
FAILED = "pingpong[rounds=5]/processes"
SKIPPED = "memory[tasks=5]/gevent"


def shrink(document: dict[str, Any], keep_run_metadata: bool = True) -> dict[str, Any]:
    result = copy.deepcopy(document)
    for bench in result["benchmarks"]:
        runs = []
        for run in bench["runs"]:
            if not run.get("values"):
                continue
            run.pop("warmups", None)
            if not keep_run_metadata:
                run.pop("metadata", None)
            runs.append(run)
        bench["runs"] = runs
    return result


def name_of(bench: dict[str, Any]) -> str:
    return str(bench["metadata"]["name"])


def scale(document: dict[str, Any], name: str, factor: float) -> None:
    for bench in document["benchmarks"]:
        if name_of(bench) == name:
            for run in bench["runs"]:
                run["values"] = [value * factor for value in run["values"]]
            return
    raise KeyError(name)


def regressed(base: dict[str, Any]) -> dict[str, Any]:
    document = shrink(base, keep_run_metadata=False)
    scale(document, REGRESSED, 1.3)
    scale(document, IMPROVED, 0.7)
    scale(document, NUDGED, 1.005)
    scale(document, MEMORY_SCALED, 1.5)
    return document


def units(base: dict[str, Any]) -> dict[str, Any]:
    document = shrink(base, keep_run_metadata=False)
    for bench in document["benchmarks"]:
        if name_of(bench) == UNIT_CHANGED:
            bench["metadata"]["unit"] = "byte"
    return document


def gaps(base: dict[str, Any]) -> dict[str, Any]:
    document = shrink(base, keep_run_metadata=False)
    document["benchmarks"] = [
        bench for bench in document["benchmarks"] if name_of(bench) not in (FAILED, SKIPPED)
    ]
    document["concbench"] = {
        "version": 1,
        "interrupted": False,
        "gaps": [
            {
                "name": FAILED,
                "workload": "pingpong",
                "params": "rounds=5",
                "model": "processes",
                "status": "failed",
                "reason": "CellError: processes reported 9 operations, the spec says 10",
            },
            {
                "name": SKIPPED,
                "workload": "memory",
                "params": "tasks=5",
                "model": "gevent",
                "status": "skipped",
                "reason": "unavailable: No module named 'gevent'",
            },
        ],
    }
    return document


def single(base: dict[str, Any]) -> dict[str, Any]:
    """One value per benchmark, as ``--debug-single-value`` gives (pingpong and memory only)."""
    document = shrink(base, keep_run_metadata=False)
    document["benchmarks"] = [
        bench
        for bench in document["benchmarks"]
        if bench["metadata"]["workload"] in ("pingpong", "memory")
    ]
    for bench in document["benchmarks"]:
        bench["runs"] = [{"values": bench["runs"][0]["values"][:1]}]
    return document


def foreign_slower(timeit: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(timeit)
    for bench in document["benchmarks"]:
        for run in bench["runs"]:
            run["values"] = [value * 1.5 for value in run.get("values", [])]
    return document


def write(name: str, document: dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(document, separators=(",", ":")) + "\n")


def main(raw311: str, raw313: str, raw_timeit: str) -> None:
    py311 = json.loads(Path(raw311).read_text())
    py313 = json.loads(Path(raw313).read_text())
    timeit = json.loads(Path(raw_timeit).read_text())
    derived: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "py311_regressed.json": regressed,
        "py311_units.json": units,
        "py311_gaps.json": gaps,
        "py311_single.json": single,
    }
    write("py311.json", shrink(py311))
    write("py313.json", shrink(py313))
    write("foreign_timeit.json", timeit)
    write("foreign_timeit_slower.json", foreign_slower(timeit))
    for name, derive in derived.items():
        write(name, derive(py311))
    (HERE / "empty.json").write_text("")
    (HERE / "truncated.json").write_text((HERE / "py313.json").read_text()[:300])
    (HERE / "not_pyperf.json").write_text('{"results": [1, 2, 3]}\n')


if __name__ == "__main__":
    main(*sys.argv[1:4])
