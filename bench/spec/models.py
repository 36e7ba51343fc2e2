"""What a model declares about itself, as typed records, and the concrete models they expand to.

A model module declares exactly one ``MODEL = ModelRecord(...)`` and one function per workload it
supports, ``def <workload>(spec, meter, variant) -> Outcome``. The record holds every fact the
rest of the suite needs about the model: what it requires and which library versions its numbers
depend on, whether it runs the large sizes of the default matrix, where it stands in tables and
charts, what one of its tasks is called, whether it runs CPU work on several cores at once, the
primitive each workload uses, how its memory is read, its sweep limits, how many fan-out tasks it
lets wait at once, and its variants.

A ``Variant`` is the same module run with named parameters, ``base[k=v,k2=v2]`` (keys sorted),
e.g. ``asyncio[loop=uvloop]``: a model of its own in listings, cells, results and charts. Its
model function receives the parameters as ``variant``, a read-only ``VariantParameters``
(empty for the plain model); a cell fails when its model never reads one of them, since it
would then measure the plain model under the variant's name.

The registry (``bench.registry``) reads the records and expands each into ``Model``s: the
plain one, then one per variant. Floor 1 of the package: this module imports nothing of it but
the specs, so that measuring code can run a ``Model`` without importing the registry.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import sysconfig
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType, ModuleType
from typing import Literal, TypeVar, get_args

from bench.spec.workloads import SPECS

# Whether CPU-bound work of the model can run on several cores at once: always (processes),
# only on a build without the GIL (threads), or never (one thread of execution).
Parallel = Literal["always", "without-gil", "never"]
# How the memory workload reads the tree (``bench.measure.meters.MemoryMeter``).
MemoryMeasure = Literal["uss", "pss"]
# How many fan_out tasks a model lets wait at once: a count, a function of no arguments returning
# one (called when the cell is measured, e.g. a pool sized by the usable CPUs), or None for all.
FanOutConcurrency = int | Callable[[], int] | None
# What a model function is, seen from outside: ``(spec, meter, variant) -> Outcome``. The spec,
# meter and outcome types live above this floor; ``bench.measure.cells.run_cell`` checks the
# outcome.
ModelFunction = Callable[..., object]

# Out-of-tree models (tests, experiments) that declare no place come after the built-in ones,
# in the colour every undeclared model shares.
DEFAULT_ORDER = 1000
FALLBACK_COLOUR = "#17becf"

# The parameter and the variable of a GIL-on twin (``ModelRecord.gil_on``): the variable must be
# set when the interpreter starts, so the harness, not the model function, applies it.
GIL_PARAMETER = "gil"
GIL_ON_ENVIRON: Mapping[str, str] = MappingProxyType({"PYTHON_GIL": "1"})

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PARAMETER_KEY = re.compile(r"[a-z][a-z0-9_]*")
# No ",", "=", "[", "]", "/" or blanks: they delimit model and cell names.
_PARAMETER_VALUE = re.compile(r"[A-Za-z0-9_.+-]+")
_COLOUR = re.compile(r"#[0-9a-f]{6}")
V = TypeVar("V")


class DeclarationError(ValueError):
    """A model's record or one of its variants is malformed; the message names it."""


def _frozen_mapping(mapping: Mapping[str, V], what: str) -> Mapping[str, V]:
    if not isinstance(mapping, Mapping):
        raise DeclarationError(f"{what} must be a mapping, got {mapping!r}")
    return MappingProxyType(dict(mapping))


def _names(values: Iterable[str], what: str) -> tuple[str, ...]:
    # A bare string would be taken letter by letter: requires="gevent" is a mistake, not 6 names.
    if isinstance(values, str) or not all(isinstance(value, str) for value in values):
        raise DeclarationError(f"{what} must be a tuple of names, got {values!r}")
    return tuple(values)


def _matrix_workloads(entries: Iterable[str]) -> list[str]:
    """The workloads named by ``default_matrix`` entries (``workload`` or ``workload:k=v``)."""
    return [entry.partition(":")[0] for entry in entries]


