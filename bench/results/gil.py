"""The GIL as measured: whether it was enabled inside a measured region, read where it ran.

A free-threaded build runs without the GIL unless ``PYTHON_GIL=1`` asks for it, or an extension
module that does not declare free-threading support is imported: CPython then turns the GIL on
for the rest of the process, with only a RuntimeWarning. The build (``python_gil`` in
``bench.measure.environment``) therefore does not say what a cell measured. Each measuring process
reads
``sys._is_gil_enabled()`` right after its runs: a pyperf worker through ``GilReading``, a pyperf
hook (``python_gil_measured``); the profile and latency probes after their passes
(``profile_gil_measured``, ``latency_gil_measured``); a memory probe after its run
(``python_gil_measured``). ``mismatch`` tells a cell whose readings differ from each other or
from what the run asked for; files from before these keys have no readings and no mismatch.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

ENABLED = "enabled"
DISABLED = "disabled"
MEASURED_KEY = "python_gil_measured"
MEASURED_KEYS = (MEASURED_KEY, "profile_gil_measured", "latency_gil_measured")
HOOK_NAME = "concbench_gil"
FREE_THREADING_FLAG = "free-threading"


def state() -> str:
    """The GIL's state in this process now; a build without ``_is_gil_enabled`` has one."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return ENABLED if is_enabled is None or is_enabled() else DISABLED


class GilReading:
    """A pyperf hook: entered around every call of the time function, so each exit reads the
    GIL right after a run, outside the region. ``teardown`` writes the worker's reading into
    its run's metadata: "enabled" if any run ended with the GIL on."""

    def __init__(self) -> None:
        self.readings: set[str] = set()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        self.readings.add(state())

    def teardown(self, metadata: dict[str, Any]) -> None:
        if self.readings:
            metadata[MEASURED_KEY] = ENABLED if ENABLED in self.readings else DISABLED


class HookEntry(NamedTuple):
    """What ``pyperf.Runner(hooks=...)`` takes: an entry point's ``name`` and ``load()``."""

    name: str
    hook: type[GilReading]

    def load(self) -> type[GilReading]:
        return self.hook


GIL_HOOK = HookEntry(HOOK_NAME, GilReading)


def requested(metadata: Mapping[str, Any]) -> str | None:
    """The GIL state a run asked for: off on a free-threaded build unless ``PYTHON_GIL=1`` was
    set, on elsewhere; None when the metadata does not name the build."""
    build = metadata.get("python_build")
    if not isinstance(build, str):
        return None
    if FREE_THREADING_FLAG not in build:
        return ENABLED
    settings = dict(item.partition("=")[::2] for item in str(metadata.get("environ", "")).split())
    return ENABLED if settings.get("PYTHON_GIL") == "1" else DISABLED


def readings(metadatas: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every GIL reading recorded in these metadata mappings (a benchmark's and its runs')."""
    return {str(meta[key]) for meta in metadatas for key in MEASURED_KEYS if key in meta}


def mismatch(metadatas: Iterable[Mapping[str, Any]], requested_state: str | None) -> str | None:
    """Why a cell's readings cannot stand for the run's GIL state, None when they can (or when
    there are none, as in files from before the readings were recorded)."""
    found = readings(metadatas)
    if not found:
        return None
    if len(found) > 1:
        return "GIL " + " in some runs, ".join(sorted(found)) + " in others"
    (only,) = found
    if requested_state is not None and only != requested_state:
        return f"GIL {only}, the run asked for it {requested_state}"
    return None


def label(requested_state: str) -> str:
    return "GIL off" if requested_state == DISABLED else "GIL on"


def mismatch_text(flagged: list[tuple[str, str]], requested_state: str | None) -> str:
    """One line naming the cells whose GIL readings differ, with why."""
    asked = f" (the run asked for {label(requested_state)})" if requested_state else ""
    cells = "; ".join(f"{name}: {why}" for name, why in flagged)
    return (
        f"{len(flagged)} cell(s) measured a GIL state other than the run's{asked}, so their "
        f"numbers do not describe it: {cells}"
    )
