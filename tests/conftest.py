"""Shared test settings: what is not collected where a library is missing, the session's echo
server, and how pytest-xdist (``-n``, as ``tox -e test`` runs) hands the tests out.

Nothing here is imported by a test module: what tests share is in tests/helpers.py.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.measure.echoserver import serving
from tests.scheduling import SharedFixtureScheduling

# Test modules that import an optional library at their top, by library. A free-threaded build
# installs neither greenlet nor gevent, nor matplotlib where it has no wheel for it; those
# modules are left out of collection there, and the header of the run says which and why.
NEEDS = {
    "matplotlib": (
        "test_calibration.py",
        "test_charts.py",
        "test_freethreading.py",
        "test_page.py",
        "test_readme.py",
        "test_report.py",
        "test_report_browser.py",
        "test_variant_findings.py",
    ),
    "greenlet": ("test_echo.py", "test_model_greenlet.py"),
    "gevent": ("test_model_gevent.py",),
}
MISSING = {
    library: modules
    for library, modules in NEEDS.items()
    if importlib.util.find_spec(library) is None
}
collect_ignore = [module for modules in MISSING.values() for module in modules]
ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header() -> list[str]:
    return [
        f"not collected, {library} is not installed: {', '.join(modules)}"
        for library, modules in MISSING.items()
    ]


@pytest.fixture(scope="session", autouse=True)
def echo_server() -> Iterator[tuple[str, int]]:
    """The echo server the smoke matrix's echo cells talk to, as the runner provides it to a
    cell process; stopped (and its errors raised) when the session ends."""
    with serving() as address:
        yield address


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "load":
        return None  # an explicit --dist other than load
    # Units in collection order, which puts the slow tests first (below), not largest first.
    config.option.loadscopereorder = False
    return SharedFixtureScheduling(config, log)


@pytest.fixture(scope="session")
def two_versions_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/report.py on tests/data/py311.json against py313.json: its output directory.
    Drawn once for the tests that read the page (test_report.py) and those that look at it in
    a browser (test_report_browser.py), which the scheduler gives to one worker."""
    output = tmp_path_factory.mktemp("report") / "out"
    data = ROOT / "tests" / "data"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "report.py"), str(data / "py311.json"),
         str(data / "py313.json"), "-o", str(output), "--title", "3.11 against 3.13"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return output


def _seconds(item: pytest.Item) -> float:
    """What a test takes, roughly: ``slow(seconds=N)``, 1 for a plain ``slow``, else 0."""
    mark = item.get_closest_marker("slow")
    if mark is None:
        return 0.0
    return float(mark.kwargs.get("seconds", 1.0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, the longest first: under ``-n`` they start while the other workers
    have the quick ones to do, instead of one of them starting last while the others have
    nothing left. (A unit of tests sharing a fixture starts where its first test stands.)"""
    items.sort(key=_seconds, reverse=True)
