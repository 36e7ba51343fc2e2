"""Model discovery: every public module in ``bench/models`` is a concurrency model.

A model module declares ``REQUIRES`` (importable names it needs), ``LIGHTWEIGHT`` (whether it
runs the large sizes of the default matrix), ``PRIMITIVES`` (workload -> the primitive it uses,
recorded with every result), optionally ``MEMORY_MEASURE`` ("uss", the default, or "pss"; see
``bench.meters.MemoryMeter``) and one function per workload it supports:
``def <workload>(spec, meter) -> Outcome``. Model modules import nothing heavy at module level,
because pyperf re-executes the runner in every worker process.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import bench.models
from bench.meters import Meter, Outcome
from bench.workloads import SPECS, Spec

ModelFunction = Callable[[Spec, Meter], Outcome]


@dataclass(frozen=True)
class Model:
    name: str
    module: ModuleType

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(getattr(self.module, "REQUIRES", ()))

    @property
    def lightweight(self) -> bool:
        return bool(getattr(self.module, "LIGHTWEIGHT", False))

    def supports(self, workload: str) -> bool:
        return callable(getattr(self.module, workload, None))

    def function(self, workload: str) -> ModelFunction:
        func: ModelFunction = getattr(self.module, workload)
        return func

    @property
    def memory_measure(self) -> str:
        """How the memory workload reads the tree: "uss" unless the module says "pss"."""
        return str(getattr(self.module, "MEMORY_MEASURE", "uss"))

    def primitive(self, workload: str) -> str:
        primitives: dict[str, str] = getattr(self.module, "PRIMITIVES", {})
        return primitives.get(workload, "")

    def unavailable_reason(self) -> str | None:
        """None when every required library imports; otherwise why not."""
        for name in self.requires:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - any import failure makes the model unavailable
                return f"{name} cannot be imported: {type(exc).__name__}: {exc}"
        return None


def model_names() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(bench.models.__path__)
        if not info.name.startswith("_")
    )


@cache
def get_model(name: str) -> Model:
    if name not in model_names():
        raise KeyError(name)
    return Model(name, importlib.import_module(f"bench.models.{name}"))


def all_models() -> list[Model]:
    return [get_model(name) for name in model_names()]


def workload_names() -> list[str]:
    return list(SPECS)
