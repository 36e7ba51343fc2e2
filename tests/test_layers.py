"""The layers of bench/ and runners/ (README, Layout): every import of every module, at its top or
inside a function, goes down the layers, never up; bench/ never imports runners/; the reading side
(results, analysis, render, commands) never imports the measuring side or psutil. And what the
reading commands load when they run: neither psutil nor the model registry nor a model."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "runners")
DATA = ROOT / "tests" / "data"

# The layer of each part of bench/ (a subpackage or a top-level module), bottom to top.
LAYER_OF = {
    "units": "units",  # the bottom: human units
    "spec": "spec",  # floor 1: specs, model declarations, cell names, quantiles
    "measure": "measure",  # floor 2: meters, cells, latency, echo server, process tree
    "models": "models",  # floor 3: one module per model
    "registry": "registry",  # floor 4: discovery and planning, above the models
    "planning": "registry",
    "results": "results",  # the result schema, on the specs alone (beside measuring)
    "analysis": "analysis",
    "render": "render",
    "commands": "commands",
}
ROOT_LAYER = "bench"  # bench/__init__.py: the version, importable by every layer
RUNNERS = "runners"  # the top: may import anything

# The layers each layer may import besides itself and the package root.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "units": frozenset(),
    "spec": frozenset({"units"}),
    "measure": frozenset({"units", "spec"}),
    "models": frozenset({"units", "spec", "measure"}),
    "registry": frozenset({"units", "spec", "measure", "models"}),
    "results": frozenset({"units", "spec"}),
    "analysis": frozenset({"units", "spec", "results"}),
    "render": frozenset({"units", "spec", "results", "analysis"}),
    "commands": frozenset({"units", "spec", "results", "analysis", "render"}),
    RUNNERS: frozenset({*LAYER_OF.values(), ROOT_LAYER}),
}
# Libraries that belong to measuring: the layers that only read results must not load them.
MEASURING_LIBRARIES: dict[str, frozenset[str]] = {
    layer: frozenset({"psutil"})
    for layer in ("units", "spec", "results", "analysis", "render", "commands")
}


def layer(module: str) -> str | None:
    """The layer of one of this project's modules; None for any other module. A part of bench/
    that LAYER_OF does not place is its own name, which no layer may import."""
    top, _, rest = module.partition(".")
    if top == RUNNERS:
        return RUNNERS
    if top != "bench":
        return None
    if not rest:
        return ROOT_LAYER
    part = rest.partition(".")[0]
    return LAYER_OF.get(part, f"unplaced bench.{part}")


def rule_broken(importer: str, imported: str) -> str | None:
    """Why ``importer`` must not import ``imported``, or None when it may."""
    here, there = layer(importer), layer(imported)
    if here is None:
        raise ValueError(f"{importer} is not a module of bench/ or runners/")
    if there is None:
        library = imported.partition(".")[0]
        if library in MEASURING_LIBRARIES.get(here, ()):
            return f"the {here} layer must not import {library} (measuring)"
        return None
    if here == RUNNERS or there in (here, ROOT_LAYER):
        return None
    if there == RUNNERS:
        return "bench never imports runners"
    if there not in MAY_IMPORT.get(here, ()):
        return f"the {here} layer must not import the {there} layer"
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def imports(
    source: str, module: str, is_package: bool, known: Collection[str]
) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``source``, wherever it stands: at the top,
    inside a function, under ``if TYPE_CHECKING``. ``from a import b`` imports ``a.b`` when that
    is one of the ``known`` modules, else ``a``; relative imports are resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in known else base))
    return found


def violations() -> list[str]:
    modules = project_modules()
    found = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        found_here = imports(source, module, path.name == "__init__.py", modules)
        for line, imported in sorted(set(found_here)):
            reason = rule_broken(module, imported)
            if reason is not None:
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {imported}: {reason}")
    return found


def test_every_part_of_bench_has_a_layer() -> None:
    unplaced = sorted(
        {layer(module) for module in project_modules()} - {*MAY_IMPORT, ROOT_LAYER},
        key=str,
    )
    assert unplaced == [], "add them to LAYER_OF here and to the README's Layout"


def test_imports_go_down_the_layers_only() -> None:
    found = violations()
    assert found == [], f"{len(found)} imports break the layering:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "reason"),
    [
        ("bench.measure.meters", "from bench.results import schema", "must not import the results"),
        ("bench.measure.cells", "import bench.registry", "must not import the registry layer"),
        (
            "bench.analysis.stats",
            "def late():\n    from bench.models import serial\n",
            "must not import the models layer",
        ),
        (
            "bench.render.charts",
            "if TYPE_CHECKING:\n    from bench.measure import latency\n",
            "must not import the measure layer",
        ),
        ("bench.commands.compare", "from ..measure import cells", "must not import the measure"),
        ("bench.spec.workloads", "from bench.render import terminal", "must not import the render"),
        ("bench.results.schema", "import psutil", "must not import psutil"),
        ("bench.render.terminal", "import psutil.tests", "must not import psutil"),
        ("bench.units", "from runners import options", "bench never imports runners"),
        ("bench.units", "from bench.spec import workloads", "must not import the spec layer"),
        ("bench.models.serial", "from bench import registry", "must not import the registry"),
        ("bench.registry", "from bench.newlayer import thing", "must not import the unplaced"),
    ],
)
def test_the_checker_flags_an_upward_import(module: str, source: str, reason: str) -> None:
    known = {*project_modules(), "bench.registry", "bench.results.schema"}
    found = [rule_broken(module, imported) for _, imported in imports(source, module, False, known)]
    assert any(reason in (broken or "") for broken in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("bench.render.compare", "from bench.analysis import comparison\nimport json"),
        ("bench.commands.report", "def late():\n    from bench.render import htmlreport\n"),
        ("bench.models.asyncio", "from bench.measure.meters import Meter\nimport bench.spec"),
        ("bench.measure.proctree", "import psutil\nfrom . import meters"),
        ("bench.spec.workloads", "from bench import __version__\nfrom bench.units import x"),
        ("runners.campaign", "from bench.registry import get_model\nimport psutil"),
    ],
)
def test_the_checker_lets_downward_imports_pass(module: str, source: str) -> None:
    found = [
        rule_broken(module, imported)
        for _, imported in imports(source, module, False, project_modules())
    ]
    assert found and all(broken is None for broken in found), found


def test_relative_imports_are_resolved_from_the_package() -> None:
    known = {"bench.render.terminal", "bench.measure.cells"}
    assert imports("from . import terminal", "bench.render.charts", False, known) == [
        (1, "bench.render.terminal")
    ]
    assert imports("from ..measure import cells", "bench.render", True, known) == [
        (1, "bench.measure.cells")
    ]
    assert imports("from .cells import Cell", "bench.measure.meters", False, known) == [
        (1, "bench.measure.cells")
    ]


# -- what the reading commands load -------------------------------------------------------------

# Modules of the measuring side: a command that only reads result files must load none of them.
MEASURING = ("psutil", "bench.registry", "bench.models", "bench.measure")


def loaded_modules(*python_args: str) -> set[str]:
    """Every module a fresh interpreter imports while running ``python_args``, read from
    ``-X importtime``'s report on stderr."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *python_args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rpartition("|")[2].strip() for line in report} - {"imported package"}


