"""Model discovery: every public module in ``bench/models`` is a concurrency model.

A model module declares one ``MODEL = ModelRecord(...)`` (``bench.spec.models``) and one function
per workload it supports, ``def <workload>(spec, meter, variant) -> Outcome``. The registry
expands each record into concrete models: the plain one, named after the module, then one per
declared variant, ``base[k=v,...]``. Model modules import nothing heavy at module level,
because pyperf re-executes the runner in every worker process.

Names are read from the modules' source, without importing them: a cell process imports only
its own model (importing greenlet, for one, turns the GIL back on in a free-threaded build). For
the same reason the record is written as a literal call: a module whose import fails (its
library imports at module level) is still listed, as unavailable, with the record read from its
source, so that its cells show where they belong.

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
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import bench.models
from bench.spec.models import (
    DeclarationError,
    Model,
    ModelRecord,
    Variant,
    model_name,
    split_model_name,
)
from bench.spec.workloads import SPECS

__all__ = [
    "EXTRA_PACKAGE",
    "MODEL_PATH_VARIABLE",
    "RECORD_NAME",
    "Model",
    "RegistryError",
    "all_models",
    "get_model",
    "model_names",
    "workload_names",
]

MODEL_PATH_VARIABLE = "CONCBENCH_MODEL_PATH"
EXTRA_PACKAGE = "concbench_extra_models"
# The module-level name of a model's declaration.
RECORD_NAME = "MODEL"
Declared = TypeVar("Declared", ModelRecord, Variant)


class RegistryError(RuntimeError):
    """A model directory or a model's declaration is unusable; the message names it."""


@dataclass(frozen=True)
class _Source:
    """Where a model module is: its file, and the name it is imported under."""

    path: Path
    qualified: str
    extra: bool


def _extra_sources() -> dict[str, _Source]:
    """Module name -> source, for the directories named by CONCBENCH_MODEL_PATH."""
    found: dict[str, _Source] = {}
    for folder in filter(None, os.environ.get(MODEL_PATH_VARIABLE, "").split(os.pathsep)):
        directory = Path(folder)
        if not directory.is_dir():
            raise RegistryError(f"{MODEL_PATH_VARIABLE}: {folder} is not a directory")
        for path in sorted(directory.glob("*.py")):
            if not path.stem.startswith("_"):
                found.setdefault(
                    path.stem, _Source(path.resolve(), f"{EXTRA_PACKAGE}.{path.stem}", True)
                )
    return found


def _sources() -> dict[str, _Source]:
    """Module name -> source, of every model module: the built-in ones and the extra ones."""
    found: dict[str, _Source] = {}
    for info in pkgutil.iter_modules(bench.models.__path__):
        if info.name.startswith("_"):
            continue
        qualified = f"bench.models.{info.name}"
        spec = importlib.util.find_spec(qualified)
        assert spec is not None and spec.origin is not None
        found[info.name] = _Source(Path(spec.origin), qualified, False)
    extra = _extra_sources()
    clashes = sorted(set(found) & set(extra))
    if clashes:
        raise RegistryError(
            f"{MODEL_PATH_VARIABLE}: {extra[clashes[0]].path} has the name of a built-in model"
        )
    return {**found, **extra}


def model_names() -> list[str]:
    """Every concrete model, variants included, sorted (a variant right after its base)."""
    names = []
    for base, source in _sources().items():
        record = declared_record(source.path)
        if record.name != base:
            raise RegistryError(f"{source.path}: declares model {record.name!r}, not {base!r}")
        names.append(base)
        names.extend(model_name(base, variant.name) for variant in record.variants)
    return sorted(names)


@cache
def get_model(name: str) -> Model:
    """The concrete model ``name`` (``base`` or ``base[k=v,...]``); KeyError if there is none.

    It imports the one module and parses no source (unless the import fails): the memory probe
    calls it in the process it measures, where the garbage of parsing every model's source
    would leave free heap that the tasks' memory then reuses unseen."""
    base, variant_name = split_model_name(name)
    if base not in _sources() or model_name(base, variant_name) != name:
        raise KeyError(name)
    record, module, import_error = _load(base)
    if not variant_name:
        return Model(record, module, None, import_error)
    variant = next((v for v in record.variants if v.name == variant_name), None)
    if variant is None:
        raise KeyError(name)
    return Model(record, module, variant, import_error)


