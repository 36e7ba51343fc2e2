"""Model records and their variants: declaration checks, discovery without importing, the
variants as models of their own (names, order, colours, availability, parameters), and the
stand-in record read from the source of a module that cannot be imported."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench import registry
from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.environment import environment_metadata
from bench.measure.meters import Clock, Meter, Outcome
from bench.planning import order_models, plan
from bench.spec.models import (
    DeclarationError,
    Model,
    ModelRecord,
    Variant,
    VariantParameters,
    shade,
    split_model_name,
)
from bench.spec.workloads import SMOKE_MATRIX, PingPong, Spawn

HARNESS_MODELS = Path(__file__).resolve().parent / "harness_models"
TUNED = ("tuned", "tuned[lane=b]", "tuned[lane=c]", "tuned[lane=d,pace=2]")
BUILT_IN_ORDER = ["serial", "processes", "threads", "asyncio", "gevent", "greenlet", "generators"]


@pytest.fixture
def harness_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry with tests/harness_models added, as CONCBENCH_MODEL_PATH adds them."""
    monkeypatch.setenv(registry.MODEL_PATH_VARIABLE, str(HARNESS_MODELS))
    registry.get_model.cache_clear()
    yield
    registry.get_model.cache_clear()


@pytest.fixture
def tuned_module(harness_models: None) -> ModuleType:
    module = registry.get_model("tuned").module
    module.RECEIVED.clear()
    return module


def _record(**overrides: object) -> ModelRecord:
    declared: dict[str, object] = {"name": "probe", "summary": "a test", "primitives": {}}
    return ModelRecord(**{**declared, **overrides})  # type: ignore[arg-type]


def test_variants_are_models_of_their_own_right_after_their_base(harness_models: None) -> None:
    names = registry.model_names()
    assert set(TUNED) <= set(names)
    ordered = [model.name for model in order_models(registry.all_models())]
    # The seven base models keep the order of every earlier file, models added since taking
    # places between them; each variant sits right after its base (and its base's earlier
    # variants), whichever variants are declared.
    bases = [name for name in ordered if "[" not in name]
    assert [name for name in bases if name in BUILT_IN_ORDER] == BUILT_IN_ORDER
    for position, name in enumerate(ordered):
        if "[" in name:
            assert ordered[position - 1].partition("[")[0] == name.partition("[")[0], ordered
    assert ordered[ordered.index("tuned") :][: len(TUNED)] == list(TUNED)
    plain, lane_b, lane_c, lane_d = (registry.get_model(name) for name in TUNED)
    assert [m.base for m in (plain, lane_b, lane_c, lane_d)] == ["tuned"] * 4
    assert [m.variant_name for m in (plain, lane_b, lane_d)] == ["", "lane=b", "lane=d,pace=2"]
    assert [m.order for m in (plain, lane_b, lane_c, lane_d)] == [2000, 2001, 2002, 2003]
    # a variant declares its own colour, or takes a shade of its base's
    assert (plain.colour, lane_b.colour, lane_d.colour) == (
        "#123456",
        shade("#123456", 1),
        "#abcdef",
    )
    assert lane_b.colour != plain.colour
    assert lane_b.task_noun == plain.task_noun == "tuned loop"
    assert lane_b.primitive("pingpong") == "a loop in lane b"
    assert lane_b.primitive("spawn") == plain.primitive("spawn") == "a call per task"
    assert lane_d.supports("spawn") and not lane_d.supports("pingpong")
    assert lane_c.libraries == ("no_such_library_for_concbench",) and plain.libraries == ()


def test_a_variant_missing_its_library_is_unavailable_while_its_base_is_not(
    harness_models: None,
) -> None:
    assert registry.get_model("tuned").unavailable_reason() is None
    reason = registry.get_model("tuned[lane=c]").unavailable_reason()
    assert reason is not None
    assert reason.startswith("no_such_library_for_concbench cannot be imported: ModuleNotFound")


