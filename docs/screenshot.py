"""Make docs/screenshots/: every page at a desktop and a phone size, in light and dark colours.

    .venv/bin/python -m docs.screenshot            # all pages
    .venv/bin/python -m docs.screenshot draw 404   # only these

Starts the production server on a fresh temp store (tests/live_server.py), stores a few collected
digits and two corrections (so the gallery and the Models page's history have something to show),
then opens each page in headless Chromium. The draw page is shown after a drawn 3 was answered,
and after a line was refused.
Each picture is the viewport only (1280x800, or 390x844 with touch), saved as a 128-colour PNG.
File names: `<page>-<desktop|phone>-<light|dark>.png`.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from digitrec.canvas import render_digit
from digitrec.data import load_split
from tests.browser_helpers import (
    DESKTOP,
    PHONE,
    Screen,
    draw_digits,
    draw_strokes,
    launch,
)
from tests.live_server import LiveServer

OUT = Path(__file__).resolve().parent / "screenshots"
WAIT_MS = 60_000
COLOURS = 128  # a palette PNG: a page has few colours, and a third of the bytes of RGB


SCREENS = [DESKTOP, PHONE]
SCHEMES = ["light", "dark"]
PAGES = {
    "draw": "/",
    "draw-details": "/",
    "draw-refused": "/",
    "collect": "/collect",
    "gallery": "/gallery",
    "gallery-sample": "/gallery",
    "models": "/models",
    "models-history": "/models#history",
    "how-it-works": "/how-it-works",
    "about": "/about",
    "404": "/no-such-page",
}


def seed(server: LiveServer, page: Page) -> None:
    """Twelve collected digits and two corrections through the public API."""
    split = load_split("test")
    for i in range(12):
        digit = i % 10
        image = split.images[np.flatnonzero(split.labels == digit)[i // 10]]
        body = {"image": _data_url(render_digit(image)), "digit": digit}
        assert page.request.post(f"{server.url}/api/samples", data=body).ok
    for digit in (7, 2):
        image = split.images[np.flatnonzero(split.labels == digit)[5]]
        body = {"image": _data_url(render_digit(image)), "digit": digit}
        assert page.request.post(f"{server.url}/api/feedback", data=body).ok


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def prepare(page: Page, name: str, screen: Screen) -> None:
    """Bring the page into the state its picture shows."""
    if name in ("draw", "draw-details"):
        version = page.get_by_test_id("model-version")
        expect(version).to_have_text(re.compile(r"Model version \d+"), timeout=WAIT_MS)
        draw_digits(page, "3", touch=screen.touch)
        expect(page.get_by_test_id("answer")).to_have_text("3", timeout=WAIT_MS)
        expect(page.locator("[data-verdict]")).not_to_have_class(re.compile("stale"), timeout=WAIT_MS)
        expect(page.get_by_test_id("feedback-yes")).to_be_enabled(timeout=WAIT_MS)
        if name == "draw-details":
            page.get_by_test_id("show-info").click()
            page.get_by_test_id("probability-chart").scroll_into_view_if_needed()
    elif name == "draw-refused":
        version = page.get_by_test_id("model-version")
        expect(version).to_have_text(re.compile(r"Model version \d+"), timeout=WAIT_MS)
        draw_strokes(page, [[(40.0, 150.0), (240.0, 146.0)]], touch=screen.touch)
        line = "That looks like a line, not a digit."
        expect(page.get_by_test_id("answer")).to_have_text(line, timeout=WAIT_MS)
        expect(page.get_by_test_id("feedback-no")).to_be_enabled(timeout=WAIT_MS)
    elif name in ("gallery", "gallery-sample"):
        expect(page.get_by_test_id("gallery-sample").first).to_be_visible(timeout=WAIT_MS)
        if name == "gallery-sample":
            page.get_by_test_id("sample-open").first.click()
            image = page.get_by_test_id("sample-dialog").locator("img")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    elif name == "collect":
        expect(page.locator("[data-testid=collect-counts] li").first).to_be_visible(timeout=WAIT_MS)
    elif name == "models-history":
        expect(page.locator("[data-testid=history-chart] svg")).to_be_visible(timeout=WAIT_MS)
        page.evaluate("document.querySelector('#history').scrollIntoView()")
    page.wait_for_load_state("networkidle")
    if not screen.touch:
        page.mouse.move(0, 0)  # no hover highlight in the picture


def shoot(browser: Browser, server: LiveServer, names: list[str]) -> list[Path]:
    saved = []
    for screen in SCREENS:
        for scheme in SCHEMES:
            context = browser.new_context(
                viewport={"width": screen.width, "height": screen.height},
                has_touch=screen.touch,
                is_mobile=screen.touch,
                color_scheme=scheme,
                base_url=server.url,
            )
            for name in names:
                page = context.new_page()
                page.goto(PAGES[name])
                prepare(page, name, screen)
                path = OUT / f"{name}-{screen.name}-{scheme}.png"
                save_small(page.screenshot(), path)
                saved.append(path)
                page.close()
            context.close()
    return saved


def save_small(png: bytes, path: Path) -> None:
    """A palette PNG of the screenshot: text and flat colours survive 128 colours unchanged to the eye."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv: list[str]) -> None:
    names = argv or list(PAGES)
    unknown = sorted(set(names) - set(PAGES))
    if unknown:
        raise SystemExit(f"unknown page(s) {unknown}; choose from {sorted(PAGES)}")
    OUT.mkdir(exist_ok=True)
    with LiveServer() as server, sync_playwright() as playwright:
        browser = launch(playwright)
        seed(server, browser.new_page())
        for path in shoot(browser, server, names):
            print(f"{path.relative_to(OUT.parent.parent)}  {path.stat().st_size // 1024} KB")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
