"""The scheduler tests/conftest.py gives pytest-xdist: tests sharing a fixture broader than one
test are one unit of work (the fixture runs once), every other test a unit of its own."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.scheduling import Units, shared_fixtures_of_tests

CONFTEST = """
import pytest

@pytest.fixture(scope="session", autouse=True)
def everywhere(): ...

@pytest.fixture(scope="session")
def drawn_once(tmp_path_factory): ...
"""

RUNS = """
import pytest

@pytest.fixture(scope="module")
def one_run(tmp_path_factory): ...

@pytest.fixture
def its_output(one_run): ...

@pytest.fixture
def scratch(tmp_path): ...

def test_reads_the_run(one_run): ...

def test_reads_the_output(its_output, monkeypatch): ...

@pytest.mark.usefixtures("one_run")
def test_needs_the_run_done(): ...

@pytest.mark.parametrize("x", [1, 2])
def test_on_its_own(x, scratch, everywhere): ...

def test_reads_the_run_and_the_drawing(one_run, drawn_once): ...
"""

DRAWING = """
import pytest

@pytest.fixture(scope="module")
def page(drawn_once): ...

@pytest.fixture(scope="module")
def browser(): ...

def test_looks_at_the_page(page, browser): ...

def test_only_needs_the_browser(browser): ...

def test_plain(tmp_path): ...
"""


def _tests(tmp_path: Path) -> str:
    for name, text in [
        ("conftest.py", CONFTEST),
        ("test_runs.py", RUNS),
        ("test_drawing.py", DRAWING),
    ]:
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path.name


def test_a_test_shares_the_broad_fixtures_it_uses_directly_or_through_others(
    tmp_path: Path,
) -> None:
    folder = _tests(tmp_path)
    found = shared_fixtures_of_tests(tmp_path)
    run, drawn = f"{folder}/test_runs.py::one_run", f"{folder}/conftest.py::drawn_once"
    assert found[f"{folder}/test_runs.py"] == {
        "test_reads_the_run": {run},
        "test_reads_the_output": {run},
        "test_needs_the_run_done": {run},
        "test_reads_the_run_and_the_drawing": {run, drawn},
    }
    page, browser = f"{folder}/test_drawing.py::page", f"{folder}/test_drawing.py::browser"
    assert found[f"{folder}/test_drawing.py"] == {
        "test_looks_at_the_page": {page, browser, drawn},
        "test_only_needs_the_browser": {browser},
    }


def test_tests_linked_by_shared_fixtures_are_one_unit_and_the_others_each_their_own(
    tmp_path: Path,
) -> None:
    folder = _tests(tmp_path)
    units = Units(shared_fixtures_of_tests(tmp_path))
    runs, drawing = f"{folder}/test_runs.py", f"{folder}/test_drawing.py"
    linked = [
        f"{runs}::test_reads_the_run",
        f"{runs}::test_reads_the_output",
        f"{runs}::test_needs_the_run_done",
        f"{runs}::test_reads_the_run_and_the_drawing",
        f"{drawing}::test_looks_at_the_page",
        f"{drawing}::test_only_needs_the_browser",
    ]
    assert len({units.of(nodeid) for nodeid in linked}) == 1
    alone = [f"{runs}::test_on_its_own[1]", f"{runs}::test_on_its_own[2]", f"{drawing}::test_plain"]
    assert [units.of(nodeid) for nodeid in alone] == alone


def test_the_suite_s_own_shared_runs_are_found() -> None:
    found = shared_fixtures_of_tests()
    assert found["tests/test_faults.py"]["test_no_process_is_left_behind"] == {
        "tests/test_faults.py::faulty_run"
    }