def test_each_model_function_receives_its_variant_s_parameters(tuned_module: ModuleType) -> None:
    for name in ("tuned", "tuned[lane=b]", "tuned[lane=d,pace=2]"):
        run_cell(Cell(registry.get_model(name), Spawn(tasks=3)), Clock())
    run_cell(Cell(registry.get_model("tuned[lane=b]"), PingPong(rounds=3)), Clock())
    assert tuned_module.RECEIVED == [
        {"lane": "a"},
        {"lane": "b"},
        {"lane": "d", "pace": "2"},
        {"lane": "b"},
    ]


def test_a_variant_whose_model_ignores_a_parameter_fails_its_cell(
    tuned_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its numbers would be the plain model's under the variant's name."""

    def reads_lane_only(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
        variant.get("lane")
        meter.start()
        meter.stop()
        return Outcome(spec.ops, spec.reference())

    monkeypatch.setattr(tuned_module, "spawn", reads_lane_only)
    run_cell(Cell(registry.get_model("tuned[lane=b]"), Spawn(tasks=3)), Clock())
    with pytest.raises(CellError, match=r"never read the variant's pace"):
        run_cell(Cell(registry.get_model("tuned[lane=d,pace=2]"), Spawn(tasks=3)), Clock())


def test_the_plan_runs_a_variant_only_where_it_applies(harness_models: None) -> None:
    models = [registry.get_model(name) for name in TUNED]
    cells = [cell.name for cell in plan(models, ["pingpong", "spawn"], SMOKE_MATRIX)]
    assert cells == [
        "pingpong[rounds=5]/tuned",
        "pingpong[rounds=5]/tuned[lane=b]",
        "pingpong[rounds=5]/tuned[lane=c]",
        "spawn[tasks=5]/tuned",
        "spawn[tasks=5]/tuned[lane=b]",
        "spawn[tasks=5]/tuned[lane=c]",
        "spawn[tasks=5]/tuned[lane=d,pace=2]",
    ]


def test_every_built_in_record_is_read_the_same_from_its_source() -> None:
    """The stand-in of a module that cannot be imported is read from its source: it must say
    what the imported record says, save what only running the module can evaluate."""
    for model in registry.all_models():
        if model.import_error is not None:
            continue  # its record is the one read from the source (a free-threaded build)
        path = Path(sys.modules[f"bench.models.{model.base}"].__file__ or "")
        declared = registry.declared_record(path)
        callables: dict[str, Any] = {
            field.name: field.default
            for field in dataclasses.fields(ModelRecord)
            if callable(getattr(model.record, field.name))
        }
        assert declared == dataclasses.replace(model.record, **callables), model.name
        assert model.record.name == model.base


def test_a_module_that_cannot_be_imported_is_listed_from_its_declaration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = importlib.import_module

    def failing_import(name: str, package: str | None = None) -> object:
        if name == "bench.models.greenlet":
            raise ModuleNotFoundError("No module named 'greenlet'", name="greenlet")
        return real_import(name, package)

    real = registry.get_model("greenlet")
    registry.get_model.cache_clear()
    monkeypatch.setattr(importlib, "import_module", failing_import)
    try:
        stand_in = registry.get_model("greenlet")
    finally:
        registry.get_model.cache_clear()
    reason = stand_in.unavailable_reason()
    assert reason is not None and reason.startswith("greenlet cannot be imported")
    # the record comes from the module's source, so its cells still land in the right rows
    assert stand_in.record == real.record
    assert (stand_in.order, stand_in.colour, stand_in.libraries) == (50, "#8c564b", ("greenlet",))
    assert all(stand_in.supports(w) == real.supports(w) for w in ("pingpong", "memory"))
    assert stand_in.module.__doc__ == real.module.__doc__
    with pytest.raises(RuntimeError, match="cannot be imported"):
        stand_in.function("pingpong")(PingPong(rounds=1), Clock(), stand_in.parameters())


def test_getting_a_model_parses_no_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory probe gets its model in the process it measures: parsing every model's source
    there would leave free heap for the parked tasks to reuse unseen."""

    def parse(path: Path) -> ModelRecord:
        raise AssertionError(f"parsed {path}")

    monkeypatch.setattr(registry, "declared_record", parse)
    registry.get_model.cache_clear()
    try:
        assert registry.get_model("asyncio").name == "asyncio"
        with pytest.raises(KeyError):
            registry.get_model("asyncio[loop=nothing]")
        with pytest.raises(KeyError):
            registry.get_model("teleport")
    finally:
        registry.get_model.cache_clear()


def _model_dir(tmp_path: Path, name: str, source: str) -> Path:
    (tmp_path / f"{name}.py").write_text(source)
    return tmp_path


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("X = 1\n", "declare exactly one MODEL = ModelRecord(...)"),
        (
            "from bench.spec.models import ModelRecord\n"
            "MODEL = ModelRecord(name='other', summary='s', primitives={})\n",
            "declares model 'other', not 'odd'",
        ),
        (
            "from bench.spec.models import ModelRecord, Variant\n"
            "LANES = ('a', 'b')\n"
            "MODEL = ModelRecord(name='odd', summary='s', primitives={},\n"
            "    variants=tuple(Variant(parameters={'lane': lane}) for lane in LANES))\n",
            "MODEL: variants (",
        ),
        (
            "from bench.spec.models import ModelRecord\nMODEL = ModelRecord('odd', 's', {})\n",
            "ModelRecord(...) takes keyword arguments only",
        ),
        (
            "from bench.spec.models import ModelRecord\n"
            "MODEL = ModelRecord(name='odd', summary='s', primitives={}, colour='red')\n",
            "colour must be #rrggbb, got 'red'",
        ),
    ],
)
def test_a_malformed_declaration_is_a_registry_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    monkeypatch.setenv(registry.MODEL_PATH_VARIABLE, str(_model_dir(tmp_path, "odd", source)))
    with pytest.raises(registry.RegistryError, match=r"odd\.py: ") as error:
        registry.model_names()
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Bad-Name"}, "is not a lower_case identifier"),
        ({"summary": ""}, "summary must be a non-empty line"),
        ({"parallel": "sometimes"}, "parallel must be one of always, without-gil, never"),
        ({"memory_measure": "rss"}, "memory_measure must be uss or pss"),
        ({"requires": "gevent"}, "requires must be a tuple of names"),
        ({"primitives": {"teleport": "x"}}, "unknown workload 'teleport'"),
        ({"sweep_limits": {"memory": 0}}, "the sweep limit of memory must be a positive integer"),
        ({"order": 1.5}, "order must be an integer"),
        ({"variants": (Variant(parameters={"a": "1"}),) * 2}, "variant a=1 is declared twice"),
        ({"variants": ({"a": "1"},)}, "variants must be Variant(...) records"),
    ],
)
def test_a_malformed_record_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(DeclarationError) as error:
        _record(**overrides)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"parameters": {}}, "a variant needs at least one parameter"),
        ({"parameters": {"loop": "a,b"}}, "the value of loop must be a non-empty string"),
        ({"parameters": {"loop": "a]"}}, "the value of loop must be a non-empty string"),
        ({"parameters": {"loop": 1}}, "the value of loop must be a non-empty string"),
        ({"parameters": {"Loop": "x"}}, "parameter name 'Loop' is not lower_case"),
        ({"parameters": {"loop": "x"}, "workloads": ("teleport",)}, "unknown workload"),
        ({"parameters": {"loop": "x"}, "colour": "#12345"}, "colour must be #rrggbb"),
    ],
)
def test_a_malformed_variant_is_refused(declared: dict[str, object], message: str) -> None:
    with pytest.raises(DeclarationError) as error:
        Variant(**declared)  # type: ignore[arg-type]
    assert message in str(error.value)


