"""What a number needs next to it to be interpreted: library versions and the Python build.

pyperf already records the CPU, the host, the OS and the Python version of every run; this adds
what pyperf does not know about. The libraries are the harness's own and those the models of
the run declare (``ModelRecord.libraries``), which the caller passes: measuring does not know
the models.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from collections.abc import Iterable
from functools import cache
from importlib import metadata

import bench
from bench.spec.workloads import SPEC_VERSION

# The harness's own libraries, recorded with every result whatever the models.
HARNESS_LIBRARIES = ("pyperf", "psutil")


def libraries_of_run(model_libraries: Iterable[str]) -> tuple[str, ...]:
    """The libraries whose versions a run records: the harness's, then the models', once each."""
    return tuple(dict.fromkeys((*HARNESS_LIBRARIES, *model_libraries)))


def version_key(library: str) -> str:
    """The metadata key of a library's version."""
    return f"{library}_version"


def library_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def gil_enabled() -> bool:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


def python_build() -> str:
    """Implementation, version and the build options that change concurrency costs."""
    flags = []
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        flags.append("free-threading")
    if sysconfig.get_config_var("Py_DEBUG"):
        flags.append("debug")
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        flags.append("shared")
    jit = getattr(sys, "_jit", None)
    if jit is not None and jit.is_enabled():
        flags.append("jit")
    suffix = f" ({', '.join(flags)})" if flags else ""
    return f"{platform.python_implementation()} {platform.python_version()}{suffix}"


@cache
def environment_metadata(
    start_method: str, model_libraries: tuple[str, ...]
) -> dict[str, str | int]:
    """The environment of a run whose models declare ``model_libraries``."""
    result: dict[str, str | int] = {
        version_key(name): library_version(name) for name in libraries_of_run(model_libraries)
    }
    result.update(
        {
            "concbench_version": bench.__version__,
            "spec_version": SPEC_VERSION,
            "python_build": python_build(),
            "python_gil": "enabled" if gil_enabled() else "disabled",
            "mp_start_method": start_method,
        }
    )
    settings = [f"{name}={os.environ[name]}" for name in forwarded_environ()]
    if settings:
        result["environ"] = " ".join(settings)
    return result


# Variables that change what is measured (the allocator, debug modes, the JIT, gevent's loop).
# The runner forwards those that are set to pyperf's workers and records them with each result.
FORWARDED_ENVIRON = (
    "PYTHONMALLOC",
    "PYTHONASYNCIODEBUG",
    "PYTHONDEVMODE",
    "PYTHON_JIT",
    "PYTHON_GIL",
    "CONCBENCH_MODEL_PATH",
)
FORWARDED_PREFIXES = ("GEVENT_",)


def forwarded_environ() -> list[str]:
    return sorted(
        name
        for name in os.environ
        if name in FORWARDED_ENVIRON or name.startswith(FORWARDED_PREFIXES)
    )
