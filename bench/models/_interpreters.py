"""PEP 734's subinterpreters where this Python has them, for the ``subinterpreters`` model.

Python 3.14 ships them as ``concurrent.interpreters`` with ``InterpreterPoolExecutor`` in
``concurrent.futures``; on 3.13 the ``interpreters-pep-734`` backport provides the same API as
``interpreters_backport`` (its 0.5 release needs 3.13's private ``_interpreters`` module, so it
does not import on 3.12). The model requires this module, so where neither imports the model is
reported ``unavailable`` with the reason raised here. Only the part of the API both provide
alike is used: ``create``, ``prepare_main``, ``exec``, ``close``, ``list_all``, ``create_queue``
with its ``put``/``get``, and ``InterpreterPoolExecutor``.

Importing this module also registers the queue type in the importing interpreter: an
interpreter must have done so before a queue can be bound into its ``__main__``.
"""

from __future__ import annotations

import importlib
import platform
from types import ModuleType
from typing import Any

SOURCES = (
    # (interpreters module, module holding InterpreterPoolExecutor, where it comes from)
    ("concurrent.interpreters", "concurrent.futures", "the standard library"),
    ("interpreters_backport.interpreters", "interpreters_backport.concurrent.futures", "backport"),
)


def _load() -> tuple[ModuleType, Any, str]:
    failures = []
    for interpreters_name, futures_name, origin in SOURCES:
        try:
            module = importlib.import_module(interpreters_name)
            executor = importlib.import_module(futures_name).InterpreterPoolExecutor
        except (ImportError, AttributeError) as exc:
            absent = isinstance(exc, ModuleNotFoundError) and interpreters_name.startswith(
                exc.name or "?"
            )
            if not absent:  # there, but broken (the backport on 3.12): say how
                failures.append(f"{interpreters_name}: {type(exc).__name__}: {exc}")
            continue
        return module, executor, origin
    raise ImportError(
        "subinterpreters need concurrent.interpreters (Python 3.14+) or the interpreters-pep-734 "
        f"backport (Python 3.13); Python {platform.python_version()} has "
        f"{'; '.join(failures) or 'neither'}"
    )


interpreters, InterpreterPoolExecutor, ORIGIN = _load()
# Read now: the backport loads its queue module, which registers the queue type, on first use.
_new_queue = interpreters.create_queue


def create_queue(maxsize: int = 0) -> Any:
    """A cross-interpreter queue holding at most ``maxsize`` items (0: no limit). It passes
    shareable objects (None, small ints, bytes, tuples of them) as themselves, without pickling,
    as 3.14's queues do; the backport pickles every item unless told ``syncobj=True``."""
    if ORIGIN == "backport":
        return _new_queue(maxsize, syncobj=True)
    return _new_queue(maxsize)