def test_a_variant_name_sorts_its_keys_and_splits_back() -> None:
    variant = Variant(parameters={"start": "spawn", "executor": "pool"})
    assert variant.name == "executor=pool,start=spawn"
    model = Model(_record(variants=(variant,)), sys.modules[__name__], variant)
    assert model.name == "probe[executor=pool,start=spawn]"
    assert split_model_name(model.name) == ("probe", "executor=pool,start=spawn")
    assert split_model_name("probe") == ("probe", "")
    assert not model.baseline and Model(_record(baseline=True), sys.modules[__name__]).baseline


def test_a_variant_inherits_what_it_does_not_override() -> None:
    pool = Variant(parameters={"executor": "pool"}, lightweight=True, fan_out_concurrency=4)
    eager = Variant(parameters={"tasks": "eager"}, requires=("extra",), libraries=("lib",))
    record = _record(
        lightweight=False, requires=("base",), libraries=("lib", "base"), variants=(pool, eager)
    )
    module = sys.modules[__name__]
    plain, pooled, eager_model = (Model(record, module, v) for v in (None, pool, eager))
    assert (plain.lightweight, pooled.lightweight, eager_model.lightweight) == (False, True, False)
    assert plain.fan_out_concurrency(10) == 10 and pooled.fan_out_concurrency(10) == 4
    assert eager_model.fan_out_concurrency(10) == 10
    assert eager_model.requires == ("base", "extra") and eager_model.libraries == ("lib", "base")
    assert pooled.summary == "a test; with executor=pool" and pooled.position == 1


