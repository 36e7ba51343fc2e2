"""The multiprocessing start method used by the processes model: explicit, recorded, selectable.

The default is ``fork`` where the platform has it (the cheapest start, and the historical Linux
default), else the platform's first method (``spawn``). It is fixed rather than taken from the
interpreter because Python 3.14 changed its Linux default: results from two Python versions
must not differ silently in how processes start. The runner passes ``--start-method`` to every
worker.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

_selected: str | None = None


def available_methods() -> list[str]:
    return multiprocessing.get_all_start_methods()


def default_method() -> str:
    methods = available_methods()
    # The platform lists its own default first: spawn where there is no fork.
    return "fork" if "fork" in methods else methods[0]


def set_start_method(name: str) -> None:
    global _selected
    if name not in available_methods():
        raise ValueError(
            f"start method {name!r} is not available here; "
            f"choose from {', '.join(available_methods())}"
        )
    _selected = name


def start_method() -> str:
    return _selected or default_method()


def context() -> BaseContext:
    return multiprocessing.get_context(start_method())
