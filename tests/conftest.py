"""Shared test settings."""

from __future__ import annotations

from bench.workloads import SMOKE_MATRIX

# Every model x workload cell is tested at the smoke matrix's tiny sizes.
TINY_MATRIX = SMOKE_MATRIX
