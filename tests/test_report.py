"""scripts/report.py end to end, run as a subprocess: the page is self-contained (inline SVG
charts with a value on every point and bar, its own style and script, nothing fetched), it
opens with the overview, and every PNG chart beside it decodes; bad input is one line on
stderr, exit status 2 and nothing written. tests/test_report_browser.py looks at the page in
a browser."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib import image

from bench.render import htmlreport
from bench.results.schema import load_all

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "report.py"
DATA = ROOT / "tests" / "data"
PY311 = DATA / "py311.json"
PY313 = DATA / "py313.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A file of one foreign benchmark: a report without charts, for what does not need them.
NO_CHARTS = DATA / "foreign_timeit.json"
# Each report is a program run that imports matplotlib; most draw a page of charts.
pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=55,
    )


class Page(HTMLParser):
    """Collects what a self-containment check needs: every URL-carrying attribute, images,
    tables, element ids, the order of the sections, and for every chart mark (a point or a
    bar) whether it carries a <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.tables = 0
        self.ids: list[str] = []
        self.tags: set[str] = set()
        self.marks = 0
        self.titled_marks = 0
        self.scripts = 0
        self._open_mark: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.tables += tag == "table"
        self.scripts += tag == "script"
        css = dict(attrs).get("class") or ""
        if tag in ("circle", "rect") and {"dot", "bar"} & set(css.split()):
            self.marks += 1
            self._open_mark = tag
        elif tag == "title" and self._open_mark is not None:
            self.titled_marks += 1
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href", "srcset", "action", "data", "poster") and value is not None:
                self.urls.append((tag, name, value))
                if tag == "img":
                    self.images.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open_mark:
            self._open_mark = None


