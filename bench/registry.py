"""Model discovery: every public module in ``bench/models`` is a concurrency model.

A model module declares ``REQUIRES`` (importable names it needs), ``LIGHTWEIGHT`` (whether it
runs the large sizes of the default matrix), ``PRIMITIVES`` (workload -> the primitive it uses,
recorded with every result), optionally ``MEMORY_MEASURE`` ("uss", the default, or "pss"; see
``bench.measure.meters.MemoryMeter``), optionally ``SWEEP_LIMITS`` (workload -> the largest task
count a
scaling sweep attempts, for sizes that would exhaust the machine rather than merely take long;
see ``runners.sweeps``), optionally ``FAN_OUT_CONCURRENCY`` (how many fan_out tasks it lets
wait at once: an integer, or a function of no arguments returning one, called when the cell is
measured; absent: all of them; see ``Model.fan_out_concurrency``) and one function per workload
it supports:
``def <workload>(spec, meter) -> Outcome``. Model modules import nothing heavy at module level,
because pyperf re-executes the runner in every worker process.

``CONCBENCH_MODEL_PATH`` (directories separated by ``os.pathsep``) adds models kept outside the
tree: an experimental model, or the test suite's deliberately faulty ones. The runner forwards
the variable to its workers and records it with every result.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import bench.models
from bench.measure.meters import Meter, Outcome
from bench.spec.workloads import SPECS, Spec

ModelFunction = Callable[[Spec, Meter], Outcome]
DECLARATIONS = ("REQUIRES", "LIGHTWEIGHT", "PRIMITIVES", "MEMORY_MEASURE", "SWEEP_LIMITS")
MODEL_PATH_VARIABLE = "CONCBENCH_MODEL_PATH"
EXTRA_PACKAGE = "concbench_extra_models"


class RegistryError(RuntimeError):
    """A model directory is unusable; the message names it."""


@dataclass(frozen=True)
class Model:
    name: str
    module: ModuleType
    import_error: str | None = None

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

    def sweep_limit(self, workload: str) -> int | None:
        """The largest size a sweep of ``workload`` attempts on this model (None: no limit)."""
        limits: dict[str, int] = getattr(self.module, "SWEEP_LIMITS", {})
        return limits.get(workload)

    def fan_out_concurrency(self, tasks: int) -> int:
        """How many of ``tasks`` fan_out tasks this model lets wait at once: its
        ``FAN_OUT_CONCURRENCY`` (a pool's worker count, 1 for tasks run one after another), at
        most ``tasks``; all of them when it declares none. It bounds the ideal makespan of a
        sleep or echo fan-out (``bench.measure.cells.fan_out_bound``)."""
        declared = getattr(self.module, "FAN_OUT_CONCURRENCY", None)
        if declared is None:
            return tasks
        count = declared() if callable(declared) else declared
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise RegistryError(
                f"model {self.name}: FAN_OUT_CONCURRENCY must be a positive integer or a "
                f"function returning one, got {count!r}"
            )
        return min(count, tasks)

    def primitive(self, workload: str) -> str:
        primitives: dict[str, str] = getattr(self.module, "PRIMITIVES", {})
        return primitives.get(workload, "")

    def unavailable_reason(self) -> str | None:
        """None when every required library imports; otherwise why not."""
        if self.import_error is not None:
            return self.import_error
        for name in self.requires:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - any import failure makes the model unavailable
                return f"{name} cannot be imported: {type(exc).__name__}: {exc}"
        return None


def _extra_modules() -> dict[str, Path]:
    """Model name -> source file, for the directories named by CONCBENCH_MODEL_PATH."""
    found: dict[str, Path] = {}
    for folder in filter(None, os.environ.get(MODEL_PATH_VARIABLE, "").split(os.pathsep)):
        directory = Path(folder)
        if not directory.is_dir():
            raise RegistryError(f"{MODEL_PATH_VARIABLE}: {folder} is not a directory")
        for path in sorted(directory.glob("*.py")):
            if not path.stem.startswith("_"):
                found.setdefault(path.stem, path.resolve())
    return found


def model_names() -> list[str]:
    builtin = [
        info.name
        for info in pkgutil.iter_modules(bench.models.__path__)
        if not info.name.startswith("_")
    ]
    extra = _extra_modules()
    clashes = sorted(set(builtin) & set(extra))
    if clashes:
        raise RegistryError(
            f"{MODEL_PATH_VARIABLE}: {extra[clashes[0]]} has the name of a built-in model"
        )
    return sorted([*builtin, *extra])


def _import_extra(name: str, path: Path) -> ModuleType:
    qualified = f"{EXTRA_PACKAGE}.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    return module


@cache
def get_model(name: str) -> Model:
    if name not in model_names():
        raise KeyError(name)
    extra = _extra_modules().get(name)
    if extra is not None:
        # Out-of-tree models are experiments: an import error is theirs to see, as is.
        return Model(name, _import_extra(name, extra))
    qualified = f"bench.models.{name}"
    try:
        return Model(name, importlib.import_module(qualified))
    except ImportError as exc:
        # A model that imports its library at module level: still list it, as unavailable,
        # with the declarations read from its source, so its cells show where they belong.
        reason = f"{exc.name or 'a dependency'} cannot be imported: {type(exc).__name__}: {exc}"
        return Model(name, _declarations(qualified), import_error=reason)


def _declarations(qualified: str) -> ModuleType:
    """A stand-in module holding the literal declarations and the workload names of a model
    module's source, without executing it."""
    spec = importlib.util.find_spec(qualified)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    stand_in = ModuleType(qualified, ast.get_docstring(tree))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in SPECS:
            setattr(stand_in, node.name, _not_importable)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in DECLARATIONS:
                    setattr(stand_in, target.id, ast.literal_eval(node.value))
    return stand_in


def _not_importable(spec: Spec, meter: Meter) -> Outcome:
    raise RuntimeError("this model's module cannot be imported")


def all_models() -> list[Model]:
    return [get_model(name) for name in model_names()]


def workload_names() -> list[str]:
    return list(SPECS)
