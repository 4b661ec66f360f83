"""Make docs/screenshot-draw.png: the draw page after a prediction, as the README shows it.

    .venv/bin/python -m docs.screenshot

Starts the production server on a fresh temp store (tests/live_server.py), draws a 3 with the
mouse in headless Chromium, waits for the live answer, opens "Show info" and saves the page.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.browser_helpers import draw_digits, launch
from tests.live_server import LiveServer

OUT = Path(__file__).resolve().parent / "screenshot-draw.png"


def main() -> None:
    with LiveServer() as server, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1100, "height": 900}, base_url=server.url)
        page.goto("/")
        draw_digits(page, "3")
        expect(page.get_by_test_id("answer")).to_have_text("3", timeout=30_000)
        page.get_by_test_id("show-info").click()
        page.get_by_test_id("consent").check()
        page.mouse.move(0, 0)  # no hover highlight in the picture
        page.screenshot(path=OUT, full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