def _workloads(names: Iterable[str], what: str) -> None:
    unknown = sorted(set(names) - set(SPECS))
    if unknown:
        raise DeclarationError(
            f"{what}: unknown workload {unknown[0]!r}; valid: {', '.join(SPECS)}"
        )


def _check_concurrency(declared: FanOutConcurrency, what: str) -> None:
    if declared is None or callable(declared):
        return
    if isinstance(declared, bool) or not isinstance(declared, int) or declared < 1:
        raise DeclarationError(
            f"{what}: fan_out_concurrency must be a positive integer or a function returning "
            f"one, got {declared!r}"
        )


def parameters_name(parameters: Mapping[str, str]) -> str:
    """``{"loop": "uvloop"}`` -> ``loop=uvloop``: the keys sorted, so one variant has one name."""
    return ",".join(f"{key}={parameters[key]}" for key in sorted(parameters))


def model_name(base: str, variant: str) -> str:
    """A concrete model's name: the base model's, with the variant's parameters in brackets."""
    return f"{base}[{variant}]" if variant else base


def split_model_name(name: str) -> tuple[str, str]:
    """``asyncio[loop=uvloop]`` -> ``("asyncio", "loop=uvloop")``; ``asyncio`` -> ``("asyncio",
    "")``."""
    base, bracket, rest = name.partition("[")
    if bracket and rest.endswith("]"):
        return base, rest[:-1]
    return name, ""


def parameters_of(name: str) -> dict[str, str]:
    """A model name's variant parameters: ``threads[executor=pool,gil=on]`` -> both."""
    return dict(item.partition("=")[::2] for item in split_model_name(name)[1].split(",") if item)


def is_gil_on_twin(name: str) -> bool:
    """Whether the model named is a GIL-on twin (``threads[gil=on]``), measured with
    ``PYTHON_GIL=1``."""
    return parameters_of(name).get(GIL_PARAMETER) == "on"


def gil_on_twin_of(name: str) -> str:
    """``threads[executor=pool]`` -> ``threads[executor=pool,gil=on]``."""
    base = split_model_name(name)[0]
    return model_name(base, parameters_name({**parameters_of(name), GIL_PARAMETER: "on"}))


def gil_off_of(name: str) -> str:
    """The model a GIL-on twin is the twin of (``threads[executor=pool]``); any other itself."""
    kept = {k: v for k, v in parameters_of(name).items() if k != GIL_PARAMETER}
    return model_name(split_model_name(name)[0], parameters_name(kept))


def shade(colour: str, position: int) -> str:
    """A variant's colour when it declares none: its base model's hue, lighter for the first
    variant, darker for the second, lighter again and further for the third, and so on."""
    step = (position + 1) // 2
    amount = min(0.35 * step, 0.7)
    target = 255 if position % 2 else 0
    channels = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return "#" + "".join(f"{round(c + (target - c) * amount):02x}" for c in channels)


