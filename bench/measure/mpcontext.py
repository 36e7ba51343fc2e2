"""The multiprocessing start method used by the processes model: explicit, recorded, selectable.

The default is ``fork`` where the platform has it (the cheapest start, and the historical Linux
default), else the platform's first method (``spawn``). It is fixed rather than taken from the
interpreter because Python 3.14 changed its Linux default: results from two Python versions
must not differ silently in how processes start. The runner passes ``--start-method`` to every
worker. A variant with a ``start`` parameter (``processes[start=spawn]``) uses that method instead,
for its cells only (``method_for``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from multiprocessing.context import BaseContext

# The variant parameter that sets a cell's start method over the run's.
START_PARAMETER = "start"

_selected: str | None = None


def available_methods() -> list[str]:
    return multiprocessing.get_all_start_methods()


def default_method() -> str:
    methods = available_methods()
    # The platform lists its own default first: spawn where there is no fork.
    return "fork" if "fork" in methods else methods[0]


def _check_available(name: str) -> None:
    if name not in available_methods():
        raise ValueError(
            f"start method {name!r} is not available here; "
            f"choose from {', '.join(available_methods())}"
        )


def set_start_method(name: str) -> None:
    global _selected
    _check_available(name)
    _selected = name


def start_method() -> str:
    return _selected or default_method()


def method_for(parameters: Mapping[str, str], run_method: str | None = None) -> str:
    """The start method of a cell whose variant has ``parameters``: its ``start`` parameter if it
    has one, else ``run_method`` (default: the one selected for this process). A model passes
    its ``VariantParameters``, so that the cell notes the parameter as read; the runner passes
    the parameters of the cell's model to record the method the cell used."""
    chosen = parameters.get(START_PARAMETER)
    if chosen is None:
        return run_method or start_method()
    _check_available(chosen)
    return chosen


def context(method: str | None = None) -> BaseContext:
    """The context of ``method``, by default the one selected for this process."""
    return multiprocessing.get_context(method or start_method())
