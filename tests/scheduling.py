"""How pytest-xdist hands the tests out under ``-n`` (``tox -e test``): the scheduler that
``tests/conftest.py`` installs, and the reading of the test modules it needs.

Every test is a unit of work of its own, handed to the first idle worker in collection order,
except the tests that share a fixture broader than one test: a module-scoped fixture of their
module, or a session-scoped one of conftest.py (one end-to-end run, say, whose result several
tests check). Tests sharing such a fixture, directly or through other fixtures, and the tests
that share another with them, are one unit: one worker runs them, so the fixture runs once, not
once per worker. ``--dist loadgroup`` with ``xdist_group`` marks would do the same, but with
pytest 9.2 the marks are silently ignored (pytest-xdist issue 1386).

The modules are read, not imported: the scheduler runs in the controlling process, which
collects nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

TESTS = Path(__file__).resolve().parent
SHARED_SCOPES = ("module", "package", "session")


def _fixture(function: ast.FunctionDef) -> tuple[str, bool] | None:
    """The scope of a ``@pytest.fixture`` definition and whether it is autouse; None for any
    other function."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        if ast.unparse(call.func if call else decorator) not in ("pytest.fixture", "fixture"):
            continue
        options = {k.arg: k.value for k in (call.keywords if call else [])}
        scope, autouse = options.get("scope"), options.get("autouse")
        return (
            "function" if scope is None else str(ast.literal_eval(scope)),
            autouse is not None and bool(ast.literal_eval(autouse)),
        )
    return None


def _requests(function: ast.FunctionDef) -> set[str]:
    """The fixtures a function names: its parameters and its ``usefixtures`` marks."""
    named = {argument.arg for argument in [*function.args.args, *function.args.kwonlyargs]}
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("usefixtures"):
            named |= {ast.literal_eval(argument) for argument in decorator.args}
    return named


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def shared_fixtures_of_tests(directory: Path = TESTS) -> dict[str, dict[str, set[str]]]:
    """Module node id -> test function -> the shared fixtures it uses, directly or through
    other fixtures, each named ``module::fixture`` (conftest's as ``conftest.py::fixture``).
    Autouse fixtures are left out: every test would share them."""
    conftest_path = directory / "conftest.py"
    conftest = _functions(conftest_path) if conftest_path.exists() else {}
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(directory.glob("test_*.py")):
        local = _functions(path)
        # A fixture of the module hides conftest's of the same name.
        definitions = {
            **{name: ("conftest.py", node) for name, node in conftest.items()},
            **{name: (path.name, node) for name, node in local.items()},
        }
        module = f"{directory.name}/{path.name}"
        tests: dict[str, set[str]] = {}
        for name, function in local.items():
            if not name.startswith("test"):
                continue
            shared, seen, pending = set(), set(), list(_requests(function))
            while pending:
                fixture = pending.pop()
                if fixture in seen or fixture not in definitions:
                    continue
                seen.add(fixture)
                where, node = definitions[fixture]
                declared = _fixture(node)
                if declared is None:
                    continue
                scope, autouse = declared
                if scope in SHARED_SCOPES and not autouse:
                    shared.add(f"{directory.name}/{where}::{fixture}")
                pending.extend(_requests(node))
            if shared:
                tests[name] = shared
        found[module] = tests
    return found


class Units:
    """The unit of work of every test: tests sharing a fixture, or a test sharing one with a
    test that shares another, are one unit (named after the first of their fixtures); any
    other test is a unit of its own."""

    def __init__(self, shared: dict[str, dict[str, set[str]]]) -> None:
        self.shared = shared
        parent: dict[str, str] = {}

        def root(key: str) -> str:
            while parent.setdefault(key, key) != key:
                key = parent[key]
            return key

        for tests in shared.values():
            for fixtures in tests.values():
                first, *others = sorted(fixtures)
                for other in others:
                    low, high = sorted((root(first), root(other)))
                    parent[high] = low
        self._root = root

    def of(self, nodeid: str) -> str:
        module, _, test = nodeid.partition("::")
        fixtures = self.shared.get(module, {}).get(test.partition("[")[0])
        if not fixtures:
            return nodeid
        return f"tests sharing {self._root(min(fixtures))}"


class SharedFixtureScheduling(LoadScopeScheduling):
    """pytest-xdist's load scheduling over the units of ``Units``, in collection order."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.units = Units(shared_fixtures_of_tests())

    def _split_scope(self, nodeid: str) -> str:
        return self.units.of(nodeid)