def greyed(colour: str) -> str:
    """A GIL-on twin's colour: its model's, most of the way to grey, so that it sits apart from
    the variants' lighter and darker shades."""
    channels = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return "#" + "".join(f"{round(c + (128 - c) * 0.6):02x}" for c in channels)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """The base model run with ``parameters``; everything it does not declare is its base's.

    ``workloads`` limits the variant to some of its base's workloads (empty: all of them), where
    the parameters make a difference worth a cell of its own. ``default_matrix`` limits which of
    them the default matrix measures (empty: the base's choice); ``--spec`` still runs the rest.
    ``primitives`` overrides the base's per workload; ``primitive_note`` is added to the base's
    primitive of every other workload ("base; note"), for a parameter that changes how the same
    primitives run (a switch interval, a CPU placement).

    ``environ`` holds variables every process that measures the variant starts with, for what
    only the interpreter's start can set (``PYTHON_GIL``); the parameters named in
    ``harness_parameters`` are applied that way, so the model function need not read them.
    ``gil_on`` declares a GIL-on twin of the variant (see ``ModelRecord``)."""

    parameters: Mapping[str, str]
    summary: str = ""
    requires: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    colour: str = ""
    primitives: Mapping[str, str] = field(default_factory=dict)
    primitive_note: str = ""
    workloads: tuple[str, ...] = ()
    default_matrix: tuple[str, ...] = ()
    lightweight: bool | None = None
    fan_out_concurrency: FanOutConcurrency = None
    environ: Mapping[str, str] = field(default_factory=dict)
    harness_parameters: tuple[str, ...] = ()
    gil_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parameters = _frozen_mapping(self.parameters, "a variant's parameters")
        what = f"variant {parameters_name(parameters) or '(no parameters)'}"
        if not parameters:
            raise DeclarationError(f"{what}: a variant needs at least one parameter")
        for key, value in parameters.items():
            if not isinstance(key, str) or not _PARAMETER_KEY.fullmatch(key):
                raise DeclarationError(f"{what}: parameter name {key!r} is not lower_case")
            if not isinstance(value, str) or not _PARAMETER_VALUE.fullmatch(value):
                raise DeclarationError(
                    f"{what}: the value of {key} must be a non-empty string of letters, digits "
                    f"and _.+-, got {value!r}"
                )
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "requires", _names(self.requires, f"{what}: requires"))
        object.__setattr__(self, "libraries", _names(self.libraries, f"{what}: libraries"))
        object.__setattr__(self, "workloads", _names(self.workloads, f"{what}: workloads"))
        default_matrix = _names(self.default_matrix, f"{what}: default_matrix")
        object.__setattr__(self, "default_matrix", default_matrix)
        primitives = _frozen_mapping(self.primitives, f"{what}: primitives")
        object.__setattr__(self, "primitives", primitives)
        gil_on = _names(self.gil_on, f"{what}: gil_on")
        object.__setattr__(self, "gil_on", gil_on)
        _workloads(
            [*self.workloads, *_matrix_workloads((*default_matrix, *gil_on)), *primitives], what
        )
        environ = _frozen_mapping(self.environ, f"{what}: environ")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in environ.items()):
            raise DeclarationError(f"{what}: environ must map names to strings")
        object.__setattr__(self, "environ", environ)
        harness = _names(self.harness_parameters, f"{what}: harness_parameters")
        if not set(harness) <= set(parameters) or (harness and not environ):
            raise DeclarationError(
                f"{what}: harness_parameters must be parameters the variant's environ applies"
            )
        object.__setattr__(self, "harness_parameters", harness)
        if self.colour and not _COLOUR.fullmatch(self.colour):
            raise DeclarationError(f"{what}: colour must be #rrggbb, got {self.colour!r}")
        _check_concurrency(self.fan_out_concurrency, what)

    @property
    def name(self) -> str:
        return parameters_name(self.parameters)

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """Everything the suite knows about a model besides its workload functions.

    - ``name``: the module's name; ``summary``: one line for listings.
    - ``requires``: modules that must import for the model to run, else it is reported
      ``unavailable: <reason>``; ``libraries``: distributions whose versions are recorded with
      every result and must match when a run is resumed.
    - ``lightweight``: runs the large sizes of the default matrix.
    - ``order``: its place in tables and charts (the baseline first, then heaviest to lightest);
      leave gaps: a variant takes its base's order plus its position (1, 2, ...).
    - ``colour`` (``#rrggbb``) in charts; ``task_noun``: what one of its tasks is called.
    - ``parallel``: whether CPU-bound work runs on several cores at once; ``baseline``: the
      serial baseline the others are compared with (one model).
    - ``primitives``: workload -> the primitive it uses, recorded with every result.
    - ``memory_measure``: "uss", or "pss" where a process tree shares pages.
    - ``sweep_limits``: workload -> the largest task count a scaling sweep attempts, for sizes
      that would exhaust the machine rather than merely take long (``runners.sweeps``).
    - ``fan_out_concurrency``: how many fan_out tasks it lets wait at once (None: all of them).
    - ``variants``: the same module with named parameters, each a model of its own.
    - ``default_matrix``: the cells of the default matrix it is measured in (empty: every one it
      supports), so that a model added for a few comparisons does not double the run's time:
      ``"workload"`` for all of a workload's entries, ``"workload:k=v,..."`` for those whose
      parameters include these; ``--spec`` runs any workload it supports.
    - ``gil_on``: on a free-threaded build, the default-matrix entries (as ``default_matrix``)
      of a GIL-on twin, ``name[gil=on]``: the same model in processes started with
      ``PYTHON_GIL=1``, so that one run separates what the build costs from what the GIL does.
      A variant declares its own (``base[k=v,gil=on]``). The twins are added to ``variants``.
    """

    name: str
    summary: str
    primitives: Mapping[str, str]
    requires: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    lightweight: bool = False
    order: int = DEFAULT_ORDER
    colour: str = FALLBACK_COLOUR
    task_noun: str = ""
    parallel: Parallel = "never"
    baseline: bool = False
    memory_measure: MemoryMeasure = "uss"
    sweep_limits: Mapping[str, int] = field(default_factory=dict)
    fan_out_concurrency: FanOutConcurrency = None
    variants: tuple[Variant, ...] = ()
    default_matrix: tuple[str, ...] = ()
    gil_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise DeclarationError(f"model name {self.name!r} is not a lower_case identifier")
        what = f"model {self.name}"
        if not isinstance(self.summary, str) or not self.summary:
            raise DeclarationError(f"{what}: summary must be a non-empty line")
        primitives = _frozen_mapping(self.primitives, f"{what}: primitives")
        limits = _frozen_mapping(self.sweep_limits, f"{what}: sweep_limits")
        default_matrix = _names(self.default_matrix, f"{what}: default_matrix")
        object.__setattr__(self, "default_matrix", default_matrix)
        _workloads([*primitives, *limits, *_matrix_workloads(default_matrix)], what)
        object.__setattr__(self, "primitives", primitives)
        object.__setattr__(self, "sweep_limits", limits)
        for workload, limit in limits.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise DeclarationError(
                    f"{what}: the sweep limit of {workload} must be a positive integer"
                )
        object.__setattr__(self, "requires", _names(self.requires, f"{what}: requires"))
        object.__setattr__(self, "libraries", _names(self.libraries, f"{what}: libraries"))
        if isinstance(self.order, bool) or not isinstance(self.order, int):
            raise DeclarationError(f"{what}: order must be an integer, got {self.order!r}")
        if not isinstance(self.colour, str) or not _COLOUR.fullmatch(self.colour):
            raise DeclarationError(f"{what}: colour must be #rrggbb, got {self.colour!r}")
        if self.parallel not in get_args(Parallel):
            raise DeclarationError(
                f"{what}: parallel must be one of {', '.join(get_args(Parallel))}, "
                f"got {self.parallel!r}"
            )
        if self.memory_measure not in get_args(MemoryMeasure):
            raise DeclarationError(
                f"{what}: memory_measure must be uss or pss, got {self.memory_measure!r}"
            )
        _check_concurrency(self.fan_out_concurrency, what)
        variants = tuple(self.variants)
        if not all(isinstance(variant, Variant) for variant in variants):
            raise DeclarationError(f"{what}: variants must be Variant(...) records")
        gil_on = _names(self.gil_on, f"{what}: gil_on")
        object.__setattr__(self, "gil_on", gil_on)
        _workloads(_matrix_workloads(gil_on), what)
        # A record made from another (dataclasses.replace) holds its twins already: make them anew.
        variants = tuple(v for v in variants if GIL_PARAMETER not in v.harness_parameters)
        if any(GIL_PARAMETER in variant.parameters for variant in variants):
            raise DeclarationError(f"{what}: '{GIL_PARAMETER}' is the twins' parameter: use gil_on")
        twins = [self._gil_on_twin(None, gil_on, self.colour)] if gil_on else []
        twins += [
            self._gil_on_twin(v, v.gil_on, v.colour or shade(self.colour, position))
            for position, v in enumerate(variants, start=1)
            if v.gil_on
        ]
        variants += tuple(twins)
        names = [variant.name for variant in variants]
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise DeclarationError(f"{what}: variant {duplicate} is declared twice")
        object.__setattr__(self, "variants", variants)
        if not self.task_noun:
            object.__setattr__(self, "task_noun", f"{self.name} task")

    def __hash__(self) -> int:
        return hash(self.name)

    def _gil_on_twin(self, base: Variant | None, matrix: tuple[str, ...], colour: str) -> Variant:
        """The GIL-on twin of the plain model (``base`` None) or of a variant: everything the
        same, the processes started with ``PYTHON_GIL=1``; in charts, its colour greyed."""
        note = "PYTHON_GIL=1"
        start = base or Variant(parameters={GIL_PARAMETER: "on"})
        return replace(
            start,
            parameters={**start.parameters, GIL_PARAMETER: "on"},
            summary=f"{start.summary or self.summary}; the GIL turned on ({note})",
            colour=greyed(colour),
            primitives={w: f"{p}; {note}" for w, p in start.primitives.items()},
            primitive_note="; ".join(filter(None, (start.primitive_note, note))),
            default_matrix=matrix,
            environ={**start.environ, **GIL_ON_ENVIRON},
            harness_parameters=(*start.harness_parameters, GIL_PARAMETER),
            gil_on=(),
        )


