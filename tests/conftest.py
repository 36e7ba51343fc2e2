"""Shared test settings."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from bench.measure.echoserver import serving
from bench.spec.workloads import SMOKE_MATRIX

# Every model x workload cell is tested at the smoke matrix's tiny sizes.
TINY_MATRIX = SMOKE_MATRIX

# Test modules that import an optional library at their top, by library. A free-threaded build
# installs neither greenlet nor gevent, nor matplotlib where it has no wheel for it; those
# modules are left out of collection there, and the header of the run says which and why.
NEEDS = {
    "matplotlib": (
        "test_charts.py",
        "test_page.py",
        "test_readme.py",
        "test_report.py",
        "test_report_browser.py",
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


def pytest_report_header() -> list[str]:
    return [
        f"not collected, {library} is not installed: {', '.join(modules)}"
        for library, modules in MISSING.items()
    ]


@pytest.fixture(scope="session", autouse=True)
def echo_server() -> Iterator[None]:
    """The echo server the smoke matrix's echo cells talk to, as the runner provides it to a
    cell process; stopped (and its errors raised) when the session ends."""
    with serving():
        yield
