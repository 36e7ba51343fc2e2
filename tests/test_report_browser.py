"""The report page in a real browser: Debian's headless Chromium, driven by Selenium
(``bench.render.browser``). The page must load without console errors, show the overview table and
every chart inside the viewport's width with no SVG text cut off, show a value when a point is
hovered, and hide a model when its legend entry is clicked. A deliberately broken page shows
that each of these checks catches what it is for.

Skipped with the reason where Chromium, chromedriver or Selenium is missing, unless
CONCBENCH_REQUIRE_BROWSER is set (CI sets it once it has installed them), then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.render import browser

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180), pytest.mark.slow(seconds=9)]

_missing = browser.unavailable()
if _missing is not None:
    if os.environ.get("CONCBENCH_REQUIRE_BROWSER"):
        raise RuntimeError(f"CONCBENCH_REQUIRE_BROWSER is set but {_missing}")
    pytest.skip(f"no headless browser: {_missing}", allow_module_level=True)

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

# Elements out of the viewport's width, and SVG text outside its SVG (which clips it).
CLIPPED = """
const width = document.documentElement.clientWidth;
const found = [];
const name = (el) => el.id || el.closest("[id]")?.id || el.tagName;
for (const el of document.querySelectorAll(arguments[0])) {
  const box = el.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) found.push("invisible: " + name(el));
  else if (box.left < -0.5 || box.right > width + 0.5) found.push("outside the page: " + name(el));
}
for (const svg of document.querySelectorAll("svg")) {
  const frame = svg.viewBox.baseVal;
  for (const text of svg.querySelectorAll("text")) {
    const box = text.getBBox();
    if (box.x < frame.x - 0.5 || box.y < frame.y - 0.5
        || box.x + box.width > frame.x + frame.width + 0.5
        || box.y + box.height > frame.y + frame.height + 0.5) {
      found.push("text cut off in " + name(svg) + ": " + text.textContent);
    }
  }
}
return found;
"""
OPEN_ALL = "for (const d of document.querySelectorAll('details')) d.open = true;"


@pytest.fixture(scope="module")
def report(two_versions_report: Path) -> Path:
    """The page tests/test_report.py reads (tests/conftest.py draws it once)."""
    return two_versions_report / "index.html"


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    with browser.open_browser() as opened:
        yield opened


def errors(driver: WebDriver) -> list[str]:
    # get_log is Chromium's driver's (open_browser starts one), not in the WebDriver type
    logs: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [entry["message"] for entry in logs if entry["level"] == "SEVERE"]


def clipped(driver: WebDriver) -> list[str]:
    found: list[str] = driver.execute_script(CLIPPED, "table.grid, figure.chart, svg.plot")
    return found


def load(driver: WebDriver, page: Path) -> None:
    driver.get(browser.page_url(page))
    driver.execute_script(OPEN_ALL)


def test_page_loads_without_errors_and_nothing_is_clipped(
    driver: WebDriver, report: Path, tmp_path: Path
) -> None:
    load(driver, report)
    assert errors(driver) == []
    assert driver.execute_script("return document.documentElement.clientWidth") == 1366
    table = driver.find_element(By.CSS_SELECTOR, "#overview table.grid")
    assert table.is_displayed()
    # The answer is on the first screen: the overview table starts within it.
    assert table.location["y"] < browser.FIRST_SCREEN[1] / 2
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart")
    names = {chart.get_attribute("id") for chart in charts}
    assert {"chart-ratios", "chart-switch_latency", "chart-spawn_cost"} <= names
    for chart in charts:
        assert chart.is_displayed(), chart.get_attribute("id")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert clipped(driver) == []
    # What a screenshot of the first screen and of a chart looks like (kept with the test's
    # files: docs/images is made by scripts/screenshot.py from a real report).
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(tmp_path / "first-screen.png"))
    assert charts[0].screenshot(str(tmp_path / "chart.png"))
    assert (tmp_path / "first-screen.png").stat().st_size > 10_000


def test_hover_shows_the_value_and_the_legend_hides_a_model(
    driver: WebDriver, report: Path
) -> None:
    load(driver, report)
    bar = driver.find_element(By.CSS_SELECTOR, "#chart-switch_latency .bar")
    title = bar.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert title is not None and any(unit in title for unit in (" ns", " µs", " ms"))
    tip = driver.find_element(By.ID, "tip")
    assert not tip.is_displayed()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
    ActionChains(driver).move_to_element(bar).perform()
    assert tip.is_displayed()
    assert tip.text == title
    key = driver.find_element(By.CSS_SELECTOR, "#chart-switch_latency button.key")
    model = key.get_attribute("data-series")
    selector = f'#chart-switch_latency .series[data-series="{model}"]'
    series = driver.find_element(By.CSS_SELECTOR, selector)
    assert series.is_displayed()
    key.click()
    assert not series.is_displayed()
    assert key.get_attribute("aria-pressed") == "false"
    key.click()
    assert series.is_displayed()
    assert errors(driver) == []


BROKEN = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>
<figure class="chart" id="chart-wide" style="width: 3000px">wide</figure>
<svg class="plot" id="plot-cut" viewBox="0 0 100 50" width="100" height="50">
<text x="90" y="20">a label running past the edge</text></svg>
<script>console.error("broken on purpose"); no_such_function();</script>
</body></html>
"""


def test_the_checks_catch_a_broken_page(driver: WebDriver, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(BROKEN, encoding="utf-8")
    load(driver, page)
    found = errors(driver)
    assert any("broken on purpose" in message for message in found)
    assert any("no_such_function" in message for message in found)
    problems = clipped(driver)
    assert "outside the page: chart-wide" in problems
    assert "text cut off in plot-cut: a label running past the edge" in problems