def environ_unavailable(environ: Mapping[str, str]) -> str | None:
    """Why processes started with ``environ`` cannot measure a variant here, None if they can:
    ``PYTHON_GIL`` means something on a free-threaded build only, and a run that already sets
    it to the variant's value measures the same thing in its plain cells."""
    if "PYTHON_GIL" in environ and not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "PYTHON_GIL selects the GIL of a free-threaded build; this build always has one"
    if environ and all(os.environ.get(name) == value for name, value in environ.items()):
        settings = " ".join(f"{name}={value}" for name, value in environ.items())
        return f"the run itself has {settings}, so its plain cells measure this"
    return None


class VariantParameters(Mapping[str, str]):
    """What a model function receives as ``variant``: the parameters of the variant it runs,
    read-only, empty for the plain model. It notes which keys were read, so that a cell can
    fail a variant whose model never looked at a parameter (``unread``)."""

    __slots__ = ("_read", "_values")

    def __init__(
        self, parameters: Mapping[str, str] | None = None, applied: Iterable[str] = ()
    ) -> None:
        """``applied``: parameters the harness applied (``Variant.harness_parameters``), which
        count as read."""
        self._values: Mapping[str, str] = MappingProxyType(dict(parameters or {}))
        self._read: set[str] = set(applied) & set(self._values)

    def __getitem__(self, key: str) -> str:
        value = self._values[key]
        self._read.add(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"VariantParameters({dict(self._values)!r})"

    @property
    def name(self) -> str:
        return parameters_name(self._values)

    def number(self, key: str, default: float) -> float:
        """The parameter as a finite number, ``default`` when the variant does not set it."""
        text = self.get(key)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DeclarationError(f"variant {self.name}: {key} must be a number, got {text!r}")
        return value

    def unread(self) -> tuple[str, ...]:
        return tuple(sorted(set(self._values) - self._read))


@dataclass(frozen=True)
class Model:
    """A concrete model: a module's record, and the variant of it this is (None: the plain
    model). ``import_error`` is set when the module itself could not be imported; ``module`` is
    then a stand-in holding its docstring and the names of its workload functions."""

    record: ModelRecord
    module: ModuleType
    variant: Variant | None = None
    import_error: str | None = None

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def name(self) -> str:
        return model_name(self.record.name, self.variant_name)

    @property
    def base(self) -> str:
        return self.record.name

    @property
    def variant_name(self) -> str:
        return "" if self.variant is None else self.variant.name

    @property
    def position(self) -> int:
        """0 for the plain model, 1, 2, ... for its variants in declaration order."""
        if self.variant is None:
            return 0
        return self.record.variants.index(self.variant) + 1

    @property
    def summary(self) -> str:
        if self.variant is None:
            return self.record.summary
        return self.variant.summary or f"{self.record.summary}; with {self.variant.name}"

    @property
    def requires(self) -> tuple[str, ...]:
        extra = () if self.variant is None else self.variant.requires
        return tuple(dict.fromkeys((*self.record.requires, *extra)))

    @property
    def libraries(self) -> tuple[str, ...]:
        extra = () if self.variant is None else self.variant.libraries
        return tuple(dict.fromkeys((*self.record.libraries, *extra)))

    @property
    def lightweight(self) -> bool:
        if self.variant is not None and self.variant.lightweight is not None:
            return self.variant.lightweight
        return self.record.lightweight

    @property
    def order(self) -> int:
        return self.record.order + self.position

    @property
    def colour(self) -> str:
        if self.variant is None:
            return self.record.colour
        return self.variant.colour or shade(self.record.colour, self.position)

    @property
    def task_noun(self) -> str:
        return self.record.task_noun

    @property
    def parallel(self) -> Parallel:
        return self.record.parallel

    @property
    def baseline(self) -> bool:
        """The baseline is the plain serial model itself, never a variant of it."""
        return self.record.baseline and self.variant is None

    @property
    def memory_measure(self) -> MemoryMeasure:
        return self.record.memory_measure

    def supports(self, workload: str) -> bool:
        limited = self.variant is not None and self.variant.workloads
        if limited and workload not in limited:
            return False
        return callable(getattr(self.module, workload, None))

    def in_default_matrix(self, workload: str, params: str = "") -> bool:
        """Whether the default matrix measures this model in the entry ``workload`` with
        ``params`` (``Spec.params``; it must also support the workload): by the variant's
        ``default_matrix`` if it declares one, else its base's."""
        chosen = self.variant.default_matrix if self.variant is not None else ()
        chosen = chosen or self.record.default_matrix
        given = set(params.split(","))
        for entry in chosen:
            name, _, wanted = entry.partition(":")
            if name == workload and set(filter(None, wanted.split(","))) <= given:
                return True
        return not chosen

    def function(self, workload: str) -> ModelFunction:
        found: ModelFunction = getattr(self.module, workload)
        return found

    def parameters(self) -> VariantParameters:
        """A fresh view of the variant's parameters for one run (it notes what the run read)."""
        if self.variant is None:
            return VariantParameters()
        return VariantParameters(self.variant.parameters, self.variant.harness_parameters)

    def primitive(self, workload: str) -> str:
        variant = self.variant
        if variant is not None and workload in variant.primitives:
            return variant.primitives[workload]
        base = self.record.primitives.get(workload, "")
        if variant is not None and variant.primitive_note and base:
            return f"{base}; {variant.primitive_note}"
        return base

    def sweep_limit(self, workload: str) -> int | None:
        """The largest size a sweep of ``workload`` attempts on this model (None: no limit)."""
        return self.record.sweep_limits.get(workload)

    def fan_out_concurrency(self, tasks: int) -> int:
        """How many of ``tasks`` fan_out tasks this model lets wait at once: its declared
        ``fan_out_concurrency`` (a pool's worker count, 1 for tasks run one after another), at
        most ``tasks``; all of them when it declares none. It bounds the ideal makespan of a
        sleep or echo fan-out (``bench.measure.cells.fan_out_bound``)."""
        declared = self.record.fan_out_concurrency
        if self.variant is not None and self.variant.fan_out_concurrency is not None:
            declared = self.variant.fan_out_concurrency
        if declared is None:
            return tasks
        count = declared() if callable(declared) else declared
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise DeclarationError(
                f"model {self.name}: fan_out_concurrency must be a positive integer or a "
                f"function returning one, got {count!r}"
            )
        return min(count, tasks)

    @property
    def environ(self) -> Mapping[str, str]:
        """Variables every process that measures this model starts with (``Variant.environ``)."""
        return {} if self.variant is None else self.variant.environ

    def missing_environ(self) -> list[str]:
        """The ``NAME=value`` settings of ``environ`` this process did not start with."""
        return [f"{k}={v}" for k, v in self.environ.items() if os.environ.get(k) != v]

    def unavailable_reason(self) -> str | None:
        """None when the module and every library it requires import and its processes can be
        started as it asks (``environ_unavailable``); otherwise why not. The runner asks, not
        the processes it starts: those have the variant's environ already."""
        if self.import_error is not None:
            return self.import_error
        if self.environ and (reason := environ_unavailable(self.environ)) is not None:
            return reason
        for name in self.requires:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - any import failure makes the model unavailable
                return f"{name} cannot be imported: {type(exc).__name__}: {exc}"
        return None