def test_variant_parameters_are_read_only_and_note_what_was_read() -> None:
    variant = VariantParameters({"interval": "0.5", "loop": "fast", "odd": "x"})
    assert variant.unread() == ("interval", "loop", "odd")
    assert variant.number("interval", 5.0) == 0.5
    assert variant.number("absent", 5.0) == 5.0
    assert variant.get("loop") == "fast"
    assert variant.unread() == ("odd",)
    with pytest.raises(DeclarationError, match="odd must be a number, got 'x'"):
        variant.number("odd", 1.0)
    with pytest.raises(TypeError):
        variant["loop"] = "slow"  # type: ignore[index]
    plain = VariantParameters()
    assert not plain and plain.unread() == () and plain.name == ""


def test_shades_differ_from_the_base_and_from_each_other() -> None:
    shades = [shade("#d62728", position) for position in range(1, 5)]
    assert len({"#d62728", *shades}) == 5
    assert all(len(colour) == 7 and colour.startswith("#") for colour in shades)
    assert shade("#000000", 1) > "#000000" and shade("#ffffff", 2) < "#ffffff"


def test_the_environment_records_the_libraries_the_models_declare() -> None:
    metadata = environment_metadata("fork", ("greenlet",))
    assert {"pyperf_version", "psutil_version", "greenlet_version"} <= set(metadata)
    assert "gevent_version" not in metadata
    assert "greenlet_version" not in environment_metadata("fork", ())


def test_model_lists_split_on_commas_outside_brackets() -> None:
    from runners.options import _names

    assert _names("asyncio, tuned[lane=d,pace=2],threads") == [
        "asyncio",
        "tuned[lane=d,pace=2]",
        "threads",
    ]
    assert _names(",") == []


def test_no_two_models_share_a_place_or_a_colour() -> None:
    """Tables sort by place and charts tell models apart by colour: a clash would put two
    models in one slot or one colour (a variant's shades can repeat past a few variants,
    which is why such a base's variants declare their own)."""
    models = [model for model in registry.all_models() if model.record.name != "tuned"]
    for attribute in ("order", "colour"):
        seen = [getattr(model, attribute) for model in models]
        clashes = sorted({str(value) for value in seen if seen.count(value) > 1})
        assert not clashes, (attribute, clashes)


def test_a_primitive_note_is_added_to_the_base_primitive_it_does_not_override() -> None:
    plain, shortened = (
        registry.get_model("threads"),
        registry.get_model("threads[switch_interval=1]"),
    )
    for workload in ("pingpong", "producer_consumer"):
        expected = f"{plain.primitive(workload)}; sys.setswitchinterval(1 ms)"
        assert shortened.primitive(workload) == expected
    # a variant's own primitive for a workload replaces the base's, note or not
    pool = registry.get_model("threads[executor=pool]")
    assert pool.primitive("spawn").startswith("ThreadPoolExecutor(")