def measuring_modules(loaded: set[str]) -> list[str]:
    return sorted(
        name for name in loaded if any(name == m or name.startswith(m + ".") for m in MEASURING)
    )


def test_the_importtime_report_shows_the_measuring_side_when_it_is_loaded() -> None:
    loaded = loaded_modules("-c", "import psutil, bench.measure.meters, bench.models")
    assert {"psutil", "bench.measure", "bench.measure.meters", "bench.models"} <= loaded
    assert measuring_modules(loaded)


@pytest.mark.parametrize("command", ["bench.commands.compare", "bench.commands.report"])
def test_importing_a_reading_command_loads_nothing_of_measuring(command: str) -> None:
    loaded = loaded_modules("-c", f"import {command}")
    assert command in loaded
    measuring = measuring_modules(loaded)
    assert not measuring, ", ".join(measuring)


@pytest.mark.parametrize("module", ["bench.render.htmlreport", "bench.render.readmegen"])
def test_what_report_and_readme_import_later_loads_nothing_of_measuring(module: str) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed")
    loaded = loaded_modules("-c", f"import {module}")
    assert module in loaded
    measuring = measuring_modules(loaded)
    assert not measuring, ", ".join(measuring)


def test_concbench_compare_loads_neither_measuring_nor_pyperfs_runner() -> None:
    loaded = loaded_modules(
        "-m", "runners.concbench", "compare", str(DATA / "py311.json"), str(DATA / "py313.json")
    )
    # the command ran (its module is imported by importlib, which -X importtime does not report)
    assert "bench.render.compare" in loaded
    measuring = measuring_modules(loaded)
    assert not measuring, ", ".join(measuring)
    assert "pyperf._runner" not in loaded
