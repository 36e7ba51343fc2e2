"""Photograph a report page in headless Chromium: the first screen (the viewport as a reader
opening the page sees it), or one element of the page (--element, a CSS selector).

Exit status: 0 written; 2 bad input or no browser (a one-line error on stderr).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bench.commands.cli import OneLineParser, fail
from bench.render import browser

PROG = "screenshot"


def size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if not (200 <= width <= 4000 and 200 <= height <= 4000):
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be 200 to 4000 pixels")
    return width, height


def parser(prog: str = PROG) -> OneLineParser:
    result = OneLineParser(prog=prog, description=__doc__.splitlines()[0] if __doc__ else None)
    result.add_argument("page", type=Path, help="an HTML file, e.g. a report's index.html")
    result.add_argument("output", type=Path, help="the PNG to write")
    result.add_argument(
        "--viewport", type=size, default=browser.FIRST_SCREEN, help="WIDTHxHEIGHT (1366x768)"
    )
    result.add_argument("--element", metavar="SELECTOR", help="photograph this element only")
    return result


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
    page: Path = args.page
    if not page.is_file():
        fail(prog, f"{page}: no such file")
    if args.output.suffix.lower() != ".png":
        fail(prog, f"{args.output}: the output must be a .png file")
    reason = browser.unavailable()
    if reason is not None:
        fail(prog, f"no browser: {reason}")
    from selenium.common.exceptions import NoSuchElementException, WebDriverException
    from selenium.webdriver.common.by import By

    try:
        with browser.open_browser(*args.viewport) as driver:
            driver.get(browser.page_url(page))
            if args.element:
                try:
                    element = driver.find_element(By.CSS_SELECTOR, args.element)
                except NoSuchElementException:
                    fail(prog, f"no element matches {args.element!r} in {page}")
                driver.execute_script("arguments[0].scrollIntoView()", element)
                saved = element.screenshot(str(args.output))
            else:
                saved = driver.save_screenshot(str(args.output))
    except WebDriverException as exc:
        fail(prog, f"the browser failed: {exc.msg or type(exc).__name__}")
    if not saved:
        fail(prog, f"cannot write {args.output}")
    print(f"{prog}: wrote {args.output}")
    return 0
