"""asyncio's eager task factory, for the ``asyncio[tasks=eager]`` variant, where asyncio has it.

The variant requires this module (``Variant.requires`` names modules that must import), so on a
Python before 3.12, whose asyncio has no ``eager_task_factory``, the variant is reported
``unavailable`` with the reason this module raises, and its cells are skipped instead of
measuring lazy tasks under the eager name.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Callable
from typing import Any

if not hasattr(asyncio, "eager_task_factory"):
    raise ImportError(
        f"asyncio.eager_task_factory needs Python 3.12 or later; this is Python "
        f"{platform.python_version()}"
    )

# Read by name: the type stubs of Python 3.11, which mypy checks against, do not have it.
eager_task_factory: Callable[..., Any] = getattr(asyncio, "eager_task_factory")  # noqa: B009
