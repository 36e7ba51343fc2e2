"""The machine calibration: the reference loop, and its record in a result file's environment.
No timing is asserted: only that a measurement is a positive finite number."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from bench.measure import calibration
from bench.render import htmlreport
from bench.results.schema import ENVIRONMENT_KEYS, RESUME_KEYS, Calibration, load_all

PY311 = Path(__file__).resolve().parent / "data" / "py311.json"


def test_the_reference_loop_does_its_fixed_work() -> None:
    # A changed loop changes its result: then bump CALIBRATION_VERSION and this checksum.
    assert calibration.reference_loop() == calibration.CHECKSUM
    assert calibration.reference_loop(10) != calibration.reference_loop(11)


def test_calibrate_returns_a_positive_finite_number_of_nanoseconds() -> None:
    ns = calibration.calibrate(repetitions=1)
    assert math.isfinite(ns)
    assert ns > 0


def test_a_broken_clock_is_an_error_not_a_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "perf_counter_ns", lambda: 0)
    with pytest.raises(RuntimeError, match="calibration loop measured"):
        calibration.calibrate(repetitions=1)


def test_the_record_round_trips_through_the_environment() -> None:
    record = Calibration(123.4567, 1)
    environment = record.environment()
    assert environment == {"calibration_ns": 123.457, "calibration_version": 1}
    assert Calibration.of(environment) == Calibration(123.457, 1)
    assert {"calibration_ns", "calibration_version"} <= set(ENVIRONMENT_KEYS)
    assert not {"calibration_ns", "calibration_version"} & set(RESUME_KEYS)


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"calibration_ns": 100.0},
        {"calibration_version": 1},
        {"calibration_ns": 0, "calibration_version": 1},
        {"calibration_ns": -5.0, "calibration_version": 1},
        {"calibration_ns": float("nan"), "calibration_version": 1},
        {"calibration_ns": "100", "calibration_version": 1},
        {"calibration_ns": 100.0, "calibration_version": True},
        {"calibration_ns": 100.0, "calibration_version": 0},
    ],
)
def test_a_missing_or_malformed_calibration_reads_as_absent(environment: dict[str, object]) -> None:
    assert Calibration.of(environment) is None


def _machine(tmp_path: Path, name: str, ns: float, factor: float) -> Path:
    document = json.loads(PY311.read_text())
    document["concbench"] = {
        "version": 2,
        "environment": {"calibration_ns": ns, "calibration_version": 1},
    }
    for bench in document["benchmarks"]:
        for run in bench["runs"]:
            run["values"] = [value * factor for value in run.get("values", [])]
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_the_report_says_the_machines_differ_first_and_shows_the_normalised_grid(
    tmp_path: Path,
) -> None:
    a, b = _machine(tmp_path, "a.json", 100.0, 1.0), _machine(tmp_path, "b.json", 180.0, 1.8)
    page = htmlreport.content(load_all([a, b], ["A", "B"]), title="machines")
    warning = "the machines differ: the calibration loop is 1.80x slower in B than in A"
    assert page.machines == warning
    (grid,) = page.normalised
    cells = [cell for row in grid.rows for cell in row.cells.values()]
    assert len(cells) == 30
    assert {cell.verdict for cell in cells} == {"same"}
    assert {cell.text for cell in cells} == {"1.00\N{MULTIPLICATION SIGN}"}
    html = htmlreport.render_html(page)
    overview = html[html.index('<section id="overview">') :]
    assert overview.index(warning) < overview.index("What changed")
    assert "Relative to serial in the same file" in overview
    assert "calibration_ns" in html  # the environment table
    summary = htmlreport.render_summary(page)
    assert summary.splitlines()[2] == f"> **WARNING: {warning}**"
    assert "## Relative to serial in the same file" in summary
    assert "| calibration_ns | 100.0 | 180.0 |" in summary

    same = htmlreport.content(load_all([a, a], ["A", "A2"]), title="one machine")
    assert same.machines is None
    assert same.normalised == ()