def _load(base: str) -> tuple[ModelRecord, ModuleType, str | None]:
    """The module of model ``base`` and its record; when the module cannot be imported, a
    stand-in read from its source, and why."""
    source = _sources()[base]
    try:
        if source.extra:
            # Out-of-tree models are experiments: an import error is theirs to see, as is.
            module = _import_extra(source)
        else:
            module = importlib.import_module(source.qualified)
    except DeclarationError as exc:
        raise RegistryError(f"{source.path}: {exc}") from None
    except ImportError as exc:
        if source.extra:
            raise
        reason = f"{exc.name or 'a dependency'} cannot be imported: {type(exc).__name__}: {exc}"
        return declared_record(source.path), _stand_in(source), reason
    record = getattr(module, RECORD_NAME, None)
    if not isinstance(record, ModelRecord):
        raise RegistryError(f"{source.path}: {RECORD_NAME} must be a ModelRecord(...)")
    if record.name != base:
        raise RegistryError(f"{source.path}: declares model {record.name!r}, not {base!r}")
    return record, module, None


def _import_extra(source: _Source) -> ModuleType:
    if source.qualified in sys.modules:
        return sys.modules[source.qualified]
    spec = importlib.util.spec_from_file_location(source.qualified, source.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[source.qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[source.qualified]
        raise
    return module


# What listing the models reads from their source: these must be literals.
_NAMING = frozenset({"name", "parameters", "variants"})


class _NotLiteral(Exception):
    """A part of a declaration that only running the module could evaluate."""


@cache
def declared_record(path: Path) -> ModelRecord:
    """The ``MODEL = ModelRecord(...)`` of a model module's source, without executing it.

    Keyword arguments that are not literals (a function, a name) are left at their defaults:
    only running the module could evaluate them. The name, the variants and their parameters
    must be literals, since listing the models relies on them."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    calls = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(target, ast.Name) and target.id == RECORD_NAME
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    call = calls[0] if len(calls) == 1 else None
    if not isinstance(call, ast.Call) or not _is_call_of(call, ModelRecord.__name__):
        raise RegistryError(f"{path}: declare exactly one {RECORD_NAME} = ModelRecord(...)")
    try:
        return _construct(ModelRecord, call, path)
    except _NotLiteral as exc:
        raise RegistryError(f"{path}: {RECORD_NAME}: {exc} must be a literal") from None


def _is_call_of(node: ast.expr | None, name: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name
    )


def _construct(kind: type[Declared], call: ast.Call, path: Path) -> Declared:
    if call.args or any(keyword.arg is None for keyword in call.keywords):
        raise RegistryError(f"{path}: {kind.__name__}(...) takes keyword arguments only")
    values: dict[str, Any] = {}
    for keyword in call.keywords:
        assert keyword.arg is not None
        try:
            values[keyword.arg] = _literal(keyword.value, path)
        except _NotLiteral as exc:
            if keyword.arg in _NAMING:
                raise _NotLiteral(f"{keyword.arg} ({exc})") from None
    try:
        return kind(**values)
    except (DeclarationError, TypeError) as exc:
        raise RegistryError(f"{path}: {exc}") from None


def _literal(node: ast.expr, path: Path) -> object:
    if _is_call_of(node, Variant.__name__):
        assert isinstance(node, ast.Call)
        return _construct(Variant, node, path)
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_literal(element, path) for element in node.elts)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise _NotLiteral(ast.unparse(node)) from None


def _stand_in(source: _Source) -> ModuleType:
    """A module holding a model source's docstring and the names of its workload functions,
    which raise when called."""
    tree = ast.parse(source.path.read_text(encoding="utf-8"))
    stand_in = ModuleType(source.qualified, ast.get_docstring(tree, clean=False))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in SPECS:
            setattr(stand_in, node.name, _not_importable)
    return stand_in


def _not_importable(*args: object) -> object:
    raise RuntimeError("this model's module cannot be imported")


def all_models() -> list[Model]:
    return [get_model(name) for name in model_names()]


def workload_names() -> list[str]:
    return list(SPECS)