def parse(page: Path) -> Page:
    parser = Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def decode_png(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    try:
        data = base64.b64decode(uri[len(prefix) :], validate=True)
    except binascii.Error as exc:
        raise AssertionError(f"base64 does not decode: {exc}") from None
    assert data.startswith(PNG_SIGNATURE)
    pixels = image.imread(io.BytesIO(data), format="png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    return data


def check_self_contained(page: Page) -> None:
    for tag, name, value in page.urls:
        if value.startswith("#"):
            assert value[1:] in page.ids, f"anchor {value} has no target"
            continue
        assert value.startswith("data:"), f"<{tag} {name}> points outside: {value[:60]}"
    # One inline script (a src would be in urls), nothing else that loads anything.
    assert page.scripts == 1
    assert not page.tags & {"link", "iframe", "object", "embed", "img"}
    assert len(page.ids) == len(set(page.ids)), "an id is used twice"
    assert page.titled_marks == page.marks, "a point or bar without a value"


def check_pngs(directory: Path) -> None:
    for png in directory.glob("*.png"):
        decode_png("data:image/png;base64," + base64.b64encode(png.read_bytes()).decode())


@pytest.fixture(scope="module")
def two_versions(two_versions_report: Path) -> Path:
    """The report of PY311 against PY313 (tests/conftest.py draws it once, for this module and
    tests/test_report_browser.py)."""
    return two_versions_report


@pytest.mark.slow(seconds=8)  # two_versions
def test_report_of_two_python_versions_is_self_contained(two_versions: Path) -> None:
    page = parse(two_versions / "index.html")
    check_self_contained(page)
    charts = sorted(path.stem for path in two_versions.glob("*.png"))
    assert sorted(path.stem for path in two_versions.glob("*.svg")) == charts
    assert "ratios" in charts and "switch_latency" in charts
    check_pngs(two_versions)
    assert page.marks > 0
    assert {"chart-ratios", "chart-switch_latency", "chart-spawn_cost"} <= set(page.ids)
    assert {"means", "comparison", "cpu", "switches", "environment"} <= set(page.ids)
    # The answer first: the comparison, then the statements that matter, then the charts and
    # everything else.
    order = [page.ids.index(name) for name in ("overview", "findings", "charts", "statements")]
    assert order == sorted(order)


def test_the_overview_of_two_files_is_their_comparison(two_versions: Path) -> None:
    text = (two_versions / "index.html").read_text(encoding="utf-8")
    overview = text[text.index('<section id="overview">') : text.index('<section id="charts">')]
    assert "<h2>What changed</h2>" in overview
    assert "3.13.0 against 3.11.7: " in overview
    assert 'class="grid change-grid"' in overview
    # A cell says the ratio and the verdict, and on hover both means and p.
    assert "2.27\N{MULTIPLICATION SIGN}</b><small>worse</small>" in overview
    assert "15.6 µs in 3.11.7, 35.4 µs in 3.13.0; ratio 2.270 (95% interval" in overview
    headlines = overview[overview.index('<ol class="headlines">') :].split("</ol>")[0]
    assert 3 <= headlines.count("<li>") <= 6
    # The overall verdict leads; then the biggest significant changes, largest first.
    assert "<li>Over 35 benchmarks measured in time, 3.13.0 is 1.26" in headlines
    assert headlines.index("/ serial: 2.3") < headlines.index("/ gevent: 1.93")


def test_report_shows_versions_side_by_side_with_findings(two_versions: Path) -> None:
    text = (two_versions / "index.html").read_text(encoding="utf-8")
    assert "<title>3.11 against 3.13</title>" in text
    assert "3.11.7" in text and "3.13.0" in text
    assert "All statements" in text
    assert "A greenlet switch costs" in text
    assert "Changes against 3.11.7" in text
    assert "nan" not in text.replace("nanosecond", "").lower().split()


def test_summary_has_the_tables_and_links_to_every_png(two_versions: Path) -> None:
    summary = (two_versions / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("# concbench report") is False  # the title given
    assert summary.startswith("# 3.11 against 3.13")
    assert "| cell | file | serial |" in summary
    assert "### Comparison with the first file" in summary
    for png in two_versions.glob("*.png"):
        assert f"]({png.name})" in summary


@pytest.mark.slow(seconds=5)
def test_report_of_one_file_from_any_directory(tmp_path: Path) -> None:
    output = tmp_path / "one"
    done = run(DATA / "py311_gaps.json", "-o", output, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = parse(output / "index.html")
    check_self_contained(page)
    assert not (output / "ratios.png").exists()
    text = (output / "index.html").read_text(encoding="utf-8")
    assert "CellError: processes reported 9 operations, the spec says 10" in text
    assert "unavailable: No module named &#x27;gevent&#x27;" in text
    # Nothing is left beside the report.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one"]


def test_report_of_a_foreign_file_lists_its_benchmarks(tmp_path: Path) -> None:
    done = run(
        DATA / "foreign_timeit.json", DATA / "foreign_timeit_slower.json", "-o", tmp_path / "f"
    )
    assert done.returncode == 0, done.stderr
    page = parse(tmp_path / "f" / "index.html")
    check_self_contained(page)
    assert "Other benchmarks" in (tmp_path / "f" / "index.html").read_text(encoding="utf-8")
    assert "chart-ratios" in page.ids and page.marks > 0


def test_replace_swaps_an_earlier_report(tmp_path: Path) -> None:
    output = tmp_path / "again"
    single = NO_CHARTS
    assert run(single, "-o", output, "--title", "first").returncode == 0
    refused = run(single, "-o", output, "--title", "second")
    assert refused.returncode == 2
    assert "<title>first</title>" in (output / "index.html").read_text(encoding="utf-8")
    done = run(single, "-o", output, "--title", "second", "--replace")
    assert done.returncode == 0, done.stderr
    assert "<title>second</title>" in (output / "index.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


def snapshot(directory: Path) -> dict[str, tuple[int, float]]:
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime)
        for path in sorted(directory.rglob("*"))
    }


def make_not_a_report(place: Path) -> None:
    (place / "out").mkdir()
    (place / "out" / "index.html").write_text("mine")
    (place / "out" / "notes.txt").write_text("mine")


def make_nonempty(place: Path) -> None:
    (place / "out").mkdir()
    (place / "out" / "keep.txt").write_text("mine")


def make_file(place: Path) -> None:
    (place / "out").write_text("a file")


def make_other_python(place: Path) -> None:
    (place / "other.json").write_text(
        '{"version": "1.0", "metadata": {}, "benchmarks": [{"metadata": {"name": "x"}, '
        '"runs": [{"values": [1.0, 2.0]}]}]}'
    )


def nothing(place: Path) -> None:
    return None


# (arguments, setup, words the one-line message must contain); "OUT" is the output directory
# and "TMP" the test's directory.
BAD_INPUTS = [
    (["MISSING.json"], nothing, ["MISSING.json", "no such file"]),
    ([DATA / "empty.json"], nothing, ["empty.json", "empty"]),
    ([DATA / "truncated.json"], nothing, ["truncated.json", "truncated JSON"]),
    ([DATA / "not_pyperf.json"], nothing, ["not_pyperf.json", "not a pyperf"]),
    ([DATA], nothing, ["is a directory"]),
    ([PY311, "TMP/other.json"], make_other_python, ["no benchmark in common"]),
    ([PY311, PY311], nothing, ["given twice"]),
    ([PY311, "--alpha", "2"], nothing, ["--alpha", "above 0 to 0.2", "'2'"]),
    ([PY311, "--alpha", "x"], nothing, ["--alpha", "above 0 to 0.2"]),
    ([PY311, "--title", " "], nothing, ["--title", "must not be empty"]),
    ([PY311, "--colour", "red"], nothing, ["unrecognized arguments", "valid options", "--replace"]),
    ([PY311], make_nonempty, ["not empty", "--replace"]),
    ([PY311, "--replace"], make_not_a_report, ["not a report", "refusing"]),
    ([PY311], make_file, ["exists and is not a directory"]),
]


@pytest.mark.parametrize(("arguments", "setup", "words"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, arguments: list[str | Path], setup: object, words: list[str]
) -> None:
    assert callable(setup)
    setup(tmp_path)
    before = snapshot(tmp_path)
    args = [str(a).replace("TMP", str(tmp_path)) for a in arguments]
    done = run(*args, "-o", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("report: error: ")
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert snapshot(tmp_path) == before


def test_missing_output_option_and_missing_parents(tmp_path: Path) -> None:
    done = run(PY311)
    assert done.returncode == 2
    assert done.stderr.strip() == "report: error: the following arguments are required: -o/--output"
    # missing parents are created, once the inputs are known to be good
    done = run(DATA / "truncated.json", "-o", tmp_path / "no" / "such" / "dir")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    done = run(NO_CHARTS, "-o", tmp_path / "no" / "such" / "dir")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "no" / "such" / "dir" / "index.html").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        done = run(PY311, "-o", locked / "out")
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2
    assert "permission denied" in done.stderr
    assert list(locked.iterdir()) == []


@pytest.mark.slow(seconds=5)
def test_report_of_a_sweep_has_its_curves_slopes_and_tables(tmp_path: Path) -> None:
    output = tmp_path / "sweep"
    done = run(DATA / "sweep.json", "-o", output)
    assert done.returncode == 0, done.stderr
    page = parse(output / "index.html")
    check_self_contained(page)
    assert {"sweeps", "memory-slope", "chart-sweep_fan_out", "chart-memory_slope"} <= set(page.ids)
    for name in ("sweep_fan_out", "sweep_producer_consumer", "memory_slope"):
        assert (output / f"{name}.png").exists() and (output / f"{name}.svg").exists()
    text = (output / "index.html").read_text(encoding="utf-8")
    grows = "time per task grows 2.5\N{MULTIPLICATION SIGN} over its best (12.0 µs at N=1,000)"
    assert f"{grows} at N=10,000" in text
    assert "could not reach N=10,000 (skipped: time limit: one run would take about 3.0 s" in text
    assert "Memory per parked task fitted as the slope of total bytes against N" in text
    summary = (output / "summary.md").read_text(encoding="utf-8")
    assert "### Sweeps: where each model stops scaling" in summary
    assert "### Memory slope: bytes per parked task" in summary
    assert "![fan_out sweep](sweep_fan_out.png)" in summary


@pytest.mark.slow(seconds=5)
def latency_cells_only(source: Path, target: Path) -> Path:
    """``source`` with only its benchmarks that have a latency pass: the other charts are the
    two-version report's, and rendering them again would be most of this test's time."""
    document = json.loads(source.read_text(encoding="utf-8"))
    document["benchmarks"] = [
        bench for bench in document["benchmarks"] if "latency_samples" in bench["metadata"]
    ]
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def test_report_of_latency_files_has_percentiles_and_distributions(tmp_path: Path) -> None:
    output = tmp_path / "latency"
    files = [
        latency_cells_only(DATA / name, tmp_path / name)
        for name in ("py311_latency.json", "py313_latency.json")
    ]
    done = run(*files, "-o", output)
    assert done.returncode == 0, done.stderr
    page = parse(output / "index.html")
    check_self_contained(page)
    assert {"latency", "chart-latency_pingpong", "chart-latency_producer_consumer"} <= set(page.ids)
    check_pngs(output)
    text = (output / "index.html").read_text(encoding="utf-8")
    assert "p99 latency (one-way switch) in pingpong rounds=5, lowest first:" in text
    summary = (output / "summary.md").read_text(encoding="utf-8")
    assert "### Latency percentiles" in summary
    assert "| pingpong rounds=5 | 3.13.0 |" in summary


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["MISSING.html", "out.png"], ["MISSING.html", "no such file"]),
        ([SCRIPT, "out.jpg"], ["out.jpg", ".png"]),
        ([SCRIPT, "out.png", "--viewport", "10x10"], ["--viewport", "200 to 4000"]),
        ([SCRIPT, "out.png", "--viewport", "wide"], ["--viewport", "WIDTHxHEIGHT"]),
    ],
)
def test_screenshot_bad_input_is_one_line_exit_2(
    tmp_path: Path, arguments: list[str | Path], words: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), *map(str, arguments)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=55,
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("screenshot: error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_overview_of_three_files_compares_every_file_with_the_first() -> None:
    data = ROOT / "tests" / "data"
    results = load_all([data / "py311.json", data / "py313.json", data / "py311_regressed.json"])
    page = htmlreport.content(results, title="three")
    text = htmlreport.render_html(page)
    overview = text[text.index('<section id="overview">') : text.index('<section id="findings">')]
    assert overview.count('class="grid change-grid"') == 2
    assert "py313 against py311: " in overview
    assert "py311_regressed against py311: " in overview
    # one comparison: each later file's grid holds its own verdicts
    assert "1.30\N{MULTIPLICATION SIGN}</b><small>worse</small>" in overview
    assert [group.title for group in page.groups][-1] == "Changes against py311"
