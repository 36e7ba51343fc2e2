"""Shared test settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.echoserver import serving
from bench.workloads import SMOKE_MATRIX

# Every model x workload cell is tested at the smoke matrix's tiny sizes.
TINY_MATRIX = SMOKE_MATRIX


@pytest.fixture(scope="session", autouse=True)
def echo_server() -> Iterator[None]:
    """The echo server the smoke matrix's echo cells talk to, as the runner provides it to a
    cell process; stopped (and its errors raised) when the session ends."""
    with serving():
        yield
